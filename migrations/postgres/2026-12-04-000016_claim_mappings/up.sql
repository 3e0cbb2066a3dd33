-- Claim mappings: rules that put user data (or, for machine tokens, the application's
-- metadata) into token claims, and declarations of where a script's claims go. Global
-- when application_id is NULL; an application's own rule for a claim replaces the
-- global one. `claim` is the full name (namespace joined to name).
CREATE TABLE claim_mappings (
    id TEXT PRIMARY KEY,
    application_id TEXT REFERENCES applications(id) ON DELETE CASCADE,
    subject TEXT NOT NULL CHECK (subject IN ('user', 'machine')),
    source TEXT NOT NULL,
    path TEXT NOT NULL DEFAULT '',
    namespace TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL,
    claim TEXT NOT NULL,
    outputs TEXT NOT NULL,
    freshness TEXT NOT NULL CHECK (freshness IN ('grant', 'refresh')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX claim_mappings_claim ON claim_mappings (COALESCE(application_id, ''), subject, claim);
CREATE INDEX claim_mappings_application ON claim_mappings (application_id);

CREATE TRIGGER claim_mappings_config_version AFTER INSERT OR UPDATE OR DELETE ON claim_mappings
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();

-- The custom claims of a grant's latest issuance, with the outputs each goes to:
-- userinfo and introspection answer from here, so all four outputs agree.
ALTER TABLE grants ADD COLUMN issued_claims TEXT NOT NULL DEFAULT '{}';
