-- RFC 8707 / RFC 9728: an API connection's resource identifier, an absolute URI that a
-- client may send as `resource` instead of the connection's name. Unique when set.
ALTER TABLE api_connections ADD COLUMN resource_uri TEXT;
CREATE UNIQUE INDEX api_connections_resource_uri_idx ON api_connections (resource_uri);
-- RFC 7591 §2 `jwks_uri`: where an application publishes its keys (never with `jwks`),
-- and OIDC Registration `request_uris` (RFC 9101 §5.2): the request object URLs Tessera
-- may fetch for it, as a JSON array.
ALTER TABLE applications ADD COLUMN jwks_uri TEXT;
ALTER TABLE applications ADD COLUMN request_uris TEXT NOT NULL DEFAULT '[]';
