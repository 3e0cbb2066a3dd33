-- RFC 8628: device authorization requests. The device code is stored only as its
-- SHA-256 hash, the user code as the hash of its normalized form (RFC 8628 §6.1).
-- `status` is pending, approved or denied; once approved, the user, the sign-in and the
-- granted scope are recorded for the token endpoint, which spends the row once
-- (`consumed_at`). `too_fast` records whether the last poll came before `poll_interval`
-- had passed (§3.5 slow_down).
CREATE TABLE device_codes (
    device_code_hash TEXT PRIMARY KEY,
    user_code_hash TEXT NOT NULL UNIQUE,
    grant_id TEXT NOT NULL,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    resources TEXT NOT NULL,
    status TEXT NOT NULL,
    poll_interval BIGINT NOT NULL,
    last_polled_at BIGINT,
    too_fast BIGINT NOT NULL,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    sid TEXT,
    auth_time BIGINT,
    amr TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    consumed_at BIGINT
);
CREATE INDEX device_codes_expires_idx ON device_codes (expires_at);
CREATE INDEX device_codes_application_idx ON device_codes (application_id);
CREATE INDEX device_codes_user_idx ON device_codes (user_id);
