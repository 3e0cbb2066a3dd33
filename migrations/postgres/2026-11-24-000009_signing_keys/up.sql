-- Signing keys. state: 'next' (published, not yet signing), 'active' (signing),
-- 'retired' (published until every token it signed has expired: `publish_until`).
-- The private key is encrypted with the master key.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired')),
    private_key TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    activated_at BIGINT,
    retired_at BIGINT,
    publish_until BIGINT
);
CREATE INDEX signing_keys_state_idx ON signing_keys (state);
