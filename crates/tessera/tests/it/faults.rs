//! Faults under load (issue 20 point 3), each checked with the failover test's history
//! checker: PostgreSQL stopped mid-load and started again; one of two nodes killed with
//! SIGKILL mid-load while the other carries on (no half-written grant); a SQLite node
//! killed mid-write (nothing acknowledged lost, the file opens cleanly); and a SQLite
//! node whose disk fills up (errors, not corruption). docs/operations.md, "Faults".

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use tessera_store::{DatabaseUrl, PoolOptions, Store};
use tessera_testkit::history::{Outcome, Window};
use tessera_testkit::pg_cluster::{PgCluster, StopMode, free_port};
use tessera_tokens::MasterKey;

use crate::common::load::{self, Load};
use crate::common::node::{Limits, Node};
use crate::common::{TestApp, TestDatabase, settings_for, settings_for_url};
use crate::failover::{assert_history, load_seconds};

fn scratch(what: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-{what}-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Integrity {
    #[diesel(sql_type = Text)]
    integrity_check: String,
}

/// Grants whose code was redeemed and that are not revoked, yet do not have exactly one
/// unspent refresh token; and refresh tokens replaced by one that does not exist.
const HALF_WRITTEN: &str = "SELECT \
    (SELECT count(*) FROM grants g WHERE g.revoked_at IS NULL \
      AND EXISTS (SELECT 1 FROM authorization_codes c WHERE c.grant_id = g.id AND c.consumed_at IS NOT NULL) \
      AND (SELECT count(*) FROM refresh_tokens r WHERE r.grant_id = g.id AND r.consumed_at IS NULL) <> 1) \
    + (SELECT count(*) FROM refresh_tokens r WHERE r.replaced_by IS NOT NULL \
      AND NOT EXISTS (SELECT 1 FROM refresh_tokens s WHERE s.token_hash = r.replaced_by)) AS n";

/// What [`HALF_WRITTEN`] counts, on `url`.
fn half_written(url: &DatabaseUrl) -> i64 {
    let query = diesel::sql_query(HALF_WRITTEN);
    match url {
        DatabaseUrl::Postgres(raw) => query.get_result::<Count>(&mut PgConnection::establish(raw).unwrap()),
        DatabaseUrl::Sqlite(path) => {
            query.get_result::<Count>(&mut SqliteConnection::establish(&path.display().to_string()).unwrap())
        }
    }
    .unwrap()
    .n
}

fn sqlite_integrity(path: &std::path::Path) -> String {
    let mut conn = SqliteConnection::establish(&path.display().to_string()).unwrap();
    diesel::sql_query("PRAGMA integrity_check").get_result::<Integrity>(&mut conn).unwrap().integrity_check
}

#[test]
fn postgres_stopped_mid_load_and_started_again_loses_nothing_and_needs_no_restart() {
    let Some(cluster) = PgCluster::primary("restart under load") else { return };
    let data_dir = scratch("pg-restart");
    let app = TestApp::spawn_with(settings_for_url(&cluster.url(), &data_dir));
    let url = DatabaseUrl::parse(&cluster.url()).unwrap();
    let fixture = load::register(&Store::connect(&url, &PoolOptions::for_backend(url.backend())).unwrap());

    let load = Load::start(vec![app.base.clone()], &fixture, 4);
    std::thread::sleep(load_seconds());
    let fault = load.history.now();
    cluster.stop(StopMode::Fast);
    std::thread::sleep(Duration::from_millis(2500));
    cluster.start();
    let settled = load.history.now() + Duration::from_millis(500);
    std::thread::sleep(load_seconds() + Duration::from_millis(500));
    let history = load.finish(&app.base);

    assert_history("postgres restart", &history, Window { fault, settled });
    assert!(
        history.iter().any(|e| matches!(&e.outcome, Outcome::Answer { status: 503, retry_after: true, .. })),
        "no 503 while PostgreSQL was away"
    );
    assert_eq!(half_written(&url), 0);
    drop(app);
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn a_node_killed_mid_load_leaves_no_half_written_grant_and_the_other_carries_on() {
    let Some(db) = TestDatabase::postgres() else { return };
    let data_dir = scratch("node-kill");
    let mut raw = settings_for(&db, &data_dir);
    raw.master_key = Some(MasterKey::generate().unwrap().to_base64().to_owned());
    raw.issuer = "http://tessera.test".into();
    let survivor = TestApp::spawn_with(raw.clone());
    let mut victim = Node::start(&raw, free_port(), Limits::default());
    let fixture = load::register(&db.store());

    let load = Load::start(vec![victim.base.clone(), survivor.base.clone()], &fixture, 4);
    std::thread::sleep(load_seconds());
    let fault = load.history.now();
    victim.kill();
    load.retire(&victim.base);
    let settled = load.history.now() + Duration::from_millis(200);
    std::thread::sleep(load_seconds() + Duration::from_millis(200));
    let history = load.finish(&survivor.base);

    assert_history("node SIGKILL", &history, Window { fault, settled });
    assert_eq!(half_written(&db.url), 0, "a grant half written");
    drop(survivor);
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn a_sqlite_node_killed_mid_write_loses_nothing_it_acknowledged_and_opens_cleanly() {
    let data_dir = scratch("sqlite-kill");
    let db_path = data_dir.join("tessera.db");
    let mut raw = settings_for_url(&format!("sqlite://{}", db_path.display()), &data_dir);
    let port = free_port();
    raw.issuer = format!("http://127.0.0.1:{port}");
    let mut node = Node::start(&raw, port, Limits::default());
    let url = DatabaseUrl::parse(&raw.database_url).unwrap();
    let fixture = load::register(&Store::connect(&url, &PoolOptions::for_backend(url.backend())).unwrap());

    let load = Load::start(vec![node.base.clone()], &fixture, 4);
    std::thread::sleep(load_seconds());
    let fault = load.history.now();
    node.kill();
    // The file as the killed process left it, before anything opens it again.
    assert_eq!(sqlite_integrity(&db_path), "ok");
    let node = Node::start(&raw, port, Limits::default());
    let settled = load.history.now() + Duration::from_millis(200);
    std::thread::sleep(load_seconds() + Duration::from_millis(200));
    let history = load.finish(&node.base);

    assert_history("sqlite SIGKILL", &history, Window { fault, settled });
    assert_eq!(sqlite_integrity(&db_path), "ok");
    assert_eq!(half_written(&url), 0);
    drop(node);
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn a_full_disk_under_sqlite_gives_503s_not_corruption_and_loses_nothing_acknowledged() {
    let data_dir = scratch("sqlite-full");
    let db_path = data_dir.join("tessera.db");
    let mut raw = settings_for_url(&format!("sqlite://{}", db_path.display()), &data_dir);
    let port = free_port();
    raw.issuer = format!("http://127.0.0.1:{port}");
    // Migrated and seeded by a first, unlimited start.
    let mut node = Node::start(&raw, port, Limits::default());
    node.kill();
    let url = DatabaseUrl::parse(&raw.database_url).unwrap();
    let fixture = load::register(&Store::connect(&url, &PoolOptions::for_backend(url.backend())).unwrap());
    // Room for a few hundred more tokens, in the database file and in its WAL.
    let size = std::fs::metadata(&db_path).unwrap().len();
    let mut full = Node::start(&raw, port, Limits { file_size: Some(size + 256 * 1024) });

    let load = Load::start(vec![full.base.clone()], &fixture, 2);
    let started = std::time::Instant::now();
    while !load.history.events().iter().any(|e| matches!(&e.outcome, Outcome::Answer { status: 503, .. })) {
        assert!(started.elapsed() < Duration::from_secs(30), "the disk never filled");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(full.running(), "the node died of the full disk");
    let fault = load.history.now();
    full.kill();
    let node = Node::start(&raw, port, Limits::default());
    let settled = load.history.now() + Duration::from_millis(200);
    std::thread::sleep(Duration::from_secs(1));
    let history = load.finish(&node.base);

    assert_history("sqlite disk full", &history, Window { fault, settled });
    let full_answers = history.iter().filter(|e| e.start < fault && e.unknown()).count();
    println!("sqlite disk full: {full_answers} requests answered 503 (or not at all) while the disk was full");
    assert_eq!(sqlite_integrity(&db_path), "ok");
    assert_eq!(half_written(&url), 0);
    drop(node);
    let _ = std::fs::remove_dir_all(&data_dir);
}
