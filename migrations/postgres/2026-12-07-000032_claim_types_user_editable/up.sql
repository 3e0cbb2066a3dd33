-- docs/accounts.md: claim types an administrator lets users change themselves on the
-- account page (/account). Off for every existing claim type.
ALTER TABLE claim_types ADD COLUMN user_editable BOOLEAN NOT NULL DEFAULT FALSE;
