-- Scopes share one namespace: a scope string names either an identity scope (which
-- carries claims) or an API scope (which belongs to one API connection), never both.
CREATE TABLE scopes (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('identity', 'api')),
    connection_id TEXT REFERENCES api_connections (id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    standard BOOLEAN NOT NULL DEFAULT FALSE,
    show_in_discovery BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK ((kind = 'api') = (connection_id IS NOT NULL))
);
CREATE INDEX scopes_connection_idx ON scopes (connection_id);

CREATE TABLE scope_claims (
    scope_name TEXT NOT NULL REFERENCES scopes (name) ON DELETE CASCADE,
    claim_name TEXT NOT NULL REFERENCES claim_types (name) ON DELETE CASCADE,
    PRIMARY KEY (scope_name, claim_name)
);
CREATE INDEX scope_claims_claim_idx ON scope_claims (claim_name);
