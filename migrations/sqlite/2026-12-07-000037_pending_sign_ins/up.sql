-- A sign-in on the account page whose password was right and whose second factor is due
-- (docs/authentication.md, "Signing in"): not a session yet. Bound to the browser's
-- (anonymous) session, and gone with it or with the user; read only until `expires_at`.
CREATE TABLE pending_sign_ins (
    session_id_hash TEXT PRIMARY KEY REFERENCES browser_sessions (id_hash) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    amr TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX pending_sign_ins_user_idx ON pending_sign_ins (user_id);
