-- Sessions of the admin console, apart from the single sign-on sessions of the login
-- pages: an administrator's console cookie never signs anyone in to an application.
-- `id_hash` is the SHA-256 of the cookie value; any node can continue a session.
CREATE TABLE admin_sessions (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_ip TEXT,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX admin_sessions_user ON admin_sessions (user_id);
