//! Headers that hold across endpoints: CORS only where the specs expect cross-origin
//! fetches (discovery, JWKS, token, userinfo), never on authorize or the pages; HSTS
//! when the issuer is https.

use crate::common::{TestApp, TestDatabase, settings_for};

#[test]
fn cors_is_allowed_on_discovery_jwks_token_and_userinfo_only() {
    let db = TestDatabase::sqlite();
    let app = TestApp::spawn(&db);
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration/jwks",
    ] {
        assert_eq!(app.get(path).headers()["access-control-allow-origin"], "*", "{path}");
    }
    for path in ["/connect/token", "/connect/userinfo"] {
        let preflight = app
            .client
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("origin", "https://spa.example")
            .header("access-control-request-method", "POST")
            .send()
            .unwrap();
        assert_eq!(preflight.status(), 204, "{path}");
        assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
        assert!(preflight.headers().get("access-control-allow-credentials").is_none(), "never with cookies");
    }
    let token_error =
        app.client.post(app.url("/connect/token")).form(&[("grant_type", "client_credentials")]).send().unwrap();
    assert_eq!(token_error.headers()["access-control-allow-origin"], "*");
    for path in ["/connect/authorize?client_id=x", "/login?request=x", "/consent?request=x"] {
        let response = app.get(path);
        assert!(response.headers().get("access-control-allow-origin").is_none(), "no CORS on {path}");
    }
}

/// RFC 8414 §3: the authorization server metadata is OpenID discovery's document, with
/// the issuer the server identifies as (§3.3).
#[test]
fn oauth_authorization_server_metadata_is_the_discovery_document() {
    let db = TestDatabase::sqlite();
    let app = TestApp::spawn(&db);
    let oauth = app.get("/.well-known/oauth-authorization-server");
    assert_eq!(oauth.status(), 200);
    assert_eq!(oauth.headers()["content-type"], "application/json");
    let oauth: serde_json::Value = oauth.json().unwrap();
    assert_eq!(oauth, app.discovery());
    assert_eq!(oauth["issuer"], app.base.as_str());
    assert_eq!(oauth["token_endpoint"], app.url("/connect/token"));
}

#[test]
fn hsts_is_sent_only_when_the_issuer_is_https() {
    let db = TestDatabase::sqlite();
    let plain = TestApp::spawn(&db);
    assert!(plain.get("/healthz").headers().get("strict-transport-security").is_none());
    drop(plain);
    let other = TestDatabase::sqlite();
    let data_dir = std::env::temp_dir().join(format!("tessera-hsts-{}", uuid::Uuid::now_v7().simple()));
    let mut raw = settings_for(&other, &data_dir);
    raw.issuer = "https://id.example.com".into();
    let secure = TestApp::spawn_with(raw);
    let response = secure.get("/healthz");
    assert!(response.headers()["strict-transport-security"].to_str().unwrap().starts_with("max-age=31536000"));
    drop(secure);
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// CORS through a signed-in browser flow: none on authorize and the pages; discovery,
/// the JWKS and token have the CORS the specs allow.
mod cors {
    use crate::common::security::*;

    crate::both_backends! {
        fn no_cors_on_authorize_and_the_pages_and_cors_on_discovery_jwks_and_token(db: TestDatabase) {
            let w = world(&db);
            let b = Browser::new(&w.app);
            let origin = "https://evil.test";
            let with_origin = |method: reqwest::Method, path: &str| b.send(b.request(method, path).header("origin", origin));
            let to_login = with_origin(reqwest::Method::GET, &authorize_path("webapp", REDIRECT, &[])).see_other();
            let mut none = vec![
                ("authorize".to_owned(), with_origin(reqwest::Method::GET, &authorize_path("webapp", REDIRECT, &[]))),
                ("authorize error".to_owned(), with_origin(reqwest::Method::GET, &authorize_path("nobody", REDIRECT, &[]))),
                ("authorize preflight".to_owned(), with_origin(reqwest::Method::OPTIONS, "/connect/authorize")),
                ("sign-in".to_owned(), with_origin(reqwest::Method::GET, &to_login)),
                ("login preflight".to_owned(), with_origin(reqwest::Method::OPTIONS, "/login")),
                ("endsession".to_owned(), with_origin(reqwest::Method::GET, "/connect/endsession")),
            ];
            none.push(("register".to_owned(), with_origin(reqwest::Method::GET, &to_login.replacen("/login", "/register", 1))));
            for (what, reply) in &none {
                assert!(reply.header("access-control-allow-origin").is_none(), "{what}: {:?}", reply.headers);
                assert!(reply.header("access-control-allow-credentials").is_none(), "{what}");
            }
            let cors = |request: reqwest::blocking::RequestBuilder| Reply::read(request.header("origin", origin).send().unwrap());
            let allowed = vec![
                ("discovery", cors(http().get(w.app.url("/.well-known/openid-configuration")))),
                ("jwks", cors(http().get(w.app.url("/.well-known/openid-configuration/jwks")))),
                ("token error", cors(http().post(w.app.url("/connect/token")).form(&[("grant_type", "refresh_token"), ("client_id", "webapp")]))),
                ("token preflight", cors(http().request(reqwest::Method::OPTIONS, w.app.url("/connect/token"))
                    .header("access-control-request-method", "POST"))),
                ("userinfo error", cors(http().get(w.app.url("/connect/userinfo")).bearer_auth("nope"))),
            ];
            for (what, reply) in &allowed {
                assert_eq!(reply.header("access-control-allow-origin"), Some("*"), "{what}: {:?}", reply.headers);
                assert!(reply.header("access-control-allow-credentials").is_none(), "{what}: never with credentials");
            }
        }
    }
}
