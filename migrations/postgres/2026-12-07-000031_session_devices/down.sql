ALTER TABLE browser_sessions DROP COLUMN user_agent;
ALTER TABLE browser_sessions DROP COLUMN client_ip;
