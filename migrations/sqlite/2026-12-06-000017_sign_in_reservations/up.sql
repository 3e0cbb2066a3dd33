-- Sign-in attempts are reserved before the password is checked (one statement per
-- bucket), so a burst of parallel attempts cannot pass the limit. `refused` counts the
-- attempts refused during the current lock; `audit_refusal` says whether the last
-- refusal is due for the audit log (at most one event per bucket a minute), and
-- `refusal_audited_at` when the last one was written.
ALTER TABLE sign_in_throttle ADD COLUMN refused BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sign_in_throttle ADD COLUMN refusal_audited_at BIGINT;
ALTER TABLE sign_in_throttle ADD COLUMN audit_refusal BOOLEAN NOT NULL DEFAULT FALSE;
