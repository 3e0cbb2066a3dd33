DROP TABLE user_claims;
DROP TABLE claim_types;
DROP TABLE users;
