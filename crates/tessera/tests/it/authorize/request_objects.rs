//! Signed request objects (RFC 9101, OIDC Core §6.1): `request` at authorize and in a
//! pushed request, verified with the keys the client registered (generated here); the
//! parameters come from the object only; every refusal (unsigned, a foreign key, wrong
//! `aud`/`iss`, expired, too long-lived, `client_id` mismatch, another `typ`, nested
//! references, oversized) is our error page at authorize and `invalid_request_object` as
//! JSON at PAR, and starts nothing; an application may require request objects.

use serde_json::{Value, json};
use tessera_domain::SigningAlgorithm;
use tessera_store::Page;
use tessera_store::applications::ApplicationSettings;
use tessera_store::audit::{self, AuditFilter};
use tessera_store::pushed_authorization_requests;
use tessera_tokens::{Signer, signing};

use crate::common::TestDatabase;
use crate::common::security::*;

/// The world with `jar` (a confidential web app whose JWKS holds an ES256 and an EdDSA
/// key) and `strict` (the same keys, `require_signed_request_object`).
struct Jar {
    w: World,
    es256: Signer,
    eddsa: Signer,
}

fn jar(db: &TestDatabase) -> Jar {
    let w = world(db);
    let es = signing::generate(SigningAlgorithm::ES256).unwrap();
    let ed = signing::generate(SigningAlgorithm::EdDSA).unwrap();
    let keys = json!({ "keys": [es.public_jwk, ed.public_jwk] });
    add_app(&w, "jar", &ApplicationSettings { jwks: Some(keys.clone()), ..web_app(&[REDIRECT, LOOPBACK], &[]) });
    add_app(
        &w,
        "strict",
        &ApplicationSettings { jwks: Some(keys), require_signed_request_object: true, ..web_app(&[REDIRECT], &[]) },
    );
    Jar {
        w,
        es256: Signer::from_pkcs8(es.kid.clone(), SigningAlgorithm::ES256, &es.pkcs8).unwrap(),
        eddsa: Signer::from_pkcs8(ed.kid.clone(), SigningAlgorithm::EdDSA, &ed.pkcs8).unwrap(),
    }
}

/// The claims of a code request of `client_id` for [`REDIRECT`]: `scope=openid profile`,
/// `state=inner`, a nonce and the PKCE challenge; `overrides` replace or add claims (a
/// null removes one).
fn claims(j: &Jar, client_id: &str, overrides: Value) -> Value {
    let now = tessera::now();
    let mut claims = json!({
        "iss": client_id, "aud": j.w.app.base, "iat": now, "exp": now + 300, "jti": tessera_tokens::jwt::new_jti(),
        "client_id": client_id, "response_type": "code", "redirect_uri": REDIRECT, "scope": "openid profile",
        "state": "inner", "nonce": "n-jar", "code_challenge": CHALLENGE, "code_challenge_method": "S256",
    });
    for (k, v) in overrides.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

fn sign(signer: &Signer, typ: &str, claims: &Value) -> String {
    tessera_tokens::jwt::sign(signer, typ, claims).unwrap()
}

/// `jar`'s request object, ES256, `typ: oauth-authz-req+jwt`.
fn object(j: &Jar, overrides: Value) -> String {
    sign(&j.es256, "oauth-authz-req+jwt", &claims(j, "jar", overrides))
}

/// `/connect/authorize` with `client_id`, `request` and `extra` outer parameters.
fn with_object(client_id: &str, object: &str, extra: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("client_id", client_id).append_pair("request", object);
    for (key, value) in extra {
        query.append_pair(key, value);
    }
    format!("/connect/authorize?{}", query.finish())
}

/// `POST /connect/par` as `client_id` with the world's secret.
fn push(j: &Jar, client_id: &str, form: &[(&str, &str)]) -> Reply {
    Reply::read(
        http().post(j.w.app.url("/connect/par")).basic_auth(client_id, Some(&j.w.secret)).form(form).send().unwrap(),
    )
}

fn pushed_count(j: &Jar) -> i64 {
    j.w.store.read_statement(pushed_authorization_requests::count).unwrap()
}

/// The error page of a refused request object, naming `invalid_request_object`.
fn assert_refused(reply: &Reply, what: &str) {
    reply.assert_error_page(what);
    assert!(reply.body.contains("invalid_request_object"), "{what}: {}", reply.body);
}

crate::both_backends! {
    fn a_signed_request_object_drives_the_code_flow_with_its_parameters_only(db: TestDatabase) {
        let j = jar(&db);
        // RFC 9101 §6.3: the outer parameters are ignored, even ones that would be refused
        // or that name another registered redirect URI.
        let outer = [("response_type", "token"), ("scope", "openid email"), ("redirect_uri", LOOPBACK), ("state", "outer")];
        let b = Browser::new(&j.w.app);
        let callback = code_for(&b, &with_object("jar", &object(&j, json!({})), &outer));
        assert_eq!(callback["state"], "inner");
        assert_eq!(callback["iss"], j.w.app.base);
        let reply = redeem(&j.w, "jar", &callback["code"], REDIRECT, Some(VERIFIER));
        assert_eq!(reply.status, 200, "{}", reply.body);
        let tokens = reply.json();
        assert_eq!(tokens["scope"], "openid profile");
        assert_eq!(verified(&j.w, tokens["id_token"].as_str().unwrap())["nonce"], "n-jar");
        // EdDSA, `typ: JWT`, no client_id claim, and an audience array naming the issuer.
        let eddsa = sign(&j.eddsa, "JWT", &claims(&j, "jar", json!({ "client_id": null, "state": "ed",
            "aud": ["https://other.test", j.w.app.base] })));
        let callback = code_for(&Browser::new(&j.w.app), &with_object("jar", &eddsa, &[]));
        assert_eq!(callback["state"], "ed");
        // By form POST too.
        let posted = object(&j, json!({ "state": "posted" }));
        let form = [("client_id", "jar"), ("request", posted.as_str())];
        let first = b.post("/connect/authorize", &form);
        assert_eq!(complete(&b, first, "alice", PASSWORD).callback()["state"], "posted");
    }

    fn each_refused_request_object_is_our_error_page_and_starts_nothing(db: TestDatabase) {
        let j = jar(&db);
        let stranger = signing::generate(SigningAlgorithm::ES256).unwrap();
        let stranger = Signer::from_pkcs8(j.es256.kid().to_owned(), SigningAlgorithm::ES256, &stranger.pkcs8).unwrap();
        let unsigned = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "oauth-authz-req+jwt"})), b64(&claims(&j, "jar", json!({}))));
        let hs256 = format!("{}.{}.c2ln", b64(&json!({"alg": "HS256"})), b64(&claims(&j, "jar", json!({}))));
        let now = tessera::now();
        let cases: Vec<(&str, String)> = vec![
            ("unsigned (alg none)", unsigned),
            ("HS256", hs256),
            ("not a JWT", "a.b.c".into()),
            ("an encrypted object (JWE)", "a.b.c.d.e".into()),
            ("signed with a key the client did not register", sign(&stranger, "oauth-authz-req+jwt", &claims(&j, "jar", json!({})))),
            ("aud another server", object(&j, json!({ "aud": "https://evil.test" }))),
            ("aud an endpoint", object(&j, json!({ "aud": format!("{}/connect/authorize", j.w.app.base) }))),
            ("no aud", object(&j, json!({ "aud": null }))),
            ("iss another client", object(&j, json!({ "iss": "webapp" }))),
            ("client_id another client", object(&j, json!({ "client_id": "webapp" }))),
            ("expired", object(&j, json!({ "exp": now - 120 }))),
            ("no exp", object(&j, json!({ "exp": null }))),
            ("valid for more than an hour", object(&j, json!({ "exp": now + 7200 }))),
            ("not valid yet", object(&j, json!({ "nbf": now + 600 }))),
            ("another typ", sign(&j.es256, "at+jwt", &claims(&j, "jar", json!({})))),
            ("a nested request_uri", object(&j, json!({ "request_uri": "https://app.example.test/r" }))),
            ("a nested request", object(&j, json!({ "request": "a.b.c" }))),
            ("an unregistered redirect URI inside", object(&j, json!({ "redirect_uri": "https://evil.test/cb" }))),
        ];
        let b = Browser::new(&j.w.app);
        for (what, object) in &cases {
            let reply = b.get(&with_object("jar", object, &[("redirect_uri", REDIRECT), ("state", "outer")]));
            if *what == "an unregistered redirect URI inside" {
                reply.assert_error_page(what);
            } else {
                assert_refused(&reply, what);
            }
        }
        // Another client's object under its own client_id, and jar's object sent by a
        // client without keys.
        assert_refused(&b.get(&with_object("webapp", &object(&j, json!({})), &[])), "sent as webapp (no keys)");
        assert_refused(&b.get(&with_object("strict", &object(&j, json!({})), &[])), "jar's object sent as strict");
        // Oversized: a parameter past the size limit is refused before anything else.
        let huge = object(&j, json!({ "login_hint": "x".repeat(9000) }));
        b.get(&with_object("jar", &huge, &[])).assert_error_page("oversized");
        // RFC 9101 §5: not both request and request_uri.
        let both = with_object("jar", &object(&j, json!({})), &[("request_uri", "urn:ietf:params:oauth:request_uri:abc")]);
        b.get(&both).assert_error_page("request and request_uri");
        // Repeated.
        let repeated = format!("{}&request=x.y.z", with_object("jar", &object(&j, json!({})), &[]));
        b.get(&repeated).assert_error_page("request repeated");
        assert!(b.session().is_none(), "nothing was kept for a refused request");
        // A security event, sampled per address (anyone can cause it).
        let refused = refusals(&j);
        assert!(!refused.is_empty() && refused.len() <= 2, "{refused:?}");
        // The same object, valid, goes through: each refusal above was its own rule.
        assert_eq!(code_for(&b, &with_object("jar", &object(&j, json!({})), &[]))["state"], "inner");
    }

    fn a_pushed_request_may_be_a_signed_request_object(db: TestDatabase) {
        let j = jar(&db);
        let signed_object = object(&j, json!({ "state": "pushed-jar" }));
        // RFC 9126 §3: the outer parameters other than client authentication are ignored.
        let reply = push(&j, "jar", &[("request", &signed_object), ("scope", "openid email"), ("redirect_uri", "https://evil.test/cb")]);
        assert_eq!(reply.status, 201, "{}", reply.body);
        let request_uri = reply.json()["request_uri"].as_str().unwrap().to_owned();
        let path = format!("/connect/authorize?client_id=jar&request_uri={}", urlencode(&request_uri));
        let callback = code_for(&Browser::new(&j.w.app), &path);
        assert_eq!(callback["state"], "pushed-jar");
        let tokens = redeem(&j.w, "jar", &callback["code"], REDIRECT, Some(VERIFIER));
        assert_eq!(tokens.json()["scope"], "openid profile", "{}", tokens.body);
        // Refusals are JSON, and nothing is kept.
        let before = pushed_count(&j);
        for (what, form) in [
            ("unsigned", vec![("request", format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&claims(&j, "jar", json!({})))))]),
            ("expired", vec![("request", object(&j, json!({ "exp": tessera::now() - 120 })))]),
            ("wrong aud", vec![("request", object(&j, json!({ "aud": "https://evil.test" })))]),
        ] {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let reply = push(&j, "jar", &form);
            assert_oauth_error(&reply, 400, "invalid_request_object", what);
        }
        // jar's object pushed by another client (authenticated as itself).
        assert_oauth_error(&push(&j, "strict", &[("request", &object(&j, json!({})))]), 400, "invalid_request_object", "another client's object");
        // An object asking for what the client may not have is that error.
        let scope = push(&j, "jar", &[("request", &object(&j, json!({ "scope": "openid admin" })))]);
        assert_oauth_error(&scope, 400, "invalid_scope", "unknown scope inside");
        assert_eq!(pushed_count(&j), before, "nothing kept");
        assert!(!refusals(&j).is_empty(), "audited");
    }

    fn an_application_that_requires_signed_request_objects_gets_no_other_request(db: TestDatabase) {
        let j = jar(&db);
        let b = Browser::new(&j.w.app);
        // A plain request: the redirect URI is registered, so the error goes there.
        let callback = b.get(&authorize_path("strict", REDIRECT, &[])).callback();
        assert_eq!(callback["error"], "invalid_request", "{callback:?}");
        assert_eq!(callback["state"], "st-1");
        assert!(!callback.contains_key("code"));
        // A plain pushed request: refused at PAR; a pushed object is accepted.
        let plain = [("response_type", "code"), ("redirect_uri", REDIRECT), ("scope", "openid"),
            ("code_challenge", CHALLENGE), ("code_challenge_method", "S256")];
        assert_oauth_error(&push(&j, "strict", &plain), 400, "invalid_request", "plain push");
        let strict_object = sign(&j.es256, "oauth-authz-req+jwt", &claims(&j, "strict", json!({})));
        let reply = push(&j, "strict", &[("request", &strict_object)]);
        assert_eq!(reply.status, 201, "{}", reply.body);
        let request_uri = reply.json()["request_uri"].as_str().unwrap().to_owned();
        let path = format!("/connect/authorize?client_id=strict&request_uri={}", urlencode(&request_uri));
        assert_eq!(code_for(&b, &path)["state"], "inner");
        // By value too.
        assert_eq!(code_for(&Browser::new(&j.w.app), &with_object("strict", &strict_object, &[]))["state"], "inner");
        // Other applications are not affected.
        assert!(Browser::new(&j.w.app).get(&authorize_path("jar", REDIRECT, &[])).see_other().starts_with("/login?"));
    }

    fn discovery_advertises_request_objects(db: TestDatabase) {
        let j = jar(&db);
        let discovery = j.w.app.discovery();
        assert_eq!(discovery["request_parameter_supported"], true);
        assert_eq!(discovery["request_uri_parameter_supported"], true);
        assert_eq!(discovery["require_request_uri_registration"], true);
        assert_eq!(discovery["require_signed_request_object"], false);
        let algs: Vec<&str> = discovery["request_object_signing_alg_values_supported"].as_array().unwrap()
            .iter().map(|a| a.as_str().unwrap()).collect();
        for alg in ["ES256", "EdDSA", "RS256"] {
            assert!(algs.contains(&alg), "{alg}: {algs:?}");
        }
        assert!(!algs.contains(&"none") && !algs.iter().any(|a| a.starts_with("HS")), "{algs:?}");
    }
}

/// The reasons of the audited request object refusals.
fn refusals(j: &Jar) -> Vec<String> {
    let filter = AuditFilter { action: Some("authorization.request_object_refused".into()), ..AuditFilter::default() };
    let events = j.w.store.read_transaction(|c| audit::list(c, &filter, &Page::first(100))).unwrap().items;
    events.iter().map(|e| e.summary["reason"].as_str().unwrap_or_default().to_owned()).collect()
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
