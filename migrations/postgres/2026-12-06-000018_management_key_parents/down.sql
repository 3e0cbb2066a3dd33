DROP INDEX management_keys_parent;
ALTER TABLE management_keys DROP COLUMN parent_id;
