ALTER TABLE authorization_codes DROP COLUMN dpop_jkt;
ALTER TABLE grants DROP COLUMN dpop_jkt;
ALTER TABLE applications DROP COLUMN dpop_bound_access_tokens;
DROP TABLE dpop_proofs;
