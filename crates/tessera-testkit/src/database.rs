//! Fresh databases for tests: a SQLite file in a new temporary folder, or a new database
//! on the test Postgres server (`TESSERA_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`), dropped again when the value is dropped.

use std::path::PathBuf;
use std::sync::OnceLock;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use tessera_store::{DatabaseUrl, PoolOptions, Store};

const DEFAULT_TEST_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database that exists for the life of this value.
pub struct TestDatabase {
    pub url: DatabaseUrl,
    cleanup: Cleanup,
}

enum Cleanup {
    Folder(PathBuf),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    /// A new SQLite database file in a new temporary folder.
    pub fn sqlite() -> TestDatabase {
        let folder = std::env::temp_dir().join(format!("tessera-test-{}", uuid::Uuid::now_v7().simple()));
        let url = DatabaseUrl::Sqlite(folder.join("tessera.db"));
        TestDatabase { url, cleanup: Cleanup::Folder(folder) }
    }

    /// A new, empty Postgres database, or `None` when the test server does not answer.
    /// Under `CI=true` an unreachable server is a failure, not a skip.
    pub fn postgres() -> Option<TestDatabase> {
        let admin_url = postgres_admin_url();
        if let Err(reason) = postgres_reachable(&admin_url) {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true and the test Postgres at {admin_url} is unreachable: {reason}");
            }
            eprintln!("POSTGRES SKIPPED: the test Postgres at {admin_url} is unreachable ({reason}); only SQLite ran");
            return None;
        }
        let name = format!("tessera_test_{}", uuid::Uuid::now_v7().simple());
        let mut admin =
            diesel::PgConnection::establish(&admin_url).unwrap_or_else(|e| panic!("connecting to {admin_url}: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
        let mut url = url::Url::parse(&admin_url).unwrap_or_else(|e| panic!("{admin_url}: {e}"));
        url.set_path(&format!("/{name}"));
        Some(TestDatabase {
            url: DatabaseUrl::Postgres(url.to_string()),
            cleanup: Cleanup::Postgres { admin_url, name },
        })
    }

    /// A migrated, seeded store on this database.
    pub fn store(&self) -> Store {
        let store = Store::connect(&self.url, &PoolOptions::for_backend(self.url.backend()))
            .unwrap_or_else(|e| panic!("opening {}: {e}", self.url));
        let mut conn = store.conn().unwrap_or_else(|e| panic!("connecting to {}: {e}", self.url));
        tessera_store::migrate(&mut conn, 1_700_000_000).unwrap_or_else(|e| panic!("migrating {}: {e}", self.url));
        drop(conn);
        store
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Folder(folder) => {
                let _ = std::fs::remove_dir_all(folder);
            }
            Cleanup::Postgres { admin_url, name } => {
                if let Ok(mut admin) = diesel::PgConnection::establish(admin_url) {
                    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                }
            }
        }
    }
}

/// The server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("TESSERA_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_POSTGRES.to_owned())
}

fn postgres_reachable(admin_url: &str) -> Result<(), String> {
    static REACHABLE: OnceLock<Result<(), String>> = OnceLock::new();
    REACHABLE
        .get_or_init(|| {
            diesel::PgConnection::establish(admin_url).map(|_| ()).map_err(|e| e.to_string().trim().to_owned())
        })
        .clone()
}
