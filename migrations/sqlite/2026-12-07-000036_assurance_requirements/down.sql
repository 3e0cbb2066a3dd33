ALTER TABLE scopes DROP COLUMN required_max_age;
ALTER TABLE scopes DROP COLUMN required_acr;
ALTER TABLE api_connections DROP COLUMN required_max_age;
ALTER TABLE api_connections DROP COLUMN required_acr;
ALTER TABLE applications DROP COLUMN sign_in_policy;
