-- The configuration's version: every node keeps applications, scopes, claim types, API
-- connections, scripts and their secrets in memory, and reloads them when this number
-- moves. Triggers move it on any change to those tables, whoever makes it (the CLI in
-- another process, say), so no writer can forget to.
CREATE TABLE config_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO config_version (id, version) VALUES (1, 1);

CREATE TRIGGER claim_types_insert_config_version AFTER INSERT ON claim_types
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER claim_types_update_config_version AFTER UPDATE ON claim_types
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER claim_types_delete_config_version AFTER DELETE ON claim_types
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER scopes_insert_config_version AFTER INSERT ON scopes
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER scopes_update_config_version AFTER UPDATE ON scopes
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER scopes_delete_config_version AFTER DELETE ON scopes
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER scope_claims_insert_config_version AFTER INSERT ON scope_claims
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER scope_claims_update_config_version AFTER UPDATE ON scope_claims
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER scope_claims_delete_config_version AFTER DELETE ON scope_claims
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER api_connections_insert_config_version AFTER INSERT ON api_connections
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER api_connections_update_config_version AFTER UPDATE ON api_connections
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER api_connections_delete_config_version AFTER DELETE ON api_connections
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER api_connection_secrets_insert_config_version AFTER INSERT ON api_connection_secrets
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER api_connection_secrets_update_config_version AFTER UPDATE ON api_connection_secrets
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER api_connection_secrets_delete_config_version AFTER DELETE ON api_connection_secrets
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER applications_insert_config_version AFTER INSERT ON applications
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER applications_update_config_version AFTER UPDATE ON applications
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER applications_delete_config_version AFTER DELETE ON applications
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER application_secrets_insert_config_version AFTER INSERT ON application_secrets
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER application_secrets_update_config_version AFTER UPDATE ON application_secrets
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER application_secrets_delete_config_version AFTER DELETE ON application_secrets
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER application_redirect_uris_insert_config_version AFTER INSERT ON application_redirect_uris
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER application_redirect_uris_update_config_version AFTER UPDATE ON application_redirect_uris
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER application_redirect_uris_delete_config_version AFTER DELETE ON application_redirect_uris
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER application_scopes_insert_config_version AFTER INSERT ON application_scopes
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER application_scopes_update_config_version AFTER UPDATE ON application_scopes
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER application_scopes_delete_config_version AFTER DELETE ON application_scopes
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER application_required_claims_insert_config_version AFTER INSERT ON application_required_claims
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER application_required_claims_update_config_version AFTER UPDATE ON application_required_claims
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER application_required_claims_delete_config_version AFTER DELETE ON application_required_claims
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER custom_claim_scripts_insert_config_version AFTER INSERT ON custom_claim_scripts
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER custom_claim_scripts_update_config_version AFTER UPDATE ON custom_claim_scripts
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER custom_claim_scripts_delete_config_version AFTER DELETE ON custom_claim_scripts
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER script_environment_variables_insert_config_version AFTER INSERT ON script_environment_variables
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER script_environment_variables_update_config_version AFTER UPDATE ON script_environment_variables
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER script_environment_variables_delete_config_version AFTER DELETE ON script_environment_variables
BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;
