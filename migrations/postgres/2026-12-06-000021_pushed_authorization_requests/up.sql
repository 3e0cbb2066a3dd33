-- RFC 9126: authorization requests a client pushed to /connect/par, each usable once at
-- authorize, by that client, until it expires. The request_uri is stored only as its
-- SHA-256 hash; `parameters` holds the checked request's parameters (JSON).
CREATE TABLE pushed_authorization_requests (
    request_uri_hash TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    parameters TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX pushed_authorization_requests_expires_idx ON pushed_authorization_requests (expires_at);
CREATE INDEX pushed_authorization_requests_application_idx ON pushed_authorization_requests (application_id);
