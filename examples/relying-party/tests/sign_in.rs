//! The example against a real Tessera started in-process on a fresh SQLite database, with a
//! user `alice` and an application registered through the store. The example runs on its
//! own thread; the test plays the browser: it takes the printed authorization URL, signs
//! in and consents on Tessera's pages with a cookie-keeping client, and finally visits
//! the redirect URI the example listens on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use openidconnect::IssuerUrl;
use relying_party::{Config, Error, SignIn};
use serde_json::{Value, json};
use tessera::server::{self, RunningServer};
use tessera::settings::{RawSettings, Settings};
use tessera_domain::{
    ApplicationType, ClientAuthMethod, ClientId, GrantType, SigningAlgorithm, TokenFormat, TokenLifetimes,
};
use tessera_store::Store;
use tessera_store::applications::{self, ApplicationSettings};
use tessera_store::users::{self, NewUser};
use tessera_testkit::TestDatabase;
use tessera_tokens::{PasswordHasher, PasswordParams, generate_secret};

const PASSWORD: &str = "correct horse battery staple";
/// Long enough for a slow machine, short enough that a broken test fails instead of hanging.
const WAIT: Duration = Duration::from_secs(20);

/// Tessera on an ephemeral port; the issuer is the address it listens on.
struct Tessera {
    server: Option<RunningServer>,
    base: String,
    store: Store,
    data_dir: std::path::PathBuf,
    _db: TestDatabase,
}

impl Tessera {
    fn start() -> Tessera {
        let db = TestDatabase::sqlite();
        let data_dir = std::env::temp_dir().join(format!("tessera-rp-{}", uuid::Uuid::now_v7().simple()));
        let tessera_store::DatabaseUrl::Sqlite(path) = &db.url else { unreachable!() };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let raw = RawSettings {
            issuer: base.clone(),
            bind: "127.0.0.1:0".into(),
            data_dir: data_dir.clone(),
            database_url: format!("sqlite://{}", path.display()),
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            key_refresh_interval: 1,
            key_activation_delay: 2,
            ..RawSettings::default()
        };
        let settings = Settings::from_raw(raw, vec!["test".into()]).expect("valid test settings");
        let prepared = server::prepare(&settings).unwrap_or_else(|e| panic!("preparing the server: {e}"));
        let store = prepared.store.clone();
        let running = server::spawn(prepared, listener).unwrap();
        let hasher = PasswordHasher::new(PasswordParams::TESTING).unwrap();
        let alice = NewUser {
            username: "alice".into(),
            email: Some("alice@example.com".into()),
            password_hash: Some(hasher.hash(PASSWORD).unwrap()),
            ..Default::default()
        };
        store.write_transaction(|c| users::create(c, &alice, tessera::now())).unwrap();
        Tessera { server: Some(running), base, store, data_dir, _db: db }
    }

    /// Registers `client_id` with the redirect URI `http://127.0.0.1:{port}/callback` and
    /// the scopes openid, profile and email; returns its secret unless it is public.
    fn register(&self, client_id: &str, app_type: ApplicationType, port: u16, require_consent: bool) -> Option<String> {
        let public = matches!(app_type, ApplicationType::Spa | ApplicationType::Native);
        let settings = ApplicationSettings {
            name: "Quickstart".into(),
            description: String::new(),
            app_type,
            token_endpoint_auth_method: if public {
                ClientAuthMethod::None
            } else {
                ClientAuthMethod::ClientSecretBasic
            },
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            access_token_format: TokenFormat::Jwt,
            id_token_signed_response_alg: SigningAlgorithm::ES256,
            lifetimes: TokenLifetimes::default(),
            require_consent,
            always_issue_refresh_token: false,
            require_pushed_authorization_requests: false,
            jwks: None,
            app_metadata: json!({}),
            enabled: true,
            redirect_uris: vec![format!("http://127.0.0.1:{port}/callback")],
            post_logout_redirect_uris: vec![],
            allowed_scopes: ["openid", "profile", "email"].map(String::from).to_vec(),
            required_claims: vec![],
        };
        let secret = (!public).then(generate_secret);
        let hash = secret.as_ref().map(|s| s.hash().as_str().to_owned());
        self.store
            .write_transaction(|c| {
                applications::create(c, &ClientId::from(client_id), &settings, hash.as_deref(), tessera::now())
            })
            .unwrap();
        secret.map(|s| s.expose().to_owned())
    }

    fn config(&self, client_id: &str, client_secret: Option<String>, port: u16) -> Config {
        Config {
            issuer: IssuerUrl::new(self.base.clone()).unwrap(),
            client_id: client_id.into(),
            client_secret,
            redirect_port: port,
            scopes: ["openid", "profile", "email"].map(String::from).to_vec(),
            callback_timeout: WAIT,
        }
    }
}

impl Drop for Tessera {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The example on its own thread; the authorization URL it prints comes back on `urls`.
struct Example {
    urls: mpsc::Receiver<String>,
    thread: std::thread::JoinHandle<Result<SignIn, Error>>,
}

impl Example {
    fn start(config: Config) -> Example {
        let (sender, urls) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            relying_party::run(&config, |url| {
                let _ = sender.send(url.to_owned());
            })
        });
        Example { urls, thread }
    }

    fn authorization_url(&self) -> String {
        self.urls.recv_timeout(WAIT).expect("the example prints the authorization URL")
    }

    fn finish(self) -> Result<SignIn, Error> {
        self.thread.join().expect("the example does not panic")
    }
}

/// What the browser does on Tessera's consent page.
#[derive(Clone, Copy)]
enum Consent {
    Allow,
    Deny,
}

/// A browser: cookies kept, redirects followed by hand.
struct Browser {
    http: reqwest::blocking::Client,
    base: String,
}

impl Browser {
    fn new(tessera: &Tessera) -> Browser {
        let http = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .timeout(WAIT)
            .build()
            .unwrap();
        Browser { http, base: tessera.base.clone() }
    }

    /// From the authorization URL through Tessera's pages to the redirect: the URL Tessera
    /// sends the browser back to the application with.
    fn sign_in(&self, authorization_url: &str, consent: Consent) -> url::Url {
        let mut next = location(self.http.get(authorization_url).send().unwrap());
        let mut request = String::new();
        while next.starts_with('/') {
            let target = format!("{}{next}", self.base);
            if next.starts_with("/connect/authorize") {
                next = location(self.http.get(&target).send().unwrap());
                continue;
            }
            let html = self.http.get(&target).send().unwrap().text().unwrap();
            if request.is_empty() {
                request = hidden(&html, "request");
            }
            let csrf = hidden(&html, "csrf");
            let path = next.split('?').next().unwrap().to_owned();
            let form: Vec<(&str, &str)> = match path.as_str() {
                "/login" => vec![("request", &request), ("csrf", &csrf), ("login", "alice"), ("password", PASSWORD)],
                "/consent" => {
                    let decision = match consent {
                        Consent::Allow => "allow",
                        Consent::Deny => "deny",
                    };
                    vec![("request", &request), ("csrf", &csrf), ("decision", decision)]
                }
                other => panic!("unexpected page {other}: {html}"),
            };
            next = location(self.http.post(format!("{}{path}", self.base)).form(&form).send().unwrap());
        }
        url::Url::parse(&next).unwrap()
    }

    /// Visits the redirect URI as the browser would; returns the example's page.
    fn come_back(&self, redirect: &url::Url) -> String {
        let response = self.http.get(redirect.as_str()).send().unwrap();
        assert_eq!(response.status(), 200);
        response.text().unwrap()
    }
}

fn location(response: reqwest::blocking::Response) -> String {
    assert_eq!(response.status(), 303, "expected a 303 redirect from {}", response.url());
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// The value of the hidden input `name` in an HTML page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\"");
    let at = html.find(&marker).unwrap_or_else(|| panic!("no field {name} in {html}"));
    let tag_start = html[..at].rfind('<').unwrap();
    let tag_end = at + html[at..].find('>').unwrap();
    let tag = &html[tag_start..tag_end];
    let value_at = tag.find("value=\"").unwrap_or_else(|| panic!("no value in {tag}")) + 7;
    let value = &tag[value_at..];
    value[..value.find('"').unwrap()].replace("&#x2f;", "/").replace("&amp;", "&")
}

/// `redirect` with the query parameter `name` set to `value`.
fn with_parameter(redirect: &url::Url, name: &str, value: &str) -> url::Url {
    let pairs: Vec<(String, String)> = redirect
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name { value.to_owned() } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    let mut changed = redirect.clone();
    changed.query_pairs_mut().clear().extend_pairs(pairs);
    changed
}

#[test]
fn a_web_application_signs_alice_in_and_reads_userinfo() {
    let tessera = Tessera::start();
    let port = free_port();
    let secret = tessera.register("quickstart", ApplicationType::Web, port, true);
    let example = Example::start(tessera.config("quickstart", secret, port));
    let browser = Browser::new(&tessera);

    let url = example.authorization_url();
    assert!(url.starts_with(&format!("{}/connect/authorize?", tessera.base)), "{url}");
    for parameter in ["code_challenge_method=S256", "state=", "nonce=", "scope=openid+profile+email"] {
        assert!(url.contains(parameter), "{parameter} in {url}");
    }
    let redirect = browser.sign_in(&url, Consent::Allow);
    assert!(redirect.as_str().starts_with(&format!("http://127.0.0.1:{port}/callback?")), "{redirect}");
    assert!(browser.come_back(&redirect).contains("You can close this tab"));

    let sign_in = example.finish().unwrap();
    let claims = &sign_in.id_token_claims;
    assert_eq!(claims["iss"], tessera.base);
    assert_eq!(claims["aud"], json!(["quickstart"]));
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["preferred_username"], "alice");
    assert!(claims["nonce"].is_string() && claims["at_hash"].is_string(), "{claims}");
    assert_eq!(sign_in.userinfo["sub"], claims["sub"]);
    assert_eq!(sign_in.userinfo["email"], "alice@example.com");

    let direct: Value = reqwest::blocking::Client::new()
        .get(format!("{}/connect/userinfo", tessera.base))
        .bearer_auth(&sign_in.access_token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(direct, sign_in.userinfo, "the printed access token reads the same userinfo");
}

#[test]
fn a_public_client_signs_in_with_pkce_alone() {
    let tessera = Tessera::start();
    let port = free_port();
    assert_eq!(tessera.register("quickstart-spa", ApplicationType::Spa, port, false), None);
    let example = Example::start(tessera.config("quickstart-spa", None, port));
    let browser = Browser::new(&tessera);
    let redirect = browser.sign_in(&example.authorization_url(), Consent::Allow);
    browser.come_back(&redirect);
    let sign_in = example.finish().unwrap();
    assert_eq!(sign_in.id_token_claims["aud"], json!(["quickstart-spa"]));
    assert_eq!(sign_in.userinfo["email"], "alice@example.com");
}

#[test]
fn port_zero_listens_on_a_free_port_which_tessera_accepts_on_loopback_for_a_native_app() {
    // RFC 8252 §7.3: only a native application's loopback redirect URI may vary its port.
    let tessera = Tessera::start();
    assert_eq!(tessera.register("quickstart", ApplicationType::Native, free_port(), false), None);
    let example = Example::start(tessera.config("quickstart", None, 0));
    let browser = Browser::new(&tessera);
    let redirect = browser.sign_in(&example.authorization_url(), Consent::Allow);
    browser.come_back(&redirect);
    assert_eq!(example.finish().unwrap().userinfo["email"], "alice@example.com");
}

#[test]
fn a_denied_consent_ends_the_sign_in_with_access_denied() {
    let tessera = Tessera::start();
    let port = free_port();
    let secret = tessera.register("quickstart", ApplicationType::Web, port, true);
    let example = Example::start(tessera.config("quickstart", secret, port));
    let browser = Browser::new(&tessera);
    let redirect = browser.sign_in(&example.authorization_url(), Consent::Deny);
    browser.come_back(&redirect);
    let error = example.finish().unwrap_err();
    assert!(matches!(&error, Error::Authorization { error, .. } if error == "access_denied"), "{error}");
}

#[test]
fn a_callback_with_another_state_is_refused() {
    let tessera = Tessera::start();
    let port = free_port();
    let secret = tessera.register("quickstart", ApplicationType::Web, port, false);
    let example = Example::start(tessera.config("quickstart", secret, port));
    let browser = Browser::new(&tessera);
    let redirect = browser.sign_in(&example.authorization_url(), Consent::Allow);
    browser.come_back(&with_parameter(&redirect, "state", "forged"));
    let error = example.finish().unwrap_err();
    assert!(matches!(error, Error::StateMismatch), "{error}");
}

#[test]
fn a_callback_naming_another_issuer_is_refused() {
    let tessera = Tessera::start();
    let port = free_port();
    let secret = tessera.register("quickstart", ApplicationType::Web, port, false);
    let example = Example::start(tessera.config("quickstart", secret, port));
    let browser = Browser::new(&tessera);
    let redirect = browser.sign_in(&example.authorization_url(), Consent::Allow);
    browser.come_back(&with_parameter(&redirect, "iss", "http://evil.example"));
    let error = example.finish().unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("the callback's iss is Some(\"http://evil.example\"), not the issuer {:?}; refused", tessera.base)
    );
}

#[test]
fn a_wrong_client_secret_fails_the_code_exchange_with_invalid_client() {
    let tessera = Tessera::start();
    let port = free_port();
    tessera.register("quickstart", ApplicationType::Web, port, false);
    let example = Example::start(tessera.config("quickstart", Some("wrong".into()), port));
    let browser = Browser::new(&tessera);
    let redirect = browser.sign_in(&example.authorization_url(), Consent::Allow);
    browser.come_back(&redirect);
    let error = example.finish().unwrap_err();
    assert!(matches!(error, Error::TokenExchange(_)), "{error}");
    assert!(error.to_string().contains("invalid_client"), "{error}");
}

#[test]
fn without_a_browser_the_example_stops_waiting_at_the_timeout() {
    let tessera = Tessera::start();
    let port = free_port();
    let secret = tessera.register("quickstart", ApplicationType::Web, port, false);
    let config = Config { callback_timeout: Duration::from_millis(200), ..tessera.config("quickstart", secret, port) };
    let error = relying_party::run(&config, |_| {}).unwrap_err();
    assert_eq!(error.to_string(), format!("no browser came back to http://127.0.0.1:{port}/callback within 0.2 s"));
}

#[test]
fn an_unreachable_issuer_is_one_line_naming_discovery() {
    let port = free_port();
    let config = Config {
        issuer: IssuerUrl::new(format!("http://127.0.0.1:{port}")).unwrap(),
        client_id: "quickstart".into(),
        client_secret: None,
        redirect_port: 0,
        scopes: vec!["openid".into()],
        callback_timeout: WAIT,
    };
    let error = relying_party::run(&config, |_| panic!("no URL without discovery")).unwrap_err();
    let line = error.to_string();
    assert!(
        line.starts_with(&format!("discovery at http://127.0.0.1:{port}/.well-known/openid-configuration failed: "))
    );
    assert!(!line.contains('\n'), "{line}");
}
