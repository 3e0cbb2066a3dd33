-- One row describing this Tessera installation. `master_key_check` is a value encrypted
-- with the master key, so a node started with another key refuses to run instead of
-- failing later on every signing key.
CREATE TABLE instance (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    master_key_check TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
