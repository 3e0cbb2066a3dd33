//! docs/security.md, "Tokens", at the token endpoint: the password grant off by default;
//! client assertions with `alg: none`, a foreign key, an expiry, a future `nbf` or a
//! reused `jti` refused; the endpoint's method and content type; and the state of
//! accounts and applications reaching their tokens at once. Each test drives the real
//! server on SQLite and Postgres.

use serde_json::{Value, json};
use tessera_domain::GrantType;
use tessera_domain::SigningAlgorithm;
use tessera_store::applications::{self, ApplicationSettings};
use tessera_tokens::Signer;

use crate::common::security::*;
use tessera_testkit::apps;

crate::both_backends! {
    fn the_password_grant_is_refused_unless_the_application_enables_it(db: TestDatabase) {
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

    fn client_assertions_with_alg_none_a_foreign_key_an_expiry_a_future_nbf_or_a_reused_jti_are_refused(db: TestDatabase) {
        let w = world(&db);
        with_api(&w);
        let key = tessera_tokens::signing::generate(SigningAlgorithm::ES256).unwrap();
        let signer = Signer::from_pkcs8(key.kid.clone(), SigningAlgorithm::ES256, &key.pkcs8).unwrap();
        let settings = ApplicationSettings {
            token_endpoint_auth_method: tessera_domain::ClientAuthMethod::PrivateKeyJwt,
            jwks: Some(json!({"keys": [key.public_jwk]})),
            ..apps::machine_app("Web app", &["orders-api"])
        };
        w.store.write_transaction(|c| applications::create(c, &"pkjwt".into(), &settings, None, tessera::now())).unwrap();
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

    fn get_on_the_token_endpoint_is_405(db: TestDatabase) {
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

    fn a_wrong_content_type_at_the_token_endpoint_is_invalid_request(db: TestDatabase) {
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

/// The 2026-12 security review, finding 5: the state of accounts and applications
/// reaches their tokens at once.
mod review_2026_12 {
    use super::*;

    pub fn api(w: &World, key: &str, method: reqwest::Method, path: &str, body: Value) -> Reply {
        Reply::read(w.app.api(method, path, key, &body))
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
        fn codes_and_refresh_tokens_presented_outside_their_binding_are_audited(db: TestDatabase) {
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

        fn disabling_a_user_ends_their_tokens_and_sessions_and_enabling_restores_nothing(db: TestDatabase) {
            let w = world(&db);
            let api_secret = with_api(&w);
            let key = tessera_testkit::management_key(&w.store, "cli", None);
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

        fn an_admin_password_reset_ends_the_users_tokens_and_sessions(db: TestDatabase) {
            let w = world(&db);
            let api_secret = with_api(&w);
            let key = tessera_testkit::management_key(&w.store, "cli", None);
            let b = Browser::new(&w.app);
            let issued = signed_in_tokens(&w, &b);
            let path = format!("/api/v1/users/{}/password", w.alice);
            let reply = api(&w, &key, reqwest::Method::PUT, &path, json!({"password": "a brand new passphrase for alice 2026"}));
            assert_eq!(reply.status, 204, "{}", reply.body);
            assert_all_ended(&w, &b, &api_secret, &issued, "password reset");
        }

        fn deleting_a_user_ends_their_tokens(db: TestDatabase) {
            let w = world(&db);
            let api_secret = with_api(&w);
            let key = tessera_testkit::management_key(&w.store, "cli", None);
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

        fn disabling_an_application_ends_its_tokens_machine_tokens_included(db: TestDatabase) {
            let w = world(&db);
            let api_secret = with_api(&w);
            let key = tessera_testkit::management_key(&w.store, "cli", None);
            let robot = apps::machine_app("Web app", &["orders.read"]);
            add_app(&w, "robot", &robot);
            let machine = token(&w, "robot", &[("grant_type", "client_credentials"), ("scope", "orders.read")]);
            assert_eq!(machine.status, 200, "{}", machine.body);
            let machine = field(&machine.json(), "access_token");
            assert_eq!(introspect(&w, &api_secret, &machine)["active"], true);
            let b = Browser::new(&w.app);
            let issued = signed_in_tokens(&w, &b);
            let disable = |client_id: &str, settings: &ApplicationSettings| {
                let id = w.store.read_transaction(|c| applications::find_by_client_id(c, &client_id.into())).unwrap().unwrap().id;
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
            let jwtapp = w.store.read_transaction(|c| applications::find_by_client_id(c, &"jwtapp".into())).unwrap().unwrap();
            disable("jwtapp", &jwtapp.settings);
            let access = field(&issued[0], "access_token");
            assert_eq!(introspect(&w, &api_secret, &access), json!({"active": false}));
            assert_invalid_token(&userinfo(&w, &access), "disabled application");
            // The other application's tokens live on.
            assert_eq!(introspect(&w, &api_secret, &field(&issued[1], "access_token"))["active"], true);
        }
    }
}
