-- Authentication factors beyond the password (docs/authentication.md). Every row belongs
-- to a user and goes with them.

-- Passkeys (WebAuthn): the credential as webauthn-rs serialises it (public key, counter,
-- flags), found at sign-in by its credential id (base64url).
CREATE TABLE passkeys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    credential TEXT NOT NULL,
    credential_id TEXT NOT NULL UNIQUE,
    device_bound BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_user_idx ON passkeys (user_id);

-- One TOTP secret per user, encrypted under the master key; active once confirmed by a
-- first code. `last_used_step` is the last RFC 6238 time step accepted: a code of that
-- step or an earlier one is a replay.
CREATE TABLE totp_secrets (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    confirmed_at BIGINT,
    last_used_step BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- Recovery codes, stored as SHA-256 hashes; spent by setting `used_at` once.
CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

-- WebAuthn ceremonies in progress: the server-side state webauthn-rs keeps between the
-- options and the browser's answer, found by the SHA-256 of the ceremony's id, taken
-- once, purged after `expires_at`. `user_id` is NULL for a sign-in by passkey alone.
CREATE TABLE webauthn_ceremonies (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('registration', 'authentication', 'discoverable')),
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX webauthn_ceremonies_expires_idx ON webauthn_ceremonies (expires_at);

-- A console sign-in whose password was right and that waits for the administrator's
-- one-time code: not a session yet (`admin_sessions::get_active` skips it).
ALTER TABLE admin_sessions ADD COLUMN awaiting_factor BOOLEAN NOT NULL DEFAULT FALSE;
