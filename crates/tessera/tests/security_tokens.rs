//! SECURITY.md, "Tokens": refresh tokens bound to their client, rotated, reuse revoking the
//! grant, absolute expiry, scope never widening; the password grant off by default; JWTs
//! with `alg: none` or a foreign key refused wherever Tessera reads one; no bearer token in
//! the query string; revocation seen at once by userinfo and introspection; and the token
//! endpoint's method and content type. Each test drives the real server on SQLite and
//! Postgres.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::security::*;
use serde_json::{Value, json};
use tessera_domain::SigningAlgorithm;
use tessera_domain::{GrantType, TokenFormat};
use tessera_store::applications::{self, ApplicationSettings};
use tessera_store::connections::{self, NewApiConnection};
use tessera_store::scopes::{self, ApiScopeInput};
use tessera_store::{grants, grants::NewGrant, reference_tokens, reference_tokens::NewReferenceToken, refresh_tokens};
use tessera_tokens::{SecretHash, Signer, generate_secret};

/// The API connection `orders-api` (scopes `orders-api`, `orders.read`), its secret, and
/// the applications `jwtapp` and `refapp` (JWT and reference access tokens) allowed
/// `openid offline_access orders.read`.
fn with_api(w: &World) -> String {
    let secret = generate_secret();
    let now = tessera::now();
    let new = NewApiConnection {
        name: "orders-api".into(),
        display_name: "Orders".into(),
        description: String::new(),
        access_token_format: None,
    };
    let connection = w.store.write_transaction(|c| connections::create(c, &new, secret.hash().as_str(), now)).unwrap();
    let scope =
        ApiScopeInput { name: "orders.read".into(), display_name: "Read orders".into(), description: String::new() };
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
fn tokens_at(w: &World, client: &str, scope: &str) -> Value {
    let b = Browser::new(&w.app);
    let callback = code_for(&b, &authorize_path(client, REDIRECT, &[("scope", scope)]));
    let reply = redeem(w, client, &callback["code"], REDIRECT, Some(VERIFIER));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

fn field(tokens: &Value, name: &str) -> String {
    tokens[name].as_str().unwrap_or_else(|| panic!("no {name} in {tokens}")).to_owned()
}

fn introspect(w: &World, secret: &str, token: &str) -> Value {
    let reply = Reply::read(
        http()
            .post(w.app.url("/connect/introspect"))
            .basic_auth("orders-api", Some(secret))
            .form(&[("token", token)])
            .send()
            .unwrap(),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_no_store(&reply, "introspection");
    reply.json()
}

fn revoke(w: &World, client: &str, token: &str) -> u16 {
    token_like(w, "/connect/revocation", client, &[("token", token)]).status
}

fn token_like(w: &World, path: &str, client: &str, form: &[(&str, &str)]) -> Reply {
    Reply::read(http().post(w.app.url(path)).basic_auth(client, Some(&w.secret)).form(form).send().unwrap())
}

fn assert_oauth_error(reply: &Reply, status: u16, error: &str, what: &str) {
    assert_eq!(reply.status, status, "{what}: {}", reply.body);
    assert_eq!(reply.json()["error"], error, "{what}: {}", reply.body);
    assert!(reply.json().get("access_token").is_none(), "{what}");
    assert_no_store(reply, what);
}

fn assert_invalid_token(reply: &Reply, what: &str) {
    assert_eq!(reply.status, 401, "{what}: {}", reply.body);
    let challenge = reply.header("www-authenticate").unwrap_or("");
    assert!(challenge.starts_with("Bearer") && challenge.contains("invalid_token"), "{what}: {challenge}");
}

/// Forgeries of a JWT Tessera issued: `alg: none`, a foreign key under Tessera's kid, an
/// HMAC header (algorithm confusion), another algorithm than the key's, and the payload
/// changed under the original signature.
fn forgeries(jwt: &str) -> Vec<(&'static str, String)> {
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

crate::both_backends! {
    fn a_refresh_token_is_bound_to_its_client(db) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let issued = tokens(&w, &b, &[("scope", "openid offline_access")]);
        let refresh_token = field(&issued, "refresh_token");
        assert_oauth_error(&refresh(&w, "other", &refresh_token, None), 400, "invalid_grant", "another client");
        // Not spent, not revoked by the attempt.
        let reply = refresh(&w, "webapp", &refresh_token, None);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(userinfo(&w, &field(&issued, "access_token")).status, 200);
    }

    fn refresh_tokens_are_rotated_on_every_use(db) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let mut current = field(&tokens(&w, &b, &[("scope", "openid offline_access")]), "refresh_token");
        let mut seen = vec![current.clone()];
        for _ in 0..3 {
            let reply = refresh(&w, "webapp", &current, None);
            assert_eq!(reply.status, 200, "{}", reply.body);
            let next = field(&reply.json(), "refresh_token");
            assert!(!seen.contains(&next), "a new refresh token every time");
            let (old, _) = w.store.read_transaction(|c| refresh_tokens::find_refresh_token(c, SecretHash::of(&current).as_str())).unwrap().unwrap();
            assert!(old.consumed_at.is_some(), "the presented token is spent");
            seen.push(next.clone());
            current = next;
        }
    }

    fn reuse_of_a_spent_refresh_token_revokes_the_whole_grant(db) {
        let w = world(&db);
        let api_secret = with_api(&w);
        for client in ["jwtapp", "refapp"] {
            let first = tokens_at(&w, client, "openid offline_access orders.read");
            let old = field(&first, "refresh_token");
            let rotated = refresh(&w, client, &old, None).json();
            let newest_access = field(&rotated, "access_token");
            assert_eq!(userinfo(&w, &newest_access).status, 200);
            assert_eq!(introspect(&w, &api_secret, &newest_access)["active"], true);
            // The spent token again: refused, and the grant is gone.
            assert_oauth_error(&refresh(&w, client, &old, None), 400, "invalid_grant", "reuse");
            assert_oauth_error(&refresh(&w, client, &field(&rotated, "refresh_token"), None), 400, "invalid_grant", "newest refresh");
            for access in [field(&first, "access_token"), newest_access] {
                assert_invalid_token(&userinfo(&w, &access), client);
                assert_eq!(introspect(&w, &api_secret, &access), json!({"active": false}), "{client}");
            }
        }
    }

    fn refresh_tokens_expire_with_their_grant(db) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let issued = tokens(&w, &b, &[("scope", "openid offline_access")]);
        let rotated = field(&refresh(&w, "webapp", &field(&issued, "refresh_token"), None).json(), "refresh_token");
        let (token, grant) = w.store.read_transaction(|c| refresh_tokens::find_refresh_token(c, SecretHash::of(&rotated).as_str())).unwrap().unwrap();
        assert!(token.expires_at <= grant.expires_at, "rotation never extends the grant's absolute expiry");
        assert!(grant.expires_at - grant.created_at <= 30 * 24 * 3600);
        // A grant past its absolute expiry: its refresh token is refused.
        let app = w.store.read_transaction(|c| applications::find_by_client_id(c, "webapp")).unwrap().unwrap();
        let now = tessera::now();
        let old = w.store.write_transaction(|c| grants::create_grant(c, &NewGrant {
            id: None, application_id: app.id.clone(), user_id: Some(w.alice.clone()), sid: None,
            scope: "openid offline_access".into(), resources: vec![], auth_time: Some(now - 100), amr: vec!["pwd".into()],
            custom_claims: Default::default(), issued_claims: Default::default(), expires_at: now - 1,
        }, now - 100)).unwrap();
        let expired = generate_secret();
        w.store.write_transaction(|c| refresh_tokens::insert_refresh_token(c, expired.hash().as_str(), &old.id, now + 3600, now - 100)).unwrap();
        assert_oauth_error(&refresh(&w, "webapp", expired.expose(), None), 400, "invalid_grant", "expired grant");
    }

    fn the_scope_of_a_refresh_never_widens(db) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let issued = tokens(&w, &b, &[("scope", "openid offline_access")]);
        let refresh_token = field(&issued, "refresh_token");
        for wider in ["openid offline_access profile", "email", "openid nope", "orders.read"] {
            assert_oauth_error(&refresh(&w, "webapp", &refresh_token, Some(wider)), 400, "invalid_scope", wider);
        }
        // The refusals spent nothing; a narrower scope is fine and is what the token carries.
        let narrowed = refresh(&w, "webapp", &refresh_token, Some("openid"));
        assert_eq!(narrowed.status, 200, "{}", narrowed.body);
        let narrowed = narrowed.json();
        assert_eq!(narrowed["scope"], "openid");
        assert_eq!(payload(&field(&narrowed, "access_token"))["scope"], "openid");
        let next = field(&narrowed, "refresh_token");
        assert_oauth_error(&refresh(&w, "webapp", &next, Some("openid profile")), 400, "invalid_scope", "wider after narrowing");
        let again = refresh(&w, "webapp", &next, None).json();
        assert_eq!(again["scope"], "offline_access openid", "never more than the grant: {again}");
    }

    fn the_password_grant_is_refused_unless_the_application_enables_it(db) {
        let w = world(&db);
        let form = [("grant_type", "password"), ("username", "alice"), ("password", PASSWORD), ("scope", "openid")];
        assert_oauth_error(&token(&w, "webapp", &form), 400, "unauthorized_client", "password grant off by default");
        // The refusal does not count as a failed sign-in: alice is not throttled.
        for _ in 0..6 {
            assert_oauth_error(&token(&w, "webapp", &form), 400, "unauthorized_client", "again");
        }
        let b = Browser::new(&w.app);
        assert_eq!(tokens(&w, &b, &[])["token_type"], "Bearer");
        // An application that enables it (legacy) gets tokens.
        let mut legacy = web_app(&[REDIRECT], &[]);
        legacy.grant_types.push(GrantType::Password);
        add_app(&w, "legacy", &legacy);
        let reply = token(&w, "legacy", &form);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_oauth_error(&token(&w, "legacy", &[("grant_type", "password"), ("username", "alice"), ("password", "wrong-password")]),
            400, "invalid_grant", "wrong password");
    }

    fn alg_none_and_foreign_keys_are_refused_as_id_token_hint(db) {
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

    fn alg_none_and_foreign_keys_are_refused_at_userinfo(db) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let issued = tokens(&w, &b, &[]);
        let access = field(&issued, "access_token");
        assert_eq!(userinfo(&w, &access).status, 200);
        for (what, forged) in forgeries(&access) {
            assert_invalid_token(&userinfo(&w, &forged), what);
        }
        // An ID token is not an access token (typ JWT, not at+jwt).
        assert_invalid_token(&userinfo(&w, &field(&issued, "id_token")), "an ID token");
    }

    fn alg_none_and_foreign_keys_are_refused_at_introspection(db) {
        let w = world(&db);
        let api_secret = with_api(&w);
        let issued = tokens_at(&w, "jwtapp", "openid offline_access orders.read");
        let access = field(&issued, "access_token");
        assert_eq!(introspect(&w, &api_secret, &access)["active"], true);
        for (what, forged) in forgeries(&access) {
            assert_eq!(introspect(&w, &api_secret, &forged), json!({"active": false}), "{what}");
        }
        for (what, other) in [("ID token", field(&issued, "id_token")), ("refresh token", field(&issued, "refresh_token"))] {
            assert_eq!(introspect(&w, &api_secret, &other), json!({"active": false}), "{what}");
        }
    }

    fn client_assertions_with_alg_none_a_foreign_key_an_expiry_a_future_nbf_or_a_reused_jti_are_refused(db) {
        let w = world(&db);
        with_api(&w);
        let key = tessera_tokens::signing::generate(SigningAlgorithm::ES256).unwrap();
        let signer = Signer::from_pkcs8(key.kid.clone(), SigningAlgorithm::ES256, &key.pkcs8).unwrap();
        let mut settings = web_app(&[], &[]);
        settings.app_type = tessera_domain::ApplicationType::Machine;
        settings.token_endpoint_auth_method = tessera_domain::ClientAuthMethod::PrivateKeyJwt;
        settings.grant_types = vec![GrantType::ClientCredentials];
        settings.allowed_scopes = vec!["orders-api".into()];
        settings.jwks = Some(json!({"keys": [key.public_jwk]}));
        w.store.write_transaction(|c| applications::create(c, "pkjwt", &settings, None, tessera::now())).unwrap();
        // draft-ietf-oauth-rfc7523bis §4: the issuer identifier is the audience.
        let audience = w.app.base.clone();
        let claims = |changes: Value| {
            let now = tessera::now();
            let mut claims = json!({"iss": "pkjwt", "sub": "pkjwt", "aud": audience, "iat": now, "exp": now + 60,
                "jti": uuid::Uuid::now_v7().simple().to_string()});
            for (k, v) in changes.as_object().unwrap() {
                if v.is_null() { claims.as_object_mut().unwrap().remove(k); } else { claims[k] = v.clone(); }
            }
            claims
        };
        let sign = |claims: &Value| tessera_tokens::jwt::sign(&signer, "JWT", claims).unwrap();
        let present = |assertion: &str| Reply::read(http().post(w.app.url("/connect/token")).form(&[
            ("grant_type", "client_credentials"), ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", assertion)]).send().unwrap());
        let valid = sign(&claims(json!({})));
        assert_eq!(present(&valid).status, 200, "a good assertion authenticates");
        assert_oauth_error(&present(&valid), 401, "invalid_client", "the same jti again");
        let now = tessera::now();
        let refused: Vec<(&str, String)> = vec![
            ("alg none", alg_none(&sign(&claims(json!({}))))),
            ("foreign key under the client's kid", foreign(&sign(&claims(json!({}))))),
            ("expired", sign(&claims(json!({"exp": now - 300, "iat": now - 400})))),
            ("future nbf", sign(&claims(json!({"nbf": now + 600, "exp": now + 900})))),
            ("future iat", sign(&claims(json!({"iat": now + 600, "exp": now + 900})))),
            ("no exp", sign(&claims(json!({"exp": null})))),
            ("valid for too long", sign(&claims(json!({"exp": now + 86_400})))),
            ("no jti", sign(&claims(json!({"jti": null})))),
            ("another audience", sign(&claims(json!({"aud": "https://elsewhere.example"})))),
            ("the token endpoint as audience", sign(&claims(json!({"aud": w.app.url("/connect/token")})))),
            ("sub of another client", sign(&claims(json!({"sub": "webapp"})))),
        ];
        for (what, assertion) in refused {
            assert_oauth_error(&present(&assertion), 401, "invalid_client", what);
        }
        // HMAC with the public key as secret (algorithm confusion): refused by its header.
        let good = sign(&claims(json!({})));
        let mut header = header_of(&good);
        header["alg"] = json!("HS256");
        let confused = format!("{}.{}.{}", b64(&header), b64(&payload(&good)), good.rsplit('.').next().unwrap());
        assert_oauth_error(&present(&confused), 401, "invalid_client", "HS256");
        assert_eq!(present(&good).status, 200, "the refusals did not burn a fresh jti");
    }

    fn a_bearer_token_in_the_query_string_is_ignored(db) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let access = field(&tokens(&w, &b, &[]), "access_token");
        let get = Reply::read(http().get(w.app.url(&format!("/connect/userinfo?access_token={access}"))).send().unwrap());
        assert_eq!(get.status, 401, "{}", get.body);
        assert_eq!(get.header("www-authenticate"), Some("Bearer realm=\"tessera\""), "as if no token were sent");
        let post = Reply::read(http().post(w.app.url(&format!("/connect/userinfo?access_token={access}")))
            .form(&[("x", "1")]).send().unwrap());
        assert_eq!(post.status, 401, "{}", post.body);
        assert!(!post.body.contains("alice"));
        // In the header, or in a POST body, it is accepted.
        assert_eq!(userinfo(&w, &access).status, 200);
        let body = Reply::read(http().post(w.app.url("/connect/userinfo")).form(&[("access_token", access.as_str())]).send().unwrap());
        assert_eq!(body.status, 200, "{}", body.body);
    }

    fn after_revocation_userinfo_and_introspection_refuse_the_token_at_once(db) {
        let w = world(&db);
        let api_secret = with_api(&w);
        // A reference access token, revoked by itself.
        let issued = tokens_at(&w, "refapp", "openid offline_access orders.read");
        let access = field(&issued, "access_token");
        assert_eq!(userinfo(&w, &access).status, 200);
        assert_eq!(introspect(&w, &api_secret, &access)["active"], true);
        assert_eq!(revoke(&w, "refapp", &access), 200);
        assert_invalid_token(&userinfo(&w, &access), "revoked reference token");
        assert_eq!(introspect(&w, &api_secret, &access), json!({"active": false}));
        // A refresh token: its whole grant, JWT access tokens included.
        let issued = tokens_at(&w, "jwtapp", "openid offline_access orders.read");
        let access = field(&issued, "access_token");
        assert_eq!(userinfo(&w, &access).status, 200);
        assert_eq!(revoke(&w, "jwtapp", &field(&issued, "refresh_token")), 200);
        assert_invalid_token(&userinfo(&w, &access), "JWT of a revoked grant");
        assert_eq!(introspect(&w, &api_secret, &access), json!({"active": false}));
        assert_oauth_error(&refresh(&w, "jwtapp", &field(&issued, "refresh_token"), None), 400, "invalid_grant", "revoked refresh");
    }

    fn revocation_needs_client_authentication_and_leaves_other_clients_tokens_alone(db) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let issued = tokens(&w, &b, &[("scope", "openid offline_access")]);
        let refresh_token = field(&issued, "refresh_token");
        let anonymous = Reply::read(http().post(w.app.url("/connect/revocation")).form(&[("token", refresh_token.as_str())]).send().unwrap());
        assert_eq!(anonymous.status, 401, "{}", anonymous.body);
        let wrong = Reply::read(http().post(w.app.url("/connect/revocation")).basic_auth("webapp", Some("wrong"))
            .form(&[("token", refresh_token.as_str())]).send().unwrap());
        assert_oauth_error(&wrong, 401, "invalid_client", "wrong secret");
        assert_eq!(revoke(&w, "other", &refresh_token), 200);
        assert_eq!(revoke(&w, "other", "no-such-token"), 200);
        assert_eq!(userinfo(&w, &field(&issued, "access_token")).status, 200, "another client revoked nothing");
        assert_eq!(refresh(&w, "webapp", &refresh_token, None).status, 200);
    }

    fn an_expired_reference_token_is_refused_at_userinfo_and_introspection(db) {
        let w = world(&db);
        let api_secret = with_api(&w);
        let app = w.store.read_transaction(|c| applications::find_by_client_id(c, "refapp")).unwrap().unwrap();
        let expired = generate_secret();
        let past = tessera::now() - 10;
        let claims = json!({"iss": w.app.base, "sub": w.alice, "scope": "openid orders.read", "client_id": "refapp", "exp": past});
        w.store.write_transaction(|c| reference_tokens::insert_reference_token(c, &NewReferenceToken {
            token_hash: expired.hash().as_str().to_owned(), grant_id: None, application_id: app.id.clone(),
            user_id: Some(w.alice.clone()), claims: claims.as_object().unwrap().clone(), expires_at: past,
        }, past - 60)).unwrap();
        assert_invalid_token(&userinfo(&w, expired.expose()), "expired reference token");
        assert_eq!(introspect(&w, &api_secret, expired.expose()), json!({"active": false}));
    }

    fn get_on_the_token_endpoint_is_405(db) {
        let w = world(&db);
        for method in [reqwest::Method::GET, reqwest::Method::PUT, reqwest::Method::DELETE, reqwest::Method::PATCH] {
            for path in ["/connect/token", "/connect/introspect", "/connect/revocation"] {
                let reply = Reply::read(http().request(method.clone(), w.app.url(&format!("{path}?grant_type=client_credentials")))
                    .basic_auth("webapp", Some(&w.secret)).send().unwrap());
                assert_eq!(reply.status, 405, "{method} {path}");
                assert_eq!(reply.header("allow"), Some("POST"), "{method} {path}");
                assert!(!reply.body.contains("access_token"));
            }
        }
    }

    fn a_wrong_content_type_at_the_token_endpoint_is_invalid_request(db) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let code = code_for(&b, &authorize_path("webapp", REDIRECT, &[]))["code"].clone();
        let form = format!("grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={VERIFIER}",
            url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>());
        let json_body = json!({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": VERIFIER}).to_string();
        let cases: Vec<(Option<&str>, String)> = vec![
            (Some("application/json"), json_body),
            (Some("text/plain"), form.clone()),
            (Some("multipart/form-data; boundary=x"), form.clone()),
            (Some("application/x-www-form-urlencoded-x"), form.clone()),
            (None, form.clone()),
        ];
        for path in ["/connect/token", "/connect/introspect", "/connect/revocation"] {
            for (content_type, body) in &cases {
                let mut request = http().post(w.app.url(path)).basic_auth("webapp", Some(&w.secret)).body(body.clone());
                if let Some(content_type) = content_type {
                    request = request.header("content-type", *content_type);
                }
                let reply = Reply::read(request.send().unwrap());
                assert_oauth_error(&reply, 400, "invalid_request", &format!("{path} {content_type:?}"));
            }
        }
        // Nothing was spent: the code still redeems, with the right content type.
        let reply = Reply::read(http().post(w.app.url("/connect/token")).basic_auth("webapp", Some(&w.secret))
            .header("content-type", "application/x-www-form-urlencoded; charset=UTF-8").body(form).send().unwrap());
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
}

/// Bugs these tests found, fixed: they stay as regression tests.
mod regressions {
    use super::*;

    crate::both_backends! {
        fn a_revoked_jwt_access_token_is_refused_at_once_by_userinfo_and_introspection(db) {
            let w = world(&db);
            let api_secret = with_api(&w);
            let issued = tokens_at(&w, "jwtapp", "openid orders.read");
            let access = field(&issued, "access_token");
            assert_eq!(userinfo(&w, &access).status, 200);
            assert_eq!(revoke(&w, "jwtapp", &access), 200);
            assert_invalid_token(&userinfo(&w, &access), "revoked JWT access token");
            assert_eq!(introspect(&w, &api_secret, &access), json!({"active": false}));
        }
    }
}

/// The 2026-12 security review, finding 5: the state of accounts and applications
/// reaches their tokens at once.
mod review_2026_12 {
    use super::*;
    use tessera_domain::{ApplicationType, ClientAuthMethod};
    use tessera_store::management_keys::{self, NewManagementKey};

    /// A management key (`<id>.<secret>`) standing for the operator.
    pub fn api_key(w: &World) -> String {
        let secret = generate_secret();
        let new = NewManagementKey {
            id: tessera_store::new_id(),
            name: "tests".into(),
            secret_hash: secret.hash().as_str().to_owned(),
            created_by: "cli".into(),
            expires_at: None,
            parent_id: None,
        };
        w.store.write_transaction(|c| management_keys::create(c, &new, tessera::now())).unwrap();
        format!("{}.{}", new.id, secret.expose())
    }

    pub fn api(w: &World, key: &str, method: reqwest::Method, path: &str, body: Value) -> Reply {
        Reply::read(http().request(method, w.app.url(path)).bearer_auth(key).json(&body).send().unwrap())
    }

    /// Alice signs in once in `b`, then gets tokens at `jwtapp` and `refapp`.
    fn signed_in_tokens(w: &World, b: &Browser) -> Vec<Value> {
        ["jwtapp", "refapp"]
            .iter()
            .map(|client| {
                let path = authorize_path(client, REDIRECT, &[("scope", "openid offline_access orders.read")]);
                let callback = code_for(b, &path);
                let reply = redeem(w, client, &callback["code"], REDIRECT, Some(VERIFIER));
                assert_eq!(reply.status, 200, "{}", reply.body);
                reply.json()
            })
            .collect()
    }

    /// Every token and the session are dead: introspection inactive, userinfo 401, the
    /// refresh token refused, and `prompt=none` needs a new sign-in.
    fn assert_all_ended(w: &World, b: &Browser, api_secret: &str, issued: &[Value], what: &str) {
        for (client, tokens) in ["jwtapp", "refapp"].iter().zip(issued) {
            let access = field(tokens, "access_token");
            assert_eq!(introspect(w, api_secret, &access), json!({"active": false}), "{what}: {client}");
            assert_invalid_token(&userinfo(w, &access), &format!("{what}: {client}"));
            assert_oauth_error(&refresh(w, client, &field(tokens, "refresh_token"), None), 400, "invalid_grant", what);
        }
        let again = b.get(&authorize_path("jwtapp", REDIRECT, &[("prompt", "none")]));
        assert_eq!(again.callback().get("error").map(String::as_str), Some("login_required"), "{what}");
    }

    fn assert_all_live(w: &World, api_secret: &str, issued: &[Value]) {
        for tokens in issued {
            let access = field(tokens, "access_token");
            assert_eq!(introspect(w, api_secret, &access)["active"], true);
            assert_eq!(userinfo(w, &access).status, 200);
        }
    }

    crate::both_backends! {
        fn codes_and_refresh_tokens_presented_outside_their_binding_are_audited(db) {
            // Finding 10 of the 2026-12 review: these refusals left no trace.
            let w = world(&db);
            let events = |action: &str| w.store.read_transaction(|c| tessera_store::audit::list(c, &tessera_store::audit::AuditFilter {
                action: Some(action.into()), ..Default::default() }, &tessera_store::Page::first(20))).unwrap().items;
            let b = Browser::new(&w.app);
            let callback = code_for(&b, &authorize_path("webapp", REDIRECT, &[("scope", "openid offline_access")]));
            let code = &callback["code"];
            assert_oauth_error(&redeem(&w, "other", code, REDIRECT, Some(VERIFIER)), 400, "invalid_grant", "another client");
            assert_oauth_error(&redeem(&w, "webapp", code, OTHER_REDIRECT, Some(VERIFIER)), 400, "invalid_grant", "redirect");
            assert_oauth_error(&redeem(&w, "webapp", code, REDIRECT, Some(WRONG_VERIFIER)), 400, "invalid_grant", "verifier");
            let misused = events("token.code_misused");
            let reasons: Vec<&str> = misused.iter().map(|e| e.summary["reason"].as_str().unwrap()).collect();
            assert_eq!(reasons, ["code_verifier", "redirect_uri", "another_client"], "newest first");
            assert_eq!(misused[2].actor, "client:other");
            assert_eq!(misused[2].target, format!("user:{}", w.alice));
            // The code was spent by none of them.
            let issued = redeem(&w, "webapp", code, REDIRECT, Some(VERIFIER));
            assert_eq!(issued.status, 200, "{}", issued.body);
            let refresh_token = field(&issued.json(), "refresh_token");
            assert_oauth_error(&refresh(&w, "other", &refresh_token, None), 400, "invalid_grant", "another client's refresh");
            let misused = events("token.refresh_misused");
            assert_eq!(misused.len(), 1);
            assert_eq!((misused[0].actor.as_str(), misused[0].summary["reason"].as_str()), ("client:other", Some("another_client")));
            assert_eq!(refresh(&w, "webapp", &refresh_token, None).status, 200, "still usable by its client");
        }

        fn parallel_refreshes_of_one_token_give_one_success_and_revoke_the_grant_by_decision(db) {
            // Finding 20 of the 2026-12 review (info), decided: no reuse grace period. Of
            // parallel refreshes one rotates; the others are reuse, which revokes the grant
            // (RFC 9700 §4.14.2), so the winner's new token dies too (docs/security.md).
            let w = world(&db);
            let b = Browser::new(&w.app);
            let issued = tokens(&w, &b, &[("scope", "openid offline_access")]);
            let refresh_token = field(&issued, "refresh_token");
            let replies: Vec<Reply> = std::thread::scope(|s| {
                let threads: Vec<_> = (0..6).map(|_| s.spawn(|| refresh(&w, "webapp", &refresh_token, None))).collect();
                threads.into_iter().map(|t| t.join().unwrap()).collect()
            });
            let winners: Vec<&Reply> = replies.iter().filter(|r| r.status == 200).collect();
            assert_eq!(winners.len(), 1, "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
            assert!(replies.iter().filter(|r| r.status != 200).all(|r| r.json()["error"] == "invalid_grant"));
            let next = field(&winners[0].json(), "refresh_token");
            assert_oauth_error(&refresh(&w, "webapp", &next, None), 400, "invalid_grant", "the grant is revoked");
        }

        fn disabling_a_user_ends_their_tokens_and_sessions_and_enabling_restores_nothing(db) {
            let w = world(&db);
            let api_secret = with_api(&w);
            let key = api_key(&w);
            let b = Browser::new(&w.app);
            let issued = signed_in_tokens(&w, &b);
            assert_all_live(&w, &api_secret, &issued);
            let path = format!("/api/v1/users/{}", w.alice);
            let reply = api(&w, &key, reqwest::Method::PATCH, &path, json!({"disabled": true}));
            assert_eq!(reply.status, 200, "{}", reply.body);
            assert_all_ended(&w, &b, &api_secret, &issued, "disabled");
            assert_eq!(api(&w, &key, reqwest::Method::PATCH, &path, json!({"disabled": false})).status, 200);
            assert_all_ended(&w, &b, &api_secret, &issued, "enabled again");
            let events = w.store.read_transaction(|c| tessera_store::audit::list(c, &tessera_store::audit::AuditFilter {
                action: Some("user.update".into()), ..Default::default() }, &tessera_store::Page::first(10))).unwrap().items;
            let disabled = events.iter().find(|e| e.summary["after"]["disabled"] == true).unwrap();
            assert_eq!(disabled.summary["access_ended"]["grants"], 2, "{}", disabled.summary);
        }

        fn an_admin_password_reset_ends_the_users_tokens_and_sessions(db) {
            let w = world(&db);
            let api_secret = with_api(&w);
            let key = api_key(&w);
            let b = Browser::new(&w.app);
            let issued = signed_in_tokens(&w, &b);
            let path = format!("/api/v1/users/{}/password", w.alice);
            let reply = api(&w, &key, reqwest::Method::PUT, &path, json!({"password": "a brand new passphrase for alice 2026"}));
            assert_eq!(reply.status, 204, "{}", reply.body);
            assert_all_ended(&w, &b, &api_secret, &issued, "password reset");
        }

        fn deleting_a_user_ends_their_tokens(db) {
            let w = world(&db);
            let api_secret = with_api(&w);
            let key = api_key(&w);
            let b = Browser::new(&w.app);
            let issued = signed_in_tokens(&w, &b);
            let reply = api(&w, &key, reqwest::Method::DELETE, &format!("/api/v1/users/{}", w.alice), json!(null));
            assert_eq!(reply.status, 204, "{}", reply.body);
            for tokens in &issued {
                let access = field(tokens, "access_token");
                assert_eq!(introspect(&w, &api_secret, &access), json!({"active": false}));
                assert_invalid_token(&userinfo(&w, &access), "deleted user");
            }
        }

        fn disabling_an_application_ends_its_tokens_machine_tokens_included(db) {
            let w = world(&db);
            let api_secret = with_api(&w);
            let key = api_key(&w);
            let robot = ApplicationSettings {
                app_type: ApplicationType::Machine,
                token_endpoint_auth_method: ClientAuthMethod::ClientSecretBasic,
                grant_types: vec![GrantType::ClientCredentials],
                redirect_uris: vec![],
                post_logout_redirect_uris: vec![],
                allowed_scopes: vec!["orders.read".into()],
                ..web_app(&[], &[])
            };
            add_app(&w, "robot", &robot);
            let machine = token(&w, "robot", &[("grant_type", "client_credentials"), ("scope", "orders.read")]);
            assert_eq!(machine.status, 200, "{}", machine.body);
            let machine = field(&machine.json(), "access_token");
            assert_eq!(introspect(&w, &api_secret, &machine)["active"], true);
            let b = Browser::new(&w.app);
            let issued = signed_in_tokens(&w, &b);
            let disable = |client_id: &str, settings: &ApplicationSettings| {
                let id = w.store.read_transaction(|c| applications::find_by_client_id(c, client_id)).unwrap().unwrap().id;
                let body = json!({
                    "name": settings.name, "app_type": settings.app_type, "redirect_uris": settings.redirect_uris,
                    "post_logout_redirect_uris": settings.post_logout_redirect_uris, "grant_types": settings.grant_types,
                    "token_endpoint_auth_method": settings.token_endpoint_auth_method,
                    "allowed_scopes": settings.allowed_scopes, "access_token_format": settings.access_token_format,
                    "require_consent": false, "enabled": false,
                });
                let reply = api(&w, &key, reqwest::Method::PUT, &format!("/api/v1/applications/{id}"), body);
                assert_eq!(reply.status, 200, "{}", reply.body);
            };
            disable("robot", &robot);
            assert_eq!(introspect(&w, &api_secret, &machine), json!({"active": false}), "a machine JWT");
            let jwtapp = w.store.read_transaction(|c| applications::find_by_client_id(c, "jwtapp")).unwrap().unwrap();
            disable("jwtapp", &jwtapp.settings);
            let access = field(&issued[0], "access_token");
            assert_eq!(introspect(&w, &api_secret, &access), json!({"active": false}));
            assert_invalid_token(&userinfo(&w, &access), "disabled application");
            // The other application's tokens live on.
            assert_eq!(introspect(&w, &api_secret, &field(&issued[1], "access_token"))["active"], true);
        }
    }
}
