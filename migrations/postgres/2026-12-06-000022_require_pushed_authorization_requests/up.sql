-- RFC 9126 §6: an application may accept authorization requests only when pushed.
ALTER TABLE applications ADD COLUMN require_pushed_authorization_requests BOOLEAN NOT NULL DEFAULT FALSE;
