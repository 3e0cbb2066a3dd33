-- A key created with another key records its parent: revoking a key revokes the keys
-- created with it, and a derived key never outlives its parent.
ALTER TABLE management_keys ADD COLUMN parent_id TEXT REFERENCES management_keys (id) ON DELETE SET NULL;
CREATE INDEX management_keys_parent ON management_keys (parent_id);
