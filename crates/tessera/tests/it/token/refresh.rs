//! The refresh token grant (RFC 6749 §6; docs/security.md, "Refresh tokens"): a refresh
//! token bound to its client, rotated at every use, reuse revoking the whole grant, an
//! absolute expiry, and a scope that never widens. Each test drives the real server on
//! SQLite and Postgres.

use serde_json::json;
use tessera_store::applications;
use tessera_store::{grants, grants::NewGrant, refresh_tokens};
use tessera_tokens::{SecretHash, generate_secret};

use crate::common::security::*;

crate::both_backends! {
    fn a_refresh_token_is_bound_to_its_client(db: TestDatabase) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let issued = tokens(&w, &b, &[("scope", "openid offline_access")]);
        let refresh_token = field(&issued, "refresh_token");
        assert_oauth_error(&refresh(&w, "other", &refresh_token, None), 400, "invalid_grant", "another client");
        // Not spent, not revoked by the attempt.
        let reply = refresh(&w, "webapp", &refresh_token, None);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(userinfo(&w, &field(&issued, "access_token")).status, 200);
    }

    fn refresh_tokens_are_rotated_on_every_use(db: TestDatabase) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let mut current = field(&tokens(&w, &b, &[("scope", "openid offline_access")]), "refresh_token");
        let mut seen = vec![current.clone()];
        for _ in 0..3 {
            let reply = refresh(&w, "webapp", &current, None);
            assert_eq!(reply.status, 200, "{}", reply.body);
            let next = field(&reply.json(), "refresh_token");
            assert!(!seen.contains(&next), "a new refresh token every time");
            let (old, _) = w.store.read_transaction(|c| refresh_tokens::find_refresh_token(c, SecretHash::of(&current).as_str())).unwrap().unwrap();
            assert!(old.consumed_at.is_some(), "the presented token is spent");
            seen.push(next.clone());
            current = next;
        }
    }

    fn reuse_of_a_spent_refresh_token_revokes_the_whole_grant(db: TestDatabase) {
        let w = world(&db);
        let api_secret = with_api(&w);
        for client in ["jwtapp", "refapp"] {
            let first = tokens_at(&w, client, "openid offline_access orders.read");
            let old = field(&first, "refresh_token");
            let rotated = refresh(&w, client, &old, None).json();
            // The family moves on, so the old token is no retry (token/refresh_rotation.rs).
            let newest = refresh(&w, client, &field(&rotated, "refresh_token"), None).json();
            let newest_access = field(&newest, "access_token");
            assert_eq!(userinfo(&w, &newest_access).status, 200);
            assert_eq!(introspect(&w, &api_secret, &newest_access)["active"], true);
            // The spent token again: refused, and the grant is gone.
            assert_oauth_error(&refresh(&w, client, &old, None), 400, "invalid_grant", "reuse");
            assert_oauth_error(&refresh(&w, client, &field(&newest, "refresh_token"), None), 400, "invalid_grant", "newest refresh");
            for access in [field(&first, "access_token"), field(&rotated, "access_token"), newest_access] {
                assert_invalid_token(&userinfo(&w, &access), client);
                assert_eq!(introspect(&w, &api_secret, &access), json!({"active": false}), "{client}");
            }
        }
    }

    fn refresh_tokens_expire_with_their_grant(db: TestDatabase) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let issued = tokens(&w, &b, &[("scope", "openid offline_access")]);
        let rotated = field(&refresh(&w, "webapp", &field(&issued, "refresh_token"), None).json(), "refresh_token");
        let (token, grant) = w.store.read_transaction(|c| refresh_tokens::find_refresh_token(c, SecretHash::of(&rotated).as_str())).unwrap().unwrap();
        assert!(token.expires_at <= grant.expires_at, "rotation never extends the grant's absolute expiry");
        assert!(grant.expires_at - grant.created_at <= 30 * 24 * 3600);
        // A grant past its absolute expiry: its refresh token is refused.
        let app = w.store.read_transaction(|c| applications::find_by_client_id(c, &"webapp".into())).unwrap().unwrap();
        let now = tessera::now();
        let old = w.store.write_transaction(|c| grants::create_grant(c, &NewGrant {
            id: None, application_id: app.id.clone(), user_id: Some(w.alice.clone()), sid: None,
            scope: "openid offline_access".into(), resources: vec![], auth_time: Some(now - 100), amr: vec!["pwd".into()],
            custom_claims: Default::default(), issued_claims: Default::default(), expires_at: now - 1, dpop_jkt: None,
        }, now - 100)).unwrap();
        let expired = generate_secret();
        w.store.write_transaction(|c| refresh_tokens::insert_refresh_token(c, expired.hash().as_str(), &old.id, now + 3600, now - 100)).unwrap();
        assert_oauth_error(&refresh(&w, "webapp", expired.expose(), None), 400, "invalid_grant", "expired grant");
    }

    fn the_scope_of_a_refresh_never_widens(db: TestDatabase) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let issued = tokens(&w, &b, &[("scope", "openid offline_access")]);
        let refresh_token = field(&issued, "refresh_token");
        for wider in ["openid offline_access profile", "email", "openid nope", "orders.read"] {
            assert_oauth_error(&refresh(&w, "webapp", &refresh_token, Some(wider)), 400, "invalid_scope", wider);
        }
        // The refusals spent nothing; a narrower scope is fine and is what the token carries.
        let narrowed = refresh(&w, "webapp", &refresh_token, Some("openid"));
        assert_eq!(narrowed.status, 200, "{}", narrowed.body);
        let narrowed = narrowed.json();
        assert_eq!(narrowed["scope"], "openid");
        assert_eq!(payload(&field(&narrowed, "access_token"))["scope"], "openid");
        let next = field(&narrowed, "refresh_token");
        assert_oauth_error(&refresh(&w, "webapp", &next, Some("openid profile")), 400, "invalid_scope", "wider after narrowing");
        let again = refresh(&w, "webapp", &next, None).json();
        assert_eq!(again["scope"], "offline_access openid", "never more than the grant: {again}");
    }
}
