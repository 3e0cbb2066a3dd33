//! RFC 9470 end to end: the example requires a recent sign-in on `/protected`
//! (`STEP_UP=/protected=1fa:2`); a user's token older than that is answered `401` with
//! the `insufficient_user_authentication` challenge; the relying party follows it back
//! through authorize with the challenge's `acr_values` and `max_age`; Tessera asks the
//! user for the password again (the session is older than `max_age`), and the new token
//! passes. Levels above `1fa` need the factors of the sign-in pages; this is the recency
//! half of the round trip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;

use reqwest::blocking::{Client, Response};
use resource_server::{Config, Level, StepUpRule};
use serde_json::Value;
use support::{Example, Tessera, challenge};
use tessera_domain::ClientId;
use tessera_store::applications::{self, ApplicationSettings};
use tessera_store::users::{self, NewUser};
use tessera_testkit::{TestDatabase, apps};
use tessera_tokens::{PasswordHasher, PasswordParams, generate_secret};

const PASSWORD: &str = "correct horse battery staple 42";
const REDIRECT: &str = "http://127.0.0.1/callback";
/// The route's recency, in seconds.
const MAX_AGE: i64 = 2;

fn browser() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap()
}

fn location(response: &Response) -> String {
    response.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

/// The value of the hidden input `name` in `html`.
fn hidden(html: &str, name: &str) -> String {
    let at = html.find(&format!("name=\"{name}\"")).unwrap_or_else(|| panic!("no field {name} in {html}"));
    let tag = &html[html[..at].rfind('<').unwrap()..at + html[at..].find('>').unwrap()];
    let value = &tag[tag.find("value=\"").unwrap_or_else(|| panic!("no value in {tag}")) + 7..];
    value[..value.find('"').unwrap()].replace("&#x2f;", "/").replace("&amp;", "&")
}

/// The parameter `name` of a challenge (`name="value"` or `name=value`).
fn parameter(challenge: &str, name: &str) -> String {
    let at = challenge.find(&format!("{name}=")).unwrap_or_else(|| panic!("no {name} in {challenge}"));
    let rest = challenge[at + name.len() + 1..].trim_start_matches('"');
    rest[..rest.find(['"', ',']).unwrap_or(rest.len())].to_owned()
}

/// The relying party: a confidential web application of `tessera`.
struct RelyingParty<'a> {
    tessera: &'a Tessera,
    secret: String,
    browser: Client,
}

impl RelyingParty<'_> {
    /// Authorize with `extra` parameters, the user signing in whenever asked; the pages
    /// the browser was shown, and the tokens of the code.
    fn sign_in(&self, extra: &[(&str, &str)]) -> (Vec<String>, Value) {
        let issuer = &self.tessera.base;
        let mut url = url::Url::parse(&format!("{issuer}/connect/authorize")).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", "rp")
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("scope", "openid orders-api")
            .append_pair("state", "s");
        for (name, value) in extra {
            url.query_pairs_mut().append_pair(name, value);
        }
        let absolute = |target: String| if target.starts_with('/') { format!("{issuer}{target}") } else { target };
        let mut answer = self.browser.get(url.as_str()).send().unwrap();
        let mut pages = Vec::new();
        let callback = loop {
            let next = absolute(location(&answer));
            assert!(!next.is_empty(), "the flow stopped at {}: {}", answer.status(), answer.text().unwrap());
            if next.starts_with(REDIRECT) {
                break url::Url::parse(&next).unwrap();
            }
            assert!(pages.len() < 5, "the flow did not end: {pages:?}");
            let page = self.browser.get(&next).send().unwrap();
            if page.status().is_redirection() {
                answer = page;
                continue;
            }
            let path = url::Url::parse(&next).unwrap().path().to_owned();
            assert_eq!(path, "/login", "only the sign-in page is expected");
            let html = page.text().unwrap();
            let (request, csrf) = (hidden(&html, "request"), hidden(&html, "csrf"));
            answer = self
                .browser
                .post(format!("{issuer}/login"))
                .form(&[("request", request.as_str()), ("csrf", &csrf), ("login", "ada"), ("password", PASSWORD)])
                .send()
                .unwrap();
            pages.push(path);
        };
        let query: HashMap<String, String> = callback.query_pairs().into_owned().collect();
        let code = query.get("code").unwrap_or_else(|| panic!("no code: {query:?}"));
        let tokens: Value = self
            .tessera
            .http
            .post(format!("{issuer}/connect/token"))
            .basic_auth("rp", Some(&self.secret))
            .form(&[("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT)])
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert!(tokens["access_token"].is_string(), "{tokens}");
        (pages, tokens)
    }
}

tessera_testkit::both_backends! {
    fn a_token_older_than_the_route_allows_is_challenged_and_the_relying_party_steps_up(db: TestDatabase) {
        step_up_round_trip(db);
    }
}

fn step_up_round_trip(db: TestDatabase) {
    let tessera = Tessera::start_on(db, |raw| raw);
    let store = &tessera.store;
    let now = tessera::now();
    let hasher = PasswordHasher::new(PasswordParams::TESTING).unwrap();
    let user = NewUser {
        username: "ada".into(),
        email: Some("ada@example.com".into()),
        password_hash: Some(hasher.hash(PASSWORD).unwrap()),
        ..Default::default()
    };
    store.write_transaction(|c| users::create(c, &user, now)).unwrap();
    let secret = generate_secret();
    let settings = ApplicationSettings {
        allowed_scopes: vec!["openid".into(), "orders-api".into()],
        ..apps::web_app("Orders", &[REDIRECT])
    };
    store
        .write_transaction(|c| {
            applications::create(c, &ClientId::from("rp"), &settings, Some(secret.hash().as_str()), now)
        })
        .unwrap();
    let rule = StepUpRule { acr: Level::OneFactor, max_age: Some(MAX_AGE) };
    let example = Example::start(Config { step_up: vec![("/protected".into(), rule)], ..tessera.config() });
    let rp = RelyingParty { tessera: &tessera, secret: secret.expose().to_owned(), browser: browser() };

    // A fresh sign-in: the token passes, and the API sees its acr and auth_time.
    let (pages, tokens) = rp.sign_in(&[]);
    assert_eq!(pages, ["/login"]);
    let first = tokens["access_token"].as_str().unwrap().to_owned();
    let response = example.protected(&first);
    assert_eq!(response.status(), 200);
    let body: Value = response.json().unwrap();
    assert_eq!(body["acr"], "1fa", "{body}");
    let first_auth_time = body["auth_time"].as_i64().unwrap();

    // Past the route's recency: RFC 9470 §3's challenge, exactly.
    std::thread::sleep(std::time::Duration::from_secs(u64::try_from(MAX_AGE).unwrap() + 1));
    let response = example.protected(&first);
    assert_eq!(response.status(), 401);
    let challenge = challenge(&response).to_owned();
    assert_eq!(
        challenge,
        format!(
            r#"Bearer realm="resource-server", error="insufficient_user_authentication", error_description="a more recent authentication is required", acr_values="1fa", max_age={MAX_AGE}"#
        )
    );
    let body: Value = response.json().unwrap();
    assert_eq!(body["error"], "insufficient_user_authentication");

    // The relying party asks again with what the challenge names; the session is older
    // than max_age, so the user enters the password again, and the new token passes.
    let (acr_values, max_age) = (parameter(&challenge, "acr_values"), parameter(&challenge, "max_age"));
    let (pages, tokens) = rp.sign_in(&[("acr_values", &acr_values), ("max_age", &max_age)]);
    assert_eq!(pages, ["/login"], "a fresh sign-in was asked");
    let second = tokens["access_token"].as_str().unwrap();
    let response = example.protected(second);
    assert_eq!(response.status(), 200);
    let body: Value = response.json().unwrap();
    assert!(body["auth_time"].as_i64().unwrap() > first_auth_time, "{body}");
    assert_eq!(body["acr"], "1fa");
    println!("RFC 9470: 200 → {challenge} → authorize {acr_values} max_age={max_age} → /login → 200 {body}");
}
