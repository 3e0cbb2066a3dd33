ALTER TABLE applications DROP COLUMN require_signed_request_object;
