DROP TABLE application_required_claims;
DROP TABLE application_scopes;
DROP TABLE application_redirect_uris;
DROP TABLE application_secrets;
DROP TABLE applications;
