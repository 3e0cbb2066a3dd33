//! Errors are never swallowed: a store failure while authorizing is an error page (503
//! while the database is away), never `login_required` to the client; a store failure on
//! the consent page is an error, not a shorter list of scopes. Every 503 says when to
//! come back (`Retry-After`, RFC 9110 §10.2.3).
use std::time::{Duration, Instant};

use crate::common::security::*;
use diesel::RunQueryDsl;
use diesel::connection::SimpleConnection;
use tessera_store::AnyConnection;

/// Runs raw SQL on the test's own connection (to break what the server reads).
fn sql(w: &World, statements: &str) {
    w.store
        .write_transaction(|c| {
            c.batch_execute(statements).map_err(tessera_store::StoreError::from)?;
            Ok(())
        })
        .unwrap();
}

/// Alice's stored `app_metadata` is no longer JSON: reading her account fails.
fn corrupt_alice(w: &World) {
    sql(w, "UPDATE users SET app_metadata = 'not json' WHERE username = 'alice'");
}

/// The scope `name` gets a kind no scope has: reading it fails.
fn corrupt_scope(w: &World, name: &str) {
    let update = format!("UPDATE scopes SET kind = 'neither' WHERE name = '{name}'");
    w.store
        .write_transaction(|c| {
            let relax = match c {
                AnyConnection::Postgres(_) => "ALTER TABLE scopes DROP CONSTRAINT scopes_kind_check",
                AnyConnection::Sqlite(_) => "PRAGMA ignore_check_constraints = ON",
            };
            diesel::sql_query(relax).execute(c)?;
            diesel::sql_query(&update).execute(c)?;
            Ok(())
        })
        .unwrap();
}

/// An error page of ours: `status`, HTML, uncacheable, and no redirect to the client.
fn assert_failure_page(reply: &Reply, status: u16, what: &str) {
    assert_eq!(reply.status, status, "{what}: {}", reply.body);
    assert!(reply.location().is_none(), "{what}: redirected to {:?}", reply.location());
    assert!(reply.header("content-type").is_some_and(|c| c.starts_with("text/html")), "{what}");
    assert_no_store(reply, what);
}

crate::both_backends! {
    fn a_store_error_reading_the_signed_in_user_is_an_error_page_not_login_required(db: TestDatabase) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        code_for(&b, &authorize_path("webapp", REDIRECT, &[]));
        corrupt_alice(&w);
        let reply = b.get(&authorize_path("webapp", REDIRECT, &[("prompt", "none")]));
        assert_failure_page(&reply, 500, "prompt=none with an unreadable account");
        let reply = b.get(&authorize_path("webapp", REDIRECT, &[]));
        assert_failure_page(&reply, 500, "an unreadable account");
    }

    fn a_store_error_on_the_consent_page_is_an_error_page_not_a_shorter_list(db: TestDatabase) {
        let w = world(&db);
        let settings = tessera_store::applications::ApplicationSettings {
            require_consent: true,
            ..web_app(&[REDIRECT], &[])
        };
        add_app(&w, "asking", &settings);
        let b = Browser::new(&w.app);
        let login = b.get(&authorize_path("asking", REDIRECT, &[("scope", "openid profile")])).see_other();
        let (request, csrf) = form_of(&b, &login);
        let signed_in =
            b.post("/login", &[("request", &request), ("csrf", &csrf), ("login", "alice"), ("password", PASSWORD)]);
        let consent = b.get(&signed_in.see_other()).see_other();
        assert!(consent.starts_with("/consent?"), "{consent}");
        let page = b.get(&consent);
        assert_eq!(page.status, 200, "{}", page.body);
        corrupt_scope(&w, "profile");
        assert_failure_page(&b.get(&consent), 500, "the consent page with an unreadable scope");
    }
}

/// Runs `statement` on the test server's administrative database.
fn admin(statement: &str) {
    use diesel::Connection;
    let mut conn = diesel::PgConnection::establish(&tessera_testkit::postgres_admin_url()).unwrap();
    conn.batch_execute(statement).unwrap();
}

/// The name of a Postgres test database.
fn database_name(db: &tessera_testkit::TestDatabase) -> String {
    let tessera_store::DatabaseUrl::Postgres(url) = &db.url else { unreachable!("a Postgres test") };
    url::Url::parse(url).unwrap().path().trim_start_matches('/').to_owned()
}

/// The database refuses new connections and ends the open ones, as while it restarts.
fn take_database_away(name: &str) {
    admin(&format!(
        "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    ));
}

/// A 503 with `Retry-After` in whole seconds (RFC 9110 §10.2.3: delay-seconds).
fn assert_retry_after(reply: &Reply, what: &str) {
    assert_eq!(reply.status, 503, "{what}: {}", reply.body);
    let retry = reply.header("retry-after").unwrap_or_else(|| panic!("{what}: no Retry-After"));
    let seconds: u64 = retry.parse().unwrap_or_else(|_| panic!("{what}: Retry-After {retry:?}"));
    assert!((1..=60).contains(&seconds), "{what}: Retry-After {seconds}");
}

/// One request of a test, to send from its own thread.
type Ask<'a> = Box<dyn Fn() -> Reply + Send + Sync + 'a>;

/// While the database is away, every surface answers 503 with `Retry-After`: the token
/// endpoint's JSON, a Bearer endpoint, the pages, the management API and `/readyz`. And
/// when it is back they answer again at once. Postgres only: the test makes the database
/// refuse new connections and ends the open ones.
#[test]
fn every_503_while_the_database_is_away_carries_retry_after_and_service_returns_with_it() {
    let Some(db) = tessera_testkit::TestDatabase::postgres() else { return };
    let w = world(&db);
    let b = Browser::new(&w.app);
    let access_token = tokens(&w, &b, &[])["access_token"].as_str().unwrap().to_owned();
    let key = tessera_testkit::admin_key(&w.store);
    let name = database_name(&db);
    take_database_away(&name);

    // Each waits for a pooled connection until the pool gives up: side by side.
    let session = format!("tessera_session={}", b.session().unwrap());
    let authorize = w.app.url(&authorize_path("webapp", REDIRECT, &[("prompt", "none")]));
    let app = &w.app;
    let asks: Vec<(&str, Ask<'_>)> = vec![
        (
            "token",
            Box::new(|| {
                let form = [("grant_type", "refresh_token"), ("refresh_token", "gone")];
                Reply::read(app.token(Some(("webapp", &w.secret)), &form))
            }),
        ),
        ("userinfo", Box::new(|| Reply::read(app.userinfo(&access_token)))),
        ("authorize page", Box::new(|| Reply::read(http().get(&authorize).header("cookie", &session).send().unwrap()))),
        (
            "management API",
            Box::new(|| Reply::read(app.api(reqwest::Method::GET, "/api/v1/users", &key, &serde_json::json!({})))),
        ),
        ("readyz", Box::new(|| Reply::read(app.get("/readyz")))),
    ];
    let replies: Vec<(&str, Reply)> = std::thread::scope(|s| {
        let handles: Vec<_> = asks.iter().map(|(what, ask)| (*what, s.spawn(ask))).collect();
        handles.into_iter().map(|(what, handle)| (what, handle.join().unwrap())).collect()
    });
    for (what, reply) in &replies {
        assert_retry_after(reply, what);
    }
    assert_eq!(replies[0].1.json()["error"], "temporarily_unavailable", "{}", replies[0].1.body);
    assert_eq!(replies[3].1.json()["error"], "unavailable", "{}", replies[3].1.body);

    admin(&format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true"));
    let back = Instant::now() + Duration::from_secs(10);
    while w.app.get("/readyz").status() != 200 {
        assert!(Instant::now() < back, "/readyz did not recover");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(userinfo(&w, &access_token).status, 200);
    let listed = Reply::read(w.app.api(reqwest::Method::GET, "/api/v1/users", &key, &serde_json::json!({})));
    assert_eq!(listed.status, 200, "{}", listed.body);
}

/// A statement stuck behind a lock ends at `database_statement_timeout_ms` in a 503
/// `temporarily_unavailable` with `Retry-After`, not in a hang and not in a 500. Postgres
/// only: another connection holds the table's lock, as a stuck transaction would.
#[test]
fn a_statement_past_the_statement_timeout_is_503_not_a_hang() {
    let Some(db) = tessera_testkit::TestDatabase::postgres() else { return };
    let data_dir = std::env::temp_dir().join(format!("tessera-timeout-{}", uuid::Uuid::now_v7().simple()));
    let raw = tessera::settings::RawSettings {
        database_statement_timeout_ms: 300,
        ..crate::common::settings_for(&db, &data_dir)
    };
    let w = world_on(&db, crate::common::TestApp::spawn_with(raw));
    let tessera_store::DatabaseUrl::Postgres(url) = &db.url else { unreachable!() };
    let mut blocker = {
        use diesel::Connection;
        diesel::PgConnection::establish(url).unwrap()
    };
    blocker.batch_execute("BEGIN; LOCK TABLE refresh_tokens IN ACCESS EXCLUSIVE MODE").unwrap();

    let started = Instant::now();
    let reply = refresh(&w, "webapp", "some-refresh-token", None);
    let waited = started.elapsed();
    assert_retry_after(&reply, "a refresh behind a lock");
    assert_eq!(reply.json()["error"], "temporarily_unavailable", "{}", reply.body);
    assert!(waited < Duration::from_secs(3), "waited {waited:?} for a 300 ms statement timeout");

    blocker.batch_execute("ROLLBACK").unwrap();
    let reply = refresh(&w, "webapp", "some-refresh-token", None);
    assert_eq!(reply.status, 400, "the lock released, the request is answered: {}", reply.body);
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// While the database refuses connections, authorize answers 503 (the error page, no
/// redirect), and never tells the client `login_required`. Postgres only: the test makes
/// the database refuse new connections and ends the open ones.
#[test]
fn authorize_is_503_while_the_database_is_away() {
    let Some(db) = tessera_testkit::TestDatabase::postgres() else { return };
    let w = world(&db);
    let b = Browser::new(&w.app);
    code_for(&b, &authorize_path("webapp", REDIRECT, &[]));
    let name = database_name(&db);
    take_database_away(&name);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = b.get(&authorize_path("webapp", REDIRECT, &[("prompt", "none")]));
        assert!(reply.location().is_none(), "redirected while the database is away: {:?}", reply.location());
        if reply.status == 503 {
            assert_failure_page(&reply, 503, "authorize while the database is away");
            break;
        }
        // A connection ended under a request may fail it as a server error first.
        assert_eq!(reply.status, 500, "{}", reply.body);
        assert!(Instant::now() < deadline, "authorize never answered 503");
    }
    admin(&format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true"));
    let back = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = b.get(&authorize_path("webapp", REDIRECT, &[("prompt", "none")]));
        if reply.status == 303 {
            assert!(reply.callback().contains_key("code"), "signed in still: a code");
            break;
        }
        assert!(Instant::now() < back, "authorize did not recover: {}", reply.status);
        std::thread::sleep(Duration::from_millis(200));
    }
}
