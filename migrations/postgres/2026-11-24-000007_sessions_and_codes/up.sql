-- Browser sessions, pending authorization requests, authorization codes and consents.
-- Session ids, request handles and codes are stored only as SHA-256 hashes.
CREATE TABLE browser_sessions (
    id_hash TEXT PRIMARY KEY,
    sid TEXT NOT NULL UNIQUE,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    auth_time BIGINT,
    amr TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX browser_sessions_user_idx ON browser_sessions (user_id);
CREATE INDEX browser_sessions_expires_idx ON browser_sessions (expires_at);

-- An authorization request waiting for sign-in, required claims or consent, so that any
-- node can continue the flow.
CREATE TABLE authorization_requests (
    id_hash TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    session_id_hash TEXT,
    parameters TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX authorization_requests_expires_idx ON authorization_requests (expires_at);

CREATE TABLE authorization_codes (
    code_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sid TEXT,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    resources TEXT NOT NULL DEFAULT '[]',
    nonce TEXT,
    code_challenge TEXT,
    code_challenge_method TEXT,
    auth_time BIGINT NOT NULL,
    amr TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    consumed_at BIGINT
);
CREATE INDEX authorization_codes_expires_idx ON authorization_codes (expires_at);

CREATE TABLE consents (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, application_id)
);
CREATE INDEX consents_application_idx ON consents (application_id);
