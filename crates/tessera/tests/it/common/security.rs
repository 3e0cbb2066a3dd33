//! The world of the browser-driven tests (authorize, pages, token, userinfo,
//! introspection, revocation, end session): a browser that keeps Tessera's session cookie
//! by hand, so tests can read, replay and drop it; alice and the fixture applications,
//! and the `orders-api` connection ([`with_api`]); the flow through the pages; the token
//! endpoint; forged JWTs and the error asserts.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tessera_domain::{ApplicationType, ClientAuthMethod, SigningAlgorithm, TokenFormat, UserId};
use tessera_store::applications::{self, ApplicationSettings};
use tessera_store::connections::{self, NewApiConnection};
use tessera_store::scopes::{self, NewApiScope};
use tessera_store::users::{self, NewUser};
use tessera_store::{PoolOptions, Store};
use tessera_tokens::{PasswordHasher, PasswordParams, VerifyingKey, generate_secret};

use super::{TestApp, TestDatabase};
use tessera_testkit::apps;

pub const PASSWORD: &str = "correct horse battery staple";
/// The web application's registered redirect URIs.
pub const REDIRECT: &str = "https://app.example.test/cb";
pub const LOOPBACK: &str = "http://127.0.0.1/cb";
pub const LOOPBACK_V6: &str = "http://[::1]/cb";
pub const LOCALHOST: &str = "http://localhost/cb";
pub const LOGOUT: &str = "https://app.example.test/bye";
/// The other application's.
pub const OTHER_REDIRECT: &str = "https://other.example.test/cb";
pub const OTHER_LOGOUT: &str = "https://other.example.test/bye";
/// RFC 7636 Appendix B.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// A well-formed verifier that does not match [`CHALLENGE`].
pub const WRONG_VERIFIER: &str = "aBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// A response read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn read(response: reqwest::blocking::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().unwrap_or_default();
        Reply { status, headers, body }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }

    /// The Location of a 303.
    pub fn see_other(&self) -> String {
        assert_eq!(self.status, 303, "expected 303 See Other, got {}: {}", self.status, self.body);
        self.location().expect("a Location").to_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect()
    }

    /// The query of the Location, as a map.
    pub fn callback(&self) -> HashMap<String, String> {
        let location = self.see_other();
        let url = url::Url::parse(&location).unwrap_or_else(|e| panic!("{location}: {e}"));
        url.query_pairs().into_owned().collect()
    }

    /// Asserts the error page of an untrusted request: 400, HTML, no Location.
    pub fn assert_error_page(&self, what: &str) {
        assert_eq!(self.status, 400, "{what}: {}", self.body);
        assert!(self.location().is_none(), "{what}: redirected to {:?}", self.location());
        assert!(self.header("content-type").is_some_and(|c| c.starts_with("text/html")), "{what}");
        assert_no_store(self, what);
    }
}

pub fn assert_no_store(reply: &Reply, what: &str) {
    let cache = reply.header("cache-control").unwrap_or("");
    assert!(cache.split(',').any(|d| d.trim() == "no-store"), "{what}: Cache-Control {cache:?}");
}

pub fn http() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(60)).build().unwrap()
}

/// A browser whose session cookie the test sees and controls.
pub struct Browser {
    http: Client,
    base: String,
    cookie: RefCell<Option<(String, String)>>,
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        Browser { http: http(), base: app.base.clone(), cookie: RefCell::new(None) }
    }

    pub fn url(&self, target: &str) -> String {
        if target.starts_with('/') { format!("{}{target}", self.base) } else { target.to_owned() }
    }

    pub fn get(&self, target: &str) -> Reply {
        self.send(self.http.get(self.url(target)))
    }

    pub fn post(&self, target: &str, form: &[(&str, &str)]) -> Reply {
        self.send(self.http.post(self.url(target)).form(form))
    }

    pub fn request(&self, method: reqwest::Method, target: &str) -> RequestBuilder {
        self.http.request(method, self.url(target))
    }

    /// Sends with the session cookie, and keeps what the answer sets.
    pub fn send(&self, request: RequestBuilder) -> Reply {
        let request = match &*self.cookie.borrow() {
            Some((name, value)) => request.header("cookie", format!("{name}={value}")),
            None => request,
        };
        let reply = Reply::read(request.send().unwrap());
        for set in reply.set_cookies() {
            let pair = set.split(';').next().unwrap_or("");
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if name.trim().ends_with("tessera_session") {
                let removed = value.is_empty() || set.to_ascii_lowercase().contains("max-age=0");
                *self.cookie.borrow_mut() = (!removed).then(|| (name.trim().to_owned(), value.to_owned()));
            }
        }
        reply
    }

    /// The session cookie's value.
    pub fn session(&self) -> Option<String> {
        self.cookie.borrow().as_ref().map(|(_, v)| v.clone())
    }

    /// The session cookie's name and value (to hand to a browser on another thread).
    pub fn cookie(&self) -> Option<(String, String)> {
        self.cookie.borrow().clone()
    }

    pub fn set_session(&self, name: &str, value: Option<&str>) {
        *self.cookie.borrow_mut() = value.map(|v| (name.to_owned(), v.to_owned()));
    }
}

/// The value of the hidden input `name` in an HTML page.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\"");
    let at = html.find(&marker).unwrap_or_else(|| panic!("no field {name} in {html}"));
    let tag_start = html[..at].rfind('<').unwrap();
    let tag_end = at + html[at..].find('>').unwrap();
    let tag = &html[tag_start..tag_end];
    let value_at = tag.find("value=\"").unwrap_or_else(|| panic!("no value in {tag}")) + 7;
    let value = &tag[value_at..];
    value[..value.find('"').unwrap()].replace("&#x2f;", "/").replace("&amp;", "&")
}

pub struct World {
    pub app: TestApp,
    pub store: Store,
    /// The secret of every confidential application created here.
    pub secret: String,
    pub alice: UserId,
}

/// Alice, and two confidential web applications: `webapp` (redirect URIs [`REDIRECT`],
/// [`LOOPBACK`], [`LOOPBACK_V6`], [`LOCALHOST`]; logout [`LOGOUT`]) and `other`
/// ([`OTHER_REDIRECT`], [`OTHER_LOGOUT`]), both JWT, no consent, refresh allowed.
pub fn world(db: &TestDatabase) -> World {
    world_on(db, TestApp::spawn(db))
}

pub fn world_on(db: &TestDatabase, app: TestApp) -> World {
    let store = Store::connect(&db.url, &PoolOptions::for_backend(db.url.backend())).unwrap();
    let alice = add_user(&store, "alice", PASSWORD);
    let secret = generate_secret().expose().to_owned();
    let w = World { app, store, secret, alice };
    add_app(&w, "webapp", &web_app(&[REDIRECT, LOOPBACK, LOOPBACK_V6, LOCALHOST], &[LOGOUT]));
    add_app(&w, "other", &web_app(&[OTHER_REDIRECT], &[OTHER_LOGOUT]));
    w
}

pub fn add_user(store: &Store, username: &str, password: &str) -> UserId {
    let hasher = PasswordHasher::new(PasswordParams::TESTING).unwrap();
    let new = NewUser {
        username: username.into(),
        email: Some(format!("{username}@example.com")),
        password_hash: Some(hasher.hash(password).unwrap()),
        ..Default::default()
    };
    store.write_transaction(|c| users::create(c, &new, tessera::now())).unwrap().id
}

pub fn web_app(redirects: &[&str], post_logout: &[&str]) -> ApplicationSettings {
    ApplicationSettings {
        post_logout_redirect_uris: post_logout.iter().map(|s| (*s).to_owned()).collect(),
        ..apps::web_app("Web app", redirects)
    }
}

/// A public single-page application (`none` authentication).
pub fn spa(redirects: &[&str]) -> ApplicationSettings {
    ApplicationSettings {
        app_type: ApplicationType::Spa,
        token_endpoint_auth_method: ClientAuthMethod::None,
        ..web_app(redirects, &[])
    }
}

/// A public native application (RFC 8252): `none` authentication, PKCE required, and the
/// only type whose loopback IP redirect URIs may come back on another port (§7.3).
pub fn native_app(redirects: &[&str]) -> ApplicationSettings {
    ApplicationSettings {
        app_type: ApplicationType::Native,
        token_endpoint_auth_method: ClientAuthMethod::None,
        ..web_app(redirects, &[])
    }
}

/// Registers an application; confidential ones get the world's secret.
pub fn add_app(w: &World, client_id: &str, settings: &ApplicationSettings) {
    let hash = tessera_tokens::SecretHash::of(&w.secret);
    let secret = (settings.token_endpoint_auth_method != ClientAuthMethod::None).then(|| hash.as_str().to_owned());
    w.store
        .write_transaction(|c| applications::create(c, &client_id.into(), settings, secret.as_deref(), tessera::now()))
        .unwrap();
}

/// Sets the application's `refresh_token_retry_grace_seconds` (the server sees the change
/// at its next request).
pub fn set_retry_grace(w: &World, client_id: &str, seconds: i64) {
    let app = w.store.read_transaction(|c| applications::find_by_client_id(c, &client_id.into())).unwrap().unwrap();
    let mut settings = app.settings;
    settings.lifetimes.refresh_token_retry_grace = seconds;
    w.store.write_transaction(|c| applications::update(c, &app.id, &settings, tessera::now())).unwrap();
}

/// `/connect/authorize?…`: a code request of `client_id` for `redirect` with `scope=openid`,
/// `state=st-1` and the PKCE challenge, `extra` replacing or adding parameters (an
/// empty value removes one).
pub fn authorize_path(client_id: &str, redirect: &str, extra: &[(&str, &str)]) -> String {
    let mut params: Vec<(String, String)> = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect),
        ("scope", "openid"),
        ("state", "st-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (key, value) in extra {
        match params.iter_mut().find(|(k, _)| k == key) {
            Some(found) => found.1 = (*value).to_owned(),
            None => params.push(((*key).to_owned(), (*value).to_owned())),
        }
    }
    params.retain(|(_, v)| !v.is_empty());
    let query: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    format!("/connect/authorize?{query}")
}

/// The sign-in page of `location` (`/login?request=…`): its `request` and `csrf`.
pub fn form_of(b: &Browser, location: &str) -> (String, String) {
    let page = b.get(location);
    assert_eq!(page.status, 200, "{location}: {}", page.body);
    (hidden(&page.body, "request"), hidden(&page.body, "csrf"))
}

/// Follows `reply` through the pages (signing in as `login`/`password`, allowing
/// consent) until the answer to the client, or a page that does not redirect.
pub fn complete(b: &Browser, reply: Reply, login: &str, password: &str) -> Reply {
    let mut reply = reply;
    for _ in 0..10 {
        let Some(next) = reply.location().map(str::to_owned) else { return reply };
        if !next.starts_with('/') {
            return reply;
        }
        reply = if next.starts_with("/login?") {
            let (request, csrf) = form_of(b, &next);
            b.post("/login", &[("request", &request), ("csrf", &csrf), ("login", login), ("password", password)])
        } else if next.starts_with("/consent?") {
            let (request, csrf) = form_of(b, &next);
            b.post("/consent", &[("request", &request), ("csrf", &csrf), ("decision", "allow")])
        } else {
            b.get(&next)
        };
    }
    panic!("the flow did not end: {reply:?}")
}

/// Authorizes `path` as alice up to the consent page: that page.
pub fn consent_page(b: &Browser, path: &str) -> Reply {
    let mut reply = b.get(path);
    for _ in 0..10 {
        let Some(next) = reply.location().map(str::to_owned) else { break };
        reply = if next.starts_with("/login?") {
            let (request, csrf) = form_of(b, &next);
            b.post("/login", &[("request", &request), ("csrf", &csrf), ("login", "alice"), ("password", PASSWORD)])
        } else if next.starts_with("/consent?") {
            return b.get(&next);
        } else if next.starts_with('/') {
            b.get(&next)
        } else {
            break;
        };
    }
    panic!("no consent page: {reply:?}")
}

/// Authorizes `path` as alice through every page: the client's callback parameters.
pub fn code_for(b: &Browser, path: &str) -> HashMap<String, String> {
    let first = b.get(path);
    complete(b, first, "alice", PASSWORD).callback()
}

/// POST /connect/token as `client_id` with the world's secret (HTTP Basic).
pub fn token(w: &World, client_id: &str, form: &[(&str, &str)]) -> Reply {
    Reply::read(w.app.token(Some((client_id, &w.secret)), form))
}

pub fn redeem(w: &World, client_id: &str, code: &str, redirect: &str, verifier: Option<&str>) -> Reply {
    let mut form = vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect)];
    if let Some(verifier) = verifier {
        form.push(("code_verifier", verifier));
    }
    token(w, client_id, &form)
}

/// Redeems a code as the public client `client_id` (named in the form, no secret).
pub fn redeem_public(w: &World, client_id: &str, code: &str, redirect: &str, verifier: &str) -> Reply {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect),
        ("client_id", client_id),
        ("code_verifier", verifier),
    ];
    Reply::read(w.app.token(None, &form))
}

pub fn refresh(w: &World, client_id: &str, refresh_token: &str, scope: Option<&str>) -> Reply {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", refresh_token)];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    token(w, client_id, &form)
}

/// Signs alice in to `webapp` with `extra` authorize parameters and redeems the code:
/// the token response.
pub fn tokens(w: &World, b: &Browser, extra: &[(&str, &str)]) -> Value {
    let callback = code_for(b, &authorize_path("webapp", REDIRECT, extra));
    let reply = redeem(w, "webapp", &callback["code"], REDIRECT, Some(VERIFIER));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

/// GET /connect/userinfo with the token in the header.
pub fn userinfo(w: &World, access_token: &str) -> Reply {
    Reply::read(w.app.userinfo(access_token))
}

/// The claims of a JWT, unverified.
pub fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap_or_else(|| panic!("not a JWT: {jwt}"));
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

pub fn header_of(jwt: &str) -> Value {
    let part = jwt.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// The claims of a JWT Tessera signed, verified with its JWKS.
pub fn verified(w: &World, jwt: &str) -> serde_json::Map<String, Value> {
    let jwks = w.app.jwks();
    let keys: Vec<VerifyingKey> =
        jwks["keys"].as_array().unwrap().iter().filter_map(|k| VerifyingKey::from_jwk(k, None)).collect();
    tessera_tokens::jwt::verify(jwt, &keys, SigningAlgorithm::ALL).unwrap().claims
}

pub fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// The same claims under `alg: none` (and the original header otherwise), unsigned.
pub fn alg_none(jwt: &str) -> String {
    let mut header = header_of(jwt);
    header["alg"] = json!("none");
    format!("{}.{}.", b64(&header), b64(&payload(jwt)))
}

/// The same header and claims signed by a key Tessera never published, under the
/// `kid` of Tessera's own key (the foreign key must not be trusted for that kid).
pub fn foreign(jwt: &str) -> String {
    let header = header_of(jwt);
    let key = tessera_tokens::signing::generate(SigningAlgorithm::ES256).unwrap();
    let kid = header["kid"].as_str().unwrap_or(&key.kid).to_owned();
    let signer = tessera_tokens::Signer::from_pkcs8(kid, SigningAlgorithm::ES256, &key.pkcs8).unwrap();
    let typ = header["typ"].as_str().unwrap_or("JWT").to_owned();
    tessera_tokens::jwt::sign(&signer, &typ, &payload(jwt)).unwrap()
}

/// The API connection `orders-api` (scopes `orders-api`, `orders.read`), its secret, and
/// the applications `jwtapp` and `refapp` (JWT and reference access tokens) allowed
/// `openid offline_access orders.read`.
pub fn with_api(w: &World) -> String {
    let secret = generate_secret();
    let now = tessera::now();
    let new = NewApiConnection {
        name: "orders-api".into(),
        display_name: "Orders".into(),
        description: String::new(),
        access_token_format: None,
        resource_uri: None,
        requirement: None,
    };
    let connection = w.store.write_transaction(|c| connections::create(c, &new, secret.hash().as_str(), now)).unwrap();
    let scope = NewApiScope {
        name: "orders.read".into(),
        display_name: "Read orders".into(),
        description: String::new(),
        requirement: None,
    };
    w.store.write_transaction(|c| scopes::create_api_scope(c, &connection.id, &scope, now)).unwrap();
    for (client, format) in [("jwtapp", TokenFormat::Jwt), ("refapp", TokenFormat::Reference)] {
        let mut settings = web_app(&[REDIRECT], &[LOGOUT]);
        settings.access_token_format = format;
        settings.allowed_scopes = ["openid", "profile", "offline_access", "orders.read"].map(String::from).to_vec();
        add_app(w, client, &settings);
    }
    secret.expose().to_owned()
}

/// Alice's tokens at `client` for `scope`.
pub fn tokens_at(w: &World, client: &str, scope: &str) -> Value {
    let b = Browser::new(&w.app);
    let callback = code_for(&b, &authorize_path(client, REDIRECT, &[("scope", scope)]));
    let reply = redeem(w, client, &callback["code"], REDIRECT, Some(VERIFIER));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

pub fn field(tokens: &Value, name: &str) -> String {
    tokens[name].as_str().unwrap_or_else(|| panic!("no {name} in {tokens}")).to_owned()
}

pub fn introspect(w: &World, secret: &str, token: &str) -> Value {
    let reply = Reply::read(w.app.introspect(("orders-api", secret), &[("token", token)]));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_no_store(&reply, "introspection");
    reply.json()
}

pub fn revoke(w: &World, client: &str, token: &str) -> u16 {
    w.app.revoke((client, &w.secret), &[("token", token)]).status().as_u16()
}

pub fn assert_oauth_error(reply: &Reply, status: u16, error: &str, what: &str) {
    assert_eq!(reply.status, status, "{what}: {}", reply.body);
    assert_eq!(reply.json()["error"], error, "{what}: {}", reply.body);
    assert!(reply.json().get("access_token").is_none(), "{what}");
    assert_no_store(reply, what);
}

pub fn assert_invalid_token(reply: &Reply, what: &str) {
    assert_eq!(reply.status, 401, "{what}: {}", reply.body);
    let challenge = reply.header("www-authenticate").unwrap_or("");
    assert!(challenge.starts_with("Bearer") && challenge.contains("invalid_token"), "{what}: {challenge}");
}

/// Forgeries of a JWT Tessera issued: `alg: none`, a foreign key under Tessera's kid, an
/// HMAC header (algorithm confusion), another algorithm than the key's, and the payload
/// changed under the original signature.
pub fn forgeries(jwt: &str) -> Vec<(&'static str, String)> {
    let signature = jwt.rsplit('.').next().unwrap().to_owned();
    let with_header = |changes: Value| {
        let mut header = header_of(jwt);
        for (k, v) in changes.as_object().unwrap() {
            header[k] = v.clone();
        }
        format!("{}.{}.{signature}", b64(&header), b64(&payload(jwt)))
    };
    let mut changed = payload(jwt);
    changed["sub"] = json!("someone-else");
    changed["scope"] = json!("openid profile offline_access orders.read");
    vec![
        ("alg none", alg_none(jwt)),
        ("alg none, keeping the signature", with_header(json!({"alg": "none"}))),
        ("alg NONE", with_header(json!({"alg": "NONE"}))),
        ("foreign key", foreign(jwt)),
        ("HS256 confusion", with_header(json!({"alg": "HS256"}))),
        ("RS256 header on an ES256 key", with_header(json!({"alg": "RS256"}))),
        ("unknown kid", with_header(json!({"kid": "nope"}))),
        ("changed payload", format!("{}.{}.{signature}", b64(&header_of(jwt)), b64(&changed))),
    ]
}
