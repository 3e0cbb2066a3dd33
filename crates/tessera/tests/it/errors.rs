//! Errors are never swallowed: a store failure while authorizing is an error page (503
//! while the database is away), never `login_required` to the client; a store failure on
//! the consent page is an error, not a shorter list of scopes.
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

/// While the database refuses connections, authorize answers 503 (the error page, no
/// redirect), and never tells the client `login_required`. Postgres only: the test makes
/// the database refuse new connections and ends the open ones.
#[test]
fn authorize_is_503_while_the_database_is_away() {
    let Some(db) = tessera_testkit::TestDatabase::postgres() else { return };
    let w = world(&db);
    let b = Browser::new(&w.app);
    code_for(&b, &authorize_path("webapp", REDIRECT, &[]));
    let tessera_store::DatabaseUrl::Postgres(url) = &db.url else { unreachable!() };
    let name = url::Url::parse(url).unwrap().path().trim_start_matches('/').to_owned();
    let admin_url = tessera_testkit::postgres_admin_url();
    let admin = |statement: String| {
        use diesel::Connection;
        let mut conn = diesel::PgConnection::establish(&admin_url).unwrap();
        conn.batch_execute(&statement).unwrap();
    };
    admin(format!(
        "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    ));
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
    admin(format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true"));
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
