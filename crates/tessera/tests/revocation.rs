//! Revocation (RFC 7009): own tokens only, refresh families cascade, unknown tokens are
//! fine, and once revocation has answered no introspection sees the token active.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::resource_servers::{World, introspect, issue, world};
use serde_json::json;
use tessera_store::applications;
use tessera_store::{grants, grants::NewGrant, reference_tokens, reference_tokens::NewReferenceToken, refresh_tokens};
use tessera_tokens::generate_secret;

fn revoke(world: &World, client_id: &str, secret: &str, form: &[(&str, &str)]) -> u16 {
    let response = world
        .app
        .client
        .post(world.app.url("/connect/revocation"))
        .basic_auth(client_id, Some(secret))
        .form(form)
        .send()
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.status().as_u16()
}

fn active(world: &World, token: &str) -> bool {
    introspect(world, &world.orders, &[("token", token)]).1["active"] == true
}

crate::both_backends! {
    fn an_application_revokes_its_own_reference_token(db) {
        let world = world(&db);
        let token = issue(&world, "ref-machine", "orders-api");
        assert!(active(&world, &token));
        assert_eq!(revoke(&world, "ref-machine", &world.client_secret, &[("token", &token)]), 200);
        assert!(!active(&world, &token));
        let events = world.store.read_transaction(|c| tessera_store::audit::list(c, &Default::default(), &tessera_store::Page::first(50))).unwrap();
        assert!(events.items.iter().any(|e| e.action == "token.revoke" && e.actor == "client:ref-machine"));
        // Revoking again, or with a hint, is still 200.
        assert_eq!(revoke(&world, "ref-machine", &world.client_secret, &[("token", &token), ("token_type_hint", "refresh_token")]), 200);
    }

    fn another_applications_token_is_not_revoked(db) {
        let world = world(&db);
        let token = issue(&world, "ref-machine", "orders-api");
        assert_eq!(revoke(&world, "machine", &world.client_secret, &[("token", &token)]), 200);
        assert!(active(&world, &token), "machine may not revoke ref-machine's token");
    }

    fn unknown_tokens_answer_200_and_bad_requests_their_errors(db) {
        let world = world(&db);
        assert_eq!(revoke(&world, "machine", &world.client_secret, &[("token", "nothing-like-it")]), 200);
        assert_eq!(revoke(&world, "machine", &world.client_secret, &[("token", "a.b.c")]), 200);
        assert_eq!(revoke(&world, "machine", &world.client_secret, &[]), 400);
        assert_eq!(revoke(&world, "machine", "wrong", &[("token", "x")]), 401);
        assert_eq!(world.app.get("/connect/revocation").status(), 405);
    }

    fn revoking_a_refresh_token_revokes_its_family(db) {
        let world = world(&db);
        let app = world.store.read_transaction(|c| applications::find_by_client_id(c, "ref-machine")).unwrap().unwrap();
        let now = tessera::now();
        let grant = world.store.write_transaction(|c| grants::create_grant(c, &NewGrant {
            id: None, application_id: app.id.clone(), user_id: None, sid: None, scope: "orders-api".into(),
            resources: vec![], auth_time: None, amr: vec![], custom_claims: Default::default(), issued_claims: Default::default(), expires_at: now + 3600,
        }, now)).unwrap();
        let refresh = generate_secret();
        world.store.write_transaction(|c| refresh_tokens::insert_refresh_token(c, refresh.hash().as_str(), &grant.id, now + 3600, now)).unwrap();
        let access = generate_secret();
        let claims = json!({"scope": "orders-api", "client_id": "ref-machine", "sub": "user-1"}).as_object().unwrap().clone();
        world.store.write_transaction(|c| reference_tokens::insert_reference_token(c, &NewReferenceToken {
            token_hash: access.hash().as_str().to_owned(), grant_id: Some(grant.id.clone()), application_id: app.id.clone(),
            user_id: None, claims, expires_at: now + 600,
        }, now)).unwrap();
        assert!(active(&world, access.expose()));
        // Another application presenting the refresh token changes nothing.
        assert_eq!(revoke(&world, "machine", &world.client_secret, &[("token", refresh.expose())]), 200);
        assert!(active(&world, access.expose()));
        assert_eq!(revoke(&world, "ref-machine", &world.client_secret, &[("token", refresh.expose()), ("token_type_hint", "access_token")]), 200);
        assert!(!active(&world, access.expose()), "the family's access tokens go with it");
        assert!(world.store.read_transaction(|c| grants::get_grant(c, &grant.id)).unwrap().revoked_at.is_some());
    }

    fn once_revocation_answers_no_introspection_sees_the_token_active(db) {
        let world = std::sync::Arc::new(world(&db));
        let token = issue(&world, "ref-machine", "orders-api");
        let revoked_at: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>> = Default::default();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..4).map(|_| {
            let (world, token, revoked_at, stop) = (world.clone(), token.clone(), revoked_at.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut checked_after = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let started = std::time::Instant::now();
                    let is_active = active(&world, &token);
                    let revoked = *revoked_at.lock().unwrap();
                    if let Some(at) = revoked && started > at {
                        assert!(!is_active, "an introspection begun after revocation answered active");
                        checked_after += 1;
                    }
                }
                checked_after
            })
        }).collect();
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(revoke(&world, "ref-machine", &world.client_secret, &[("token", &token)]), 200);
        *revoked_at.lock().unwrap() = Some(std::time::Instant::now());
        std::thread::sleep(std::time::Duration::from_millis(300));
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let checked: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
        assert!(checked > 0, "no introspection ran after the revocation");
    }
}
