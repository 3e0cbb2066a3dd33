ALTER TABLE grants DROP COLUMN issued_claims;
DROP TRIGGER claim_mappings_config_version ON claim_mappings;
DROP TABLE claim_mappings;
