ALTER TABLE sign_in_throttle DROP COLUMN audit_refusal;
ALTER TABLE sign_in_throttle DROP COLUMN refusal_audited_at;
ALTER TABLE sign_in_throttle DROP COLUMN refused;
