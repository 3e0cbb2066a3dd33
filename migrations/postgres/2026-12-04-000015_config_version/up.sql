-- The configuration's version: every node keeps applications, scopes, claim types, API
-- connections, scripts and their secrets in memory, and reloads them when this number
-- moves. Triggers move it on any change to those tables, whoever makes it (an admin on
-- another node, the CLI), so no writer can forget to.
CREATE TABLE config_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO config_version (id, version) VALUES (1, 1);

CREATE FUNCTION bump_config_version() RETURNS trigger AS $$
BEGIN
    UPDATE config_version SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER claim_types_config_version AFTER INSERT OR UPDATE OR DELETE ON claim_types
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();

CREATE TRIGGER scopes_config_version AFTER INSERT OR UPDATE OR DELETE ON scopes
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();

CREATE TRIGGER scope_claims_config_version AFTER INSERT OR UPDATE OR DELETE ON scope_claims
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();

CREATE TRIGGER api_connections_config_version AFTER INSERT OR UPDATE OR DELETE ON api_connections
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();

CREATE TRIGGER api_connection_secrets_config_version AFTER INSERT OR UPDATE OR DELETE ON api_connection_secrets
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();

CREATE TRIGGER applications_config_version AFTER INSERT OR UPDATE OR DELETE ON applications
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();

CREATE TRIGGER application_secrets_config_version AFTER INSERT OR UPDATE OR DELETE ON application_secrets
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();

CREATE TRIGGER application_redirect_uris_config_version AFTER INSERT OR UPDATE OR DELETE ON application_redirect_uris
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();

CREATE TRIGGER application_scopes_config_version AFTER INSERT OR UPDATE OR DELETE ON application_scopes
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();

CREATE TRIGGER application_required_claims_config_version AFTER INSERT OR UPDATE OR DELETE ON application_required_claims
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();

CREATE TRIGGER custom_claim_scripts_config_version AFTER INSERT OR UPDATE OR DELETE ON custom_claim_scripts
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();

CREATE TRIGGER script_environment_variables_config_version AFTER INSERT OR UPDATE OR DELETE ON script_environment_variables
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();
