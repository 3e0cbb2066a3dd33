ALTER TABLE applications DROP COLUMN request_uris;
ALTER TABLE applications DROP COLUMN jwks_uri;
DROP INDEX api_connections_resource_uri_idx;
ALTER TABLE api_connections DROP COLUMN resource_uri;
