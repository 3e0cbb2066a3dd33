//! The token endpoint with the client credentials grant (RFC 6749 §4.4), client
//! authentication (§2.3) and the errors of §5.2, on both backends.

use serde_json::{Value, json};
use tessera_domain::{ApplicationType, ClientAuthMethod, GrantType, SigningAlgorithm, TokenFormat, TokenLifetimes};
use tessera_store::applications::{self, ApplicationSettings};
use tessera_store::connections::{self, NewApiConnection};
use tessera_store::scopes::{self, NewApiScope};
use tessera_store::{PoolOptions, Store};
use tessera_tokens::{SecretHash, VerifyingKey, generate_secret};

use crate::common::{self, TestApp};
use tessera_testkit::apps;

const NOW: i64 = 1_800_000_000;

struct World {
    app: TestApp,
    store: Store,
}

fn world(db: &common::TestDatabase) -> World {
    let app = TestApp::spawn(db);
    let store = Store::connect(&db.url, &PoolOptions::for_backend(db.url.backend())).unwrap();
    for (name, extra) in [("orders-api", "orders.read"), ("billing-api", "billing.read")] {
        let new = NewApiConnection {
            name: name.into(),
            display_name: name.into(),
            description: String::new(),
            access_token_format: None,
            resource_uri: None,
            requirement: None,
        };
        let connection = store.write_transaction(|c| connections::create(c, &new, "unused", NOW)).unwrap();
        let scope = NewApiScope {
            name: extra.into(),
            display_name: extra.into(),
            description: String::new(),
            requirement: None,
        };
        store.write_transaction(|c| scopes::create_api_scope(c, &connection.id, &scope, NOW)).unwrap();
    }
    World { app, store }
}

fn machine(scopes: &[&str]) -> ApplicationSettings {
    ApplicationSettings {
        lifetimes: TokenLifetimes { access_token: 600, ..TokenLifetimes::default() },
        ..apps::machine_app("Machine", scopes)
    }
}

/// Registers an application; returns its secret.
fn register(world: &World, client_id: &str, settings: &ApplicationSettings) -> String {
    let secret = generate_secret();
    let hash = secret.hash();
    world
        .store
        .write_transaction(|c| applications::create(c, &client_id.into(), settings, Some(hash.as_str()), NOW))
        .unwrap();
    secret.expose().to_owned()
}

fn post(world: &World, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> (u16, Value, reqwest::header::HeaderMap) {
    let response = world.app.token(basic, form);
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.json().unwrap_or(Value::Null), headers)
}

fn verify(world: &World, token: &str) -> tessera_tokens::Verified {
    let jwks = world.app.jwks();
    let keys: Vec<VerifyingKey> =
        jwks["keys"].as_array().unwrap().iter().filter_map(|k| VerifyingKey::from_jwk(k, None)).collect();
    tessera_tokens::jwt::verify(token, &keys, SigningAlgorithm::ALL).unwrap()
}

fn assert_error(result: &(u16, Value, reqwest::header::HeaderMap), status: u16, error: &str) {
    assert_eq!(result.0, status, "{}", result.1);
    assert_eq!(result.1["error"], error, "{}", result.1);
    assert_eq!(result.2["cache-control"], "no-store");
}

crate::both_backends! {
    fn client_credentials_issue_an_rfc9068_jwt_for_the_allowed_api_scopes(db: TestDatabase) {
        let world = world(&db);
        let secret = register(&world, "machine", &machine(&["orders-api", "orders.read"]));
        let (status, body, headers) = post(&world, Some(("machine", &secret)), &[("grant_type", "client_credentials")]);
        assert_eq!(status, 200, "{body}");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(headers["pragma"], "no-cache");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 600);
        assert_eq!(body["scope"], "orders-api orders.read");
        assert!(body.get("refresh_token").is_none(), "RFC 6749 §4.4.3: no refresh token");
        let verified = verify(&world, body["access_token"].as_str().unwrap());
        assert_eq!(verified.typ.as_deref(), Some("at+jwt"));
        assert_eq!(verified.alg, SigningAlgorithm::ES256);
        let claims = &verified.claims;
        assert_eq!(claims["iss"], world.app.base.as_str());
        assert_eq!(claims["sub"], "machine");
        assert_eq!(claims["client_id"], "machine");
        assert_eq!(claims["aud"], "orders-api");
        assert_eq!(claims["scope"], "orders-api orders.read");
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 600);
        assert!(claims["jti"].as_str().unwrap().len() >= 16);
    }

    fn a_narrower_scope_and_a_resource_narrow_the_token(db: TestDatabase) {
        let world = world(&db);
        let secret = register(&world, "machine", &machine(&["orders-api", "orders.read", "billing-api"]));
        let (status, body, _) = post(&world, Some(("machine", &secret)), &[("grant_type", "client_credentials"), ("scope", "orders.read")]);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["scope"], "orders.read");
        let (_, body, _) = post(&world, Some(("machine", &secret)), &[("grant_type", "client_credentials")]);
        let claims = verify(&world, body["access_token"].as_str().unwrap()).claims;
        assert_eq!(claims["aud"], json!(["billing-api", "orders-api"]));
        let (status, body, _) = post(&world, Some(("machine", &secret)), &[("grant_type", "client_credentials"), ("resource", "billing-api")]);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["scope"], "billing-api");
        assert_eq!(verify(&world, body["access_token"].as_str().unwrap()).claims["aud"], "billing-api");
        let refused = post(&world, Some(("machine", &secret)), &[("grant_type", "client_credentials"), ("resource", "https://elsewhere.example")]);
        assert_error(&refused, 400, "invalid_target");
    }

    fn scopes_that_are_not_allowed_or_not_api_scopes_are_invalid_scope(db: TestDatabase) {
        let world = world(&db);
        let secret = register(&world, "machine", &machine(&["orders-api", "openid"]));
        for scope in ["billing-api", "openid", "offline_access", "nope", "orders-api billing.read"] {
            let result = post(&world, Some(("machine", &secret)), &[("grant_type", "client_credentials"), ("scope", scope)]);
            assert_error(&result, 400, "invalid_scope");
        }
        let none_allowed = register(&world, "empty", &machine(&[]));
        assert_error(&post(&world, Some(("empty", &none_allowed)), &[("grant_type", "client_credentials")]), 400, "invalid_scope");
        let malformed = post(&world, Some(("machine", &secret)), &[("grant_type", "client_credentials"), ("scope", "a\"b")]);
        assert_error(&malformed, 400, "invalid_scope");
    }

    fn bad_client_credentials_are_401_invalid_client_and_audited(db: TestDatabase) {
        let world = world(&db);
        let secret = register(&world, "machine", &machine(&["orders-api"]));
        let wrong = post(&world, Some(("machine", "not-the-secret")), &[("grant_type", "client_credentials")]);
        assert_error(&wrong, 401, "invalid_client");
        assert!(wrong.2["www-authenticate"].to_str().unwrap().starts_with("Basic"));
        assert_error(&post(&world, Some(("nobody", &secret)), &[("grant_type", "client_credentials")]), 401, "invalid_client");
        assert_error(&post(&world, None, &[("grant_type", "client_credentials")]), 401, "invalid_client");
        // Registered for Basic: the same secret in the form is refused.
        let as_post = post(&world, None, &[("grant_type", "client_credentials"), ("client_id", "machine"), ("client_secret", &secret)]);
        assert_error(&as_post, 401, "invalid_client");
        // Two methods at once.
        let both = post(&world, Some(("machine", &secret)), &[("grant_type", "client_credentials"), ("client_secret", &secret)]);
        assert_error(&both, 400, "invalid_request");
        let events = world.store.read_transaction(|c| tessera_store::audit::list(c, &Default::default(), &tessera_store::Page::first(50))).unwrap();
        let failures: Vec<_> = events.items.iter().filter(|e| e.action == "client.authentication_failed").collect();
        // Audited, one event a minute per address (sampled): the first, a wrong secret.
        assert_eq!(failures.len(), 1);
        assert!(failures.iter().all(|e| !e.summary.to_string().contains(&secret)), "no secret in the audit log");
        assert!(failures.iter().any(|e| e.summary["reason"] == "wrong secret" && e.target == "client:machine"));
    }

    fn client_secret_post_works_when_registered(db: TestDatabase) {
        let world = world(&db);
        let mut settings = machine(&["orders-api"]);
        settings.token_endpoint_auth_method = ClientAuthMethod::ClientSecretPost;
        let secret = register(&world, "poster", &settings);
        let (status, body, _) = post(&world, None, &[("grant_type", "client_credentials"), ("client_id", "poster"), ("client_secret", &secret)]);
        assert_eq!(status, 200, "{body}");
        assert_error(&post(&world, Some(("poster", &secret)), &[("grant_type", "client_credentials")]), 401, "invalid_client");
    }

    fn an_application_without_the_grant_is_unauthorized_client(db: TestDatabase) {
        let world = world(&db);
        let mut settings = machine(&["orders-api"]);
        settings.app_type = ApplicationType::Web;
        settings.grant_types = vec![GrantType::AuthorizationCode];
        settings.redirect_uris = vec!["https://app.example/cb".into()];
        let secret = register(&world, "web", &settings);
        assert_error(&post(&world, Some(("web", &secret)), &[("grant_type", "client_credentials")]), 400, "unauthorized_client");
    }

    fn a_reference_token_is_opaque_and_stored_only_as_a_hash(db: TestDatabase) {
        let world = world(&db);
        let mut settings = machine(&["orders-api"]);
        settings.access_token_format = TokenFormat::Reference;
        let secret = register(&world, "ref", &settings);
        let (status, body, _) = post(&world, Some(("ref", &secret)), &[("grant_type", "client_credentials")]);
        assert_eq!(status, 200, "{body}");
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(token.len(), 43, "256 random bits, base64url");
        assert!(!token.contains('.'), "not a JWT");
        let hash = SecretHash::of(token);
        let claims = world.store.read_transaction(|c| tessera_store::reference_tokens::find_active(c, hash.as_str(), tessera::now())).unwrap().unwrap().claims;
        assert_eq!(claims["sub"], "ref");
        assert_eq!(claims["aud"], "orders-api");
        assert!(world.store.read_transaction(|c| tessera_store::reference_tokens::find_active(c, token, tessera::now())).unwrap().is_none(), "the token itself is not a key");
    }

    fn an_api_connection_format_wins_for_its_own_tokens(db: TestDatabase) {
        let world = world(&db);
        let orders = world.store.read_transaction(|c| connections::find_by_name(c, "orders-api")).unwrap().unwrap();
        world.store.write_transaction(|c| connections::update(c, &orders.id, &tessera_domain::ConnectionSettings { display_name: "Orders".into(), description: "".into(), access_token_format: Some(TokenFormat::Reference), resource_uri: None, requirement: None }, NOW)).unwrap();
        let secret = register(&world, "machine", &machine(&["orders-api", "billing-api"]));
        let only_orders = post(&world, Some(("machine", &secret)), &[("grant_type", "client_credentials"), ("scope", "orders-api")]);
        assert!(!only_orders.1["access_token"].as_str().unwrap().contains('.'), "a reference token");
        let both = post(&world, Some(("machine", &secret)), &[("grant_type", "client_credentials")]);
        assert_eq!(both.1["access_token"].as_str().unwrap().matches('.').count(), 2, "a JWT: the application's format");
    }

    fn eddsa_applications_get_eddsa_tokens(db: TestDatabase) {
        let world = world(&db);
        let mut settings = machine(&["orders-api"]);
        settings.id_token_signed_response_alg = SigningAlgorithm::EdDSA;
        let secret = register(&world, "ed", &settings);
        let (_, body, _) = post(&world, Some(("ed", &secret)), &[("grant_type", "client_credentials")]);
        assert_eq!(verify(&world, body["access_token"].as_str().unwrap()).alg, SigningAlgorithm::EdDSA);
    }

    fn malformed_requests_get_protocol_errors_never_500(db: TestDatabase) {
        let world = world(&db);
        let secret = register(&world, "machine", &machine(&["orders-api"]));
        let get = world.app.client.get(world.app.url("/connect/token")).send().unwrap();
        assert_eq!(get.status(), 405);
        assert_eq!(get.headers()["allow"], "POST");
        let json_body = world.app.client.post(world.app.url("/connect/token"))
            .basic_auth("machine", Some(&secret))
            .json(&json!({"grant_type": "client_credentials"}))
            .send().unwrap();
        assert_eq!(json_body.status(), 400);
        assert_eq!(json_body.json::<Value>().unwrap()["error"], "invalid_request");
        let repeated = world.app.client.post(world.app.url("/connect/token"))
            .basic_auth("machine", Some(&secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&grant_type=client_credentials")
            .send().unwrap();
        assert_eq!(repeated.status(), 400);
        assert_error(&post(&world, Some(("machine", &secret)), &[]), 400, "invalid_request");
        assert_error(&post(&world, Some(("machine", &secret)), &[("grant_type", "urn:nope")]), 400, "unsupported_grant_type");
        assert_error(&post(&world, Some(("machine", &secret)), &[("grant_type", "password")]), 400, "unauthorized_client");
        for body in [&b"\xff\xfe=\x80"[..], b"%%%%", b"&&&==&", b"grant_type=%ZZ"] {
            let response = world.app.client.post(world.app.url("/connect/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.to_vec())
                .send().unwrap();
            assert!(response.status().is_client_error(), "{:?} -> {}", body, response.status());
        }
        let garbage_auth = world.app.client.post(world.app.url("/connect/token"))
            .header("authorization", "Basic !!!")
            .form(&[("grant_type", "client_credentials")])
            .send().unwrap();
        assert_eq!(garbage_auth.status(), 401);
        let bearer = world.app.client.post(world.app.url("/connect/token"))
            .header("authorization", "Bearer x")
            .form(&[("grant_type", "client_credentials")])
            .send().unwrap();
        assert_eq!(bearer.status(), 401);
    }

    fn with_the_configuration_in_memory_tokens_come_as_before_and_refusals_are_still_audited(db: TestDatabase) {
        // Registered before the server starts, with an interval long enough that every
        // request finds the configuration current: JWT requests are answered without
        // the blocking pool, the others take it.
        let store = Store::connect(&db.url, &PoolOptions::for_backend(db.url.backend())).unwrap();
        let mut migrate = store.conn().unwrap();
        tessera_store::migrate(&mut migrate, NOW).unwrap();
        drop(migrate);
        let new = NewApiConnection { name: "orders-api".into(), display_name: "Orders".into(), description: String::new(), access_token_format: None, resource_uri: None, requirement: None };
        store.write_transaction(|c| connections::create(c, &new, "unused", NOW)).unwrap();
        let dir = std::env::temp_dir().join(format!("tessera-inline-{}", uuid::Uuid::now_v7().simple()));
        let mut raw = common::settings_for(&db, &dir);
        raw.config_refresh_interval_ms = 60_000;
        let world = World { app: TestApp::spawn_with(raw.clone()), store };
        let jwt_secret = register(&world, "robot", &machine(&["orders-api"]));
        let reference = ApplicationSettings { access_token_format: TokenFormat::Reference, ..machine(&["orders-api"]) };
        let reference_secret = register(&world, "ref-robot", &reference);
        // The server may have read its configuration before these were registered through
        // another store (a change it did not make waits for its interval): start it again
        // so that it reads them now, and then never needs to look again.
        let mut world = world;
        world.app.stop();
        world.app = TestApp::spawn_with(raw);

        for _ in 0..3 {
            let (status, body, headers) = post(&world, Some(("robot", &jwt_secret)), &[("grant_type", "client_credentials")]);
            assert_eq!(status, 200, "{body}");
            assert_eq!(headers["cache-control"], "no-store");
            let claims = verify(&world, body["access_token"].as_str().unwrap()).claims;
            assert_eq!((claims["aud"].as_str(), claims["client_id"].as_str()), (Some("orders-api"), Some("robot")));
        }
        let (status, body, _) = post(&world, Some(("robot", &jwt_secret)), &[("grant_type", "client_credentials"), ("scope", "billing.read")]);
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")));
        let (status, body, _) = post(&world, Some(("ref-robot", &reference_secret)), &[("grant_type", "client_credentials")]);
        assert_eq!(status, 200, "{body}");
        assert!(!body["access_token"].as_str().unwrap().contains('.'), "a reference token, stored");
        let hash = SecretHash::of(body["access_token"].as_str().unwrap());
        assert!(world.store.read_transaction(|c| tessera_store::reference_tokens::find_active(c, hash.as_str(), tessera::now())).unwrap().is_some());

        let (status, body, _) = post(&world, Some(("robot", "wrong")), &[("grant_type", "client_credentials")]);
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
        let filter = tessera_store::audit::AuditFilter { action: Some("client.authentication_failed".into()), ..Default::default() };
        let failures = world.store.read_transaction(|c| tessera_store::audit::list(c, &filter, &tessera_store::Page::first(10))).unwrap().items;
        assert_eq!(failures.len(), 1, "{failures:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
