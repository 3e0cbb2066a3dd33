-- docs/authentication.md: an application's sign-in policy (password, second_factor or
-- passkey); NULL leaves it to the server's `sign_in_policy`, the stricter applies.
ALTER TABLE applications ADD COLUMN sign_in_policy TEXT;
-- Assurance per API scope: the level (1fa, 2fa, phr) and the recency in seconds (how
-- long since auth_time) a token carrying the scope needs. A scope's own requirement
-- replaces its connection's; NULL level and NULL recency: none.
ALTER TABLE api_connections ADD COLUMN required_acr TEXT;
ALTER TABLE api_connections ADD COLUMN required_max_age BIGINT;
ALTER TABLE scopes ADD COLUMN required_acr TEXT;
ALTER TABLE scopes ADD COLUMN required_max_age BIGINT;
