//! Several stateless nodes on one database: a sign-in started on one node continues on
//! another (sessions and pending requests live in the database), a code issued by one
//! is redeemed at another, and configuration changed through one node applies there at
//! once and on the others within `config_refresh_interval_ms`.

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Digest;
use tessera_domain::{ApplicationType, ClientAuthMethod, GrantType, SigningAlgorithm, TokenFormat, TokenLifetimes};
use tessera_store::applications::{self, ApplicationSettings};
use tessera_store::users::{self, NewUser};
use tessera_store::{PoolOptions, Store};
use tessera_tokens::{MasterKey, PasswordHasher, PasswordParams, generate_secret};

use crate::common::{TestApp, settings_for};

const REDIRECT: &str = "http://127.0.0.1:9/cb";

fn hidden(html: &str, name: &str) -> String {
    let at = html.find(&format!("name=\"{name}\"")).unwrap();
    let tag = &html[html[..at].rfind('<').unwrap()..at + html[at..].find('>').unwrap()];
    let value = &tag[tag.find("value=\"").unwrap() + 7..];
    value[..value.find('"').unwrap()].to_owned()
}

fn see_other(response: reqwest::blocking::Response) -> String {
    assert_eq!(response.status(), 303);
    response.headers()["location"].to_str().unwrap().to_owned()
}

crate::both_backends! {
    fn a_sign_in_begun_on_one_node_finishes_on_another(db: TestDatabase) {
        let data_dir = std::env::temp_dir().join(format!("tessera-nodes-{}", uuid::Uuid::now_v7().simple()));
        let mut raw = settings_for(&db, &data_dir);
        raw.master_key = Some(MasterKey::generate().unwrap().to_base64().to_owned());
        raw.issuer = "http://tessera.test".into();
        let a = TestApp::spawn_with(raw.clone());
        let b = TestApp::spawn_with(raw);
        let store = Store::connect(&db.url, &PoolOptions::for_backend(db.url.backend())).unwrap();
        let now = tessera::now();
        let hasher = PasswordHasher::new(PasswordParams::TESTING).unwrap();
        let new_user = NewUser { username: "carol".into(), password_hash: Some(hasher.hash("a fine password").unwrap()), ..Default::default() };
        store.write_transaction(|c| users::create(c, &new_user, now)).unwrap();
        let secret = generate_secret();
        let settings = ApplicationSettings {
            name: "App".into(), description: String::new(), app_type: ApplicationType::Web,
            token_endpoint_auth_method: ClientAuthMethod::ClientSecretBasic,
            grant_types: vec![GrantType::AuthorizationCode], access_token_format: TokenFormat::Jwt,
            id_token_signed_response_alg: SigningAlgorithm::ES256, lifetimes: TokenLifetimes::default(),
            require_consent: false, always_issue_refresh_token: false, require_pushed_authorization_requests: false, jwks: None, app_metadata: json!({}),
            enabled: true, redirect_uris: vec![REDIRECT.into()], post_logout_redirect_uris: vec![],
            allowed_scopes: vec!["openid".into()], required_claims: vec![],
        };
        store.write_transaction(|c| applications::create(c, &"app".into(), &settings, Some(secret.hash().as_str()), now)).unwrap();

        let verifier = "a-verifier-of-at-least-forty-three-characters-long";
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier));
        // One cookie jar plays the browser; cookies are not scoped by port, as behind a proxy.
        let browser = &a.client;
        let authorize = format!(
            "/connect/authorize?response_type=code&client_id=app&redirect_uri={}&scope=openid&state=s&code_challenge={challenge}&code_challenge_method=S256",
            url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
        );
        let to_login = see_other(browser.get(a.url(&authorize)).send().unwrap());
        let html = browser.get(b.url(&to_login)).send().unwrap().text().unwrap();
        let (request, csrf) = (hidden(&html, "request"), hidden(&html, "csrf"));
        let resume = see_other(browser.post(b.url("/login"))
            .form(&[("request", request.as_str()), ("csrf", csrf.as_str()), ("login", "carol"), ("password", "a fine password")])
            .send().unwrap());
        let callback = see_other(browser.get(a.url(&resume)).send().unwrap());
        let code = url::Url::parse(&callback).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
        let tokens: Value = a.client.post(b.url("/connect/token"))
            .basic_auth("app", Some(secret.expose()))
            .form(&[("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT), ("code_verifier", verifier)])
            .send().unwrap().json().unwrap();
        assert!(tokens["id_token"].is_string(), "{tokens}");
        let info: Value = a.client.get(a.url("/connect/userinfo")).bearer_auth(tokens["access_token"].as_str().unwrap()).send().unwrap().json().unwrap();
        assert!(info["sub"].is_string(), "{info}");
        drop((a, b));
        let _ = std::fs::remove_dir_all(&data_dir);
    }

    fn configuration_changed_on_one_node_applies_there_at_once_and_on_the_others_within_the_interval(db: TestDatabase) {
        let data_dir = std::env::temp_dir().join(format!("tessera-nodes-{}", uuid::Uuid::now_v7().simple()));
        let mut raw = settings_for(&db, &data_dir);
        raw.master_key = Some(MasterKey::generate().unwrap().to_base64().to_owned());
        raw.config_refresh_interval_ms = 400;
        let a = TestApp::spawn_with(raw.clone());
        let b = TestApp::spawn_with(raw);
        let store = Store::connect(&db.url, &PoolOptions::for_backend(db.url.backend())).unwrap();
        let bearer = tessera_testkit::management_key(&store, "cli", None);
        let cc = |node: &TestApp, client_id: &str, secret: &str| {
            node.token(Some((client_id, secret)), &[("grant_type", "client_credentials")]).status().as_u16()
        };
        // Both nodes have their configuration in memory before the change.
        assert_eq!(cc(&a, "robot", "x"), 401);
        assert_eq!(cc(&b, "robot", "x"), 401);

        // An API connection and an application created through node A's API...
        let connection = a.api(Method::POST, "/api/v1/connections", &bearer, &json!({ "name": "orders-api" }));
        assert_eq!(connection.status(), 201);
        let robot = json!({ "name": "Robot", "app_type": "machine", "allowed_scopes": ["orders-api"] });
        let created: Value = a.api(Method::POST, "/api/v1/applications", &bearer, &robot).json().unwrap();
        let (client_id, secret) = (created["client_id"].as_str().unwrap(), created["client_secret"].as_str().unwrap());
        // ...is used by node A at once, and by node B within its interval.
        assert_eq!(cc(&a, client_id, secret), 200);
        let started = std::time::Instant::now();
        while cc(&b, client_id, secret) != 200 {
            assert!(started.elapsed() < std::time::Duration::from_secs(3), "node B never saw the application");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        // Disabled through node B: refused there at once, and by node A within its interval.
        let id = created["id"].as_str().unwrap();
        let robot = json!({ "name": "Robot", "app_type": "machine", "allowed_scopes": ["orders-api"], "enabled": false });
        let disabled = b.api(Method::PUT, &format!("/api/v1/applications/{id}"), &bearer, &robot);
        assert_eq!(disabled.status(), 200);
        assert_eq!(cc(&b, client_id, secret), 401);
        let started = std::time::Instant::now();
        while cc(&a, client_id, secret) != 401 {
            assert!(started.elapsed() < std::time::Duration::from_secs(3), "node A kept the application enabled");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}
