//! The pool across the database's failures: a connection the server closed (what a
//! PostgreSQL restart does to every idle connection) is not given out again, and a
//! statement that runs past the statement timeout (SQLite: waits past the busy timeout)
//! fails as unavailable, the 503 class, rather than holding its request.
//!
//! Finding 2 of the 2026-12 reliability review: after an idle restart the pool handed the
//! same dead connection out again, 30,000 times in a row.

use std::time::{Duration, Instant};

use diesel::Connection;
use diesel::connection::SimpleConnection;
use tessera_store::{Backend, DatabaseUrl, PoolOptions, Store, StoreError, organizations, users};
use tessera_testkit::{NOW, TestDatabase};

/// Ends every connection to the test database but the caller's, as a restart of the
/// server does.
fn terminate_backends(db: &TestDatabase) {
    let DatabaseUrl::Postgres(url) = &db.url else { unreachable!("a Postgres test") };
    let mut admin = diesel::PgConnection::establish(url).unwrap();
    admin
        .batch_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .unwrap();
    drop(admin);
    // pg_terminate_backend only signals: give the backends a moment to go.
    std::thread::sleep(Duration::from_millis(200));
}

/// Checks out every connection the pool may hold at once, so that all of them are idle in
/// the pool afterwards.
fn fill(store: &Store) {
    let held: Vec<_> =
        (0..PoolOptions::for_backend(Backend::Postgres).max_size).map(|_| store.conn().unwrap()).collect();
    drop(held);
}

/// One operation of each kind the endpoints run: a read, a single-statement write, a
/// transaction, `rounds` times; returns the failures.
fn operations(store: &Store, batch: &str, rounds: usize) -> Vec<StoreError> {
    let mut failures = Vec::new();
    for round in 0..rounds {
        if let Err(e) = store.read_statement(users::count) {
            failures.push(e);
        }
        let name = format!("role-{batch}-{round}");
        if let Err(e) = store.write_statement(|c| organizations::create_role(c, &name, "", NOW).map(|_| ())) {
            failures.push(e);
        }
        if let Err(e) = store.read_transaction(users::count) {
            failures.push(e);
        }
    }
    failures
}

#[test]
fn connections_the_server_closed_are_not_given_out_again() {
    let Some(db) = TestDatabase::postgres() else { return };
    let store = db.store();

    // Readiness first: the first check after the restart answers, it does not find the
    // dead connections one by one (the review saw exactly one 503 per pooled connection).
    fill(&store);
    terminate_backends(&db);
    let started = Instant::now();
    store.ping(Duration::from_secs(2)).expect("the first readiness check after the restart answers");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());

    // Then traffic: every kind of operation, sequentially, none fails.
    fill(&store);
    terminate_backends(&db);
    let size = PoolOptions::for_backend(Backend::Postgres).max_size as usize;
    let failures = operations(&store, "first", 2 * size);
    assert!(failures.is_empty(), "{} operations failed after the restart: {failures:?}", failures.len());

    // And it holds again for the next restart.
    fill(&store);
    terminate_backends(&db);
    let failures = operations(&store, "second", size);
    assert!(failures.is_empty(), "{} operations failed after a second restart: {failures:?}", failures.len());
}

/// The store with the statement timeout (SQLite: busy timeout) set to `timeout`.
fn store_with_timeout(db: &TestDatabase, timeout: Duration) -> Store {
    // Migrate through the default store first, then open the one under test.
    drop(db.store());
    let options = PoolOptions { statement_timeout: timeout, ..PoolOptions::for_backend(db.url.backend()) };
    Store::connect(&db.url, &options).unwrap()
}

/// Migrations run on a connection without the statement timeout: they may take longer
/// than a request's statement, and wait for another node's migration lock.
#[test]
fn the_migration_connection_has_no_statement_timeout() {
    let Some(db) = TestDatabase::postgres() else { return };
    let store = store_with_timeout(&db, Duration::from_millis(200));
    let pooled = store.read_statement(|c| Ok(c.batch_execute("SELECT pg_sleep(0.4)")?));
    assert!(matches!(pooled, Err(StoreError::Unavailable(_))), "{pooled:?}");
    let mut unbounded = store.unbounded_conn().unwrap();
    unbounded.batch_execute("SELECT pg_sleep(0.4)").unwrap();
}

tessera_testkit::both_backends! {
    /// A statement stuck behind another connection's lock ends at the statement timeout
    /// (SQLite: the busy timeout) as unavailable (503), not as a server error and not
    /// after however long the lock is held.
    fn a_statement_past_the_statement_timeout_fails_as_unavailable(db: TestDatabase) {
        let store = store_with_timeout(&db, Duration::from_millis(200));
        // Another client holds the lock of a table, as a stuck transaction would.
        let mut blocker: Box<dyn SimpleConnection> = match &db.url {
            DatabaseUrl::Postgres(url) => Box::new(diesel::PgConnection::establish(url).unwrap()),
            DatabaseUrl::Sqlite(path) => {
                Box::new(diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap())
            }
        };
        match db.url.backend() {
            Backend::Postgres => blocker.batch_execute("BEGIN; LOCK TABLE roles IN ACCESS EXCLUSIVE MODE").unwrap(),
            Backend::Sqlite => blocker.batch_execute("BEGIN IMMEDIATE; DELETE FROM roles WHERE name = 'x'").unwrap(),
        }

        let started = Instant::now();
        let error = store
            .write_transaction(|c| organizations::create_role(c, "stuck", "", NOW).map(|_| ()))
            .expect_err("the lock is held");
        let waited = started.elapsed();
        assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
        assert!(waited >= Duration::from_millis(150), "failed before the timeout: {waited:?}");
        assert!(waited < Duration::from_secs(3), "waited {waited:?} for a 200 ms timeout");

        // The lock released, the same store works again.
        blocker.batch_execute("ROLLBACK").unwrap();
        store.write_transaction(|c| organizations::create_role(c, "after", "", NOW).map(|_| ())).unwrap();
    }
}
