DROP TABLE client_assertion_jtis;
DROP TABLE reference_tokens;
DROP TABLE refresh_tokens;
DROP TABLE grants;
