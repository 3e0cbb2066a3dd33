DROP TABLE client_registrations;
DROP TABLE initial_access_tokens;
ALTER TABLE applications DROP COLUMN registration;
