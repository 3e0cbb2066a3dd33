//! Store errors say what went wrong in the store's terms: a value the schema refuses is
//! `Invalid`, with a message fit to show a client, never the database's own text (which
//! names tables, constraints and values).

use diesel::RunQueryDsl;
use tessera_store::{StoreError, StoreResult};

/// Runs one raw statement and returns the store's error for it.
fn refused(store: &tessera_store::Store, sql: &'static str) -> StoreError {
    let result: StoreResult<usize> = store.write_transaction(|c| Ok(diesel::sql_query(sql).execute(c)?));
    result.expect_err("the database refuses the statement")
}

/// Words of SQLite's and Postgres's constraint messages.
fn assert_no_database_text(error: &StoreError) {
    let shown = error.to_string();
    for word in ["constraint", "violates", "relation", "scopes", "null value", "failed", "CHECK", "kind IN"] {
        assert!(!shown.contains(word), "{word:?} in {shown:?}");
    }
}

crate::both_backends! {
    fn a_not_null_violation_is_invalid_without_the_database_message(store: Store) {
        let error = refused(&store, "INSERT INTO scopes (name, kind, display_name, created_at, updated_at) \
                                     VALUES ('x', 'identity', NULL, 1, 1)");
        assert!(matches!(error, StoreError::Invalid { .. }), "{error:?}");
        assert_no_database_text(&error);
    }

    fn a_check_violation_is_invalid_without_the_database_message(store: Store) {
        let error = refused(&store, "INSERT INTO scopes (name, kind, display_name, created_at, updated_at) \
                                     VALUES ('x', 'neither', 'X', 1, 1)");
        assert!(matches!(error, StoreError::Invalid { .. }), "{error:?}");
        assert_no_database_text(&error);
    }
}
