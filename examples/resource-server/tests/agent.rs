//! The agent's path (issue 19): a client that knows only the API's URL and has no
//! registration meets the example's `401`, follows its RFC 9728 `resource_metadata` to the
//! protected-resource metadata, finds Tessera through `authorization_servers` and its RFC
//! 8414 metadata, registers itself (RFC 7591), gets a DPoP-bound token (RFC 9449) for that
//! resource (RFC 8707) through authorize with PKCE and a sign-in in a browser-like cookie
//! client, and calls the API successfully. Every URL it uses after the first comes from a
//! document it was given, none from the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::blocking::Client;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::{DpopKey, Tessera, browser, challenge, example_with_metadata, hidden, location};
use tessera::settings::RawSettings;
use tessera_store::users::{self, NewUser};
use tessera_testkit::TestDatabase;
use tessera_tokens::{PasswordHasher, PasswordParams};

const PASSWORD: &str = "correct horse battery staple 42";
/// A native client's loopback redirect URI (RFC 8252 §7.3); nothing listens there: the
/// agent reads the code from the redirect.
const REDIRECT: &str = "http://127.0.0.1/callback";

/// `resource_metadata="…"` of a `WWW-Authenticate` challenge (RFC 9728 §5.1).
fn resource_metadata(challenge: &str) -> String {
    let at = challenge.find("resource_metadata=\"").unwrap_or_else(|| panic!("no resource_metadata in {challenge}"));
    let rest = &challenge[at + "resource_metadata=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

tessera_testkit::both_backends! {
    fn an_agent_finds_tessera_from_a_401_registers_itself_and_calls_the_api_with_a_dpop_bound_token(db: TestDatabase) {
        agent_path(db);
    }
}

fn agent_path(db: TestDatabase) {
    // The operator's side: open registration, with the orders API open to registered
    // clients; the API's connection knows its URL, and the example serves the RFC 9728
    // document Tessera generated for it; a user who will sign in.
    let tessera = Tessera::start_on(db, |raw| RawSettings {
        client_registration: "open".into(),
        client_registration_scopes: vec!["openid".into(), "orders-api".into()],
        ..raw
    });
    let (example, _) = example_with_metadata(&tessera);
    let api = example.base.clone();
    let store = &tessera.store;
    let hasher = PasswordHasher::new(PasswordParams::TESTING).unwrap();
    let user = NewUser {
        username: "ada".into(),
        email: Some("ada@example.com".into()),
        password_hash: Some(hasher.hash(PASSWORD).unwrap()),
        ..Default::default()
    };
    let ada = store.write_transaction(|c| users::create(c, &user, tessera::now())).unwrap();

    // 1. The agent calls the API with nothing and is told where to read about it.
    let agent = Client::new();
    let refused = agent.get(format!("{api}/protected")).send().unwrap();
    assert_eq!(refused.status(), 401);
    let metadata_url = resource_metadata(challenge(&refused));

    // 2. RFC 9728: the protected resource's metadata names the resource, its
    //    authorization server and its scopes.
    let resource_doc: Value = agent.get(&metadata_url).send().unwrap().json().unwrap();
    let resource = resource_doc["resource"].as_str().unwrap().to_owned();
    assert_eq!(resource, api);
    let issuer = resource_doc["authorization_servers"][0].as_str().unwrap().to_owned();
    let scopes: Vec<&str> =
        resource_doc["scopes_supported"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(scopes.contains(&"orders-api"), "{resource_doc}");
    assert!(resource_doc["dpop_signing_alg_values_supported"].as_array().unwrap().contains(&json!("ES256")));

    // 3. RFC 8414 §3: the authorization server's metadata, at the issuer's well-known URL.
    let server: Value =
        agent.get(format!("{issuer}/.well-known/oauth-authorization-server")).send().unwrap().json().unwrap();
    assert_eq!(server["issuer"], issuer.as_str());
    assert!(server["code_challenge_methods_supported"].as_array().unwrap().contains(&json!("S256")));
    assert!(server["dpop_signing_alg_values_supported"].as_array().unwrap().contains(&json!("ES256")));
    let endpoint = |name: &str| server[name].as_str().unwrap_or_else(|| panic!("no {name} in {server}")).to_owned();
    let (register, authorize, token) =
        (endpoint("registration_endpoint"), endpoint("authorization_endpoint"), endpoint("token_endpoint"));

    // 4. RFC 7591: it registers itself as a native public client asking for the API.
    let scope = "openid orders-api";
    let registered = agent
        .post(&register)
        .json(&json!({
            "client_name": "Orders agent",
            "application_type": "native",
            "token_endpoint_auth_method": "none",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code"],
            "scope": scope,
            "dpop_bound_access_tokens": true,
        }))
        .send()
        .unwrap();
    assert_eq!(registered.status(), 201);
    let registered: Value = registered.json().unwrap();
    let client_id = registered["client_id"].as_str().unwrap().to_owned();
    assert!(registered.get("client_secret").is_none(), "a public client: {registered}");

    // 5. Authorize with PKCE for the resource, the user signing in and consenting in a
    //    browser (the agent hands the URL over and reads the code from the redirect).
    let verifier = URL_SAFE_NO_PAD.encode(Sha256::digest(b"the agent's own secret for this one request"));
    let challenge_s256 = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut url = url::Url::parse(&authorize).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", scope)
        .append_pair("state", "agent-state")
        .append_pair("code_challenge", &challenge_s256)
        .append_pair("code_challenge_method", "S256")
        .append_pair("resource", &resource);
    let browser = browser();
    let absolute = |target: String| if target.starts_with('/') { format!("{issuer}{target}") } else { target };
    let mut answer = browser.get(url.as_str()).send().unwrap();
    let mut pages = Vec::new();
    let callback = loop {
        let next = absolute(location(&answer));
        assert!(!next.is_empty(), "the flow stopped at {}: {}", answer.status(), answer.text().unwrap());
        if next.starts_with(REDIRECT) {
            break url::Url::parse(&next).unwrap();
        }
        assert!(pages.len() < 10, "the flow did not end: {pages:?}");
        let page = browser.get(&next).send().unwrap();
        if page.status().is_redirection() {
            // Tessera's own steps between the pages (resuming the request).
            answer = page;
            continue;
        }
        assert_eq!(page.status(), 200, "{next}");
        let html = page.text().unwrap();
        let path = url::Url::parse(&next).unwrap().path().to_owned();
        let (request, csrf) = (hidden(&html, "request"), hidden(&html, "csrf"));
        answer = match path.as_str() {
            "/login" => browser
                .post(format!("{issuer}/login"))
                .form(&[("request", request.as_str()), ("csrf", &csrf), ("login", "ada"), ("password", PASSWORD)])
                .send()
                .unwrap(),
            "/consent" => {
                assert!(html.contains("Orders agent"), "the consent page names the client");
                browser
                    .post(format!("{issuer}/consent"))
                    .form(&[("request", request.as_str()), ("csrf", &csrf), ("decision", "allow")])
                    .send()
                    .unwrap()
            }
            other => panic!("an unexpected page {other}: {html}"),
        };
        pages.push(path);
    };
    assert_eq!(pages, ["/login", "/consent"]);
    let query: std::collections::HashMap<String, String> = callback.query_pairs().into_owned().collect();
    assert_eq!(query.get("state").map(String::as_str), Some("agent-state"));
    assert_eq!(query.get("iss").map(String::as_str), Some(issuer.as_str()), "RFC 9207");
    let code = query.get("code").unwrap_or_else(|| panic!("no code: {query:?}"));

    // 6. RFC 9449: the code is exchanged with a proof of the agent's key, for the resource.
    let key = DpopKey::new();
    let tokens: Value = agent
        .post(&token)
        .header("DPoP", key.proof("POST", &token, None))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", &client_id),
            ("code_verifier", &verifier),
            ("resource", &resource),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(tokens["token_type"], "DPoP", "{tokens}");
    let access_token = tokens["access_token"].as_str().unwrap();

    // 7. The API accepts it with a proof of the same key, and only so.
    let protected = format!("{api}/protected");
    let called = agent
        .get(&protected)
        .header("Authorization", format!("DPoP {access_token}"))
        .header("DPoP", key.proof("GET", &protected, Some(access_token)))
        .send()
        .unwrap();
    assert_eq!(called.status(), 200);
    let body: Value = called.json().unwrap();
    assert_eq!(body["sub"], ada.id.as_str());
    assert_eq!(body["client_id"], client_id.as_str());
    assert!(body["scope"].as_str().unwrap().split(' ').any(|s| s == "orders-api"), "{body}");
    let stolen = agent
        .get(&protected)
        .header("Authorization", format!("DPoP {access_token}"))
        .header("DPoP", DpopKey::new().proof("GET", &protected, Some(access_token)))
        .send()
        .unwrap();
    assert_eq!(stolen.status(), 401, "a proof of another key is refused");
    assert!(example.calls() >= 1, "the API asked Tessera about the token");
    println!("agent: 401 → {metadata_url} → {issuer} → registered {client_id} → {pages:?} → DPoP token → 200 {body}");
}
