//! The whole OpenID Connect flow with the `openidconnect` crate as the relying party and
//! a cookie-keeping HTTP client as the browser, submitting the real pages: discovery →
//! authorize → sign in → required claim → consent → code → tokens (ID token signature,
//! nonce and at_hash checked by the crate) → userinfo → refresh (rotation, then reuse of
//! the old token revokes the family) → end session. On both backends.

use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, Scope, TokenResponse,
};
use serde_json::{Value, json};
use tessera_domain::{ApplicationType, ClaimValueType, GrantType, TokenFormat};
use tessera_store::applications::{self, ApplicationSettings};
use tessera_store::scopes::{self, ClaimTypeInput, IdentityScopeInput};
use tessera_store::users::{self, NewUser};
use tessera_store::{PoolOptions, Store};
use tessera_tokens::{PasswordHasher, PasswordParams, generate_secret};

use crate::common::{self, TestApp};
use tessera_testkit::apps;

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const PASSWORD: &str = "correct horse battery staple";

pub struct Fixture {
    pub app: TestApp,
    pub store: Store,
    pub client_secret: String,
}

/// A user `alice` lacking the custom claim `employee_id`, which the web application
/// `webapp` requires; a custom identity scope `work` carrying it.
pub fn fixture(db: &common::TestDatabase, format: TokenFormat) -> Fixture {
    let app = TestApp::spawn(db);
    let store = Store::connect(&db.url, &PoolOptions::for_backend(db.url.backend())).unwrap();
    let now = tessera::now();
    let hasher = PasswordHasher::new(PasswordParams::TESTING).unwrap();
    store
        .write_transaction(|c| {
            users::create(
                c,
                &NewUser {
                    username: "alice".into(),
                    email: Some("alice@example.com".into()),
                    password_hash: Some(hasher.hash(PASSWORD).unwrap()),
                    ..Default::default()
                },
                now,
            )?;
            scopes::create_claim_type(
                c,
                &ClaimTypeInput {
                    name: "employee_id".into(),
                    display_name: "Employee id".into(),
                    description: "Your number at work".into(),
                    value_type: ClaimValueType::String,
                    user_editable: false,
                },
                now,
            )?;
            scopes::create_identity_scope(
                c,
                &IdentityScopeInput {
                    name: "work".into(),
                    display_name: "Work".into(),
                    description: "Your employee id".into(),
                    show_in_discovery: true,
                    claims: vec!["employee_id".into()],
                },
                now,
            )?;
            Ok(())
        })
        .unwrap();
    for api in ["orders-api", "billing-api"] {
        let new = tessera_store::connections::NewApiConnection {
            name: api.into(),
            display_name: api.into(),
            description: String::new(),
            access_token_format: None,
            resource_uri: None,
            requirement: None,
        };
        store.write_transaction(|c| tessera_store::connections::create(c, &new, "unused", now)).unwrap();
    }
    let secret = generate_secret();
    let settings = ApplicationSettings {
        access_token_format: format,
        require_consent: true,
        post_logout_redirect_uris: vec!["http://127.0.0.1:9/bye".into()],
        allowed_scopes: ["openid", "profile", "email", "work", "offline_access", "orders-api", "billing-api"]
            .map(String::from)
            .to_vec(),
        required_claims: vec!["employee_id".into()],
        ..apps::web_app("Web app", &[REDIRECT])
    };
    store
        .write_transaction(|c| applications::create(c, &"webapp".into(), &settings, Some(secret.hash().as_str()), now))
        .unwrap();
    Fixture { app, store, client_secret: secret.expose().to_owned() }
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

pub fn location(response: &reqwest::blocking::Response) -> String {
    assert_eq!(response.status(), 303, "expected a 303 redirect, got {}", response.status());
    response.headers()["location"].to_str().unwrap().to_owned()
}

fn http_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

crate::both_backends! {
    fn the_whole_flow_works_for_a_relying_party(db: TestDatabase) {
        let f = fixture(&db, TokenFormat::Jwt);
        let browser = &f.app.client;
        let http = http_client();

        // Discovery, as the relying party does it.
        let issuer = IssuerUrl::new(f.app.base.clone()).unwrap();
        let metadata = CoreProviderMetadata::discover(&issuer, &http).unwrap();
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new("webapp".into()),
            Some(ClientSecret::new(f.client_secret.clone())),
        )
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (authorize_url, csrf_state, nonce) = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("work".into()))
            .add_scope(Scope::new("offline_access".into()))
            .set_pkce_challenge(challenge)
            .url();

        // The browser follows the redirect to the sign-in page.
        let to_login = location(&browser.get(authorize_url.as_str()).send().unwrap());
        assert!(to_login.starts_with("/login?request="), "{to_login}");
        let page = browser.get(f.app.url(&to_login)).send().unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
        assert_eq!(page.headers()["cache-control"], "no-store");
        let html = page.text().unwrap();
        let (request, csrf) = (hidden(&html, "request"), hidden(&html, "csrf"));

        // A wrong password first: the same page with an error, nothing issued.
        let wrong = browser.post(f.app.url("/login"))
            .form(&[("request", request.as_str()), ("csrf", csrf.as_str()), ("login", "alice"), ("password", "nope-nope")])
            .send().unwrap();
        assert_eq!(wrong.status(), 200);
        assert!(wrong.text().unwrap().contains("The username or password is incorrect."));

        let signed_in = browser.post(f.app.url("/login"))
            .form(&[("request", request.as_str()), ("csrf", csrf.as_str()), ("login", "alice"), ("password", PASSWORD)])
            .send().unwrap();
        let set_cookie = signed_in.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"), "{set_cookie}");
        let resume = location(&signed_in);

        // The application requires employee_id, which alice lacks.
        let to_claims = location(&browser.get(f.app.url(&resume)).send().unwrap());
        assert!(to_claims.starts_with("/login/claims?request="), "{to_claims}");
        let html = browser.get(f.app.url(&to_claims)).send().unwrap().text().unwrap();
        assert!(html.contains("Employee id"));
        let csrf = hidden(&html, "csrf");
        let empty = browser.post(f.app.url("/login/claims"))
            .form(&[("request", request.as_str()), ("csrf", csrf.as_str())])
            .send().unwrap();
        assert_eq!(empty.status(), 400, "an empty required claim is refused");
        let saved = browser.post(f.app.url("/login/claims"))
            .form(&[("request", request.as_str()), ("csrf", csrf.as_str()), ("claim.employee_id", "E-42")])
            .send().unwrap();
        let resume = location(&saved);

        // Consent.
        let to_consent = location(&browser.get(f.app.url(&resume)).send().unwrap());
        assert!(to_consent.starts_with("/consent?request="), "{to_consent}");
        let html = browser.get(f.app.url(&to_consent)).send().unwrap().text().unwrap();
        assert!(html.contains("Work") && html.contains("Web app"), "{html}");
        let csrf = hidden(&html, "csrf");
        let allowed = browser.post(f.app.url("/consent"))
            .form(&[("request", request.as_str()), ("csrf", csrf.as_str()), ("decision", "allow")])
            .send().unwrap();
        let resume = location(&allowed);

        // The code comes back to the application with state and iss (RFC 9207).
        let callback = url::Url::parse(&location(&browser.get(f.app.url(&resume)).send().unwrap())).unwrap();
        assert!(callback.as_str().starts_with(REDIRECT));
        let query: std::collections::HashMap<String, String> = callback.query_pairs().into_owned().collect();
        assert_eq!(query["state"], *csrf_state.secret());
        assert_eq!(query["iss"], f.app.base);
        let code = query["code"].clone();

        // The relying party redeems it and checks the ID token.
        let verifier_again = PkceCodeVerifier::new(verifier.secret().clone());
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.clone()))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request(&http)
            .unwrap();
        let id_token = tokens.id_token().expect("an ID token");
        let id_token_verifier = client.id_token_verifier();
        let claims = id_token.claims(&id_token_verifier, &nonce).expect("a valid ID token");
        let expected_hash = AccessTokenHash::from_token(tokens.access_token(), id_token.signing_alg().unwrap(), id_token.signing_key(&id_token_verifier).unwrap()).unwrap();
        assert_eq!(claims.access_token_hash(), Some(&expected_hash));
        assert_eq!(claims.email().map(|e| e.as_str()), Some("alice@example.com"));
        assert!(claims.auth_time().is_some());
        let raw_id_token: Value = {
            let payload = id_token.to_string().split('.').nth(1).unwrap().to_owned();
            use base64::Engine;
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
        };
        assert_eq!(raw_id_token["employee_id"], "E-42");
        assert_eq!(raw_id_token["amr"], json!(["pwd"]));
        assert_eq!(raw_id_token["azp"], "webapp");
        assert!(raw_id_token["sid"].is_string());
        let refresh = tokens.refresh_token().expect("offline_access gives a refresh token").clone();

        // Userinfo through the relying party.
        let info: CoreUserInfoClaims = client.user_info(tokens.access_token().clone(), None).unwrap().request(&http).unwrap();
        assert_eq!(info.subject().as_str(), claims.subject().as_str());
        assert_eq!(info.email().map(|e| e.as_str()), Some("alice@example.com"));

        // A replay without the verifier is refused and revokes nothing (anyone could send it).
        let no_verifier = client.exchange_code(AuthorizationCode::new(code.clone())).unwrap().request(&http);
        assert!(no_verifier.is_err());
        assert_eq!(http.get(f.app.url("/connect/userinfo")).bearer_auth(tokens.access_token().secret()).send().unwrap().status(), 200);
        // A second valid redemption is invalid_grant and revokes what the first issued.
        let replay = client.exchange_code(AuthorizationCode::new(code)).unwrap().set_pkce_verifier(verifier_again).request(&http);
        assert!(replay.is_err(), "a code is single use");
        let after_replay = http.get(f.app.url("/connect/userinfo")).bearer_auth(tokens.access_token().secret()).send().unwrap();
        assert_eq!(after_replay.status(), 401, "the replayed code's tokens are revoked");
        let _ = refresh;
    }

    fn refresh_rotates_and_reuse_revokes_the_family(db: TestDatabase) {
        let f = fixture(&db, TokenFormat::Reference);
        let http = http_client();
        let (client, tokens) = sign_in_fully(&f, &http);
        let first_refresh = tokens.refresh_token().unwrap().clone();
        let rotated = client.exchange_refresh_token(&first_refresh).unwrap().request(&http).unwrap();
        let second_refresh = rotated.refresh_token().expect("rotation returns a new refresh token").clone();
        assert_ne!(second_refresh.secret(), first_refresh.secret());
        assert_eq!(http.get(f.app.url("/connect/userinfo")).bearer_auth(rotated.access_token().secret()).send().unwrap().status(), 200);
        // Narrowing is fine; widening is not.
        let narrowed = client.exchange_refresh_token(&second_refresh).unwrap().add_scope(Scope::new("openid".into())).request(&http).unwrap();
        assert_eq!(narrowed.scopes().unwrap().iter().map(|s| s.as_str()).collect::<Vec<_>>(), ["openid"]);
        let third = narrowed.refresh_token().unwrap().clone();
        // Reusing a spent token revokes the family: the newest token dies with it.
        assert!(client.exchange_refresh_token(&first_refresh).unwrap().request(&http).is_err());
        assert!(client.exchange_refresh_token(&third).unwrap().request(&http).is_err(), "the family is revoked");
        assert_eq!(http.get(f.app.url("/connect/userinfo")).bearer_auth(narrowed.access_token().secret()).send().unwrap().status(), 401);
        let _ = RefreshToken::new(String::new());
    }

    fn a_refresh_may_ask_for_one_resource_of_the_grant(db: TestDatabase) {
        let f = fixture(&db, TokenFormat::Jwt);
        let http = http_client();
        let (client, tokens) = sign_in_with(&f, &http, &["orders-api", "billing-api", "offline_access"]);
        let claims = |token: &str| -> Value {
            let payload = token.split('.').nth(1).unwrap().to_owned();
            use base64::Engine;
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
        };
        assert_eq!(claims(tokens.access_token().secret())["aud"], json!(["billing-api", "orders-api"]));
        let refresh = tokens.refresh_token().unwrap().clone();
        let narrowed = client
            .exchange_refresh_token(&refresh)
            .unwrap()
            .add_extra_param("resource", "billing-api")
            .request(&http)
            .unwrap();
        let access = claims(narrowed.access_token().secret());
        assert_eq!(access["aud"], "billing-api");
        assert_eq!(access["scope"], "billing-api offline_access openid");
        let unknown = client
            .exchange_refresh_token(narrowed.refresh_token().unwrap())
            .unwrap()
            .add_extra_param("resource", "https://elsewhere.example")
            .request(&http);
        assert!(unknown.is_err(), "invalid_target");
        // The refused request spent nothing: the same refresh token still works.
        assert!(client.exchange_refresh_token(narrowed.refresh_token().unwrap()).unwrap().request(&http).is_ok());
    }

    fn the_password_grant_works_only_where_enabled(db: TestDatabase) {
        let f = fixture(&db, TokenFormat::Jwt);
        let http = http_client();
        let ask = |client_id: &str, secret: &str, password: &str| -> (u16, Value) {
            let response = http
                .post(f.app.url("/connect/token"))
                .basic_auth(client_id, Some(secret))
                .form(&[("grant_type", "password"), ("username", "alice"), ("password", password), ("scope", "openid email")])
                .send()
                .unwrap();
            (response.status().as_u16(), response.json().unwrap())
        };
        // webapp does not enable it.
        let (status, body) = ask("webapp", &f.client_secret, PASSWORD);
        assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")));
        // A legacy application that does.
        let secret = generate_secret();
        let mut settings = f.store.read_transaction(|c| applications::find_by_client_id(c, &"webapp".into())).unwrap().unwrap().settings;
        settings.grant_types = vec![GrantType::Password, GrantType::RefreshToken];
        settings.redirect_uris = vec![];
        f.store.write_transaction(|c| applications::create(c, &"legacy".into(), &settings, Some(secret.hash().as_str()), tessera::now())).unwrap();
        let (status, body) = ask("legacy", secret.expose(), PASSWORD);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["scope"], "email openid");
        assert!(body["id_token"].is_string());
        let info: Value = http.get(f.app.url("/connect/userinfo")).bearer_auth(body["access_token"].as_str().unwrap()).send().unwrap().json().unwrap();
        assert_eq!(info["email"], "alice@example.com");
        let (status, body) = ask("legacy", secret.expose(), "wrong password");
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    }

    fn client_credentials_work_for_the_relying_party_crate(db: TestDatabase) {
        let f = fixture(&db, TokenFormat::Jwt);
        let http = http_client();
        let secret = generate_secret();
        let mut settings = f.store.read_transaction(|c| applications::find_by_client_id(c, &"webapp".into())).unwrap().unwrap().settings;
        settings.app_type = ApplicationType::Machine;
        settings.grant_types = vec![GrantType::ClientCredentials];
        settings.redirect_uris = vec![];
        settings.post_logout_redirect_uris = vec![];
        settings.required_claims = vec![];
        settings.allowed_scopes = vec!["orders-api".into()];
        f.store.write_transaction(|c| applications::create(c, &"machine".into(), &settings, Some(secret.hash().as_str()), tessera::now())).unwrap();
        let metadata = CoreProviderMetadata::discover(&IssuerUrl::new(f.app.base.clone()).unwrap(), &http).unwrap();
        let client = CoreClient::from_provider_metadata(metadata, ClientId::new("machine".into()), Some(ClientSecret::new(secret.expose().to_owned())));
        let tokens = client.exchange_client_credentials().unwrap().add_scope(Scope::new("orders-api".into())).request(&http).unwrap();
        assert_eq!(tokens.scopes().unwrap().iter().map(|s| s.as_str()).collect::<Vec<_>>(), ["orders-api"]);
        assert!(tokens.refresh_token().is_none());
        let payload = tokens.access_token().secret().split('.').nth(1).unwrap().to_owned();
        use base64::Engine;
        let claims: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(claims["sub"], "machine");
        assert_eq!(claims["aud"], "orders-api");
    }

    fn end_session_redirects_only_to_a_registered_uri_and_ends_the_session(db: TestDatabase) {
        let f = fixture(&db, TokenFormat::Jwt);
        logout_test(&f);
    }
}

type Tokens = openidconnect::core::CoreTokenResponse;

fn logout_test(f: &Fixture) {
    let http = http_client();
    let (client, tokens) = sign_in_fully(f, &http);
    let id_token = tokens.id_token().unwrap().to_string();
    let access = tokens.access_token().secret().clone();
    // An unregistered target: the session ends but nothing redirects.
    let elsewhere = f
        .app
        .client
        .get(f.app.url("/connect/endsession"))
        .query(&[("id_token_hint", id_token.as_str()), ("post_logout_redirect_uri", "https://evil.example/")])
        .send()
        .unwrap();
    assert_eq!(elsewhere.status(), 200);
    assert!(elsewhere.headers().get("location").is_none());

    let (client2, tokens2) = sign_in_fully(f, &http);
    let id_token2 = tokens2.id_token().unwrap().to_string();
    let bye = f
        .app
        .client
        .get(f.app.url("/connect/endsession"))
        .query(&[
            ("id_token_hint", id_token2.as_str()),
            ("post_logout_redirect_uri", "http://127.0.0.1:9/bye"),
            ("state", "s1"),
        ])
        .send()
        .unwrap();
    assert_eq!(location(&bye), "http://127.0.0.1:9/bye?state=s1");
    // The browser must sign in again.
    let metadata = CoreProviderMetadata::discover(&IssuerUrl::new(f.app.base.clone()).unwrap(), &http).unwrap();
    let again = CoreClient::from_provider_metadata(metadata, ClientId::new("webapp".into()), None)
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (url, _, _) = again
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .url();
    assert!(location(&f.app.client.get(url.as_str()).send().unwrap()).starts_with("/login?"));
    // These grants asked for offline_access: their tokens outlive the session.
    assert!(client2.exchange_refresh_token(tokens2.refresh_token().unwrap()).unwrap().request(&http).is_ok());
    let _ = (client, access);
}

/// Signs alice in through every page and redeems the code.
fn sign_in_fully(
    f: &Fixture,
    http: &reqwest::blocking::Client,
) -> (
    openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
    Tokens,
) {
    sign_in_with(f, http, &["work", "offline_access"])
}

/// Signs alice in asking for `scopes` (besides `openid`) and redeems the code.
fn sign_in_with(
    f: &Fixture,
    http: &reqwest::blocking::Client,
    scopes: &[&str],
) -> (
    openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
    Tokens,
) {
    let browser = &f.app.client;
    let metadata = CoreProviderMetadata::discover(&IssuerUrl::new(f.app.base.clone()).unwrap(), http).unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new("webapp".into()),
        Some(ClientSecret::new(f.client_secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _, _) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scopes(scopes.iter().map(|s| Scope::new((*s).to_owned())))
        .set_pkce_challenge(challenge)
        .url();
    let mut next = location(&browser.get(url.as_str()).send().unwrap());
    let mut request = String::new();
    loop {
        if next.starts_with(REDIRECT) {
            break;
        }
        let target = f.app.url(&next);
        if next.starts_with("/connect/authorize/resume") {
            next = location(&browser.get(&target).send().unwrap());
            continue;
        }
        let html = browser.get(&target).send().unwrap().text().unwrap();
        if request.is_empty() {
            request = hidden(&html, "request");
        }
        let csrf = hidden(&html, "csrf");
        let form: Vec<(&str, &str)> = if next.starts_with("/login/claims") {
            vec![("request", &request), ("csrf", &csrf), ("claim.employee_id", "E-7")]
        } else if next.starts_with("/login") {
            vec![("request", &request), ("csrf", &csrf), ("login", "alice"), ("password", PASSWORD)]
        } else {
            vec![("request", &request), ("csrf", &csrf), ("decision", "allow")]
        };
        let path = next.split('?').next().unwrap().to_owned();
        next = location(&browser.post(f.app.url(&path)).form(&form).send().unwrap());
    }
    let code = url::Url::parse(&next).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let tokens =
        client.exchange_code(AuthorizationCode::new(code)).unwrap().set_pkce_verifier(verifier).request(http).unwrap();
    (client, tokens)
}
