-- Grants (refresh-token families), refresh tokens, reference access tokens and the
-- jti of client assertions already used. Tokens are stored only as SHA-256 hashes.
CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    sid TEXT,
    scope TEXT NOT NULL,
    resources TEXT NOT NULL DEFAULT '[]',
    auth_time BIGINT,
    amr TEXT NOT NULL DEFAULT '[]',
    custom_claims TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX grants_user_idx ON grants (user_id);
CREATE INDEX grants_application_idx ON grants (application_id);
CREATE INDEX grants_sid_idx ON grants (sid);
CREATE INDEX grants_expires_idx ON grants (expires_at);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    consumed_at BIGINT
);
CREATE INDEX refresh_tokens_grant_idx ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

CREATE TABLE reference_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id TEXT REFERENCES grants (id) ON DELETE CASCADE,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    claims TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX reference_tokens_grant_idx ON reference_tokens (grant_id);
CREATE INDEX reference_tokens_expires_idx ON reference_tokens (expires_at);

CREATE TABLE client_assertion_jtis (
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    jti_hash TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (application_id, jti_hash)
);
CREATE INDEX client_assertion_jtis_expires_idx ON client_assertion_jtis (expires_at);
