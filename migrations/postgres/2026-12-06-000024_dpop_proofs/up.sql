-- RFC 9449 §11.1: the DPoP proofs already used, by the SHA-256 of the proof key's
-- thumbprint and the proof's `jti`, until their `iat` falls out of the accepted window.
CREATE TABLE dpop_proofs (
    jti_hash TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dpop_proofs_expires_idx ON dpop_proofs (expires_at);
-- RFC 9449 §5.2: an application may refuse token requests without a DPoP proof.
ALTER TABLE applications ADD COLUMN dpop_bound_access_tokens BOOLEAN NOT NULL DEFAULT FALSE;
-- RFC 9449 §5: the key a public client's refresh tokens are bound to (its thumbprint).
ALTER TABLE grants ADD COLUMN dpop_jkt TEXT;
-- RFC 9449 §10: the key a code is bound to by the dpop_jkt authorization parameter.
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT;
