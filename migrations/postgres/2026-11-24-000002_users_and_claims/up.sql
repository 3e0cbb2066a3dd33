-- Users, claim types (standard and custom) and the users' claim values.
-- Times are unix seconds (BIGINT) and JSON documents are TEXT on both backends, so one
-- query code path serves Postgres and SQLite.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    email TEXT UNIQUE,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    password_hash TEXT,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    app_metadata TEXT NOT NULL DEFAULT '{}',
    user_metadata TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE claim_types (
    name TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    value_type TEXT NOT NULL,
    standard BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE user_claims (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    claim_name TEXT NOT NULL REFERENCES claim_types (name) ON DELETE CASCADE,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, claim_name)
);
CREATE INDEX user_claims_claim_name_idx ON user_claims (claim_name);
