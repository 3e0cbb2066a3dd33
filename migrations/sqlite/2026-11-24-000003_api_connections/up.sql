-- API connections (resource servers). The name is the audience of the access tokens
-- issued for the connection's scopes. A connection holds several secrets at once, each
-- with its own expiry, so a resource server can rotate without downtime.
CREATE TABLE api_connections (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    access_token_format TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE api_connection_secrets (
    id TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL REFERENCES api_connections (id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT
);
CREATE INDEX api_connection_secrets_connection_idx ON api_connection_secrets (connection_id);
