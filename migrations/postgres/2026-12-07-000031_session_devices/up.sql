-- Where a session signed in from, for the sessions a user and an admin see: the client's
-- address (after trusted proxies) and its User-Agent, cut to 256 characters.
ALTER TABLE browser_sessions ADD COLUMN client_ip TEXT;
ALTER TABLE browser_sessions ADD COLUMN user_agent TEXT;
