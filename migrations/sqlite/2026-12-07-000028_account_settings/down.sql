ALTER TABLE applications DROP COLUMN self_registration;
ALTER TABLE applications DROP COLUMN require_verified_email;
