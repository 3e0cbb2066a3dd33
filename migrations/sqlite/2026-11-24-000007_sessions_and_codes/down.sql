DROP TABLE consents;
DROP TABLE authorization_codes;
DROP TABLE authorization_requests;
DROP TABLE browser_sessions;
