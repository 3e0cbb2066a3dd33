//! Request objects by reference (RFC 9101 §5.2, OIDC Core §6.2): a `request_uri` the
//! application registered in its `request_uris` is fetched through the outbound guard
//! from a loopback server the test starts (listed in `outbound_private_hosts`), and the
//! object verified with the keys at the application's `jwks_uri`; an unregistered URI, a
//! private address the operator did not list, an answer that is too large, too slow or
//! not 200 are each `invalid_request_uri` on our error page, and start nothing.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tessera::settings::RawSettings;
use tessera_domain::SigningAlgorithm;
use tessera_store::applications::ApplicationSettings;
use tessera_testkit::http::{Document, HttpReceiver};
use tessera_tokens::{Signer, signing};

use crate::common::security::*;
use crate::common::{TestApp, TestDatabase, settings_for};

const JWKS_PATH: &str = "/jwks.json";
const OBJECT_PATH: &str = "/requests/1";
const JAR: &str = "application/oauth-authz-req+jwt";

struct ByReference {
    w: World,
    receiver: HttpReceiver,
    signer: Signer,
    _data: tempfile::TempDir,
}

/// A world whose server may reach 127.0.0.1 (or not: `listed`) and answers outbound
/// requests within 1 s, with `byref`: a web application whose keys are at the
/// receiver's [`JWKS_PATH`] and whose only registered request URI is [`OBJECT_PATH`].
fn by_reference(db: &TestDatabase, listed: bool) -> ByReference {
    let data = tempfile::tempdir().unwrap();
    let private_hosts = if listed { vec!["127.0.0.1".to_owned()] } else { Vec::new() };
    let app = TestApp::spawn_with(RawSettings {
        outbound_private_hosts: private_hosts,
        outbound_timeout_ms: 1000,
        ..settings_for(db, data.path())
    });
    let w = world_on(db, app);
    let receiver = HttpReceiver::start();
    let key = signing::generate(SigningAlgorithm::ES256).unwrap();
    let jwks = json!({ "keys": [key.public_jwk] }).to_string();
    receiver.serve(JWKS_PATH, Document::ok("application/json", jwks));
    let settings = ApplicationSettings {
        jwks_uri: Some(receiver.url(JWKS_PATH)),
        request_uris: vec![receiver.url(OBJECT_PATH)],
        ..web_app(&[REDIRECT], &[])
    };
    add_app(&w, "byref", &settings);
    let signer = Signer::from_pkcs8(key.kid.clone(), SigningAlgorithm::ES256, &key.pkcs8).unwrap();
    ByReference { w, receiver, signer, _data: data }
}

/// `byref`'s request object for [`REDIRECT`], signed with `signer`.
fn object(r: &ByReference, signer: &Signer) -> String {
    let now = tessera::now();
    let claims = json!({
        "iss": "byref", "aud": r.w.app.base, "iat": now, "exp": now + 300, "client_id": "byref",
        "response_type": "code", "redirect_uri": REDIRECT, "scope": "openid profile", "state": "by-ref",
        "nonce": "n-ref", "code_challenge": CHALLENGE, "code_challenge_method": "S256",
    });
    tessera_tokens::jwt::sign(signer, "oauth-authz-req+jwt", &claims).unwrap()
}

fn with_request_uri(uri: &str) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("client_id", "byref").append_pair("request_uri", uri);
    format!("/connect/authorize?{}", query.finish())
}

/// The error page of a refused request_uri naming `code` and `description`; no session
/// was started for it.
fn assert_refused(r: &ByReference, uri: &str, code: &str, description: &str) {
    let b = Browser::new(&r.w.app);
    let reply = b.get(&with_request_uri(uri));
    reply.assert_error_page(uri);
    assert!(reply.body.contains(code), "{uri}: {}", reply.body);
    assert!(reply.body.contains(description), "{uri}: expected {description:?} in {}", reply.body);
    assert!(b.session().is_none(), "{uri}: nothing kept");
}

crate::both_backends! {
    fn a_registered_request_uri_is_fetched_and_its_object_drives_the_code_flow(db: TestDatabase) {
        let r = by_reference(&db, true);
        r.receiver.serve(OBJECT_PATH, Document::ok(JAR, object(&r, &r.signer)));
        let b = Browser::new(&r.w.app);
        let callback = code_for(&b, &with_request_uri(&r.receiver.url(OBJECT_PATH)));
        assert_eq!(callback["state"], "by-ref");
        let reply = redeem(&r.w, "byref", &callback["code"], REDIRECT, Some(VERIFIER));
        assert_eq!(reply.status, 200, "{}", reply.body);
        let tokens = reply.json();
        assert_eq!(tokens["scope"], "openid profile");
        assert_eq!(verified(&r.w, tokens["id_token"].as_str().unwrap())["nonce"], "n-ref");
        assert_eq!(r.receiver.count(OBJECT_PATH), 1);
        assert_eq!(r.receiver.count(JWKS_PATH), 1, "the object was verified with the keys at the jwks_uri");
        let fetch = r.receiver.received().into_iter().find(|q| q.target == OBJECT_PATH).unwrap();
        assert_eq!(fetch.method, "GET");
        assert!(fetch.header("accept").is_some_and(|a| a.starts_with(JAR)), "{:?}", fetch.headers);
    }

    fn a_request_uri_that_is_not_registered_is_refused_without_being_fetched(db: TestDatabase) {
        let r = by_reference(&db, true);
        let other = r.receiver.url("/requests/2");
        r.receiver.serve("/requests/2", Document::ok(JAR, object(&r, &r.signer)));
        assert_refused(&r, &other, "invalid_request_uri", "not one of the application");
        // Exact match: another query or a trailing slash is another URI.
        assert_refused(&r, &format!("{}/", r.receiver.url(OBJECT_PATH)), "invalid_request_uri", "not one of the application");
        assert_eq!(r.receiver.count("/requests/2"), 0);
        assert_eq!(r.receiver.received().len(), 0, "nothing fetched at all");
    }

    fn a_request_uri_on_an_address_the_operator_did_not_list_is_never_contacted(db: TestDatabase) {
        // Registered directly in the store: the management API would refuse it (below).
        let r = by_reference(&db, false);
        r.receiver.serve(OBJECT_PATH, Document::ok(JAR, object(&r, &r.signer)));
        assert_refused(&r, &r.receiver.url(OBJECT_PATH), "invalid_request_uri", "may not be fetched");
        assert_eq!(r.receiver.received().len(), 0);
        let management = tessera_testkit::management_key(&r.w.store, "cli", None);
        let body = json!({ "name": "Private", "app_type": "web", "redirect_uris": [REDIRECT],
            "request_uris": ["https://rp.example.com/r", r.receiver.url(OBJECT_PATH)] });
        let response = r.w.app.api(Method::POST, "/api/v1/applications", &management, &body);
        assert_eq!(response.status(), 400);
        let error: Value = response.json().unwrap();
        assert_eq!(error["field"], "request_uris[1]", "{error}");
    }

    fn a_request_uri_answer_that_is_too_large_too_slow_or_not_found_is_invalid_request_uri(db: TestDatabase) {
        let r = by_reference(&db, true);
        let uri = r.receiver.url(OBJECT_PATH);
        for (document, description) in [
            (Document::ok(JAR, vec![b'a'; 70 * 1024]), "more than 65536 bytes"),
            (Document::ok(JAR, object(&r, &r.signer)).after(Duration::from_millis(2500)), "did not answer within 1000 ms"),
            (Document { status: 404, ..Document::default() }, "answered HTTP 404"),
        ] {
            r.receiver.serve(OBJECT_PATH, document);
            assert_refused(&r, &uri, "invalid_request_uri", description);
        }
    }

    fn a_fetched_object_signed_with_another_key_is_invalid_request_object(db: TestDatabase) {
        let r = by_reference(&db, true);
        let other = signing::generate(SigningAlgorithm::ES256).unwrap();
        let foreign = Signer::from_pkcs8(other.kid.clone(), SigningAlgorithm::ES256, &other.pkcs8).unwrap();
        r.receiver.serve(OBJECT_PATH, Document::ok(JAR, object(&r, &foreign)));
        assert_refused(&r, &r.receiver.url(OBJECT_PATH), "invalid_request_object", "not signed with a key registered");
        // Unsigned text is no object either.
        r.receiver.serve(OBJECT_PATH, Document::ok("text/plain", "response_type=code"));
        assert_refused(&r, &r.receiver.url(OBJECT_PATH), "invalid_request_object", "not a signed JWT");
    }
}
