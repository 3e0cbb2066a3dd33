-- Applications (OAuth clients) and what each may do.
CREATE TABLE applications (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    app_type TEXT NOT NULL,
    token_endpoint_auth_method TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    access_token_format TEXT NOT NULL DEFAULT 'jwt',
    id_token_signed_response_alg TEXT NOT NULL DEFAULT 'ES256',
    access_token_lifetime BIGINT NOT NULL,
    id_token_lifetime BIGINT NOT NULL,
    refresh_token_lifetime BIGINT NOT NULL,
    authorization_code_lifetime BIGINT NOT NULL,
    require_consent BOOLEAN NOT NULL DEFAULT TRUE,
    always_issue_refresh_token BOOLEAN NOT NULL DEFAULT FALSE,
    jwks TEXT,
    app_metadata TEXT NOT NULL DEFAULT '{}',
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE application_secrets (
    id TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT
);
CREATE INDEX application_secrets_application_idx ON application_secrets (application_id);

-- kind: 'login' (redirect_uris) or 'post_logout' (post_logout_redirect_uris).
CREATE TABLE application_redirect_uris (
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('login', 'post_logout')),
    uri TEXT NOT NULL,
    PRIMARY KEY (application_id, kind, uri)
);

-- Allowed identity and API scopes.
CREATE TABLE application_scopes (
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    scope_name TEXT NOT NULL REFERENCES scopes (name) ON DELETE CASCADE,
    PRIMARY KEY (application_id, scope_name)
);
CREATE INDEX application_scopes_scope_idx ON application_scopes (scope_name);

CREATE TABLE application_required_claims (
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    claim_name TEXT NOT NULL REFERENCES claim_types (name) ON DELETE CASCADE,
    PRIMARY KEY (application_id, claim_name)
);
CREATE INDEX application_required_claims_claim_idx ON application_required_claims (claim_name);
