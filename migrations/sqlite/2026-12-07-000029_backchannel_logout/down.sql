DROP INDEX authorization_codes_sid_idx;
ALTER TABLE applications DROP COLUMN backchannel_logout_session_required;
ALTER TABLE applications DROP COLUMN backchannel_logout_uri;
