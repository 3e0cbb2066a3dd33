ALTER TABLE grants DROP COLUMN issued_claims;
DROP TRIGGER claim_mappings_insert_config_version;
DROP TRIGGER claim_mappings_update_config_version;
DROP TRIGGER claim_mappings_delete_config_version;
DROP TABLE claim_mappings;
