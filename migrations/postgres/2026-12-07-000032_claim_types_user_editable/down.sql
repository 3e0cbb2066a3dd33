ALTER TABLE claim_types DROP COLUMN user_editable;
