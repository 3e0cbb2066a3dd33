//! Load for the fault tests: a few client threads sending code redemptions, refreshes,
//! client credentials, introspections and `/readyz` polls to one or more nodes while the
//! test breaks something, every request and answer recorded in a
//! [`tessera_testkit::history::History`]; then a final sweep (every acknowledged access
//! token introspected, every chain's last token refreshed) for the checker.
//!
//! The clients behave as a careful client should (docs/applications.md, "Refresh token
//! retries"): after a 5xx or no answer they retry the same code or refresh token, on the
//! next node, after a short pause; after an answer they only ever present what they got.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine;
use serde_json::Value;
use sha2::Digest;
use tessera_domain::{GrantType, TokenFormat};
use tessera_store::applications::{self, ApplicationSettings};
use tessera_store::connections::{self, NewApiConnection};
use tessera_store::users::{self, NewUser};
use tessera_store::{Store, StoreError};
use tessera_testkit::apps;
use tessera_testkit::history::{Event, History, Kind, Outcome};
use tessera_tokens::{PasswordHasher, PasswordParams, generate_secret};

pub const REDIRECT: &str = "http://127.0.0.1:9/cb";
const VERIFIER: &str = "a-verifier-of-at-least-forty-three-characters-long";
const PASSWORD: &str = "a fine password";
/// The pause before a client retries after a 5xx or no answer.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// The clients the load uses: `app` (code and refresh token grants), `robot` (client
/// credentials, reference tokens), the API connection `orders-api` that introspects, and
/// the user `carol`. One secret for all three.
#[derive(Clone)]
pub struct Fixture {
    pub secret: String,
}

/// Registers the fixture through `store` (retried while the database is still starting).
pub fn register(store: &Store) -> Fixture {
    let secret = generate_secret();
    let now = tessera::now();
    let hash = secret.hash().as_str().to_owned();
    let hasher = PasswordHasher::new(PasswordParams::TESTING).unwrap();
    let password_hash = hasher.hash(PASSWORD).unwrap();
    store
        .write_transaction(|c| {
            users::create(
                c,
                &NewUser { username: "carol".into(), password_hash: Some(password_hash.clone()), ..Default::default() },
                now,
            )?;
            let web = ApplicationSettings {
                grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
                allowed_scopes: vec!["openid".into(), "offline_access".into()],
                ..apps::web_app("App", &[REDIRECT])
            };
            applications::create(c, &"app".into(), &web, Some(&hash), now)?;
            let connection = NewApiConnection {
                name: "orders-api".into(),
                display_name: "Orders".into(),
                description: String::new(),
                access_token_format: None,
                resource_uri: None,
                requirement: None,
            };
            connections::create(c, &connection, &hash, now)?;
            let robot = ApplicationSettings {
                access_token_format: TokenFormat::Reference,
                ..apps::machine_app("Robot", &["orders-api"])
            };
            applications::create(c, &"robot".into(), &robot, Some(&hash), now)?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    Fixture { secret: secret.expose().to_owned() }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
}

fn hidden(html: &str, name: &str) -> String {
    let at = html.find(&format!("name=\"{name}\"")).unwrap();
    let tag = &html[html[..at].rfind('<').unwrap()..at + html[at..].find('>').unwrap()];
    let value = &tag[tag.find("value=\"").unwrap() + 7..];
    value[..value.find('"').unwrap()].to_owned()
}

fn location(response: &reqwest::blocking::Response) -> Option<String> {
    (response.status() == 303).then(|| response.headers()["location"].to_str().unwrap().to_owned())
}

fn authorize_path() -> String {
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(VERIFIER));
    format!(
        "/connect/authorize?response_type=code&client_id=app&redirect_uri={}&scope=openid%20offline_access&state=s&code_challenge={challenge}&code_challenge_method=S256",
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    )
}

/// A browser signed in as `carol` at `base`: its cookie jar holds the session.
pub fn signed_in_browser(base: &str) -> reqwest::blocking::Client {
    let browser = client();
    let to_login = location(&browser.get(format!("{base}{}", authorize_path())).send().unwrap()).unwrap();
    let html = browser.get(format!("{base}{to_login}")).send().unwrap().text().unwrap();
    let (request, csrf) = (hidden(&html, "request"), hidden(&html, "csrf"));
    let form = [("request", request.as_str()), ("csrf", csrf.as_str()), ("login", "carol"), ("password", PASSWORD)];
    let sent = browser.post(format!("{base}/login")).form(&form).send().unwrap();
    assert_eq!(sent.status(), 303, "signing in");
    browser
}

/// A code from the signed-in `browser`, or `None` when the node could not give one now.
fn code(browser: &reqwest::blocking::Client, base: &str) -> Option<String> {
    let response = browser.get(format!("{base}{}", authorize_path())).send().ok()?;
    let callback = location(&response)?;
    url::Url::parse(&callback).ok()?.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned())
}

/// Why a request did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failed {
    /// No answer or a 5xx: the request may or may not have taken effect.
    Unknown,
    /// A definite refusal (a 4xx).
    Refused,
}

/// Sends one request and records it; returns the answer's JSON body when it was a 200.
fn send(
    history: &History,
    client_no: usize,
    kind: Kind,
    input: Option<&str>,
    request: reqwest::blocking::RequestBuilder,
    output: impl Fn(&Value) -> Option<String>,
) -> Result<Value, Failed> {
    let start = history.now();
    let (outcome, body) = match request.send() {
        Err(e) => (Outcome::NoAnswer(e.to_string()), None),
        Ok(response) => {
            let status = response.status().as_u16();
            let retry_after = response.headers().contains_key("retry-after");
            match response.text() {
                Err(e) => (Outcome::NoAnswer(e.to_string()), None),
                Ok(text) => {
                    let json: Option<Value> = serde_json::from_str(&text).ok();
                    let error = json.as_ref().and_then(|j| j["error"].as_str()).map(str::to_owned);
                    (Outcome::Answer { status, error, retry_after }, json.filter(|_| status == 200))
                }
            }
        }
    };
    let end = history.now();
    let out = body.as_ref().and_then(&output);
    let event = Event { client: client_no, kind, input: input.map(str::to_owned), output: out, outcome, start, end };
    let failed = if event.unknown() { Failed::Unknown } else { Failed::Refused };
    history.record(event);
    body.ok_or(failed)
}

/// Load running in the background until [`Load::finish`].
pub struct Load {
    pub history: Arc<History>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// Access tokens whose issuing was acknowledged.
    pub acknowledged: Arc<Mutex<Vec<String>>>,
    /// Each refresh chain's last acknowledged refresh token.
    pub chains: Arc<Mutex<Vec<String>>>,
    bases: Arc<Mutex<Vec<String>>>,
    fixture: Fixture,
}

impl Load {
    /// Starts `chains` refresh chains (each from a code), a code redeemer, a
    /// client-credentials client, an introspector and a `/readyz` poller, spreading
    /// requests over `bases` in turn.
    pub fn start(bases: Vec<String>, fixture: &Fixture, chains: usize) -> Load {
        let history = Arc::new(History::default());
        let bases = Arc::new(Mutex::new(bases));
        let first = pick(&bases, 0);
        let browser = Arc::new(signed_in_browser(&first));
        let secret = fixture.secret.clone();
        let initial: Vec<String> = (0..chains)
            .map(|_| {
                let code = code(&browser, &first).unwrap();
                let answer = redeem(&client(), &history, usize::MAX, &first, &secret, &code).unwrap();
                answer["refresh_token"].as_str().unwrap().to_owned()
            })
            .collect();
        let load = Load {
            history,
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
            acknowledged: Arc::default(),
            chains: Arc::new(Mutex::new(initial)),
            bases,
            fixture: fixture.clone(),
        };
        load.spawn_all(browser, chains)
    }

    fn spawn_all(mut self, browser: Arc<reqwest::blocking::Client>, chains: usize) -> Load {
        let next = Arc::new(AtomicUsize::new(0));
        for chain in 0..chains {
            let (h, stop, bases, secret, tokens, next) = self.shared(&next);
            self.threads.push(std::thread::spawn(move || {
                let http = client();
                let mut token = tokens.lock().unwrap()[chain].clone();
                while !stop.load(Ordering::SeqCst) {
                    let base = &pick(&bases, next.fetch_add(1, Ordering::Relaxed));
                    let form = [("grant_type", "refresh_token"), ("refresh_token", token.as_str())];
                    let request =
                        http.post(format!("{base}/connect/token")).basic_auth("app", Some(&secret)).form(&form);
                    match send(&h, chain, Kind::Refresh, Some(&token), request, |j| {
                        j["refresh_token"].as_str().map(str::to_owned)
                    }) {
                        Ok(answer) => {
                            token = answer["refresh_token"].as_str().unwrap().to_owned();
                            tokens.lock().unwrap()[chain] = token.clone();
                        }
                        Err(Failed::Unknown) => std::thread::sleep(RETRY_PAUSE),
                        // A definite refusal: the chain is broken (the checker says so).
                        Err(Failed::Refused) => break,
                    }
                }
            }));
        }
        // Codes: one redeemed after another, each retried after an unknown outcome.
        let (h, stop, bases, secret, _, next2) = self.shared(&next);
        self.threads.push(std::thread::spawn(move || {
            let http = client();
            while !stop.load(Ordering::SeqCst) {
                let base = &pick(&bases, next2.fetch_add(1, Ordering::Relaxed));
                let Some(code) = code(&browser, base) else {
                    std::thread::sleep(RETRY_PAUSE);
                    continue;
                };
                for attempt in 0..40 {
                    let base = &pick(&bases, next2.load(Ordering::Relaxed) + attempt);
                    if redeem(&http, &h, chains, base, &secret, &code) != Err(Failed::Unknown) {
                        break;
                    }
                    std::thread::sleep(RETRY_PAUSE);
                }
            }
        }));
        // Client credentials, and introspection of what they acknowledged.
        let (h, stop, bases, secret, _, next3) = self.shared(&next);
        let acknowledged = self.acknowledged.clone();
        self.threads.push(std::thread::spawn(move || {
            let http = client();
            while !stop.load(Ordering::SeqCst) {
                let base = &pick(&bases, next3.fetch_add(1, Ordering::Relaxed));
                let request = http
                    .post(format!("{base}/connect/token"))
                    .basic_auth("robot", Some(&secret))
                    .form(&[("grant_type", "client_credentials")]);
                match send(&h, chains + 1, Kind::ClientCredentials, None, request, |j| {
                    j["access_token"].as_str().map(str::to_owned)
                }) {
                    Ok(answer) => acknowledged.lock().unwrap().push(answer["access_token"].as_str().unwrap().into()),
                    Err(_) => std::thread::sleep(RETRY_PAUSE),
                }
            }
        }));
        let (h, stop, bases, secret, _, next4) = self.shared(&next);
        let acknowledged = self.acknowledged.clone();
        self.threads.push(std::thread::spawn(move || {
            let http = client();
            let mut i = 0_usize;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let token = {
                    let all = acknowledged.lock().unwrap();
                    if all.is_empty() { None } else { Some(all[i.wrapping_mul(7919) % all.len()].clone()) }
                };
                let Some(token) = token else {
                    std::thread::sleep(RETRY_PAUSE);
                    continue;
                };
                let base = &pick(&bases, next4.fetch_add(1, Ordering::Relaxed));
                if introspect(&http, &h, chains + 2, Kind::Introspect, base, &secret, &token).is_err() {
                    std::thread::sleep(RETRY_PAUSE);
                }
            }
        }));
        let (h, stop, bases, _, _, _) = self.shared(&next);
        self.threads.push(std::thread::spawn(move || {
            let http = client();
            while !stop.load(Ordering::SeqCst) {
                for base in bases.lock().unwrap().clone() {
                    let _ = send(&h, chains + 3, Kind::Ready, None, http.get(format!("{base}/readyz")), |_| None);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }));
        self
    }

    /// Sends no more requests to `base` (a node the test killed); a request in flight
    /// there is retried on another.
    pub fn retire(&self, base: &str) {
        self.bases.lock().unwrap().retain(|b| b != base);
    }

    #[allow(clippy::type_complexity)]
    fn shared(
        &self,
        next: &Arc<AtomicUsize>,
    ) -> (Arc<History>, Arc<AtomicBool>, Arc<Mutex<Vec<String>>>, String, Arc<Mutex<Vec<String>>>, Arc<AtomicUsize>)
    {
        (
            self.history.clone(),
            self.stop.clone(),
            self.bases.clone(),
            self.fixture.secret.clone(),
            self.chains.clone(),
            next.clone(),
        )
    }

    /// Stops the clients, then sweeps through `base`: every acknowledged access token is
    /// introspected and every chain's last token refreshed once, recorded as
    /// [`Kind::FinalIntrospect`] and [`Kind::FinalRefresh`]. Returns the whole history.
    pub fn finish(mut self, base: &str) -> Vec<Event> {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            thread.join().unwrap();
        }
        let http = client();
        let secret = &self.fixture.secret;
        for token in self.acknowledged.lock().unwrap().iter() {
            let _ = introspect(&http, &self.history, usize::MAX, Kind::FinalIntrospect, base, secret, token);
        }
        for (chain, token) in self.chains.lock().unwrap().iter().enumerate() {
            let form = [("grant_type", "refresh_token"), ("refresh_token", token.as_str())];
            let request = http.post(format!("{base}/connect/token")).basic_auth("app", Some(secret)).form(&form);
            let _ = send(&self.history, chain, Kind::FinalRefresh, Some(token), request, |j| {
                j["refresh_token"].as_str().map(str::to_owned)
            });
        }
        self.history.events()
    }
}

/// The `i`-th node in turn.
fn pick(bases: &Mutex<Vec<String>>, i: usize) -> String {
    let bases = bases.lock().unwrap();
    bases[i % bases.len()].clone()
}

fn redeem(
    http: &reqwest::blocking::Client,
    history: &History,
    client_no: usize,
    base: &str,
    secret: &str,
    code: &str,
) -> Result<Value, Failed> {
    let form =
        [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT), ("code_verifier", VERIFIER)];
    let request = http.post(format!("{base}/connect/token")).basic_auth("app", Some(secret)).form(&form);
    send(history, client_no, Kind::Redeem, Some(code), request, |j| j["refresh_token"].as_str().map(str::to_owned))
}

fn introspect(
    http: &reqwest::blocking::Client,
    history: &History,
    client_no: usize,
    kind: Kind,
    base: &str,
    secret: &str,
    token: &str,
) -> Result<Value, Failed> {
    let request = http
        .post(format!("{base}/connect/introspect"))
        .basic_auth("orders-api", Some(secret))
        .form(&[("token", token)]);
    send(history, client_no, kind, Some(token), request, |j| {
        Some(if j["active"] == true { "active" } else { "inactive" }.to_owned())
    })
}
