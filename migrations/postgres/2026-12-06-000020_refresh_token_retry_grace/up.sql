-- Per application: how many seconds after a rotation its client may retry it with the
-- spent refresh token (0: never). Existing applications take the default, 10.
ALTER TABLE applications ADD COLUMN refresh_token_retry_grace_seconds BIGINT NOT NULL DEFAULT 10;
