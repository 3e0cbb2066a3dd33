-- A spent refresh token names the token that replaced it (by hash): within the
-- application's retry grace, presenting the spent token again spends that successor, if
-- it is still unused, and issues a new one, instead of revoking the grant.
ALTER TABLE refresh_tokens ADD COLUMN replaced_by TEXT;
