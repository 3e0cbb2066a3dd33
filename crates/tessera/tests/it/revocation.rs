//! Revocation (RFC 7009): own tokens only, refresh families cascade, unknown tokens are
//! fine, and once revocation has answered no introspection sees the token active.

use serde_json::json;
use tessera_store::applications;
use tessera_store::{grants, grants::NewGrant, reference_tokens, reference_tokens::NewReferenceToken, refresh_tokens};
use tessera_tokens::generate_secret;

use crate::common::resource_servers::{World, introspect, issue, world};

fn revoke(world: &World, client_id: &str, secret: &str, form: &[(&str, &str)]) -> u16 {
    let response = world.app.revoke((client_id, secret), form);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.status().as_u16()
}

fn active(world: &World, token: &str) -> bool {
    introspect(world, &world.orders, &[("token", token)]).1["active"] == true
}

crate::both_backends! {
    fn an_application_revokes_its_own_reference_token(db: TestDatabase) {
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

    fn another_applications_token_is_not_revoked(db: TestDatabase) {
        let world = world(&db);
        let token = issue(&world, "ref-machine", "orders-api");
        assert_eq!(revoke(&world, "machine", &world.client_secret, &[("token", &token)]), 200);
        assert!(active(&world, &token), "machine may not revoke ref-machine's token");
    }

    fn unknown_tokens_answer_200_and_bad_requests_their_errors(db: TestDatabase) {
        let world = world(&db);
        assert_eq!(revoke(&world, "machine", &world.client_secret, &[("token", "nothing-like-it")]), 200);
        assert_eq!(revoke(&world, "machine", &world.client_secret, &[("token", "a.b.c")]), 200);
        assert_eq!(revoke(&world, "machine", &world.client_secret, &[]), 400);
        assert_eq!(revoke(&world, "machine", "wrong", &[("token", "x")]), 401);
        assert_eq!(world.app.get("/connect/revocation").status(), 405);
    }

    fn revoking_a_refresh_token_revokes_its_family(db: TestDatabase) {
        let world = world(&db);
        let app = world.store.read_transaction(|c| applications::find_by_client_id(c, &"ref-machine".into())).unwrap().unwrap();
        let now = tessera::now();
        let grant = world.store.write_transaction(|c| grants::create_grant(c, &NewGrant {
            id: None, application_id: app.id.clone(), user_id: None, sid: None, scope: "orders-api".into(),
            resources: vec![], auth_time: None, amr: vec![], custom_claims: Default::default(), issued_claims: Default::default(), expires_at: now + 3600, dpop_jkt: None,
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

    fn once_revocation_answers_no_introspection_sees_the_token_active(db: TestDatabase) {
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

/// Tokens of a signed-in user (the security tests' world): revocation needs client
/// authentication, and userinfo and introspection see it at once.
mod user_tokens {
    use serde_json::json;

    use crate::common::security::*;

    crate::both_backends! {
        fn after_revocation_userinfo_and_introspection_refuse_the_token_at_once(db: TestDatabase) {
            let w = world(&db);
            let api_secret = with_api(&w);
            // A reference access token, revoked by itself.
            let issued = tokens_at(&w, "refapp", "openid offline_access orders.read");
            let access = field(&issued, "access_token");
            assert_eq!(userinfo(&w, &access).status, 200);
            assert_eq!(introspect(&w, &api_secret, &access)["active"], true);
            assert_eq!(revoke(&w, "refapp", &access), 200);
            assert_invalid_token(&userinfo(&w, &access), "revoked reference token");
            assert_eq!(introspect(&w, &api_secret, &access), json!({"active": false}));
            // A refresh token: its whole grant, JWT access tokens included.
            let issued = tokens_at(&w, "jwtapp", "openid offline_access orders.read");
            let access = field(&issued, "access_token");
            assert_eq!(userinfo(&w, &access).status, 200);
            assert_eq!(revoke(&w, "jwtapp", &field(&issued, "refresh_token")), 200);
            assert_invalid_token(&userinfo(&w, &access), "JWT of a revoked grant");
            assert_eq!(introspect(&w, &api_secret, &access), json!({"active": false}));
            assert_oauth_error(&refresh(&w, "jwtapp", &field(&issued, "refresh_token"), None), 400, "invalid_grant", "revoked refresh");
        }

        fn revocation_needs_client_authentication_and_leaves_other_clients_tokens_alone(db: TestDatabase) {
            let w = world(&db);
            let b = Browser::new(&w.app);
            let issued = tokens(&w, &b, &[("scope", "openid offline_access")]);
            let refresh_token = field(&issued, "refresh_token");
            let anonymous = Reply::read(http().post(w.app.url("/connect/revocation")).form(&[("token", refresh_token.as_str())]).send().unwrap());
            assert_eq!(anonymous.status, 401, "{}", anonymous.body);
            let wrong = Reply::read(http().post(w.app.url("/connect/revocation")).basic_auth("webapp", Some("wrong"))
                .form(&[("token", refresh_token.as_str())]).send().unwrap());
            assert_oauth_error(&wrong, 401, "invalid_client", "wrong secret");
            assert_eq!(revoke(&w, "other", &refresh_token), 200);
            assert_eq!(revoke(&w, "other", "no-such-token"), 200);
            assert_eq!(userinfo(&w, &field(&issued, "access_token")).status, 200, "another client revoked nothing");
            assert_eq!(refresh(&w, "webapp", &refresh_token, None).status, 200);
        }
    }

    /// Bugs these tests found, fixed: they stay as regression tests.
    mod regressions {
        use super::*;

        crate::both_backends! {
            fn a_revoked_jwt_access_token_is_refused_at_once_by_userinfo_and_introspection(db: TestDatabase) {
                let w = world(&db);
                let api_secret = with_api(&w);
                let issued = tokens_at(&w, "jwtapp", "openid orders.read");
                let access = field(&issued, "access_token");
                assert_eq!(userinfo(&w, &access).status, 200);
                assert_eq!(revoke(&w, "jwtapp", &access), 200);
                assert_invalid_token(&userinfo(&w, &access), "revoked JWT access token");
                assert_eq!(introspect(&w, &api_secret, &access), json!({"active": false}));
            }
        }
    }
}
