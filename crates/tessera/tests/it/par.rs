//! Pushed authorization requests (RFC 9126): `POST /connect/par` authenticates the client
//! as the token endpoint does and checks the request as authorize does (errors as JSON,
//! never a redirect); authorize takes `request_uri` + `client_id`, spends the pushed
//! request once, only for the client that pushed it and only within its 60 seconds, and
//! continues with the pushed parameters alone. An application may require pushed
//! requests. Each test drives the real server on SQLite and Postgres.

use serde_json::{Value, json};
use tessera_domain::{ClientAuthMethod, SigningAlgorithm};
use tessera_store::Page;
use tessera_store::audit::{self, AuditFilter};
use tessera_store::pushed_authorization_requests::{self, NewPushedRequest};
use tessera_tokens::{Signer, generate_secret, signing};

use crate::common::security::*;

const URN: &str = "urn:ietf:params:oauth:request_uri:";

/// The parameters of a code request of `client_id` for [`REDIRECT`] with `scope=openid`,
/// `state=pushed-state` and the PKCE challenge; `extra` replaces or adds parameters (an
/// empty value removes one).
fn request(client_id: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
        ("state", "pushed-state"),
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
    params
}

/// `POST /connect/par` with `form`, authenticated with HTTP Basic as `basic` when given.
fn push(w: &World, basic: Option<(&str, &str)>, form: &[(String, String)]) -> Reply {
    let request = http().post(w.app.url("/connect/par")).form(form);
    let request = match basic {
        Some((id, secret)) => request.basic_auth(id, Some(secret)),
        None => request,
    };
    Reply::read(request.send().unwrap())
}

/// Pushes `webapp`'s request with its secret: the `request_uri`.
fn pushed(w: &World, extra: &[(&str, &str)]) -> String {
    let reply = push(w, Some(("webapp", &w.secret)), &request("webapp", extra));
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.json()["request_uri"].as_str().unwrap().to_owned()
}

/// `/connect/authorize` with a pushed request: `client_id`, `request_uri` and `extra`.
fn authorize_pushed(client_id: &str, request_uri: &str, extra: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("client_id", client_id).append_pair("request_uri", request_uri);
    for (key, value) in extra {
        query.append_pair(key, value);
    }
    format!("/connect/authorize?{}", query.finish())
}

fn stored(w: &World) -> i64 {
    w.store.read_statement(pushed_authorization_requests::count).unwrap()
}

/// What a refused push tried: what it shows, its HTTP Basic credentials, its form, and the
/// error it must get.
type Case<'a> = (&'a str, Option<(&'a str, &'a str)>, Vec<(String, String)>, &'a str);

/// A JSON error of the pushed authorization request endpoint, never a redirect.
fn assert_par_error(reply: &Reply, status: u16, error: &str, what: &str) {
    assert_oauth_error(reply, status, error, what);
    assert!(reply.location().is_none(), "{what}: redirected");
    assert!(reply.json().get("request_uri").is_none(), "{what}");
}

crate::both_backends! {
    fn a_confidential_client_pushes_its_request_and_the_code_flow_completes_with_those_parameters(db: TestDatabase) {
        let w = world(&db);
        let reply = push(&w, Some(("webapp", &w.secret)), &request("webapp", &[("scope", "openid profile"), ("nonce", "n-par")]));
        assert_eq!(reply.status, 201, "{}", reply.body);
        assert_no_store(&reply, "par");
        assert!(reply.header("access-control-allow-origin").is_none(), "a back-channel endpoint: no CORS");
        let body = reply.json();
        assert_eq!(body["expires_in"], 60);
        let request_uri = body["request_uri"].as_str().unwrap();
        let reference = request_uri.strip_prefix(URN).unwrap_or_else(|| panic!("{request_uri}"));
        assert!(reference.len() >= 43, "at least 256 bits: {reference}");
        assert_eq!(stored(&w), 1);

        // Parameters outside the pushed request are ignored (RFC 9126 §4), even a
        // redirect URI the client registered.
        let b = Browser::new(&w.app);
        let path = authorize_pushed("webapp", request_uri,
            &[("redirect_uri", LOOPBACK), ("state", "outer"), ("scope", "openid email"), ("response_type", "token")]);
        let callback = code_for(&b, &path);
        assert_eq!(callback["state"], "pushed-state");
        assert_eq!(callback["iss"], w.app.base);
        assert_eq!(stored(&w), 0, "spent by its use");
        let reply = redeem(&w, "webapp", &callback["code"], REDIRECT, Some(VERIFIER));
        assert_eq!(reply.status, 200, "{}", reply.body);
        let tokens = reply.json();
        assert_eq!(tokens["scope"], "openid profile");
        let id_token = verified(&w, tokens["id_token"].as_str().unwrap());
        assert_eq!(id_token["nonce"], "n-par");
        assert_eq!(id_token["aud"], "webapp");
    }

    fn a_public_client_pushes_with_pkce_and_redeems_the_code_with_its_verifier(db: TestDatabase) {
        let w = world(&db);
        add_app(&w, "spa-app", &spa(&[REDIRECT]));
        let reply = push(&w, None, &request("spa-app", &[]));
        assert_eq!(reply.status, 201, "{}", reply.body);
        let request_uri = reply.json()["request_uri"].as_str().unwrap().to_owned();
        let b = Browser::new(&w.app);
        let callback = code_for(&b, &authorize_pushed("spa-app", &request_uri, &[]));
        assert_eq!(callback["state"], "pushed-state");
        let wrong = redeem_public(&w, "spa-app", &callback["code"], REDIRECT, WRONG_VERIFIER);
        assert_oauth_error(&wrong, 400, "invalid_grant", "the challenge was pushed and is bound to the code");
        let fresh = Browser::new(&w.app);
        let request_uri = push(&w, None, &request("spa-app", &[])).json()["request_uri"].as_str().unwrap().to_owned();
        let callback = code_for(&fresh, &authorize_pushed("spa-app", &request_uri, &[]));
        let reply = redeem_public(&w, "spa-app", &callback["code"], REDIRECT, VERIFIER);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(reply.json()["access_token"].is_string());
    }

    fn a_request_uri_is_used_once(db: TestDatabase) {
        let w = world(&db);
        let request_uri = pushed(&w, &[]);
        let b = Browser::new(&w.app);
        let first = b.get(&authorize_pushed("webapp", &request_uri, &[]));
        assert!(first.see_other().starts_with("/login?"), "the first use continues to sign-in");
        b.get(&authorize_pushed("webapp", &request_uri, &[])).assert_error_page("second use, same browser");
        Browser::new(&w.app).get(&authorize_pushed("webapp", &request_uri, &[])).assert_error_page("second use");
    }

    fn an_expired_request_uri_is_refused(db: TestDatabase) {
        let w = world(&db);
        let app = w.store.read_transaction(|c| tessera_store::applications::find_by_client_id(c, &"webapp".into())).unwrap().unwrap();
        let now = tessera::now();
        let form = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(request("webapp", &[]))
            .finish();
        let mut uris = Vec::new();
        for expires_at in [now - 1, now + 60] {
            let reference = generate_secret();
            let row = NewPushedRequest {
                request_uri_hash: reference.hash().as_str().to_owned(),
                application_id: app.id.clone(),
                parameters: json!({ "form": form }),
                expires_at,
            };
            w.store.write_transaction(|c| pushed_authorization_requests::create(c, &row, now - 61)).unwrap();
            uris.push(format!("{URN}{}", reference.expose()));
        }
        let b = Browser::new(&w.app);
        b.get(&authorize_pushed("webapp", &uris[0], &[])).assert_error_page("expired");
        // The same row, unexpired, is accepted: the refusal above was the expiry.
        assert!(b.get(&authorize_pushed("webapp", &uris[1], &[])).see_other().starts_with("/login?"));
    }

    fn another_clients_request_uri_is_refused_and_not_spent(db: TestDatabase) {
        let w = world(&db);
        let request_uri = pushed(&w, &[]);
        let b = Browser::new(&w.app);
        b.get(&authorize_pushed("other", &request_uri, &[])).assert_error_page("pushed by webapp");
        b.get(&authorize_pushed("nobody", &request_uri, &[])).assert_error_page("unknown client");
        assert_eq!(stored(&w), 1, "another client's attempt spends nothing");
        assert!(b.get(&authorize_pushed("webapp", &request_uri, &[])).see_other().starts_with("/login?"));
        // Unknown and malformed references are the same page.
        for unknown in [format!("{URN}AAAA"), URN.to_owned(), format!("{URN}{}", generate_secret().expose())] {
            Browser::new(&w.app).get(&authorize_pushed("webapp", &unknown, &[])).assert_error_page(&unknown);
        }
    }

    fn a_client_authenticates_at_par_with_private_key_jwt_and_an_assertion_is_used_once(db: TestDatabase) {
        let w = world(&db);
        let key = signing::generate(SigningAlgorithm::ES256).unwrap();
        let settings = tessera_store::applications::ApplicationSettings {
            token_endpoint_auth_method: ClientAuthMethod::PrivateKeyJwt,
            jwks: Some(json!({ "keys": [key.public_jwk] })),
            ..web_app(&[REDIRECT], &[])
        };
        add_app(&w, "signed", &settings);
        let signer = Signer::from_pkcs8(key.kid.clone(), SigningAlgorithm::ES256, &key.pkcs8).unwrap();
        let now = tessera::now();
        let claims = json!({ "iss": "signed", "sub": "signed", "aud": w.app.base, "iat": now, "exp": now + 60,
            "jti": generate_secret().expose() });
        let assertion = tessera_tokens::jwt::sign(&signer, "JWT", &claims).unwrap();
        let mut form = request("signed", &[]);
        form.push(("client_assertion_type".into(), "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into()));
        form.push(("client_assertion".into(), assertion));
        let reply = push(&w, None, &form);
        assert_eq!(reply.status, 201, "{}", reply.body);
        assert_par_error(&push(&w, None, &form), 401, "invalid_client", "a replayed assertion");
        let b = Browser::new(&w.app);
        let callback = code_for(&b, &authorize_pushed("signed", reply.json()["request_uri"].as_str().unwrap(), &[]));
        assert_eq!(callback["state"], "pushed-state");
    }

    fn bad_client_authentication_at_par_is_invalid_client(db: TestDatabase) {
        let w = world(&db);
        let form = request("webapp", &[]);
        let wrong = push(&w, Some(("webapp", "not-the-secret")), &form);
        assert_par_error(&wrong, 401, "invalid_client", "wrong secret");
        assert!(wrong.header("www-authenticate").is_some_and(|c| c.starts_with("Basic")), "{:?}", wrong.headers);
        assert_par_error(&push(&w, Some(("nobody", &w.secret)), &request("nobody", &[])), 401, "invalid_client", "unknown client");
        // A confidential client must authenticate: its client_id alone is not enough.
        assert_par_error(&push(&w, None, &form), 401, "invalid_client", "no secret");
        let mut post = form.clone();
        post.push(("client_secret".into(), w.secret.clone()));
        assert_par_error(&push(&w, None, &post), 401, "invalid_client", "client_secret_post for a basic client");
        assert_par_error(&push(&w, None, &[]), 401, "invalid_client", "nothing");
        assert_eq!(stored(&w), 0, "nothing kept");
        let filter = AuditFilter { action: Some("client.authentication_failed".into()), ..AuditFilter::default() };
        let audited = w.store.read_transaction(|c| audit::list(c, &filter, &Page::first(10))).unwrap().items;
        assert!(!audited.is_empty(), "the failed authentication is audited");
    }

    fn invalid_pushed_requests_get_json_errors_and_nothing_is_kept(db: TestDatabase) {
        let w = world(&db);
        add_app(&w, "spa-app", &spa(&[REDIRECT]));
        let basic = Some(("webapp", w.secret.as_str()));
        let cases: [Case; 9] = [
            ("unregistered redirect_uri", basic, request("webapp", &[("redirect_uri", "https://evil.test/cb")]), "invalid_request"),
            ("another client's redirect_uri", basic, request("webapp", &[("redirect_uri", OTHER_REDIRECT)]), "invalid_request"),
            ("no redirect_uri", basic, request("webapp", &[("redirect_uri", "")]), "invalid_request"),
            ("public client without PKCE", None, request("spa-app", &[("code_challenge", ""), ("code_challenge_method", "")]), "invalid_request"),
            ("plain PKCE", basic, request("webapp", &[("code_challenge_method", "plain")]), "invalid_request"),
            ("a request_uri inside the push", basic, request("webapp", &[("request_uri", &format!("{URN}abc"))]), "invalid_request"),
            ("unknown scope", basic, request("webapp", &[("scope", "openid admin")]), "invalid_scope"),
            ("implicit", basic, request("webapp", &[("response_type", "token")]), "unsupported_response_type"),
            ("bad prompt", basic, request("webapp", &[("prompt", "none login")]), "invalid_request"),
        ];
        for (what, auth, form, error) in cases {
            assert_par_error(&push(&w, auth, &form), 400, error, what);
        }
        // A repeated parameter and a request object too.
        let mut repeated = request("webapp", &[]);
        repeated.push(("scope".into(), "profile".into()));
        assert_par_error(&push(&w, basic, &repeated), 400, "invalid_request", "repeated");
        assert_par_error(&push(&w, basic, &request("webapp", &[("request", "a.b.c")])), 400, "invalid_request_object", "request");
        assert_eq!(stored(&w), 0, "nothing kept");
        // Only POST.
        let get = Reply::read(http().get(w.app.url("/connect/par")).send().unwrap());
        assert_eq!(get.status, 405);
    }

    fn an_application_that_requires_pushed_requests_is_refused_a_plain_one(db: TestDatabase) {
        let w = world(&db);
        let settings = tessera_store::applications::ApplicationSettings {
            require_pushed_authorization_requests: true,
            ..web_app(&[REDIRECT], &[])
        };
        add_app(&w, "strict", &settings);
        let b = Browser::new(&w.app);
        let reply = b.get(&authorize_path("strict", REDIRECT, &[]));
        let callback = reply.callback();
        assert_eq!(callback["error"], "invalid_request", "{callback:?}");
        assert_eq!(callback["state"], "st-1");
        assert!(!callback.contains_key("code"));
        assert!(b.session().is_none(), "nothing was kept for a refused request");
        // Pushed, the same request goes through.
        let reply = push(&w, Some(("strict", &w.secret)), &request("strict", &[]));
        assert_eq!(reply.status, 201, "{}", reply.body);
        let callback = code_for(&b, &authorize_pushed("strict", reply.json()["request_uri"].as_str().unwrap(), &[]));
        let tokens = redeem(&w, "strict", &callback["code"], REDIRECT, Some(VERIFIER));
        assert_eq!(tokens.status, 200, "{}", tokens.body);
        // Other applications are not affected.
        assert!(b.get(&authorize_path("webapp", REDIRECT, &[])).callback().contains_key("code"));
    }

    fn discovery_advertises_the_pushed_authorization_request_endpoint(db: TestDatabase) {
        let w = world(&db);
        let discovery: Value = w.app.discovery();
        assert_eq!(discovery["pushed_authorization_request_endpoint"], format!("{}/connect/par", w.app.base));
        assert_eq!(discovery["require_pushed_authorization_requests"], false);
    }
}
