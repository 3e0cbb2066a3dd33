//! Several stateless nodes on one database: a sign-in started on one node continues on
//! another (sessions and pending requests live in the database), a code issued by one
//! is redeemed at another, and configuration changed through one node applies there at
//! once and on the others within `config_refresh_interval_ms`; and three nodes behind a
//! round-robin proxy act as one server.

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Digest;
use tessera_domain::GrantType;
use tessera_store::applications::{self, ApplicationSettings};
use tessera_store::users::{self, NewUser};
use tessera_store::{PoolOptions, Store};
use tessera_tokens::{MasterKey, PasswordHasher, PasswordParams, generate_secret};

use crate::common::{TestApp, settings_for};
use tessera_testkit::apps;

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
            grant_types: vec![GrantType::AuthorizationCode],
            allowed_scopes: vec!["openid".into()],
            ..apps::web_app("App", &[REDIRECT])
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

    fn three_nodes_behind_a_proxy_act_as_one_server(db: TestDatabase) {
        // Issue 20 point 1: a client that opens a connection per request reaches the three
        // nodes in turn through the proxy, so every step of its flow lands on another node.
        let data_dir = std::env::temp_dir().join(format!("tessera-nodes-{}", uuid::Uuid::now_v7().simple()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut raw = settings_for(&db, &data_dir);
        raw.master_key = Some(MasterKey::generate().unwrap().to_base64().to_owned());
        raw.issuer = format!("http://{}", listener.local_addr().unwrap());
        raw.key_refresh_interval = 1;
        raw.key_activation_delay = 60;
        let nodes: Vec<TestApp> = (0..3).map(|_| TestApp::spawn_with(raw.clone())).collect();
        let backends = nodes.iter().map(|n| n.base.trim_start_matches("http://").parse().unwrap()).collect();
        let proxy = tessera_testkit::proxy::RoundRobin::start(listener, backends);
        let store = Store::connect(&db.url, &PoolOptions::for_backend(db.url.backend())).unwrap();
        let now = tessera::now();
        let hasher = PasswordHasher::new(PasswordParams::TESTING).unwrap();
        let new_user = NewUser { username: "carol".into(), password_hash: Some(hasher.hash("a fine password").unwrap()), ..Default::default() };
        store.write_transaction(|c| users::create(c, &new_user, now)).unwrap();
        let secret = generate_secret();
        let mut settings = ApplicationSettings {
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            allowed_scopes: vec!["openid".into(), "offline_access".into()],
            ..apps::web_app("App", &[REDIRECT])
        };
        settings.lifetimes.refresh_token_retry_grace = 0;
        store.write_transaction(|c| applications::create(c, &"app".into(), &settings, Some(secret.hash().as_str()), now)).unwrap();
        let connection = tessera_store::connections::NewApiConnection {
            name: "orders-api".into(),
            display_name: "Orders".into(),
            description: String::new(),
            access_token_format: None, resource_uri: None,
            requirement: None,
        };
        store.write_transaction(|c| tessera_store::connections::create(c, &connection, secret.hash().as_str(), now)).unwrap();
        let robot = apps::machine_app("Robot", &["orders-api"]);
        store.write_transaction(|c| applications::create(c, &"robot".into(), &robot, Some(secret.hash().as_str()), now)).unwrap();
        let client = || {
            reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .cookie_store(true)
                .pool_max_idle_per_host(0)
                .build()
                .unwrap()
        };

        // A sign-in, its code and the userinfo call, each request on the next node.
        let browser = client();
        let verifier = "a-verifier-of-at-least-forty-three-characters-long";
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier));
        let authorize = format!(
            "/connect/authorize?response_type=code&client_id=app&redirect_uri={}&scope=openid%20offline_access&state=s&code_challenge={challenge}&code_challenge_method=S256",
            url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
        );
        let to_login = see_other(browser.get(proxy.url(&authorize)).send().unwrap());
        let html = browser.get(proxy.url(&to_login)).send().unwrap().text().unwrap();
        let (request, csrf) = (hidden(&html, "request"), hidden(&html, "csrf"));
        let resume = see_other(browser.post(proxy.url("/login"))
            .form(&[("request", request.as_str()), ("csrf", csrf.as_str()), ("login", "carol"), ("password", "a fine password")])
            .send().unwrap());
        let callback = see_other(browser.get(proxy.url(&resume)).send().unwrap());
        let code = url::Url::parse(&callback).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
        let tokens: Value = browser.post(proxy.url("/connect/token"))
            .basic_auth("app", Some(secret.expose()))
            .form(&[("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT), ("code_verifier", verifier)])
            .send().unwrap().json().unwrap();
        assert_eq!(tokens["token_type"], "Bearer", "{tokens}");
        let info = browser.get(proxy.url("/connect/userinfo")).bearer_auth(tokens["access_token"].as_str().unwrap()).send().unwrap();
        assert_eq!(info.status(), 200);
        assert!(proxy.counts().iter().all(|&n| n >= 2), "every node served the flow: {:?}", proxy.counts());

        // Parallel refreshes of one token across the nodes: exactly one rotation.
        let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
        let barrier = std::sync::Barrier::new(6);
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..6).map(|_| scope.spawn(|| {
                let own = client();
                barrier.wait();
                own.post(proxy.url("/connect/token")).basic_auth("app", Some(secret.expose()))
                    .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token.as_str())])
                    .send().unwrap().status().as_u16()
            })).collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 1, "{statuses:?}");
        assert!(statuses.iter().all(|&s| s == 200 || s == 400), "{statuses:?}");

        // A key rotated through node A is published by B and C before it signs.
        let kid_of = |jwt: &str| -> String {
            let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(jwt.split('.').next().unwrap()).unwrap();
            serde_json::from_slice::<Value>(&header).unwrap()["kid"].as_str().unwrap().to_owned()
        };
        let machine_token = |node: &TestApp| -> String {
            let answer: Value = node.token(Some(("robot", secret.expose())), &[("grant_type", "client_credentials")]).json().unwrap();
            kid_of(answer["access_token"].as_str().unwrap_or_else(|| panic!("{answer}")))
        };
        let signing = machine_token(&nodes[1]);
        let bearer = tessera_testkit::management_key(&store, "cli", None);
        let rotated: Value = nodes[0].api(Method::POST, "/api/v1/signing-keys/rotate", &bearer, &json!({ "alg": "ES256" })).json().unwrap();
        let kid = rotated["kid"].as_str().unwrap_or_else(|| panic!("{rotated}")).to_owned();
        for node in &nodes[1..] {
            let started = std::time::Instant::now();
            while !node.jwks()["keys"].as_array().unwrap().iter().any(|k| k["kid"] == kid.as_str()) {
                assert!(started.elapsed() < std::time::Duration::from_secs(5), "the new key was never published");
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            assert_eq!(machine_token(node), signing, "the new key does not sign before its activation");
        }
        drop((proxy, nodes));
        let _ = std::fs::remove_dir_all(&data_dir);
    }
}
