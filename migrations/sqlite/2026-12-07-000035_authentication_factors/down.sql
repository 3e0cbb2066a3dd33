ALTER TABLE admin_sessions DROP COLUMN awaiting_factor;
DROP TABLE webauthn_ceremonies;
DROP TABLE recovery_codes;
DROP TABLE totp_secrets;
DROP TABLE passkeys;
