//! `private_key_jwt` with keys published at the application's `jwks_uri` (RFC 7591 §2):
//! the set is fetched through the outbound guard from a loopback server the test starts
//! (listed in `outbound_private_hosts`), kept for its `Cache-Control: max-age`, fetched
//! again at once when an assertion names a `kid` not held (key rotation, at most once a
//! second), and a set that cannot be fetched authenticates nobody. The management API
//! refuses `jwks` with `jwks_uri`, and a `jwks_uri` the outbound guard would refuse.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tessera::settings::RawSettings;
use tessera_domain::{ApplicationInput, SigningAlgorithm};
use tessera_store::applications;
use tessera_store::audit::{self, AuditFilter};
use tessera_store::connections::{self, NewApiConnection};
use tessera_store::{Page, PoolOptions, Store};
use tessera_testkit::http::{Document, HttpReceiver};
use tessera_tokens::{Signer, signing};

use crate::common::{self, TestApp};
use tessera_testkit::apps;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const JWKS_PATH: &str = "/jwks.json";

struct World {
    app: TestApp,
    store: Store,
    receiver: HttpReceiver,
    _data: tempfile::TempDir,
}

/// A key of the client's: its signer and its public JWK.
struct Key {
    signer: Signer,
    jwk: Value,
}

fn key() -> Key {
    let generated = signing::generate(SigningAlgorithm::ES256).unwrap();
    let signer = Signer::from_pkcs8(generated.kid.clone(), SigningAlgorithm::ES256, &generated.pkcs8).unwrap();
    Key { signer, jwk: generated.public_jwk }
}

/// A server that may reach 127.0.0.1, the connection `orders-api`, and the machine
/// application `remote` authenticating with `private_key_jwt` and the keys at the
/// receiver's [`JWKS_PATH`].
fn world(db: &common::TestDatabase) -> World {
    let data = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(RawSettings {
        outbound_private_hosts: vec!["127.0.0.1".into()],
        ..common::settings_for(db, data.path())
    });
    let store = Store::connect(&db.url, &PoolOptions::for_backend(db.url.backend())).unwrap();
    let receiver = HttpReceiver::start();
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
    let settings = apps::settings(ApplicationInput {
        name: "Remote keys".into(),
        app_type: "machine".into(),
        token_endpoint_auth_method: Some("private_key_jwt".into()),
        jwks_uri: Some(receiver.url(JWKS_PATH)),
        allowed_scopes: Some(vec!["orders-api".into()]),
        ..Default::default()
    });
    store.write_transaction(|c| applications::create(c, &"remote".into(), &settings, None, now)).unwrap();
    World { app, store, receiver, _data: data }
}

/// Publishes `keys` at [`JWKS_PATH`] with `cache_control`.
fn publish(w: &World, keys: &[&Key], cache_control: &str) {
    let set = json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() });
    let document =
        Document::ok("application/jwk-set+json", set.to_string()).with_header("Cache-Control", cache_control);
    w.receiver.serve(JWKS_PATH, document);
}

fn assertion(w: &World, key: &Key) -> String {
    let now = tessera::now();
    let claims = json!({
        "iss": "remote", "sub": "remote", "aud": w.app.base, "iat": now, "exp": now + 60,
        "jti": uuid::Uuid::now_v7().simple().to_string(),
    });
    tessera_tokens::jwt::sign(&key.signer, "JWT", &claims).unwrap()
}

fn token(w: &World, key: &Key) -> (u16, Value) {
    let assertion = assertion(w, key);
    let form =
        [("grant_type", "client_credentials"), ("client_assertion_type", JWT_BEARER), ("client_assertion", &assertion)];
    let response = w.app.token(None, &form);
    (response.status().as_u16(), response.json().unwrap())
}

fn fetches(w: &World) -> usize {
    w.receiver.count(JWKS_PATH)
}

fn refusals(w: &World) -> Vec<String> {
    let filter = AuditFilter { action: Some("client.authentication_failed".into()), ..AuditFilter::default() };
    let events = w.store.read_transaction(|c| audit::list(c, &filter, &Page::first(100))).unwrap().items;
    events.iter().map(|e| e.summary["reason"].as_str().unwrap_or_default().to_owned()).collect()
}

crate::both_backends! {
    fn an_assertion_verified_with_the_keys_at_the_jwks_uri_authenticates_and_the_set_is_kept(db: TestDatabase) {
        let w = world(&db);
        let a = key();
        publish(&w, &[&a], "public, max-age=600");
        for _ in 0..3 {
            let (status, body) = token(&w, &a);
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["scope"], "orders-api");
        }
        assert_eq!(fetches(&w), 1, "fetched once, then kept for its max-age");
        let request = &w.receiver.received()[0];
        assert_eq!(request.method, "GET");
        assert!(request.header("user-agent").is_some_and(|ua| ua.starts_with("Tessera/")), "{:?}", request.headers);
        assert!(request.header("accept").is_some_and(|a| a.contains("application/jwk-set+json")));
    }

    fn a_rotated_key_is_found_by_fetching_the_set_again_once(db: TestDatabase) {
        let w = world(&db);
        let (a, b, unknown) = (key(), key(), key());
        publish(&w, &[&a], "max-age=3600");
        assert_eq!(token(&w, &a).0, 200);
        assert_eq!(fetches(&w), 1);
        // The client rotates to b; Tessera's copy still holds only a.
        publish(&w, &[&b], "max-age=3600");
        std::thread::sleep(Duration::from_millis(1100));
        let (status, body) = token(&w, &b);
        assert_eq!(status, 200, "the unknown kid made Tessera fetch the set again: {body}");
        assert_eq!(fetches(&w), 2);
        // A kid the fresh set does not hold either: refused, and no new fetch within a second.
        let (status, body) = token(&w, &unknown);
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
        assert_eq!(fetches(&w), 2, "at most one fetch a second for unknown kids");
        // The retired key is gone from the set Tessera holds now.
        assert_eq!(token(&w, &a).0, 401);
    }

    fn a_jwks_uri_that_cannot_be_used_authenticates_nobody(db: TestDatabase) {
        let w = world(&db);
        let a = key();
        for (what, document) in [
            ("an error status", Document { status: 500, ..Document::default() }),
            ("not JSON", Document::ok("text/html", "<html>keys</html>")),
            ("a private key", Document::ok("application/json", json!({ "keys": [{ "kty": "EC", "crv": "P-256", "x": "x", "y": "y", "d": "secret" }] }).to_string())),
            ("too large", Document::ok("application/json", vec![b' '; 70 * 1024])),
        ] {
            w.receiver.serve(JWKS_PATH, document);
            let (status, body) = token(&w, &a);
            assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{what}: {body}");
            assert!(body.get("access_token").is_none());
        }
        assert!(refusals(&w).iter().any(|r| r.contains("jwks_uri")), "{:?}", refusals(&w));
    }

    fn the_management_api_refuses_jwks_with_jwks_uri_and_urls_the_outbound_guard_refuses(db: TestDatabase) {
        let app = TestApp::spawn(&db);
        let store = Store::connect(&db.url, &PoolOptions::for_backend(db.url.backend())).unwrap();
        let management = tessera_testkit::management_key(&store, "cli", None);
        let keys = json!({ "keys": [key().jwk] });
        let base = json!({
            "name": "Remote", "app_type": "machine", "token_endpoint_auth_method": "private_key_jwt",
        });
        let with = |extra: Value| {
            let mut body = base.clone();
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            let response = app.api(Method::POST, "/api/v1/applications", &management, &body);
            (response.status().as_u16(), response.json::<Value>().unwrap())
        };
        for (what, extra) in [
            ("both", json!({ "jwks": keys, "jwks_uri": "https://keys.example.com/jwks.json" })),
            ("plain http", json!({ "jwks_uri": "http://keys.example.com/jwks.json" })),
            ("a private address", json!({ "jwks_uri": "https://10.1.2.3/jwks.json" })),
            ("loopback not listed", json!({ "jwks_uri": "http://127.0.0.1:9/jwks.json" })),
        ] {
            let (status, body) = with(extra);
            assert_eq!((status, body["field"].as_str()), (400, Some("jwks_uri")), "{what}: {body}");
        }
        let (status, body) = with(json!({ "jwks_uri": "https://keys.example.com/jwks.json" }));
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["jwks_uri"], "https://keys.example.com/jwks.json");
        assert_eq!(body["jwks"], Value::Null);
    }
}
