-- docs/accounts.md: per application, whether a signed-in user must have a verified
-- email address before the application gets a code, and whether its sign-in page offers
-- self-registration (when the server-wide registration_enabled allows it).
ALTER TABLE applications ADD COLUMN require_verified_email BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE applications ADD COLUMN self_registration BOOLEAN NOT NULL DEFAULT TRUE;
