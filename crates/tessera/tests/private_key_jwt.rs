//! `private_key_jwt` client authentication (RFC 7523 §2.2, OIDC Core §9): an assertion
//! signed with a key the client registered; `alg: none`, foreign keys, wrong audience,
//! expiry and a replayed `jti` are all `invalid_client`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestApp;
use serde_json::{Value, json};
use tessera_domain::{ApplicationType, ClientAuthMethod, GrantType, SigningAlgorithm, TokenFormat, TokenLifetimes};
use tessera_store::applications::{self, ApplicationSettings};
use tessera_store::connections::{self, NewApiConnection};
use tessera_store::{PoolOptions, Store};
use tessera_tokens::{Signer, signing};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

struct World {
    app: TestApp,
    signer: Signer,
}

fn world(db: &common::TestDatabase) -> World {
    let app = TestApp::spawn(db);
    let store = Store::connect(&db.url, &PoolOptions::for_backend(db.url.backend())).unwrap();
    let now = tessera::now();
    let new = NewApiConnection {
        name: "orders-api".into(),
        display_name: "Orders".into(),
        description: String::new(),
        access_token_format: None,
    };
    store.write(|c| connections::create(c, &new, "unused", now)).unwrap();
    let key = signing::generate(SigningAlgorithm::ES256).unwrap();
    let settings = ApplicationSettings {
        name: "Signed".into(),
        description: String::new(),
        app_type: ApplicationType::Machine,
        token_endpoint_auth_method: ClientAuthMethod::PrivateKeyJwt,
        grant_types: vec![GrantType::ClientCredentials],
        access_token_format: TokenFormat::Jwt,
        id_token_signed_response_alg: SigningAlgorithm::ES256,
        lifetimes: TokenLifetimes::default(),
        require_consent: false,
        always_issue_refresh_token: false,
        jwks: Some(json!({ "keys": [key.public_jwk] })),
        app_metadata: json!({}),
        enabled: true,
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        allowed_scopes: vec!["orders-api".into()],
        required_claims: vec![],
    };
    store.write(|c| applications::create(c, "signed", &settings, None, now)).unwrap();
    let signer = Signer::from_pkcs8(key.kid.clone(), SigningAlgorithm::ES256, &key.pkcs8).unwrap();
    World { app, signer }
}

fn assertion(world: &World, overrides: Value) -> String {
    let now = tessera::now();
    let mut claims = json!({
        "iss": "signed",
        "sub": "signed",
        "aud": world.app.url("/connect/token"),
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
    let response = world
        .app
        .client
        .post(world.app.url("/connect/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
        ])
        .send()
        .unwrap();
    (response.status().as_u16(), response.json().unwrap())
}

crate::both_backends! {
    fn a_signed_assertion_authenticates_the_client_once(db) {
        let world = world(&db);
        let signed = assertion(&world, json!({}));
        let (status, body) = token(&world, &signed);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["scope"], "orders-api");
        let (status, body) = token(&world, &signed);
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "a replayed jti is refused");
        // The issuer itself is an accepted audience too.
        assert_eq!(token(&world, &assertion(&world, json!({ "aud": world.app.base }))).0, 200);
    }

    fn bad_assertions_are_invalid_client(db) {
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
            "iss": "signed", "sub": "signed", "aud": world.app.url("/connect/token"), "exp": now + 60, "jti": "x1"
        })).unwrap();
        assert_eq!(token(&world, &forged).0, 401);
        // alg: none.
        use base64::Engine;
        let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let unsigned = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&json!({
            "iss": "signed", "sub": "signed", "aud": world.app.url("/connect/token"), "exp": now + 60, "jti": "x2"
        })));
        assert_eq!(token(&world, &unsigned).0, 401);
        // A wrong assertion type is a malformed request.
        let response = world.app.client.post(world.app.url("/connect/token"))
            .form(&[("grant_type", "client_credentials"), ("client_assertion_type", "urn:nope"), ("client_assertion", "x")])
            .send().unwrap();
        assert_eq!(response.status(), 400);
    }
}
