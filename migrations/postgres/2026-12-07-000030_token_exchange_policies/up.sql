-- RFC 8693: who may exchange tokens for tokens to this API connection (the target),
-- as a JSON list of rules {client_id, source_audience, scopes, impersonation}. Empty by
-- default: no exchange. Kept with the connection so the in-memory configuration loads it
-- with it, and changed (as a whole) by an UPDATE the config_version trigger sees.
ALTER TABLE api_connections ADD COLUMN token_exchange_policy TEXT NOT NULL DEFAULT '[]';
