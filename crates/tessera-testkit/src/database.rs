//! Fresh databases for tests: a SQLite file in a new temporary folder, or a new database
//! on the test Postgres server (`TESSERA_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`), dropped again when the value is dropped.
//!
//! A test database starts migrated and seeded, as a server's first start leaves it: a copy
//! of a template built once (per test process on SQLite, per migration set on the Postgres
//! server), because running every migration for every test was a good part of the suite's
//! time. The `*_empty` constructors give a database nothing has touched, for the tests of
//! migrating itself.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use sha2::{Digest, Sha256};
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
    /// A new SQLite database file in a new temporary folder, migrated and seeded.
    pub fn sqlite() -> TestDatabase {
        let db = TestDatabase::sqlite_empty();
        let (DatabaseUrl::Sqlite(path), Cleanup::Folder(folder)) = (&db.url, &db.cleanup) else {
            unreachable!("sqlite_empty gives a SQLite file in a folder of its own")
        };
        std::fs::create_dir_all(folder).unwrap_or_else(|e| panic!("creating {}: {e}", folder.display()));
        std::fs::copy(sqlite_template(), path)
            .unwrap_or_else(|e| panic!("copying the template to {}: {e}", path.display()));
        db
    }

    /// A path for a new SQLite database file in a new temporary folder; nothing is created.
    pub fn sqlite_empty() -> TestDatabase {
        let folder = std::env::temp_dir().join(format!("tessera-test-{}", uuid::Uuid::now_v7().simple()));
        let url = DatabaseUrl::Sqlite(folder.join("tessera.db"));
        TestDatabase { url, cleanup: Cleanup::Folder(folder) }
    }

    /// A new Postgres database, migrated and seeded (a copy of the template database), or
    /// `None` when the test server does not answer. Under `CI=true` an unreachable server
    /// is a failure, not a skip.
    pub fn postgres() -> Option<TestDatabase> {
        TestDatabase::postgres_from(Some(postgres_template()?))
    }

    /// A new, empty Postgres database, or `None` as [`TestDatabase::postgres`].
    pub fn postgres_empty() -> Option<TestDatabase> {
        TestDatabase::postgres_from(None)
    }

    fn postgres_from(template: Option<&str>) -> Option<TestDatabase> {
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
        let create = match template {
            Some(template) => format!("CREATE DATABASE {name} TEMPLATE {template}"),
            None => format!("CREATE DATABASE {name}"),
        };
        admin.batch_execute(&create).unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
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

/// A digest of what a migrated, seeded database depends on: the migrations and the seed.
/// A template is rebuilt when it changes.
fn schema_digest() -> &'static str {
    static DIGEST: OnceLock<String> = OnceLock::new();
    DIGEST.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = Vec::new();
        collect_files(&root.join("migrations"), &mut files);
        // The seed and what it seeds from.
        files.push(root.join("crates/tessera-store/src/seed.rs"));
        files.push(root.join("crates/tessera-store/src/organizations.rs"));
        files.push(root.join("crates/tessera-domain/src/standard.rs"));
        files.sort();
        let mut digest = Sha256::new();
        for file in files {
            digest.update(file.strip_prefix(&root).unwrap_or(&file).to_string_lossy().as_bytes());
            digest.update(std::fs::read(&file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display())));
        }
        digest.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
    })
}

fn collect_files(dir: &Path, into: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() { collect_files(&path, into) } else { into.push(path) }
    }
}

/// Migrates and seeds the database at `url` as a first start does, and closes it.
fn migrate_fully(url: &DatabaseUrl) {
    let store =
        Store::connect(url, &PoolOptions::for_backend(url.backend())).unwrap_or_else(|e| panic!("opening {url}: {e}"));
    let mut conn = store.conn().unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
    tessera_store::migrate(&mut conn, crate::NOW).unwrap_or_else(|e| panic!("migrating {url}: {e}"));
    if url.backend() == tessera_store::Backend::Sqlite {
        // Everything into the main file, so that copying the file copies the database.
        conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE)").unwrap_or_else(|e| panic!("checkpointing {url}: {e}"));
    }
}

/// The SQLite template file of this migration set, built once (a file per digest in the
/// temporary folder; a rename makes it appear whole).
fn sqlite_template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("tessera-test-template-{}.db", schema_digest()));
        if !path.exists() {
            let building = TestDatabase::sqlite_empty();
            let DatabaseUrl::Sqlite(file) = &building.url else { unreachable!("a SQLite URL") };
            migrate_fully(&building.url);
            std::fs::rename(file, &path).unwrap_or_else(|e| panic!("keeping the template {}: {e}", path.display()));
        }
        path
    })
}

/// Serialises building the Postgres template between test processes.
const TEMPLATE_LOCK: i64 = 0x0074_656d_706c_6174; // "templat"

/// The name of the Postgres template database of this migration set, built the first time
/// it is needed (under an advisory lock, renamed into place when complete; older templates
/// are dropped), or `None` when the test server does not answer.
fn postgres_template() -> Option<&'static str> {
    static TEMPLATE: OnceLock<Option<String>> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let building = TestDatabase::postgres_from(None)?;
            let DatabaseUrl::Postgres(_) = &building.url else { unreachable!("a Postgres URL") };
            let name = format!("tessera_template_{}", schema_digest());
            let admin_url = postgres_admin_url();
            let mut admin = diesel::PgConnection::establish(&admin_url)
                .unwrap_or_else(|e| panic!("connecting to {admin_url}: {e}"));
            admin.batch_execute(&format!("SELECT pg_advisory_lock({TEMPLATE_LOCK})")).unwrap_or_else(|e| panic!("{e}"));
            let exists = diesel::select(diesel::dsl::exists(pg_database::table.filter(pg_database::datname.eq(&name))))
                .get_result::<bool>(&mut admin)
                .unwrap_or_else(|e| panic!("looking for {name}: {e}"));
            if !exists {
                migrate_fully(&building.url);
                let Cleanup::Postgres { name: built, .. } = &building.cleanup else {
                    unreachable!("a Postgres database")
                };
                // The pool's connections may take a moment to leave.
                let mut renamed = Err(String::new());
                for _ in 0..50 {
                    renamed = admin
                        .batch_execute(&format!("ALTER DATABASE {built} RENAME TO {name}"))
                        .map_err(|e| e.to_string());
                    if renamed.is_ok() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                renamed.unwrap_or_else(|e| panic!("renaming the template to {name}: {e}"));
                let older: Vec<String> = pg_database::table
                    .select(pg_database::datname)
                    .filter(pg_database::datname.like("tessera\\_template\\_%"))
                    .filter(pg_database::datname.ne(&name))
                    .load(&mut admin)
                    .unwrap_or_default();
                for old in older {
                    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {old} WITH (FORCE)"));
                }
            }
            let _ = admin.batch_execute(&format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK})"));
            Some(name)
        })
        .as_deref()
}

diesel::table! {
    pg_database (datname) {
        datname -> Text,
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
