-- Single-use account links sent by mail: verify an email address (`verify_email`) or
-- set a new password (`reset_password`). The token is stored only as its SHA-256 hash;
-- `email` is the address the link was sent to (the one it verifies). A link is spent by
-- setting `consumed_at` in one atomic UPDATE; a newer link of the same purpose for the
-- same user deletes the older ones. Expired rows are purged.
CREATE TABLE account_tokens (
    token_hash TEXT PRIMARY KEY,
    purpose TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    consumed_at BIGINT
);
CREATE INDEX account_tokens_user_idx ON account_tokens (user_id, purpose);
CREATE INDEX account_tokens_expires_idx ON account_tokens (expires_at);
