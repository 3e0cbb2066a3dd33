//! RFC 9470 end to end, on both backends.
//!
//! Recency: the example requires a recent sign-in on `/protected`
//! (`STEP_UP=/protected=1fa:2`); a user's token older than that is answered `401` with
//! the `insufficient_user_authentication` challenge; the relying party follows it back
//! through authorize with the challenge's `acr_values` and `max_age`; Tessera asks the
//! user for the password again (the session is older than `max_age`), and the new token
//! passes.
//!
//! A level, and an API scope's requirement: the user has an authenticator app and
//! recovery codes (set up on the account page, codes computed here). The example asks
//! `2fa` of a password session's token; the relying party follows the challenge and
//! Tessera asks only for a code. Then the API scope `orders.transfer` requires `2fa`
//! within 2 seconds at Tessera (issue 18 §6) and the example requires the scope and
//! the same rule: asking for the scope steps the user up at authorize, a refresh past
//! the recency leaves the scope out (the example answers `403`), the old token gets the
//! challenge, and following it asks for a fresh sign-in with both factors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;

use reqwest::blocking::Client;
use resource_server::{Config, Level, StepUpRule};
use serde_json::Value;
use support::{Example, Tessera, browser, challenge, hidden, location};
use tessera_domain::ClientId;
use tessera_domain::{Acr, Requirement};
use tessera_factors::TotpSecret;
use tessera_factors::totp::STEP_SECONDS;
use tessera_store::applications::{self, ApplicationSettings};
use tessera_store::connections;
use tessera_store::scopes::{self, NewApiScope};
use tessera_store::users::{self, NewUser};
use tessera_testkit::{TestDatabase, apps};
use tessera_tokens::{PasswordHasher, PasswordParams, generate_secret};

const PASSWORD: &str = "correct horse battery staple 42";
const REDIRECT: &str = "http://127.0.0.1/callback";
/// The route's recency, in seconds.
const MAX_AGE: i64 = 2;
/// The API scope that requires `2fa` within [`MAX_AGE`] at Tessera.
const TRANSFER: &str = "orders.transfer";

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
    /// Authorize for `scope` with `extra` parameters, the user typing the password on
    /// `/login` and the next of `codes` on `/login/factor` whenever asked; the pages the
    /// browser was shown, and the tokens of the code.
    fn sign_in(&self, scope: &str, extra: &[(&str, &str)], codes: &mut Vec<String>) -> (Vec<String>, Value) {
        let issuer = &self.tessera.base;
        let mut url = url::Url::parse(&format!("{issuer}/connect/authorize")).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", "rp")
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("scope", scope)
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
            let html = page.text().unwrap();
            let (request, csrf) = (hidden(&html, "request"), hidden(&html, "csrf"));
            let mut form = vec![("request", request), ("csrf", csrf)];
            match path.as_str() {
                "/login" => form.extend([("login", "ada".to_owned()), ("password", PASSWORD.to_owned())]),
                "/login/factor" => {
                    assert!(!html.contains("name=\"password\""), "the factor page asks no password");
                    form.push(("code", codes.remove(0)));
                }
                other => panic!("only the sign-in and factor pages are expected, not {other}: {html}"),
            }
            answer = self.browser.post(format!("{issuer}{path}")).form(&form).send().unwrap();
            pages.push(path);
        };
        let query: HashMap<String, String> = callback.query_pairs().into_owned().collect();
        let code = query.get("code").unwrap_or_else(|| panic!("no code: {query:?}"));
        let tokens = self.token(&[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT)]);
        assert!(tokens["access_token"].is_string(), "{tokens}");
        (pages, tokens)
    }

    /// A token request of the relying party: the answer.
    fn token(&self, form: &[(&str, &str)]) -> Value {
        let issuer = &self.tessera.base;
        let answer = self.tessera.http.post(format!("{issuer}/connect/token")).basic_auth("rp", Some(&self.secret));
        answer.form(form).send().unwrap().json().unwrap()
    }

    /// Signs the browser in on the account page with the password (a `1fa` session),
    /// sets up an authenticator app and makes recovery codes: the app's secret and the
    /// codes.
    fn set_up_factors(&self) -> (TotpSecret, Vec<String>) {
        let issuer = &self.tessera.base;
        let get = |path: &str| self.browser.get(format!("{issuer}{path}")).send().unwrap();
        let post =
            |path: &str, form: &[(&str, &str)]| self.browser.post(format!("{issuer}{path}")).form(form).send().unwrap();
        let csrf = hidden(&get("/account/sign-in").text().unwrap(), "csrf");
        let signed_in = post("/account/sign-in", &[("csrf", &csrf), ("login", "ada"), ("password", PASSWORD)]);
        assert_eq!(location(&signed_in), "/account?notice=signed-in");
        let csrf = hidden(&get("/account").text().unwrap(), "csrf");
        assert_eq!(location(&post("/account/security/totp", &[("csrf", &csrf)])), "/account/security/totp");
        let page = get("/account/security/totp").text().unwrap();
        let shown = &page[page.find("id=\"totp-secret\"").unwrap()..];
        let secret = TotpSecret::from_base32(&shown[shown.find('>').unwrap() + 1..shown.find('<').unwrap()]).unwrap();
        let code = secret.code_at(tessera::now());
        let confirmed = post("/account/security/totp/confirm", &[("csrf", &hidden(&page, "csrf")), ("code", &code)]);
        assert_eq!(location(&confirmed), "/account?notice=totp-enabled");
        let made = post("/account/security/recovery-codes", &[("csrf", &csrf)]).text().unwrap();
        let codes: Vec<String> =
            made.split("<code>").skip(1).map(|part| part[..part.find("</code>").unwrap()].to_owned()).collect();
        assert_eq!(codes.len(), 10, "{made}");
        (secret, codes)
    }
}

/// The claims of a JWT (its signature is Tessera's business, checked elsewhere).
fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap())
        .unwrap()
}

tessera_testkit::both_backends! {
    fn a_token_older_than_the_route_allows_is_challenged_and_the_relying_party_steps_up(db: TestDatabase) {
        step_up_round_trip(db);
    }

    fn a_level_and_an_api_scope_requirement_are_met_by_stepping_up_with_a_second_factor(db: TestDatabase) {
        level_round_trip(db);
    }
}

/// Tessera with the user `ada` (a password), the API scope `orders.transfer` (which
/// requires `2fa` within [`MAX_AGE`]) and the relying party `rp`, which may ask for
/// `orders-api`, `orders.transfer` and refresh tokens: Tessera and rp's secret.
fn set_up(db: TestDatabase) -> (Tessera, String) {
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
    // The API scope that requires 2fa within MAX_AGE (issue 18 §6).
    let orders = store.read_transaction(|c| connections::find_by_name(c, "orders-api")).unwrap().unwrap();
    let requirement = Some(Requirement { acr: Acr::TwoFactor, max_age: Some(MAX_AGE) });
    let scope =
        NewApiScope { name: TRANSFER.into(), display_name: "Transfer".into(), description: String::new(), requirement };
    store.write_transaction(|c| scopes::create_api_scope(c, &orders.id, &scope, now)).unwrap();
    let secret = generate_secret();
    let settings = ApplicationSettings {
        allowed_scopes: ["openid", "offline_access", "orders-api", TRANSFER].map(String::from).to_vec(),
        ..apps::web_app("Orders", &[REDIRECT])
    };
    store
        .write_transaction(|c| {
            applications::create(c, &ClientId::from("rp"), &settings, Some(secret.hash().as_str()), now)
        })
        .unwrap();
    (tessera, secret.expose().to_owned())
}

fn step_up_round_trip(db: TestDatabase) {
    let (tessera, secret) = set_up(db);
    let rule = StepUpRule { acr: Level::OneFactor, max_age: Some(MAX_AGE) };
    let example = Example::start(Config { step_up: vec![("/protected".into(), rule)], ..tessera.config() });
    let rp = RelyingParty { tessera: &tessera, secret, browser: browser() };

    // A fresh sign-in: the token passes, and the API sees its acr and auth_time.
    let (pages, tokens) = rp.sign_in("openid orders-api", &[], &mut vec![]);
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
    let extra = [("acr_values", acr_values.as_str()), ("max_age", max_age.as_str())];
    let (pages, tokens) = rp.sign_in("openid orders-api", &extra, &mut vec![]);
    assert_eq!(pages, ["/login"], "a fresh sign-in was asked");
    let second = tokens["access_token"].as_str().unwrap();
    let response = example.protected(second);
    assert_eq!(response.status(), 200);
    let body: Value = response.json().unwrap();
    assert!(body["auth_time"].as_i64().unwrap() > first_auth_time, "{body}");
    assert_eq!(body["acr"], "1fa");
    println!("RFC 9470: 200 → {challenge} → authorize {acr_values} max_age={max_age} → /login → 200 {body}");
}

fn level_round_trip(db: TestDatabase) {
    let (tessera, secret) = set_up(db);
    let rp = RelyingParty { tessera: &tessera, secret, browser: browser() };
    let (totp, mut recovery_codes) = rp.set_up_factors();
    // Each code once: the enrolment spent the current step's.
    let mut next_code = vec![totp.code_at(tessera::now() + STEP_SECONDS)];

    // A level: the example asks 2fa of every token on /protected.
    let rule = StepUpRule { acr: Level::TwoFactor, max_age: None };
    let example = Example::start(Config { step_up: vec![("/protected".into(), rule)], ..tessera.config() });
    let (pages, tokens) = rp.sign_in("openid orders-api", &[], &mut vec![]);
    assert!(pages.is_empty(), "the account page's session signs in: {pages:?}");
    let password_only = tokens["access_token"].as_str().unwrap();
    let response = example.protected(password_only);
    assert_eq!(response.status(), 401);
    let asked = challenge(&response).to_owned();
    assert_eq!(
        asked,
        r#"Bearer realm="resource-server", error="insufficient_user_authentication", error_description="a stronger authentication is required", acr_values="2fa""#
    );
    let acr_values = parameter(&asked, "acr_values");
    let (pages, tokens) = rp.sign_in("openid orders-api", &[("acr_values", &acr_values)], &mut next_code);
    assert_eq!(pages, ["/login/factor"], "only the missing factor is asked");
    let access_token = tokens["access_token"].as_str().unwrap();
    let response = example.protected(access_token);
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().unwrap()["acr"], "2fa");
    // What the example read agrees with the ID token and the JWT access token.
    let introspected: Value = tessera
        .http
        .post(format!("{}/connect/introspect", tessera.base))
        .basic_auth(&tessera.orders.0, Some(&tessera.orders.1))
        .form(&[("token", access_token)])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let (id_token, access) = (claims_of(tokens["id_token"].as_str().unwrap()), claims_of(access_token));
    for claim in ["acr", "amr", "auth_time"] {
        assert_eq!(introspected[claim], id_token[claim], "{claim}: {introspected} {id_token}");
        assert_eq!(access[claim], id_token[claim], "{claim}: {access} {id_token}");
    }
    assert_eq!(id_token["amr"], serde_json::json!(["mfa", "otp", "pwd"]));
    drop(example);

    // An API scope's requirement: orders.transfer needs 2fa within MAX_AGE at Tessera
    // (`set_up`), and the example requires the scope and the same rule.
    let rule = StepUpRule { acr: Level::TwoFactor, max_age: Some(MAX_AGE) };
    let config =
        Config { step_up: vec![("/protected".into(), rule)], required_scope: TRANSFER.into(), ..tessera.config() };
    let example = Example::start(config);
    // Wait out the step-up above: asking for the scope alone sends the user back to sign in.
    std::thread::sleep(std::time::Duration::from_secs(u64::try_from(MAX_AGE).unwrap() + 1));
    let scope = format!("openid offline_access orders-api {TRANSFER}");
    let (pages, tokens) = rp.sign_in(&scope, &[], &mut vec![recovery_codes.remove(0)]);
    assert_eq!(pages, ["/login", "/login/factor"], "the scope's requirement asked a fresh sign-in with both factors");
    assert!(tokens["scope"].as_str().unwrap().split(' ').any(|s| s == TRANSFER), "{tokens}");
    let transfer_token = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(example.protected(&transfer_token).status(), 200);

    // Past the recency: a refresh leaves the scope out (the grant keeps it), so the
    // example refuses that token for its scope; the old token gets the challenge.
    std::thread::sleep(std::time::Duration::from_secs(u64::try_from(MAX_AGE).unwrap() + 1));
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let refreshed = rp.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]);
    let narrowed = refreshed["scope"].as_str().unwrap_or_else(|| panic!("{refreshed}"));
    assert!(!narrowed.split(' ').any(|s| s == TRANSFER), "{refreshed}");
    let response = example.protected(refreshed["access_token"].as_str().unwrap());
    assert_eq!(response.status(), 403);
    let response = example.protected(&transfer_token);
    assert_eq!(response.status(), 401);
    let asked = challenge(&response).to_owned();
    assert!(asked.contains(&format!(r#"acr_values="2fa", max_age={MAX_AGE}"#)), "{asked}");
    let (acr_values, max_age) = (parameter(&asked, "acr_values"), parameter(&asked, "max_age"));
    let extra = [("acr_values", acr_values.as_str()), ("max_age", max_age.as_str())];
    let (pages, tokens) = rp.sign_in(&scope, &extra, &mut vec![recovery_codes.remove(0)]);
    assert_eq!(pages, ["/login", "/login/factor"]);
    let response = example.protected(tokens["access_token"].as_str().unwrap());
    assert_eq!(response.status(), 200);
    let body: Value = response.json().unwrap();
    assert_eq!(body["acr"], "2fa");
    println!("RFC 9470 at a level: 401 {asked} → authorize {acr_values} max_age={max_age} → {pages:?} → 200 {body}");
}
