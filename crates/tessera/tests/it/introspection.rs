//! Introspection (RFC 7662) by API connections: scopes filtered to the caller, inactive
//! for everything it may not see, 401 for bad callers, never a 500; the JWT answer of
//! RFC 9701.

use serde_json::{Value, json};
use tessera_domain::SigningAlgorithm;
use tessera_store::applications;
use tessera_store::{reference_tokens, reference_tokens::NewReferenceToken};
use tessera_tokens::{SecretHash, VerifyingKey, generate_secret};

use crate::common;
use crate::common::resource_servers::{World, introspect, issue, world, world_with_configuration_in_memory};

/// Runs `check` on a server that looks at the database for configuration at every
/// request, then on one that has it in memory (another database of the same backend),
/// where requests that need no I/O are answered without the blocking pool.
fn for_each_world(db: &common::TestDatabase, check: impl Fn(World)) {
    check(world(db));
    let other = match db.url.backend() {
        tessera_store::Backend::Sqlite => common::TestDatabase::sqlite(),
        tessera_store::Backend::Postgres => common::TestDatabase::postgres().expect("the same Postgres"),
    };
    check(world_with_configuration_in_memory(&other));
}

crate::both_backends! {
    fn each_connection_sees_only_its_own_scopes_of_a_jwt_and_a_reference_token(db: TestDatabase) {
        for_each_world(&db, |world| {
        for client in ["machine", "ref-machine"] {
            let token = issue(&world, client, "orders-api orders.read billing-api");
            let (status, body) = introspect(&world, &world.orders, &[("token", &token)]);
            assert_eq!(status, 200);
            assert_eq!(body["active"], true, "{client}: {body}");
            assert_eq!(body["scope"], "orders-api orders.read");
            assert_eq!(body["client_id"], client);
            assert_eq!(body["sub"], client);
            assert_eq!(body["iss"], world.app.base.as_str());
            assert_eq!(body["aud"], json!(["billing-api", "orders-api"]));
            assert_eq!(body["token_type"], "Bearer");
            for claim in ["exp", "iat", "nbf"] {
                assert!(body[claim].is_i64(), "{claim} missing: {body}");
            }
            let (_, body) = introspect(&world, &world.billing, &[("token", &token)]);
            assert_eq!(body["scope"], "billing-api", "{client}");
        }
        });
    }

    fn a_token_with_none_of_the_callers_scopes_is_inactive_to_it(db: TestDatabase) {
        for_each_world(&db, |world| {
        for client in ["machine", "ref-machine"] {
            let token = issue(&world, client, "orders.read");
            let (status, body) = introspect(&world, &world.billing, &[("token", &token)]);
            assert_eq!(status, 200);
            assert_eq!(body, json!({"active": false}), "{client}");
        }
        });
    }

    fn unknown_malformed_and_foreign_tokens_are_inactive_never_500(db: TestDatabase) {
        for_each_world(&db, |world| {
        let foreign_key = tessera_tokens::signing::generate(SigningAlgorithm::ES256).unwrap();
        let signer = tessera_tokens::Signer::from_pkcs8(foreign_key.kid.clone(), SigningAlgorithm::ES256, &foreign_key.pkcs8).unwrap();
        let forged = tessera_tokens::jwt::sign(&signer, "at+jwt", &json!({"iss": world.app.base, "scope": "orders-api", "exp": 4_000_000_000i64})).unwrap();
        let long = "x".repeat(5000);
        for token in ["nope", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9yZGVycy1hcGkifQ.", forged.as_str(), long.as_str(), "%00", "é"] {
            let (status, body) = introspect(&world, &world.orders, &[("token", token)]);
            assert_eq!(status, 200, "{token}");
            assert_eq!(body, json!({"active": false}), "{token}");
        }
        });
    }

    fn expired_and_revoked_reference_tokens_are_inactive(db: TestDatabase) {
        let world = world(&db);
        let app = world.store.read_transaction(|c| applications::find_by_client_id(c, &"ref-machine".into())).unwrap().unwrap();
        let expired = generate_secret();
        let past = tessera::now() - 10;
        let claims = json!({"scope": "orders-api", "client_id": "ref-machine", "exp": past}).as_object().unwrap().clone();
        world.store.write_transaction(|c| reference_tokens::insert_reference_token(c, &NewReferenceToken {
            token_hash: expired.hash().as_str().to_owned(), grant_id: None, application_id: app.id.clone(), user_id: None,
            claims, expires_at: past,
        }, past - 60)).unwrap();
        assert_eq!(introspect(&world, &world.orders, &[("token", expired.expose())]).1, json!({"active": false}));

        let token = issue(&world, "ref-machine", "orders-api");
        assert_eq!(introspect(&world, &world.orders, &[("token", &token)]).1["active"], true);
        let hash = SecretHash::of(&token);
        assert!(world.store.write_transaction(|c| reference_tokens::revoke_reference_token(c, hash.as_str(), &app.id, tessera::now())).unwrap());
        assert_eq!(introspect(&world, &world.orders, &[("token", &token)]).1, json!({"active": false}));
    }

    fn a_wrong_or_absent_token_type_hint_still_finds_the_token(db: TestDatabase) {
        let world = world(&db);
        for client in ["machine", "ref-machine"] {
            let token = issue(&world, client, "orders-api");
            for hint in ["refresh_token", "access_token", "something_else"] {
                let (_, body) = introspect(&world, &world.orders, &[("token", &token), ("token_type_hint", hint)]);
                assert_eq!(body["active"], true, "{client} with hint {hint}");
            }
        }
    }

    fn bad_callers_get_401_and_a_missing_token_400(db: TestDatabase) {
        for_each_world(&db, |world| {
        let token = issue(&world, "machine", "orders-api");
        let wrong = (world.orders.0.clone(), "wrong".to_owned());
        assert_eq!(introspect(&world, &wrong, &[("token", &token)]).0, 401);
        // Another connection's secret, an application's credentials, an unknown name.
        assert_eq!(introspect(&world, &(world.orders.0.clone(), world.billing.1.clone()), &[("token", &token)]).0, 401);
        assert_eq!(introspect(&world, &("machine".to_owned(), world.client_secret.clone()), &[("token", &token)]).0, 401);
        assert_eq!(introspect(&world, &("nobody".to_owned(), "x".to_owned()), &[("token", &token)]).0, 401);
        let anonymous = world.app.client.post(world.app.url("/connect/introspect")).form(&[("token", &token)]).send().unwrap();
        assert_eq!(anonymous.status(), 401);
        assert!(anonymous.headers().contains_key("www-authenticate"));
        let (status, body) = introspect(&world, &world.orders, &[]);
        assert_eq!(status, 400);
        assert_eq!(body["error"], "invalid_request");
        assert_eq!(world.app.get("/connect/introspect").status(), 405);
        let events = world.store.read_transaction(|c| tessera_store::audit::list(c, &Default::default(), &tessera_store::Page::first(50))).unwrap();
        // Refused callers are audited, one event a minute per address (sampled).
        assert_eq!(events.items.iter().filter(|e| e.action == "connection.authentication_failed").count(), 1);
        });
    }

    fn the_connection_may_authenticate_in_the_form(db: TestDatabase) {
        let world = world(&db);
        let token = issue(&world, "machine", "orders-api");
        let body: Value = world.app.client.post(world.app.url("/connect/introspect"))
            .form(&[("token", token.as_str()), ("client_id", &world.orders.0), ("client_secret", &world.orders.1)])
            .send().unwrap().json().unwrap();
        assert_eq!(body["active"], true);
    }

    fn a_signed_answer_is_given_on_request(db: TestDatabase) {
        for_each_world(&db, |world| {
        let token = issue(&world, "machine", "orders-api");
        let response = world.app.client.post(world.app.url("/connect/introspect"))
            .basic_auth(&world.orders.0, Some(&world.orders.1))
            .header("accept", "application/token-introspection+jwt")
            .form(&[("token", token.as_str())])
            .send().unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/token-introspection+jwt");
        let jwt = response.text().unwrap();
        let jwks: Value = world.app.get("/.well-known/openid-configuration/jwks").json().unwrap();
        let keys: Vec<VerifyingKey> = jwks["keys"].as_array().unwrap().iter().filter_map(|k| VerifyingKey::from_jwk(k, None)).collect();
        let verified = tessera_tokens::jwt::verify(&jwt, &keys, &[SigningAlgorithm::ES256]).unwrap();
        assert_eq!(verified.typ.as_deref(), Some("token-introspection+jwt"));
        assert_eq!(verified.claims["aud"], "orders-api");
        assert_eq!(verified.claims["iss"], world.app.base.as_str());
        assert_eq!(verified.claims["token_introspection"]["active"], true);
        assert_eq!(verified.claims["token_introspection"]["scope"], "orders-api");
        });
    }
}

/// Tokens of a signed-in user (the security tests' world): forged JWTs are inactive.
mod user_tokens {
    use serde_json::json;

    use crate::common::security::*;

    crate::both_backends! {
        fn alg_none_and_foreign_keys_are_refused_at_introspection(db: TestDatabase) {
            let w = world(&db);
            let api_secret = with_api(&w);
            let issued = tokens_at(&w, "jwtapp", "openid offline_access orders.read");
            let access = field(&issued, "access_token");
            assert_eq!(introspect(&w, &api_secret, &access)["active"], true);
            for (what, forged) in forgeries(&access) {
                assert_eq!(introspect(&w, &api_secret, &forged), json!({"active": false}), "{what}");
            }
            for (what, other) in [("ID token", field(&issued, "id_token")), ("refresh token", field(&issued, "refresh_token"))] {
                assert_eq!(introspect(&w, &api_secret, &other), json!({"active": false}), "{what}");
            }
        }
    }
}
