//! `private_key_jwt` client authentication (RFC 7523 §2.2, OIDC Core §9): an assertion
//! signed with a key the client registered; `alg: none`, foreign keys, wrong audience,
//! expiry and a replayed `jti` are all `invalid_client`. The audience is the issuer
//! identifier alone (draft-ietf-oauth-rfc7523bis §4); the endpoint URLs of RFC 7523 and
//! OIDC Core only with the `private_key_jwt_legacy_audiences` setting.

use serde_json::{Value, json};
use tessera_domain::{ApplicationInput, SigningAlgorithm};
use tessera_store::applications;
use tessera_store::audit::{self, AuditFilter};
use tessera_store::connections::{self, NewApiConnection};
use tessera_store::{Page, PoolOptions, Store};
use tessera_tokens::{Signer, signing};

use crate::common::{self, TestApp};
use tessera_testkit::apps;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

struct World {
    app: TestApp,
    store: Store,
    signer: Signer,
}

fn world(db: &common::TestDatabase) -> World {
    world_on(db, TestApp::spawn(db))
}

/// The same world on a server with `private_key_jwt_legacy_audiences = true`.
fn legacy_world(db: &common::TestDatabase) -> World {
    let dir = std::env::temp_dir().join(format!("tessera-pkjwt-{}", uuid::Uuid::now_v7().simple()));
    let mut raw = common::settings_for(db, &dir);
    raw.private_key_jwt_legacy_audiences = true;
    world_on(db, TestApp::spawn_with(raw))
}

fn world_on(db: &common::TestDatabase, app: TestApp) -> World {
    let store = Store::connect(&db.url, &PoolOptions::for_backend(db.url.backend())).unwrap();
    let now = tessera::now();
    let new = NewApiConnection {
        name: "orders-api".into(),
        display_name: "Orders".into(),
        description: String::new(),
        access_token_format: None,
        resource_uri: None,
        requirement: None,
    };
    store.write_transaction(|c| connections::create(c, &new, "unused", now)).unwrap();
    let key = signing::generate(SigningAlgorithm::ES256).unwrap();
    let settings = apps::settings(ApplicationInput {
        name: "Signed".into(),
        app_type: "machine".into(),
        token_endpoint_auth_method: Some("private_key_jwt".into()),
        jwks: Some(json!({ "keys": [key.public_jwk] })),
        allowed_scopes: Some(vec!["orders-api".into()]),
        ..Default::default()
    });
    store.write_transaction(|c| applications::create(c, &"signed".into(), &settings, None, now)).unwrap();
    let signer = Signer::from_pkcs8(key.kid.clone(), SigningAlgorithm::ES256, &key.pkcs8).unwrap();
    World { app, store, signer }
}

/// The reasons of the refused client authentications recorded so far.
fn refusals(world: &World) -> Vec<String> {
    let filter = AuditFilter { action: Some("client.authentication_failed".into()), ..AuditFilter::default() };
    let events = world.store.read_transaction(|c| audit::list(c, &filter, &Page::first(100))).unwrap().items;
    events.iter().map(|e| e.summary["reason"].as_str().unwrap_or_default().to_owned()).collect()
}

fn assertion(world: &World, overrides: Value) -> String {
    let now = tessera::now();
    let mut claims = json!({
        "iss": "signed",
        "sub": "signed",
        "aud": world.app.base,
        "iat": now,
        "exp": now + 60,
        "jti": uuid::Uuid::now_v7().simple().to_string(),
    });
    for (k, v) in overrides.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    tessera_tokens::jwt::sign(&world.signer, "JWT", &claims).unwrap()
}

fn token(world: &World, assertion: &str) -> (u16, Value) {
    let form =
        [("grant_type", "client_credentials"), ("client_assertion_type", JWT_BEARER), ("client_assertion", assertion)];
    let response = world.app.token(None, &form);
    (response.status().as_u16(), response.json().unwrap())
}

crate::both_backends! {
    fn a_signed_assertion_authenticates_the_client_once(db: TestDatabase) {
        let world = world(&db);
        let signed = assertion(&world, json!({}));
        let (status, body) = token(&world, &signed);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["scope"], "orders-api");
        let (status, body) = token(&world, &signed);
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "a replayed jti is refused");
    }

    fn an_assertion_whose_audience_is_not_the_issuer_alone_is_invalid_client_and_spends_nothing(db: TestDatabase) {
        // draft-ietf-oauth-rfc7523bis §4 (RFC 7523 §3 item 3.b): the issuer identifier as
        // the sole audience value; endpoint URLs and extra values open audience injection.
        let world = world(&db);
        let issuer = world.app.base.clone();
        let jti = "kept-for-later";
        let cases = [
            ("the token endpoint", json!(world.app.url("/connect/token"))),
            ("the introspection endpoint", json!(world.app.url("/connect/introspect"))),
            ("the revocation endpoint", json!(world.app.url("/connect/revocation"))),
            ("another server and the issuer", json!(["https://evil.example/token", issuer])),
            ("the issuer and the token endpoint", json!([issuer, world.app.url("/connect/token")])),
            ("the issuer twice", json!([issuer, issuer])),
            ("an empty array", json!([])),
            ("the issuer with a trailing slash", json!(format!("{issuer}/"))),
            ("the issuer in another case", json!(issuer.to_uppercase())),
            ("a number", json!(42)),
        ];
        for (what, aud) in &cases {
            let (status, body) = token(&world, &assertion(&world, json!({ "aud": aud, "jti": jti })));
            assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{what}: {body}");
            assert!(body.get("access_token").is_none(), "{what}: {body}");
        }
        // Audited with its reason; from one address, one event a minute (sampled).
        let reasons = refusals(&world);
        assert_eq!(reasons, ["the client assertion's aud is not the issuer identifier alone"], "{reasons:?}");
        // Nothing was spent: the jti of the refused assertions still authenticates once.
        let (status, body) = token(&world, &assertion(&world, json!({ "aud": issuer, "jti": jti })));
        assert_eq!(status, 200, "{body}");
        // A one-element array holding exactly the issuer is its sole value too.
        let (status, body) = token(&world, &assertion(&world, json!({ "aud": [issuer] })));
        assert_eq!(status, 200, "{body}");
    }

    fn with_the_legacy_audience_setting_endpoint_urls_and_arrays_naming_this_server_are_accepted(db: TestDatabase) {
        // RFC 7523 §3 / OIDC Core §9 as they read before rfc7523bis, for clients not yet
        // updated: only behind private_key_jwt_legacy_audiences.
        let world = legacy_world(&db);
        let issuer = world.app.base.clone();
        for aud in [json!(issuer), json!([issuer]), json!(world.app.url("/connect/token")),
            json!(world.app.url("/connect/introspect")), json!(world.app.url("/connect/revocation")),
            json!(["https://elsewhere.example", world.app.url("/connect/token")])] {
            let (status, body) = token(&world, &assertion(&world, json!({ "aud": aud })));
            assert_eq!(status, 200, "{aud}: {body}");
        }
        for aud in [json!("https://elsewhere.example/token"), json!(["https://elsewhere.example"]), json!(format!("{issuer}/"))] {
            let (status, body) = token(&world, &assertion(&world, json!({ "aud": aud })));
            assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{aud}: {body}");
        }
        assert_eq!(refusals(&world).len(), 1, "sampled: one event a minute per address");
    }

    fn bad_assertions_are_invalid_client(db: TestDatabase) {
        let world = world(&db);
        let now = tessera::now();
        for (what, overrides) in [
            ("wrong audience", json!({ "aud": "https://elsewhere.example/token" })),
            ("expired", json!({ "exp": now - 120 })),
            ("valid too long", json!({ "exp": now + 7200 })),
            ("from the future", json!({ "iat": now + 600, "nbf": now + 600 })),
            ("no jti", json!({ "jti": null })),
            ("sub of another client", json!({ "sub": "other" })),
        ] {
            let (status, body) = token(&world, &assertion(&world, overrides));
            assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{what}: {body}");
        }
        // Signed by a key the client did not register.
        let foreign = signing::generate(SigningAlgorithm::ES256).unwrap();
        let foreign_signer = Signer::from_pkcs8(foreign.kid.clone(), SigningAlgorithm::ES256, &foreign.pkcs8).unwrap();
        let now = tessera::now();
        let forged = tessera_tokens::jwt::sign(&foreign_signer, "JWT", &json!({
            "iss": "signed", "sub": "signed", "aud": world.app.base, "exp": now + 60, "jti": "x1"
        })).unwrap();
        assert_eq!(token(&world, &forged).0, 401);
        // alg: none.
        use base64::Engine;
        let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let unsigned = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&json!({
            "iss": "signed", "sub": "signed", "aud": world.app.base, "exp": now + 60, "jti": "x2"
        })));
        assert_eq!(token(&world, &unsigned).0, 401);
        // A wrong assertion type is a malformed request.
        let response = world.app.client.post(world.app.url("/connect/token"))
            .form(&[("grant_type", "client_credentials"), ("client_assertion_type", "urn:nope"), ("client_assertion", "x")])
            .send().unwrap();
        assert_eq!(response.status(), 400);
    }
}
