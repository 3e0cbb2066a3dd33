//! What the example's tests share: a real Tessera started in-process on a fresh SQLite
//! database (its issuer the address it listens on), with an API connection `orders-api`
//! (with the further scope `orders.read`), a second connection `billing-api`, and machine
//! applications issuing JWT (`machine`) and reference (`ref-machine`) access tokens with
//! client credentials; the example itself on its own thread; a DPoP key.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::net::TcpListener;
use std::sync::mpsc;

use actix_web::dev::ServerHandle;
use actix_web::web;
use resource_server::{AppState, Config};
use serde_json::{Value, json};
use tessera::server::{self, RunningServer};
use tessera::settings::{RawSettings, Settings};
use tessera_domain::{ClientId, TokenFormat};
use tessera_store::applications::{self, ApplicationSettings};
use tessera_store::connections::{self, NewApiConnection};
use tessera_store::scopes::{self, NewApiScope};
use tessera_testkit::TestDatabase;
use tessera_testkit::apps;
use tessera_tokens::generate_secret;

/// The browser a user signs in with: cookies kept, redirects shown to the test.
pub fn browser() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap()
}

/// The `Location` of an answer, or "".
pub fn location(response: &reqwest::blocking::Response) -> String {
    response.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

/// The value of the hidden input `name` in `html`.
pub fn hidden(html: &str, name: &str) -> String {
    let at = html.find(&format!("name=\"{name}\"")).unwrap_or_else(|| panic!("no field {name} in {html}"));
    let tag = &html[html[..at].rfind('<').unwrap()..at + html[at..].find('>').unwrap()];
    let value = &tag[tag.find("value=\"").unwrap_or_else(|| panic!("no value in {tag}")) + 7..];
    value[..value.find('"').unwrap()].replace("&#x2f;", "/").replace("&amp;", "&")
}

/// Tessera on an ephemeral port, with the connections and applications above.
pub struct Tessera {
    server: Option<RunningServer>,
    /// Where it listens, which is also its issuer identifier.
    pub base: String,
    /// (name, secret) of `orders-api`.
    pub orders: (String, String),
    pub client_secret: String,
    pub http: reqwest::blocking::Client,
    pub store: tessera_store::Store,
    data_dir: std::path::PathBuf,
    _db: TestDatabase,
}

impl Tessera {
    pub fn start() -> Tessera {
        Tessera::start_with(|raw| raw)
    }

    /// The same, with `tweak` applied to the settings.
    pub fn start_with(tweak: impl FnOnce(RawSettings) -> RawSettings) -> Tessera {
        Tessera::start_on(TestDatabase::sqlite(), tweak)
    }

    /// On `db` (SQLite or PostgreSQL), with `tweak` applied to the settings.
    pub fn start_on(db: TestDatabase, tweak: impl FnOnce(RawSettings) -> RawSettings) -> Tessera {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let data_dir = std::env::temp_dir().join(format!("tessera-example-{}", uuid::Uuid::now_v7().simple()));
        let (database_url, master_key) = match &db.url {
            tessera_store::DatabaseUrl::Sqlite(path) => (format!("sqlite://{}", path.display()), None),
            // PostgreSQL needs the master key in the settings, as production does.
            tessera_store::DatabaseUrl::Postgres(url) => {
                (url.clone(), Some(tessera_tokens::MasterKey::generate().unwrap().to_base64().to_owned()))
            }
        };
        let raw = RawSettings {
            issuer: format!("http://{}", listener.local_addr().unwrap()),
            bind: "127.0.0.1:0".into(),
            data_dir: data_dir.clone(),
            database_url,
            master_key,
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            key_refresh_interval: 1,
            key_activation_delay: 2,
            ..RawSettings::default()
        };
        let settings = Settings::from_raw(tweak(raw), vec!["test".into()]).expect("valid test settings");
        let prepared = server::prepare(&settings).unwrap_or_else(|e| panic!("preparing the server: {e}"));
        let store = prepared.store.clone();
        let running = server::spawn(prepared, listener).unwrap();
        let base = format!("http://{}", running.address);

        let now = tessera::now();
        let mut secrets = vec![];
        for (name, extra) in [("orders-api", "orders.read"), ("billing-api", "billing.read")] {
            let secret = generate_secret();
            let new = NewApiConnection {
                name: name.into(),
                display_name: name.into(),
                description: String::new(),
                access_token_format: None,
                resource_uri: None,
                requirement: None,
            };
            let connection =
                store.write_transaction(|c| connections::create(c, &new, secret.hash().as_str(), now)).unwrap();
            let scope = NewApiScope {
                name: extra.into(),
                display_name: extra.into(),
                description: String::new(),
                requirement: None,
            };
            store.write_transaction(|c| scopes::create_api_scope(c, &connection.id, &scope, now)).unwrap();
            secrets.push((name.to_owned(), secret.expose().to_owned()));
        }
        let client_secret = generate_secret();
        for (client_id, format) in [("machine", TokenFormat::Jwt), ("ref-machine", TokenFormat::Reference)] {
            let settings = ApplicationSettings {
                access_token_format: format,
                ..apps::machine_app(client_id, &["orders-api", "orders.read", "billing-api", "billing.read"])
            };
            store
                .write_transaction(|c| {
                    applications::create(
                        c,
                        &ClientId::from(client_id),
                        &settings,
                        Some(client_secret.hash().as_str()),
                        now,
                    )
                })
                .unwrap();
        }
        Tessera {
            server: Some(running),
            base,
            orders: secrets.swap_remove(0),
            client_secret: client_secret.expose().to_owned(),
            http: reqwest::blocking::Client::new(),
            store,
            data_dir,
            _db: db,
        }
    }

    /// A client_credentials access token for `client_id` with `scope`.
    pub fn issue(&self, client_id: &str, scope: &str) -> String {
        self.issue_with(client_id, &[("scope", scope)])
    }

    /// A client_credentials access token for `client_id` with the parameters `extra`.
    pub fn issue_with(&self, client_id: &str, extra: &[(&str, &str)]) -> String {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend_from_slice(extra);
        let response: Value = self
            .http
            .post(format!("{}/connect/token", self.base))
            .basic_auth(client_id, Some(&self.client_secret))
            .form(&form)
            .send()
            .unwrap()
            .json()
            .unwrap();
        response["access_token"].as_str().unwrap_or_else(|| panic!("{response}")).to_owned()
    }

    /// A client_credentials access token for `client_id` with `scope`, bound to `key` by
    /// a DPoP proof (RFC 9449 §5).
    pub fn issue_bound(&self, client_id: &str, scope: &str, key: &DpopKey) -> String {
        let proof = key.proof("POST", &format!("{}/connect/token", self.base), None);
        let response: Value = self
            .http
            .post(format!("{}/connect/token", self.base))
            .basic_auth(client_id, Some(&self.client_secret))
            .header("DPoP", proof)
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(response["token_type"], "DPoP", "{response}");
        response["access_token"].as_str().unwrap_or_else(|| panic!("{response}")).to_owned()
    }

    /// RFC 7009 revocation of `ref-machine`'s reference token.
    pub fn revoke(&self, token: &str) {
        let response = self
            .http
            .post(format!("{}/connect/revocation", self.base))
            .basic_auth("ref-machine", Some(&self.client_secret))
            .form(&[("token", token)])
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    /// The example's settings for the `orders-api` connection.
    pub fn config(&self) -> Config {
        Config {
            tessera_url: url::Url::parse(&self.base).unwrap(),
            connection_name: self.orders.0.clone(),
            connection_secret: self.orders.1.clone(),
            bind: "127.0.0.1:0".parse().unwrap(),
            required_scope: self.orders.0.clone(),
            public_url: "http://127.0.0.1".into(),
            resource_metadata: None,
            step_up: Vec::new(),
        }
    }

    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
    }
}

impl Drop for Tessera {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// The example on an ephemeral port, on its own thread; `state` is shared with it.
pub struct Example {
    pub base: String,
    pub state: web::Data<AppState>,
    handle: ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    pub http: reqwest::blocking::Client,
}

impl Example {
    pub fn start(config: Config) -> Example {
        let listener = TcpListener::bind(config.bind).unwrap();
        Example::start_on(listener, config)
    }

    /// The example on `listener`, its public URL the listener's address.
    pub fn start_on(listener: TcpListener, mut config: Config) -> Example {
        let base = format!("http://{}", listener.local_addr().unwrap());
        config.public_url = base.clone();
        let state = web::Data::new(AppState::new(&config).unwrap());
        let (sender, receiver) = mpsc::channel();
        let shared = state.clone();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = resource_server::serve(shared, listener).unwrap();
                sender.send(server.handle()).unwrap();
                let _ = server.await;
            });
        });
        let handle = receiver.recv().unwrap();
        Example { base, state, handle, thread: Some(thread), http: reqwest::blocking::Client::new() }
    }

    pub fn get(&self, path: &str, authorization: Option<&str>) -> reqwest::blocking::Response {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        request.send().unwrap()
    }

    pub fn protected(&self, token: &str) -> reqwest::blocking::Response {
        self.get("/protected", Some(&format!("Bearer {token}")))
    }

    pub fn calls(&self) -> u64 {
        self.state.introspection_calls()
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let handle = self.handle.clone();
            let _ = std::thread::spawn(move || actix_web::rt::System::new().block_on(handle.stop(true))).join();
            let _ = thread.join();
        }
    }
}

/// A DPoP client's key and its proofs (RFC 9449 §4.2).
pub struct DpopKey {
    signer: tessera_tokens::Signer,
    jwk: Value,
}

impl DpopKey {
    pub fn new() -> DpopKey {
        let alg = tessera_domain::SigningAlgorithm::ES256;
        let key = tessera_tokens::signing::generate(alg).unwrap();
        let signer = tessera_tokens::Signer::from_pkcs8(key.kid.clone(), alg, &key.pkcs8).unwrap();
        let jwk = signer.public_jwk_without_kid();
        DpopKey { signer, jwk }
    }

    pub fn proof(&self, htm: &str, htu: &str, access_token: Option<&str>) -> String {
        let mut claims =
            json!({ "jti": uuid::Uuid::now_v7().simple().to_string(), "htm": htm, "htu": htu, "iat": tessera::now() });
        if let Some(token) = access_token {
            claims["ath"] = json!(tessera_tokens::dpop::access_token_hash(token));
        }
        tessera_tokens::dpop::sign_proof(&self.signer, &self.jwk, &claims).unwrap()
    }
}

/// The `WWW-Authenticate` of `response` (empty when absent).
pub fn challenge(response: &reqwest::blocking::Response) -> &str {
    response.headers().get("www-authenticate").map(|v| v.to_str().unwrap()).unwrap_or("")
}

/// The example on a new port, serving the RFC 9728 document Tessera generates for
/// `orders-api` once that connection's resource URI is the example's URL (what the
/// management API and `tessera connection metadata` give an operator); and the document.
pub fn example_with_metadata(tessera: &Tessera) -> (Example, Value) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let store = &tessera.store;
    let orders = store.read_transaction(|c| connections::find_by_name(c, "orders-api")).unwrap().unwrap();
    let settings = tessera_domain::ConnectionSettings {
        display_name: "Orders".into(),
        description: String::new(),
        access_token_format: None,
        resource_uri: Some(url),
        requirement: None,
    };
    store.write_transaction(|c| connections::update(c, &orders.id, &settings, tessera::now())).unwrap();
    let document = tessera_admin::api::connections::metadata_document(store, &tessera.base, &orders.id).unwrap();
    let metadata = resource_server::ResourceMetadata::parse(&document.to_string()).unwrap();
    let example = Example::start_on(listener, Config { resource_metadata: Some(metadata), ..tessera.config() });
    (example, document)
}
