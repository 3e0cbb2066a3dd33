//! docs/security.md, "Authorization requests and codes": only `response_type=code`, strict
//! parameters (request objects verified, `request_uri` answered with its own error), PKCE S256 without
//! downgrade, codes that are long, single use, short-lived and bound to client, redirect
//! URI and challenge (with revocation on a second valid redemption and atomic
//! consumption), `iss` in every answer, `prompt=none`, `max_age`, and an `id_token_hint`
//! with `alg: none` or a foreign key refused. The redirect URIs: `redirect_uris`. Each
//! test drives the real server on SQLite and Postgres.

mod redirect_uris;
mod request_objects;
mod request_uris;

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use tessera_store::applications;
use tessera_store::{codes, codes::NewAuthorizationCode};
use tessera_tokens::{SecretHash, generate_secret};

use crate::common::security::*;

/// Asserts an error answered at the client's redirect URI: 303 to `redirect`, the error,
/// `state` and `iss`, and no code.
fn assert_redirected_error(w: &World, reply: &Reply, redirect: &str, error: &str, state: Option<&str>) {
    let location = reply.see_other();
    assert!(location.starts_with(&format!("{redirect}?")), "{location}");
    let query = reply.callback();
    assert_eq!(query.get("error").map(String::as_str), Some(error), "{location}");
    assert_eq!(query.get("state").map(String::as_str), state, "{location}");
    assert_eq!(query.get("iss"), Some(&w.app.base), "{location}: RFC 9207 iss");
    assert!(!query.contains_key("code"), "{location}");
    assert_no_store(reply, error);
}

/// An authorization request at a client, extra parameters, and the error it must get.
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

fn refresh_token_of(tokens: &Value) -> String {
    tokens["refresh_token"].as_str().unwrap_or_else(|| panic!("no refresh token: {tokens}")).to_owned()
}

fn access_token_of(tokens: &Value) -> String {
    tokens["access_token"].as_str().unwrap().to_owned()
}

/// A code for alice at `webapp` (with PKCE) and nothing redeemed yet.
fn fresh_code(w: &World, extra: &[(&str, &str)]) -> String {
    let b = Browser::new(&w.app);
    code_for(&b, &authorize_path("webapp", REDIRECT, extra))["code"].clone()
}

fn assert_invalid_grant(reply: &Reply, what: &str) {
    assert_eq!(reply.status, 400, "{what}: {}", reply.body);
    assert_eq!(reply.json()["error"], "invalid_grant", "{what}: {}", reply.body);
    assert!(reply.json().get("access_token").is_none(), "{what}");
    assert_no_store(reply, what);
}

crate::both_backends! {
    fn token_and_hybrid_response_types_get_unsupported_response_type_with_state_and_iss(db: TestDatabase) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        for response_type in ["token", "id_token", "id_token token", "code token", "code id_token", "code id_token token", "none", "CODE", "code "] {
            let reply = b.get(&authorize_path("webapp", REDIRECT, &[("response_type", response_type), ("state", "s-42")]));
            assert_redirected_error(&w, &reply, REDIRECT, "unsupported_response_type", Some("s-42"));
            assert!(!reply.see_other().contains("access_token") && !reply.see_other().contains("id_token="));
        }
        // A missing response_type is invalid_request.
        let reply = b.get(&authorize_path("webapp", REDIRECT, &[("response_type", "")]));
        assert_redirected_error(&w, &reply, REDIRECT, "invalid_request", Some("st-1"));
    }

    fn a_repeated_parameter_is_invalid_request(db: TestDatabase) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let base = format!("{}&nonce=n&max_age=600&prompt=login&response_mode=query", authorize_path("webapp", REDIRECT, &[]));
        for repeated in ["scope=openid", "response_type=code", "state=other", &format!("code_challenge={CHALLENGE}"),
            "code_challenge_method=S256", "prompt=login", "nonce=a", "max_age=5", "response_mode=query", "scope=profile"] {
            let reply = b.get(&format!("{base}&{repeated}"));
            assert_redirected_error(&w, &reply, REDIRECT, "invalid_request", Some("st-1"));
            assert!(reply.callback()["error_description"].contains("repeated"), "{repeated}");
        }
        assert!(b.session().is_none(), "nothing was kept for a refused request");
    }

    fn unknown_parameters_are_ignored(db: TestDatabase) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let path = format!("{}&foo=bar&x-custom=1&claims_locales=fr&acr_values=urn%3Ax&foo2=%FF", authorize_path("webapp", REDIRECT, &[]));
        let callback = code_for(&b, &path);
        assert_eq!(callback["state"], "st-1");
        let reply = redeem(&w, "webapp", &callback["code"], REDIRECT, Some(VERIFIER));
        assert_eq!(reply.status, 200, "{}", reply.body);
    }

    fn an_unsigned_request_object_is_refused_on_our_page_and_nothing_is_started(db: TestDatabase) {
        // OIDC Core §6 / RFC 9101: a request object is verified before anything else, and
        // an unverifiable one cannot name a redirect URI we trust: our error page, never
        // the outer parameters (a silent integrity downgrade). Signed ones:
        // authorize/request_objects.rs.
        let w = world(&db);
        let object = format!("{}.{}.", b64(&serde_json::json!({"alg": "none"})),
            b64(&serde_json::json!({"iss": "webapp", "aud": w.app.base, "exp": tessera::now() + 60,
                "client_id": "webapp", "scope": "openid profile", "state": "inner", "redirect_uri": REDIRECT})));
        let b = Browser::new(&w.app);
        let reply = b.get(&authorize_path("webapp", REDIRECT, &[("request", &object), ("state", "s-req")]));
        reply.assert_error_page("alg none");
        assert!(reply.body.contains("invalid_request_object"), "{}", reply.body);
        // By form POST too, and before any other check of the request.
        let form = [("response_type", "token"), ("client_id", "webapp"), ("redirect_uri", REDIRECT), ("scope", "nope"),
            ("state", "post-req"), ("request", object.as_str())];
        b.post("/connect/authorize", &form).assert_error_page("alg none, posted");
        assert!(b.session().is_none(), "nothing was kept for a refused request");
        // With a signed-in session and prompt=none, still no code.
        let signed_in = Browser::new(&w.app);
        tokens(&w, &signed_in, &[]);
        signed_in.get(&authorize_path("webapp", REDIRECT, &[("request", &object), ("prompt", "none")]))
            .assert_error_page("alg none, signed in");
        b.get(&authorize_path("nobody", REDIRECT, &[("request", &object)])).assert_error_page("unknown client");
        assert!(b.session().is_none());
    }

    fn a_request_uri_the_application_did_not_register_is_invalid_request_uri_and_nothing_is_started(db: TestDatabase) {
        // RFC 9101 §5.2, OIDC Registration `request_uris`: only a registered request_uri is
        // fetched (authorize/request_uris.rs); any other is refused on our page, since the
        // redirect URI would come from the object.
        let w = world(&db);
        let b = Browser::new(&w.app);
        let reply = b.get(&authorize_path("webapp", REDIRECT, &[("request_uri", "https://app.example.test/requests/1")]));
        reply.assert_error_page("unregistered request_uri");
        assert!(reply.body.contains("invalid_request_uri"), "{}", reply.body);
        // RFC 9126's pushed-request form is resolved instead (par.rs); one that was never
        // pushed is our error page, since only the pushed request names the redirect URI.
        b.get(&authorize_path("webapp", REDIRECT, &[("request_uri", "urn:ietf:params:oauth:request_uri:abc"), ("state", "s-uri")]))
            .assert_error_page("unknown pushed request");
        assert!(b.session().is_none(), "nothing was kept for a refused request");
        let signed_in = Browser::new(&w.app);
        tokens(&w, &signed_in, &[]);
        let reply = signed_in.get(&authorize_path("webapp", REDIRECT, &[("request_uri", "https://app.example.test/r"), ("prompt", "none")]));
        reply.assert_error_page("unregistered request_uri, signed in");
        b.get(&authorize_path("nobody", REDIRECT, &[("request_uri", "https://x.test/r")])).assert_error_page("unknown client");
        // Discovery says a request_uri must be registered.
        let discovery: Value = w.app.get("/.well-known/openid-configuration").json().unwrap();
        assert_eq!(discovery["request_parameter_supported"], true);
        assert_eq!(discovery["request_uri_parameter_supported"], true);
        assert_eq!(discovery["require_request_uri_registration"], true);
    }

    fn a_form_post_to_authorize_works_like_a_get(db: TestDatabase) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let form = [("response_type", "code"), ("client_id", "webapp"), ("redirect_uri", REDIRECT), ("scope", "openid"),
            ("state", "post-1"), ("code_challenge", CHALLENGE), ("code_challenge_method", "S256"), ("unknown", "x")];
        let first = b.post("/connect/authorize", &form);
        assert!(first.see_other().starts_with("/login?request="), "{:?}", first.location());
        let callback = complete(&b, first, "alice", PASSWORD).callback();
        assert_eq!(callback["state"], "post-1");
        assert_eq!(callback["iss"], w.app.base);
        assert_eq!(redeem(&w, "webapp", &callback["code"], REDIRECT, Some(VERIFIER)).status, 200);
        // Errors too: the same answers as by GET.
        let mut wrong = form.to_vec();
        wrong[0] = ("response_type", "token");
        assert_redirected_error(&w, &b.post("/connect/authorize", &wrong), REDIRECT, "unsupported_response_type", Some("post-1"));
        let mut repeated = form.to_vec();
        repeated.push(("scope", "openid"));
        assert_redirected_error(&w, &b.post("/connect/authorize", &repeated), REDIRECT, "invalid_request", Some("post-1"));
        // And with a session, prompt=none gets the code at once, as by GET.
        let mut silent = form.to_vec();
        silent.push(("prompt", "none"));
        assert!(b.post("/connect/authorize", &silent).callback().contains_key("code"));
    }

    fn pkce_plain_is_refused(db: TestDatabase) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        for method in ["plain", "PLAIN", "s256", "S512", ""] {
            let reply = b.get(&authorize_path("webapp", REDIRECT, &[("code_challenge_method", method)]));
            assert_redirected_error(&w, &reply, REDIRECT, "invalid_request", Some("st-1"));
        }
        // A malformed challenge, and a method without a challenge.
        for extra in [[("code_challenge", "short"), ("code_challenge_method", "S256")],
            [("code_challenge", ""), ("code_challenge_method", "S256")]] {
            let reply = b.get(&authorize_path("webapp", REDIRECT, &extra));
            assert_redirected_error(&w, &reply, REDIRECT, "invalid_request", Some("st-1"));
        }
    }

    fn pkce_is_required_for_public_clients(db: TestDatabase) {
        let w = world(&db);
        add_app(&w, "spa", &spa(&["https://spa.example.test/cb"]));
        let mut native = spa(&["com.example.app:/cb"]);
        native.app_type = tessera_domain::ApplicationType::Native;
        add_app(&w, "native", &native);
        let b = Browser::new(&w.app);
        for (client, redirect) in [("spa", "https://spa.example.test/cb"), ("native", "com.example.app:/cb")] {
            let reply = b.get(&authorize_path(client, redirect, &[("code_challenge", ""), ("code_challenge_method", "")]));
            assert_redirected_error(&w, &reply, redirect, "invalid_request", Some("st-1"));
            // With a challenge the public client gets its code and redeems it with the verifier.
            let callback = code_for(&b, &authorize_path(client, redirect, &[]));
            let form = [("grant_type", "authorization_code"), ("code", callback["code"].as_str()), ("redirect_uri", redirect),
                ("client_id", client), ("code_verifier", VERIFIER)];
            let reply = Reply::read(http().post(w.app.url("/connect/token")).form(&form).send().unwrap());
            assert_eq!(reply.status, 200, "{client}: {}", reply.body);
        }
    }

    fn a_code_verifier_for_a_code_issued_without_a_challenge_is_refused(db: TestDatabase) {
        let w = world(&db);
        let code = fresh_code(&w, &[("code_challenge", ""), ("code_challenge_method", "")]);
        assert_invalid_grant(&redeem(&w, "webapp", &code, REDIRECT, Some(VERIFIER)), "verifier without challenge");
        // The refusal spent nothing: the right redemption still works, once.
        assert_eq!(redeem(&w, "webapp", &code, REDIRECT, None).status, 200);
    }

    fn a_challenge_without_a_verifier_is_refused(db: TestDatabase) {
        let w = world(&db);
        let code = fresh_code(&w, &[]);
        assert_invalid_grant(&redeem(&w, "webapp", &code, REDIRECT, None), "challenge without verifier");
        assert_eq!(redeem(&w, "webapp", &code, REDIRECT, Some(VERIFIER)).status, 200);
    }

    fn codes_carry_at_least_128_random_bits(db: TestDatabase) {
        let w = world(&db);
        let codes: Vec<String> = (0..3).map(|_| fresh_code(&w, &[])).collect();
        for code in &codes {
            let bytes = URL_SAFE_NO_PAD.decode(code).unwrap_or_else(|e| panic!("{code}: not base64url: {e}"));
            assert!(bytes.len() >= 16, "{code}: {} bytes", bytes.len());
            // Stored only as a hash.
            let stored = w.store.read_transaction(|c| codes::get_code(c, SecretHash::of(code).as_str())).unwrap();
            assert!(stored.is_some());
        }
        assert!(codes[0] != codes[1] && codes[1] != codes[2] && codes[0] != codes[2]);
    }

    fn a_code_is_single_use(db: TestDatabase) {
        let w = world(&db);
        let code = fresh_code(&w, &[]);
        assert_eq!(redeem(&w, "webapp", &code, REDIRECT, Some(VERIFIER)).status, 200);
        assert_invalid_grant(&redeem(&w, "webapp", &code, REDIRECT, Some(VERIFIER)), "second redemption");
        assert_invalid_grant(&redeem(&w, "webapp", &code, REDIRECT, Some(VERIFIER)), "third redemption");
    }

    fn a_code_expires_after_60_seconds(db: TestDatabase) {
        let w = world(&db);
        // The code of a real flow lives 60 s (the default lifetime).
        let code = fresh_code(&w, &[]);
        let stored = w.store.read_transaction(|c| codes::get_code(c, SecretHash::of(&code).as_str())).unwrap().unwrap();
        assert_eq!(stored.expires_at - stored.created_at, 60);
        // An expired code (the same, written with its expiry passed) is refused.
        let app = w.store.read_transaction(|c| applications::find_by_client_id(c, &"webapp".into())).unwrap().unwrap();
        let expired = generate_secret();
        let now = tessera::now();
        w.store.write_transaction(|c| codes::insert_code(c, &NewAuthorizationCode {
            code_hash: expired.hash().as_str().to_owned(), grant_id: tessera_domain::GrantId::from(tessera_store::new_id()), application_id: app.id.clone(),
            user_id: w.alice.clone(), sid: stored.sid.clone(), redirect_uri: REDIRECT.into(), scope: "openid".into(),
            resources: vec![], nonce: None, code_challenge: Some(CHALLENGE.into()), code_challenge_method: Some("S256".into()),
            auth_time: now - 61, amr: vec!["pwd".into()], expires_at: now - 1, dpop_jkt: None,
        }, now - 61)).unwrap();
        assert_invalid_grant(&redeem(&w, "webapp", expired.expose(), REDIRECT, Some(VERIFIER)), "expired code");
        // A code at the end of its life still works (the boundary is the stored expiry).
        assert_eq!(redeem(&w, "webapp", &code, REDIRECT, Some(VERIFIER)).status, 200);
    }

    fn a_code_is_bound_to_its_client(db: TestDatabase) {
        let w = world(&db);
        let code = fresh_code(&w, &[]);
        assert_invalid_grant(&redeem(&w, "other", &code, REDIRECT, Some(VERIFIER)), "another client");
        assert_invalid_grant(&redeem(&w, "other", &code, OTHER_REDIRECT, Some(VERIFIER)), "another client, its URI");
        let reply = redeem(&w, "webapp", &code, REDIRECT, Some(VERIFIER));
        assert_eq!(reply.status, 200, "the rightful client still redeems it: {}", reply.body);
    }

    fn a_code_is_bound_to_its_redirect_uri(db: TestDatabase) {
        let w = world(&db);
        let code = fresh_code(&w, &[]);
        for other in ["https://app.example.test/cb/", LOOPBACK, "https://APP.example.test/cb"] {
            assert_invalid_grant(&redeem(&w, "webapp", &code, other, Some(VERIFIER)), other);
        }
        let no_uri = token(&w, "webapp", &[("grant_type", "authorization_code"), ("code", &code), ("code_verifier", VERIFIER)]);
        assert_invalid_grant(&no_uri, "no redirect_uri");
        assert_eq!(redeem(&w, "webapp", &code, REDIRECT, Some(VERIFIER)).status, 200);
        // A native app's loopback code is bound to the exact URI used, port included.
        add_app(&w, "nativeapp", &native_app(&[LOOPBACK]));
        let b = Browser::new(&w.app);
        let code = code_for(&b, &authorize_path("nativeapp", "http://127.0.0.1:4242/cb", &[]))["code"].clone();
        assert_invalid_grant(&redeem_public(&w, "nativeapp", &code, "http://127.0.0.1:4243/cb", VERIFIER), "other port");
        assert_invalid_grant(&redeem_public(&w, "nativeapp", &code, LOOPBACK, VERIFIER), "registered form");
        assert_eq!(redeem_public(&w, "nativeapp", &code, "http://127.0.0.1:4242/cb", VERIFIER).status, 200);
    }

    fn a_code_is_bound_to_its_challenge(db: TestDatabase) {
        let w = world(&db);
        let code = fresh_code(&w, &[]);
        for verifier in [WRONG_VERIFIER, CHALLENGE, "short", &"a".repeat(129)] {
            assert_invalid_grant(&redeem(&w, "webapp", &code, REDIRECT, Some(verifier)), verifier);
        }
        assert_eq!(redeem(&w, "webapp", &code, REDIRECT, Some(VERIFIER)).status, 200);
    }

    fn a_second_valid_redemption_revokes_what_the_first_issued(db: TestDatabase) {
        let w = world(&db);
        let mut reference = web_app(&[REDIRECT], &[]);
        reference.access_token_format = tessera_domain::TokenFormat::Reference;
        add_app(&w, "refapp", &reference);
        for client in ["webapp", "refapp"] {
            let b = Browser::new(&w.app);
            let code = code_for(&b, &authorize_path(client, REDIRECT, &[("scope", "openid offline_access")]))["code"].clone();
            let first = redeem(&w, client, &code, REDIRECT, Some(VERIFIER));
            assert_eq!(first.status, 200, "{}", first.body);
            let first = first.json();
            assert_eq!(userinfo(&w, &access_token_of(&first)).status, 200);
            assert_invalid_grant(&redeem(&w, client, &code, REDIRECT, Some(VERIFIER)), "second valid redemption");
            let after = userinfo(&w, &access_token_of(&first));
            assert_eq!(after.status, 401, "{client}: the first redemption's access token is revoked");
            assert!(after.header("www-authenticate").unwrap().contains("invalid_token"));
            assert_invalid_grant(&refresh(&w, client, &refresh_token_of(&first), None), "the first redemption's refresh token");
        }
    }

    fn a_replay_with_a_wrong_verifier_or_wrong_client_credentials_revokes_nothing(db: TestDatabase) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let code = code_for(&b, &authorize_path("webapp", REDIRECT, &[("scope", "openid offline_access")]))["code"].clone();
        let first = redeem(&w, "webapp", &code, REDIRECT, Some(VERIFIER)).json();
        // Wrong verifier, no verifier, another client, wrong secret, another redirect URI.
        assert_invalid_grant(&redeem(&w, "webapp", &code, REDIRECT, Some(WRONG_VERIFIER)), "wrong verifier");
        assert_invalid_grant(&redeem(&w, "webapp", &code, REDIRECT, None), "no verifier");
        assert_invalid_grant(&redeem(&w, "other", &code, REDIRECT, Some(VERIFIER)), "another client");
        assert_invalid_grant(&redeem(&w, "webapp", &code, OTHER_REDIRECT, Some(VERIFIER)), "another redirect URI");
        let wrong_secret = Reply::read(http().post(w.app.url("/connect/token")).basic_auth("webapp", Some("wrong"))
            .form(&[("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT), ("code_verifier", VERIFIER)])
            .send().unwrap());
        assert_eq!(wrong_secret.status, 401);
        assert_eq!(wrong_secret.json()["error"], "invalid_client");
        let public = Reply::read(http().post(w.app.url("/connect/token"))
            .form(&[("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT), ("code_verifier", VERIFIER), ("client_id", "webapp")])
            .send().unwrap());
        assert_eq!(public.status, 401, "no secret: {}", public.body);
        // What the first redemption issued still works.
        assert_eq!(userinfo(&w, &access_token_of(&first)).status, 200);
        let refreshed = refresh(&w, "webapp", &refresh_token_of(&first), None);
        assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    }

    fn iss_is_in_every_authorization_response_errors_included(db: TestDatabase) {
        let w = world(&db);
        let mut consenting = web_app(&[REDIRECT], &[]);
        consenting.require_consent = true;
        add_app(&w, "consenting", &consenting);
        let mut machine_only = web_app(&[REDIRECT], &[]);
        machine_only.grant_types = vec![tessera_domain::GrantType::ClientCredentials];
        add_app(&w, "nocode", &machine_only);
        let b = Browser::new(&w.app);
        // The code.
        let callback = code_for(&b, &authorize_path("webapp", REDIRECT, &[]));
        assert_eq!(callback["iss"], w.app.base);
        // Errors: response type, scope, PKCE, prompt, max_age, hint, grant type, login_required.
        let cases: [Case; 8] = [
            ("webapp", &[("response_type", "token")], "unsupported_response_type"),
            ("webapp", &[("scope", "openid nope")], "invalid_scope"),
            ("webapp", &[("code_challenge_method", "plain")], "invalid_request"),
            ("webapp", &[("prompt", "none login")], "invalid_request"),
            ("webapp", &[("max_age", "-1")], "invalid_request"),
            ("webapp", &[("id_token_hint", "a.b.c")], "invalid_request"),
            ("nocode", &[], "unauthorized_client"),
            ("webapp", &[("response_mode", "fragment")], "invalid_request"),
        ];
        for (client, extra, error) in cases {
            let reply = b.get(&authorize_path(client, REDIRECT, extra));
            assert_redirected_error(&w, &reply, REDIRECT, error, Some("st-1"));
        }
        let fresh = Browser::new(&w.app);
        let reply = fresh.get(&authorize_path("webapp", REDIRECT, &[("prompt", "none")]));
        assert_redirected_error(&w, &reply, REDIRECT, "login_required", Some("st-1"));
        // consent_required, and access_denied from the consent page.
        let reply = b.get(&authorize_path("consenting", REDIRECT, &[("prompt", "none")]));
        assert_redirected_error(&w, &reply, REDIRECT, "consent_required", Some("st-1"));
        let to_consent = b.get(&authorize_path("consenting", REDIRECT, &[])).see_other();
        let (request, csrf) = form_of(&b, &to_consent);
        let denied = b.post("/consent", &[("request", &request), ("csrf", &csrf), ("decision", "deny")]);
        assert_redirected_error(&w, &denied, REDIRECT, "access_denied", Some("st-1"));
        // form_post carries iss too.
        let page = b.get(&authorize_path("webapp", REDIRECT, &[("response_mode", "form_post"), ("response_type", "token")]));
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(hidden(&page.body, "iss"), w.app.base);
        assert_eq!(hidden(&page.body, "error"), "unsupported_response_type");
        let page = b.get(&authorize_path("webapp", REDIRECT, &[("response_mode", "form_post")]));
        assert_eq!(hidden(&page.body, "iss"), w.app.base);
        assert!(!hidden(&page.body, "code").is_empty());
    }

    fn prompt_none_without_a_session_is_login_required(db: TestDatabase) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let reply = b.get(&authorize_path("webapp", REDIRECT, &[("prompt", "none"), ("state", "quiet")]));
        assert_redirected_error(&w, &reply, REDIRECT, "login_required", Some("quiet"));
        // A cookie that names no session is no session.
        b.set_session("tessera_session", Some("not-a-session"));
        let reply = b.get(&authorize_path("webapp", REDIRECT, &[("prompt", "none")]));
        assert_redirected_error(&w, &reply, REDIRECT, "login_required", Some("st-1"));
    }

    fn prompt_none_with_a_session_gives_a_code_with_no_page_and_the_same_sub_and_auth_time(db: TestDatabase) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let first = tokens(&w, &b, &[]);
        let first_claims = verified(&w, first["id_token"].as_str().unwrap());
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let reply = b.get(&authorize_path("webapp", REDIRECT, &[("prompt", "none"), ("nonce", "n-2")]));
        let callback: HashMap<String, String> = reply.callback();
        assert_eq!(callback["iss"], w.app.base);
        let second = redeem(&w, "webapp", &callback["code"], REDIRECT, Some(VERIFIER)).json();
        let second_claims = verified(&w, second["id_token"].as_str().unwrap());
        assert_eq!(second_claims["sub"], first_claims["sub"]);
        assert_eq!(second_claims["sub"], w.alice.as_str());
        assert_eq!(second_claims["auth_time"], first_claims["auth_time"]);
        assert_eq!(second_claims["nonce"], "n-2");
    }

    fn max_age_forces_a_new_sign_in_and_auth_time_is_present(db: TestDatabase) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let first = tokens(&w, &b, &[]);
        let first_auth_time = verified(&w, first["id_token"].as_str().unwrap())["auth_time"].as_i64().unwrap();
        std::thread::sleep(std::time::Duration::from_secs(2));
        // Silent: the session is too old.
        let reply = b.get(&authorize_path("webapp", REDIRECT, &[("max_age", "1"), ("prompt", "none")]));
        assert_redirected_error(&w, &reply, REDIRECT, "login_required", Some("st-1"));
        // Otherwise: the sign-in page again, then a code with the new auth_time.
        let reply = b.get(&authorize_path("webapp", REDIRECT, &[("max_age", "1")]));
        assert!(reply.see_other().starts_with("/login?"), "{:?}", reply.location());
        let callback = complete(&b, reply, "alice", PASSWORD).callback();
        let second = redeem(&w, "webapp", &callback["code"], REDIRECT, Some(VERIFIER)).json();
        let claims = verified(&w, second["id_token"].as_str().unwrap());
        let auth_time = claims["auth_time"].as_i64().expect("auth_time is present");
        assert!(auth_time >= first_auth_time + 2, "{auth_time} vs {first_auth_time}");
        // A generous max_age needs no new sign-in.
        let reply = b.get(&authorize_path("webapp", REDIRECT, &[("max_age", "3600")]));
        assert!(reply.callback().contains_key("code"));
    }

    fn alg_none_and_foreign_keys_are_refused_as_id_token_hint(db: TestDatabase) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let issued = tokens(&w, &b, &[]);
        let id_token = field(&issued, "id_token");
        // The genuine hint works silently.
        let genuine = b.get(&authorize_path("webapp", REDIRECT, &[("prompt", "none"), ("id_token_hint", &id_token)]));
        assert!(genuine.callback().contains_key("code"));
        let mut refused = forgeries(&id_token);
        refused.push(("an access token", field(&issued, "access_token")));
        for (what, hint) in &refused {
            let reply = b.get(&authorize_path("webapp", REDIRECT, &[("prompt", "none"), ("id_token_hint", hint)]));
            let callback = reply.callback();
            assert_eq!(callback.get("error").map(String::as_str), Some("invalid_request"), "{what}: {callback:?}");
            assert!(!callback.contains_key("code"), "{what}");
            // At logout: no redirect, the user is asked, and stays signed in.
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs([("id_token_hint", hint.as_str()), ("post_logout_redirect_uri", LOGOUT)]).finish();
            let out = b.get(&format!("/connect/endsession?{query}"));
            assert_eq!(out.status, 200, "{what}: {}", out.body);
            assert!(out.location().is_none(), "{what}: redirected");
            assert!(b.get(&authorize_path("webapp", REDIRECT, &[("prompt", "none")])).callback().contains_key("code"), "{what}");
        }
        // A genuine hint issued to another client is not a hint for this one.
        let other = Browser::new(&w.app);
        let callback = code_for(&other, &authorize_path("other", OTHER_REDIRECT, &[]));
        let other_id_token = field(&redeem(&w, "other", &callback["code"], OTHER_REDIRECT, Some(VERIFIER)).json(), "id_token");
        let reply = b.get(&authorize_path("webapp", REDIRECT, &[("id_token_hint", &other_id_token)]));
        assert_eq!(reply.callback()["error"], "invalid_request");
    }
}
