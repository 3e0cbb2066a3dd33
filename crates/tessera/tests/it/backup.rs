//! `tessera backup` and the restore drill: a SQLite backup taken while the server serves
//! and writes, restored into an empty data folder, answers for the tokens issued before
//! it, with the same master key and only with it. On PostgreSQL the command points to
//! `pg_dump`.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::Value;
use tessera_domain::{SigningAlgorithm, TokenFormat};
use tessera_store::applications::{self, ApplicationSettings};
use tessera_store::connections::{self, NewApiConnection};
use tessera_store::{PoolOptions, Store};
use tessera_testkit::apps;
use tessera_tokens::{MasterKey, generate_secret};

use tessera::settings::RawSettings;

use crate::common::{TestApp, TestDatabase, settings_for};

/// Runs the `tessera` binary in `dir` with a clean environment plus `env`.
fn tessera(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command.args(args).current_dir(dir).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        command.env(k, v);
    }
    command.stdin(Stdio::null()).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn scratch(what: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-{what}-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The API connection `orders-api` and two machine clients allowed its scope:
/// `machine` (JWT access tokens) and `ref-machine` (reference tokens). Returns the
/// connection's secret and the clients' secret.
fn register(store: &Store) -> (String, String) {
    let connection_secret = generate_secret();
    let new = NewApiConnection {
        name: "orders-api".into(),
        display_name: "Orders".into(),
        description: String::new(),
        access_token_format: None,
        resource_uri: None,
        requirement: None,
    };
    let now = tessera::now();
    store.write_transaction(|c| connections::create(c, &new, connection_secret.hash().as_str(), now)).unwrap();
    let client_secret = generate_secret();
    for (client_id, format) in [("machine", TokenFormat::Jwt), ("ref-machine", TokenFormat::Reference)] {
        let settings =
            ApplicationSettings { access_token_format: format, ..apps::machine_app(client_id, &["orders-api"]) };
        store
            .write_transaction(|c| {
                applications::create(c, &client_id.into(), &settings, Some(client_secret.hash().as_str()), now)
            })
            .unwrap();
    }
    (connection_secret.expose().to_owned(), client_secret.expose().to_owned())
}

fn issue(app: &TestApp, client_id: &str, secret: &str) -> String {
    let form = [("grant_type", "client_credentials"), ("scope", "orders-api")];
    let response: Value = app.token(Some((client_id, secret)), &form).json().unwrap();
    response["access_token"].as_str().unwrap_or_else(|| panic!("{response}")).to_owned()
}

fn active(app: &TestApp, connection_secret: &str, token: &str) -> bool {
    let body: Value = app.introspect(("orders-api", connection_secret), &[("token", token)]).json().unwrap();
    body["active"] == true
}

/// What a node issued before its backup, and the secrets to ask about it.
struct Tokens {
    connection_secret: String,
    client_secret: String,
    jwt: String,
    reference: String,
}

/// Starts a node on the restored database: its users are kept (no new administrator),
/// the tokens issued before the backup introspect active, the JWT verifies against the
/// node's JWKS (the same signing keys), and it issues new tokens.
fn the_restored_node_answers_for_tokens_issued_before(restored: &RawSettings, before: &Tokens) {
    let node = TestApp::spawn_with(restored.clone());
    let Tokens { connection_secret, client_secret, jwt, reference } = before;
    assert!(node.bootstrap_password.is_none(), "the restored users are kept: no new administrator");
    assert!(active(&node, connection_secret, reference), "a reference token issued before the backup");
    assert!(active(&node, connection_secret, jwt), "a JWT issued before the backup");
    let keys: Vec<_> = node.jwks()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| tessera_tokens::VerifyingKey::from_jwk(k, None))
        .collect();
    assert!(tessera_tokens::jwt::verify(jwt, &keys, SigningAlgorithm::ALL).is_ok(), "the same signing keys");
    let fresh = issue(&node, "machine", client_secret);
    assert!(active(&node, connection_secret, &fresh), "the restored node signs new tokens");
    assert!(tessera_tokens::jwt::verify(&fresh, &keys, SigningAlgorithm::ALL).is_ok());
}

/// A node on the restored database with any of `keys` instead of its master key does
/// not start.
fn refuses_another_master_key(restored: &RawSettings, keys: impl IntoIterator<Item = Option<String>>) {
    for other in keys {
        let mut wrong = restored.clone();
        wrong.master_key = other;
        wrong.data_dir = scratch("backup-nokey");
        let settings = tessera::settings::Settings::from_raw(wrong.clone(), vec![]).unwrap();
        let error = tessera::server::prepare(&settings).err().expect("a restore without its master key is refused");
        assert!(error.0.starts_with("master_key: this is not the master key"), "{}", error.0);
        let _ = std::fs::remove_dir_all(&wrong.data_dir);
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_sqlite_backup_taken_while_serving_restores_with_its_master_key_and_only_with_it() {
    let db = TestDatabase::sqlite();
    let tessera_store::DatabaseUrl::Sqlite(database) = &db.url else { unreachable!() };
    let work = scratch("backup");
    let master_key = MasterKey::generate().unwrap().to_base64().to_owned();
    let mut raw = settings_for(&db, &work.join("data"));
    raw.master_key = Some(master_key.clone());
    // One issuer for the node and its restored successor, as in a real restore.
    raw.issuer = "http://tessera.test".into();
    let app = Arc::new(TestApp::spawn_with(raw.clone()));
    let store = Store::connect(&db.url, &PoolOptions::for_backend(db.url.backend())).unwrap();
    let (connection_secret, client_secret) = register(&store);
    let jwt = issue(&app, "machine", &client_secret);
    let reference = issue(&app, "ref-machine", &client_secret);
    assert!(active(&app, &connection_secret, &jwt) && active(&app, &connection_secret, &reference));

    // The server keeps issuing (writing) reference tokens while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let issued = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (app, stop, issued, secret) = (app.clone(), stop.clone(), issued.clone(), client_secret.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                issue(&app, "ref-machine", &secret);
                issued.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    while issued.load(Ordering::Relaxed) < 3 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let url = format!("sqlite://{}", database.display());
    let env = [("TESSERA_DATABASE_URL", url.as_str()), ("TESSERA_MASTER_KEY", master_key.as_str())];
    let backup = work.join("tessera-backup.db");
    let output = tessera(&work, &["backup", "--output", "tessera-backup.db"], &env);
    let during = issued.load(Ordering::Relaxed);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let printed = text(&output.stdout);
    assert!(printed.contains("tessera-backup.db") && printed.contains("integrity ok"), "{printed}");
    assert!(printed.contains("The master key is not in the backup"), "{printed}");
    while issued.load(Ordering::Relaxed) < during + 3 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    #[cfg(unix)]
    assert_eq!(mode(&backup), 0o600, "the backup holds hashes, encrypted keys and personal data");
    let leftovers: Vec<_> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let events = store
        .read_transaction(|c| tessera_store::audit::list(c, &Default::default(), &tessera_store::Page::first(20)))
        .unwrap();
    let event = events.items.iter().find(|e| e.action == "database.backup").expect("the backup is audited");
    assert_eq!(event.actor, "cli");

    // It never overwrites without --force.
    let existing = std::fs::read(&backup).unwrap();
    let again = tessera(&work, &["backup", "--output", "tessera-backup.db"], &env);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).starts_with("error: --output:"), "{}", text(&again.stderr));
    assert_eq!(std::fs::read(&backup).unwrap(), existing, "the existing file is untouched");

    drop(store);
    let Ok(mut app) = Arc::try_unwrap(app) else { panic!("the writer thread still holds the app") };
    app.stop();
    drop(app);

    // Restore: an empty data folder whose database file is the backup, the same key.
    let restored_dir = work.join("restored");
    std::fs::create_dir_all(&restored_dir).unwrap();
    let restored_db = restored_dir.join("tessera.db");
    std::fs::copy(&backup, &restored_db).unwrap();
    let mut restored = raw.clone();
    restored.database_url = format!("sqlite://{}", restored_db.display());
    restored.data_dir = restored_dir.join("data");
    let before = Tokens { connection_secret, client_secret, jwt, reference };
    the_restored_node_answers_for_tokens_issued_before(&restored, &before);
    // Another master key, or none (an embedded node would make a new one): refused.
    refuses_another_master_key(&restored, [Some(MasterKey::generate().unwrap().to_base64().to_owned()), None]);
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn restore_replaces_a_stopped_nodes_database_and_refuses_what_is_unsafe() {
    let db = TestDatabase::sqlite();
    let tessera_store::DatabaseUrl::Sqlite(database) = &db.url else { unreachable!() };
    let work = scratch("restore");
    let master_key = MasterKey::generate().unwrap().to_base64().to_owned();
    let mut raw = settings_for(&db, &work.join("data"));
    raw.master_key = Some(master_key.clone());
    raw.issuer = "http://tessera.test".into();
    let mut app = TestApp::spawn_with(raw.clone());
    let store = Store::connect(&db.url, &PoolOptions::for_backend(db.url.backend())).unwrap();
    let (connection_secret, client_secret) = register(&store);
    drop(store);
    let kept = issue(&app, "ref-machine", &client_secret);
    let url = format!("sqlite://{}", database.display());
    let env = [("TESSERA_DATABASE_URL", url.as_str()), ("TESSERA_MASTER_KEY", master_key.as_str())];
    let backup = tessera(&work, &["backup", "--output", "b.db"], &env);
    assert!(backup.status.success(), "{}", text(&backup.stderr));
    let lost = issue(&app, "ref-machine", &client_secret);

    let refused = |args: &[&str], env: &[(&str, &str)], expected: &str| {
        let output = tessera(&work, args, env);
        let err = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with(expected), "{args:?}: expected {expected}, got {err}");
    };
    refused(&["restore", "--input", "b.db", "--force"], &env, "error: database_url:");
    assert!(text(&tessera(&work, &["restore", "--input", "b.db", "--force"], &env).stderr).contains("is in use"));
    app.stop();
    drop(app);
    refused(&["restore", "--input", "b.db"], &env, "error: database_url:");
    let other_key = MasterKey::generate().unwrap().to_base64().to_owned();
    let wrong_key = [("TESSERA_DATABASE_URL", url.as_str()), ("TESSERA_MASTER_KEY", other_key.as_str())];
    refused(&["restore", "--input", "b.db", "--force"], &wrong_key, "error: master_key:");
    std::fs::write(work.join("junk.db"), b"not a database at all, not even close to one").unwrap();
    refused(&["restore", "--input", "junk.db", "--force"], &env, "error: --input:");
    assert!(tessera_store::backup::inspect_sqlite(database).unwrap().usable(), "the refusals left the database alone");

    // The stopped server's background threads (key refresher, group-commit writer) close
    // their connections within a refresh interval; until then the database is in use.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let restored = loop {
        let output = tessera(&work, &["restore", "--input", "b.db", "--force"], &env);
        if output.status.success() || std::time::Instant::now() > deadline {
            break output;
        }
        assert!(text(&output.stderr).contains("is in use"), "{}", text(&output.stderr));
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(restored.status.success(), "{}", text(&restored.stderr));
    assert!(text(&restored.stdout).starts_with("Restored b.db"), "{}", text(&restored.stdout));
    #[cfg(unix)]
    assert_eq!(mode(database), 0o600);
    let node = TestApp::spawn_with(raw.clone());
    assert!(active(&node, &connection_secret, &kept), "a token issued before the backup");
    assert!(!active(&node, &connection_secret, &lost), "a token issued after the backup is gone with the restore");
    let store = Store::connect(&db.url, &PoolOptions::for_backend(db.url.backend())).unwrap();
    let events = store
        .read_transaction(|c| tessera_store::audit::list(c, &Default::default(), &tessera_store::Page::first(20)))
        .unwrap();
    let event = events.items.iter().find(|e| e.action == "database.restore").expect("the restore is audited");
    assert_eq!(event.actor, "cli");
    drop((node, store));
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn a_failed_backup_leaves_no_file() {
    let work = scratch("backup-fail");
    // No database at all.
    let output = tessera(&work, &["backup", "--output", "out.db"], &[("TESSERA_DATABASE_URL", "sqlite://missing.db")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).starts_with("error: database_url: there is no database"), "{}", text(&output.stderr));
    // A SQLite file that is not a Tessera database.
    let foreign = work.join("foreign.db");
    {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        let mut conn = diesel::SqliteConnection::establish(foreign.to_str().unwrap()).unwrap();
        conn.batch_execute("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);").unwrap();
    }
    let output = tessera(&work, &["backup", "--output", "out.db"], &[("TESSERA_DATABASE_URL", "sqlite://foreign.db")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("is not a Tessera database"), "{}", text(&output.stderr));
    let names: Vec<String> =
        std::fs::read_dir(&work).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["foreign.db"], "no backup, no partial file");
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn on_postgres_backup_and_restore_print_the_pg_dump_and_pg_restore_commands_without_the_password() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let tessera_store::DatabaseUrl::Postgres(url) = &db.url else { unreachable!() };
    let mut with_password = url::Url::parse(url).unwrap();
    with_password.set_password(Some("hunter2")).unwrap();
    let work = scratch("backup-pg");
    let key = MasterKey::generate().unwrap().to_base64().to_owned();
    let output = tessera(
        &work,
        &["backup", "--output", "tessera.dump"],
        &[("TESSERA_DATABASE_URL", with_password.as_str()), ("TESSERA_MASTER_KEY", key.as_str())],
    );
    let err = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&format!("pg_dump --format=custom --file='tessera.dump' --dbname='{url}'")), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(err.contains("master key"), "{err}");
    assert!(!work.join("tessera.dump").exists());
    let output = tessera(
        &work,
        &["restore", "--input", "tessera.dump"],
        &[("TESSERA_DATABASE_URL", with_password.as_str()), ("TESSERA_MASTER_KEY", key.as_str())],
    );
    let err = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&format!("pg_restore --no-owner --exit-on-error --dbname='{url}' 'tessera.dump'")), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let _ = std::fs::remove_dir_all(&work);
}

/// The newest `name` among the machine's PostgreSQL binaries, else on the PATH.
fn postgres_tool(name: &str) -> Option<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path().join("bin").join(name)))
        .filter(|p| p.is_file())
        .collect();
    found.sort_by_key(|p| p.parent().and_then(Path::parent).and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok()));
    found.pop().or_else(|| {
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).map(|d| d.join(name)).find(|p| p.is_file())
    })
}

/// An empty database on the test server, dropped with this value.
struct EmptyDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl EmptyDatabase {
    fn create() -> EmptyDatabase {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        let admin_url = tessera_testkit::postgres_admin_url();
        let name = format!("tessera_restore_{}", uuid::Uuid::now_v7().simple());
        let mut admin = diesel::PgConnection::establish(&admin_url).unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(&format!("/{name}"));
        EmptyDatabase { admin_url, name, url: url.to_string() }
    }
}

impl Drop for EmptyDatabase {
    fn drop(&mut self) {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        if let Ok(mut admin) = diesel::PgConnection::establish(&self.admin_url) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

#[test]
fn a_pg_dump_taken_while_serving_restores_into_an_empty_database_with_its_master_key() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let (Some(pg_dump), Some(pg_restore)) = (postgres_tool("pg_dump"), postgres_tool("pg_restore")) else {
        eprintln!("PG_DUMP SKIPPED: pg_dump or pg_restore not found; the PostgreSQL restore drill did not run");
        return;
    };
    let tessera_store::DatabaseUrl::Postgres(url) = &db.url else { unreachable!() };
    let work = scratch("pgdump");
    let mut raw = settings_for(&db, &work.join("data"));
    raw.issuer = "http://tessera.test".into();
    let mut app = TestApp::spawn_with(raw.clone());
    let store = Store::connect(&db.url, &PoolOptions::for_backend(db.url.backend())).unwrap();
    let (connection_secret, client_secret) = register(&store);
    drop(store);
    let jwt = issue(&app, "machine", &client_secret);
    let reference = issue(&app, "ref-machine", &client_secret);

    // The command `tessera backup` prints, run while the node serves.
    let dump = work.join("tessera.dump");
    let dumped = Command::new(&pg_dump)
        .arg("--format=custom")
        .arg(format!("--file={}", dump.display()))
        .arg(format!("--dbname={url}"))
        .output()
        .unwrap();
    assert!(dumped.status.success(), "pg_dump: {}", text(&dumped.stderr));
    assert!(active(&app, &connection_secret, &reference), "the node served on");
    app.stop();
    drop(app);

    let empty = EmptyDatabase::create();
    let restored_ok = Command::new(&pg_restore)
        .args(["--no-owner", "--exit-on-error"])
        .arg(format!("--dbname={}", empty.url))
        .arg(&dump)
        .output()
        .unwrap();
    assert!(restored_ok.status.success(), "pg_restore: {}", text(&restored_ok.stderr));
    let mut restored = raw.clone();
    restored.database_url = empty.url.clone();
    restored.data_dir = work.join("restored");
    let before = Tokens { connection_secret, client_secret, jwt, reference };
    the_restored_node_answers_for_tokens_issued_before(&restored, &before);
    refuses_another_master_key(&restored, [Some(MasterKey::generate().unwrap().to_base64().to_owned())]);
    drop(empty);
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn backup_and_restore_have_help() {
    let work = scratch("backup-help");
    for command in ["backup", "restore"] {
        let output = tessera(&work, &[command, "--help"], &[]);
        assert!(output.status.success(), "{command}: {}", text(&output.stderr));
        let help = text(&output.stdout);
        assert!(help.contains("Usage:") && help.contains("--force") && help.contains("master key"), "{help}");
    }
    let _ = std::fs::remove_dir_all(&work);
}
