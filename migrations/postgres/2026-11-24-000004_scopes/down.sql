DROP TABLE scope_claims;
DROP TABLE scopes;
