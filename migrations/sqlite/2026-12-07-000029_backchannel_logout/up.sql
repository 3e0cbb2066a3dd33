-- OIDC Back-Channel Logout 1.0 §2.2: where an application receives logout tokens, and
-- whether it needs `sid` in them.
ALTER TABLE applications ADD COLUMN backchannel_logout_uri TEXT;
ALTER TABLE applications ADD COLUMN backchannel_logout_session_required BOOLEAN NOT NULL DEFAULT FALSE;
-- Which applications a session signed in to: its codes (grants already index sid).
CREATE INDEX authorization_codes_sid_idx ON authorization_codes (sid);
