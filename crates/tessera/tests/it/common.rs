//! `TestApp`: the real server on an ephemeral port against a fresh database, with a
//! method per endpoint the tests call; the fixtures of the security tests
//! (`security`) and of the resource-server tests (`resource_servers`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;

pub mod load;
pub mod node;
pub mod resource_servers;
pub mod security;

use reqwest::blocking::Response;
use serde_json::Value;
use tessera::server::{self, Prepared, RunningServer};
use tessera::settings::{RawSettings, Settings};
pub use tessera_testkit::TestDatabase;
use tessera_tokens::MasterKey;

/// Replaced by the server's own address when the app starts.
const DEFAULT_TEST_ISSUER: &str = "http://127.0.0.1";
/// Replaced by `http://localhost:<port>` when the app starts: an issuer that can be a
/// WebAuthn relying party (an IP address cannot), for the passkey tests.
pub const LOCALHOST_TEST_ISSUER: &str = "http://localhost";

pub struct TestApp {
    pub server: Option<RunningServer>,
    pub base: String,
    /// A data folder this app created itself and removes when dropped.
    owned_data_dir: Option<std::path::PathBuf>,
    pub client: reqwest::blocking::Client,
    pub bootstrap_password: Option<String>,
}

/// Settings for a test server on `db`: cheap argon2, a temporary data folder, and a
/// master key given in the settings for Postgres (as production requires).
pub fn settings_for(db: &TestDatabase, data_dir: &std::path::Path) -> RawSettings {
    let database_url = match &db.url {
        tessera_store::DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
        tessera_store::DatabaseUrl::Postgres(url) => url.clone(),
    };
    settings_for_url(&database_url, data_dir)
}

/// [`settings_for`] a database given by its `database_url`.
pub fn settings_for_url(database_url: &str, data_dir: &std::path::Path) -> RawSettings {
    RawSettings {
        issuer: DEFAULT_TEST_ISSUER.into(),
        bind: "127.0.0.1:0".into(),
        data_dir: data_dir.to_path_buf(),
        master_key: database_url.starts_with("postgres").then(|| MasterKey::generate().unwrap().to_base64().to_owned()),
        database_url: database_url.to_owned(),
        argon2_memory_kib: 64,
        argon2_iterations: 1,
        key_refresh_interval: 1,
        // The tests change configuration through stores of their own: look every time.
        config_refresh_interval_ms: 0,
        key_activation_delay: 2,
        ..RawSettings::default()
    }
}

impl TestApp {
    pub fn spawn(db: &TestDatabase) -> TestApp {
        let data_dir = std::env::temp_dir().join(format!("tessera-app-{}", uuid::Uuid::now_v7().simple()));
        let mut app = TestApp::spawn_with(settings_for(db, &data_dir));
        app.owned_data_dir = Some(data_dir);
        app
    }

    /// Starts the server. Unless the settings name another issuer, the issuer is the
    /// address the server listens on, as relying parties reach it.
    pub fn spawn_with(mut raw: RawSettings) -> TestApp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        if raw.issuer == DEFAULT_TEST_ISSUER {
            raw.issuer = format!("http://{}", listener.local_addr().unwrap());
        } else if raw.issuer == LOCALHOST_TEST_ISSUER {
            raw.issuer = format!("http://localhost:{}", listener.local_addr().unwrap().port());
        }
        let settings = Settings::from_raw(raw, vec!["test".into()]).expect("valid test settings");
        let prepared: Prepared = server::prepare(&settings).unwrap_or_else(|e| panic!("preparing the server: {e}"));
        let bootstrap_password = prepared.bootstrap_admin.as_ref().map(|a| a.password.clone());
        let running = server::spawn(prepared, listener).unwrap();
        let base = format!("http://{}", running.address);
        let client = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .unwrap();
        TestApp { server: Some(running), base, owned_data_dir: None, client, bootstrap_password }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().unwrap()
    }

    /// `POST /connect/token` with `form`, authenticated as `client` (id, secret) with
    /// HTTP Basic when given.
    pub fn token(&self, client: Option<(&str, &str)>, form: &[(&str, &str)]) -> Response {
        let request = self.client.post(self.url("/connect/token")).form(form);
        match client {
            Some((id, secret)) => request.basic_auth(id, Some(secret)),
            None => request,
        }
        .send()
        .unwrap()
    }

    /// `POST /connect/introspect` with `form`, as the API connection `caller` (name, secret).
    pub fn introspect(&self, caller: (&str, &str), form: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url("/connect/introspect"))
            .basic_auth(caller.0, Some(caller.1))
            .form(form)
            .send()
            .unwrap()
    }

    /// `POST /connect/revocation` with `form`, as `client` (id, secret).
    pub fn revoke(&self, client: (&str, &str), form: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url("/connect/revocation"))
            .basic_auth(client.0, Some(client.1))
            .form(form)
            .send()
            .unwrap()
    }

    /// `GET /connect/userinfo` with `access_token` as the Bearer token.
    pub fn userinfo(&self, access_token: &str) -> Response {
        self.client.get(self.url("/connect/userinfo")).bearer_auth(access_token).send().unwrap()
    }

    /// The discovery document.
    pub fn discovery(&self) -> Value {
        self.get("/.well-known/openid-configuration").json().unwrap()
    }

    /// The JWKS the server publishes.
    pub fn jwks(&self) -> Value {
        self.get("/.well-known/openid-configuration/jwks").json().unwrap()
    }

    /// A management API call (`/api/v1/…`) with the management `key` as the Bearer token
    /// and `body` as JSON.
    pub fn api(&self, method: reqwest::Method, path: &str, key: &str, body: &Value) -> Response {
        self.client.request(method, self.url(path)).bearer_auth(key).json(body).send().unwrap()
    }

    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop();
        if let Some(dir) = &self.owned_data_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
