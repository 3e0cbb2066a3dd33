//! Authentication assurance (docs/authentication.md): `acr`, `amr` and `auth_time` agree
//! across the ID token, the JWT access token and introspection; `acr_values`, an
//! essential `acr` of the `claims` parameter, an API scope's requirement and an
//! application's sign-in policy route a signed-in user to the factor page (or, without a
//! page, to the error OIDC Core §3.1.2.6 names); a scope needing a recent sign-in asks a
//! fresh one; a refresh past that recency leaves the scope out; the management API
//! refuses bad values naming the field.

use serde_json::{Value, json};
use tessera_domain::{Acr, ApiScopeSettings, Requirement, SignInPolicy};
use tessera_store::{applications, scopes};

use crate::common::security::*;

/// The factor page of the sign-in pages (issue 18, built beside this).
const FACTOR: &str = "/login/factor?request=";
/// The recency the tests' scopes require, in seconds; the tests wait one more.
const RECENCY: i64 = 3;

fn wait_past_recency() {
    std::thread::sleep(std::time::Duration::from_secs(u64::try_from(RECENCY + 1).unwrap()));
}

/// Sets the requirement of API scope `name` (created by [`with_api`]).
fn require(w: &World, name: &str, acr: Acr, max_age: Option<i64>) {
    let settings = ApiScopeSettings {
        display_name: name.into(),
        description: String::new(),
        requirement: Some(Requirement { acr, max_age }),
    };
    w.store.write_transaction(|c| scopes::update_api_scope(c, name, &settings, tessera::now())).unwrap();
}

/// Alice signed in to `webapp` in browser `b` (a password: `1fa`).
fn signed_in(w: &World) -> Browser {
    let b = Browser::new(&w.app);
    let tokens = tokens(w, &b, &[]);
    assert!(tokens["id_token"].is_string(), "{tokens}");
    b
}

/// The same claim of each of `sources`, which must all carry it and agree.
fn agreed(name: &str, sources: &[(&str, &Value)]) -> Value {
    let first = sources[0].1[name].clone();
    assert!(!first.is_null(), "{name} in {}: {}", sources[0].0, sources[0].1);
    for (what, claims) in sources {
        assert_eq!(claims[name], first, "{name} of {what}: {claims}");
    }
    first
}

crate::both_backends! {
    fn acr_amr_and_auth_time_agree_across_the_id_token_the_access_token_and_introspection(db: TestDatabase) {
        let w = world(&db);
        let secret = with_api(&w);
        let jwt = tokens_at(&w, "jwtapp", "openid orders.read");
        let id_token = payload(&field(&jwt, "id_token"));
        let access = payload(&field(&jwt, "access_token"));
        let of_jwt = introspect(&w, &secret, &field(&jwt, "access_token"));
        let reference = tokens_at(&w, "refapp", "openid orders.read");
        let of_reference = introspect(&w, &secret, &field(&reference, "access_token"));
        let reference_id_token = payload(&field(&reference, "id_token"));
        let jwt_sources =
            [("ID token", &id_token), ("JWT access token", &access), ("introspection of the JWT", &of_jwt)];
        assert_eq!(agreed("acr", &jwt_sources), "1fa");
        assert_eq!(agreed("amr", &jwt_sources), json!(["pwd"]));
        agreed("auth_time", &jwt_sources);
        let reference_sources = [("ID token", &reference_id_token), ("introspection of the reference", &of_reference)];
        assert_eq!(agreed("acr", &reference_sources), "1fa");
        assert_eq!(agreed("amr", &reference_sources), json!(["pwd"]));
        agreed("auth_time", &reference_sources);
        // A client acting for itself has no authentication to state.
        let discovery = w.app.discovery();
        assert_eq!(discovery["acr_values_supported"], json!(["1fa", "2fa", "phr"]));
        assert_eq!(discovery["claims_parameter_supported"], json!(false));
    }

    fn acr_values_above_the_session_go_to_the_factor_page_or_fail_without_one(db: TestDatabase) {
        let w = world(&db);
        let b = signed_in(&w);
        let to = b.get(&authorize_path("webapp", REDIRECT, &[("acr_values", "2fa")])).see_other();
        assert!(to.starts_with(FACTOR), "{to}");
        // The weakest known value counts; unknown ones are ignored.
        let to = b.get(&authorize_path("webapp", REDIRECT, &[("acr_values", "urn:gold phr 2fa")])).see_other();
        assert!(to.starts_with(FACTOR), "{to}");
        let silent = b.get(&authorize_path("webapp", REDIRECT, &[("acr_values", "2fa"), ("prompt", "none")]));
        let callback = silent.callback();
        assert_eq!(callback.get("error").map(String::as_str), Some("interaction_required"), "{callback:?}");
        assert_eq!(callback.get("state").map(String::as_str), Some("st-1"));
        // Nobody signed in: the sign-in page first, as always.
        let fresh = Browser::new(&w.app);
        let to = fresh.get(&authorize_path("webapp", REDIRECT, &[("acr_values", "2fa")])).see_other();
        assert!(to.starts_with("/login?"), "{to}");
    }

    fn acr_values_met_by_the_session_or_unknown_ask_nothing_more(db: TestDatabase) {
        let w = world(&db);
        let b = signed_in(&w);
        for acr_values in ["1fa", "urn:example:gold", "1fa 2fa"] {
            let silent = b.get(&authorize_path("webapp", REDIRECT, &[("acr_values", acr_values), ("prompt", "none")]));
            let callback = silent.callback();
            let code = callback.get("code").unwrap_or_else(|| panic!("{acr_values}: {callback:?}"));
            let reply = redeem(&w, "webapp", code, REDIRECT, Some(VERIFIER));
            assert_eq!(reply.status, 200, "{}", reply.body);
            assert_eq!(payload(&field(&reply.json(), "id_token"))["acr"], "1fa");
        }
    }

    fn the_claims_parameter_is_json_and_its_essential_acr_is_required(db: TestDatabase) {
        let w = world(&db);
        let b = signed_in(&w);
        for malformed in ["{", "[1]", r#"{"id_token":{"acr":{"essential":"yes"}}}"#] {
            let callback = b.get(&authorize_path("webapp", REDIRECT, &[("claims", malformed)])).callback();
            assert_eq!(callback.get("error").map(String::as_str), Some("invalid_request"), "{malformed}: {callback:?}");
        }
        let essential = r#"{"id_token":{"acr":{"essential":true,"values":["2fa","phr"]}},"userinfo":{"email":null}}"#;
        let to = b.get(&authorize_path("webapp", REDIRECT, &[("claims", essential)])).see_other();
        assert!(to.starts_with(FACTOR), "{to}");
        let silent = b.get(&authorize_path("webapp", REDIRECT, &[("claims", essential), ("prompt", "none")]));
        let callback = silent.callback();
        assert_eq!(callback.get("error").map(String::as_str), Some("unmet_authentication_requirements"), "{callback:?}");
        // Essential values none of which Tessera knows can never be met.
        let unknown = r#"{"id_token":{"acr":{"essential":true,"value":"urn:example:gold"}}}"#;
        let callback = b.get(&authorize_path("webapp", REDIRECT, &[("claims", unknown)])).callback();
        assert_eq!(callback.get("error").map(String::as_str), Some("unmet_authentication_requirements"));
        // A voluntary acr asks for nothing: the code comes at once.
        let voluntary = r#"{"id_token":{"acr":{"values":["phr"]}}}"#;
        let callback = b.get(&authorize_path("webapp", REDIRECT, &[("claims", voluntary), ("prompt", "none")])).callback();
        assert!(callback.contains_key("code"), "{callback:?}");
    }

    fn an_api_scope_requirement_and_an_application_policy_route_to_the_factor_page(db: TestDatabase) {
        let w = world(&db);
        with_api(&w);
        require(&w, "orders.read", Acr::TwoFactor, None);
        let b = Browser::new(&w.app);
        let first = b.get(&authorize_path("jwtapp", REDIRECT, &[("scope", "openid")]));
        assert!(complete(&b, first, "alice", PASSWORD).callback().contains_key("code"));
        let to = b.get(&authorize_path("jwtapp", REDIRECT, &[("scope", "openid orders.read")])).see_other();
        assert!(to.starts_with(FACTOR), "the scope's requirement: {to}");
        let silent = b.get(&authorize_path("jwtapp", REDIRECT, &[("scope", "openid orders.read"), ("prompt", "none")]));
        assert_eq!(silent.callback().get("error").map(String::as_str), Some("interaction_required"));

        // webapp's own sign-in policy: a second factor, whatever is asked.
        let app = w.store.read_transaction(|c| applications::find_by_client_id(c, &"webapp".into())).unwrap().unwrap();
        let settings = applications::ApplicationSettings { sign_in_policy: Some(SignInPolicy::SecondFactor), ..app.settings };
        w.store.write_transaction(|c| applications::update(c, &app.id, &settings, tessera::now())).unwrap();
        let to = b.get(&authorize_path("webapp", REDIRECT, &[])).see_other();
        assert!(to.starts_with(FACTOR), "the application's policy: {to}");
        // The password grant cannot present more than a password.
        let mut settings = settings;
        settings.grant_types.push(tessera_domain::GrantType::Password);
        w.store.write_transaction(|c| applications::update(c, &app.id, &settings, tessera::now())).unwrap();
        let reply = token(&w, "webapp", &[("grant_type", "password"), ("username", "alice"), ("password", PASSWORD)]);
        assert_oauth_error(&reply, 400, "unauthorized_client", "password grant under a second-factor policy");
    }

    fn a_scope_needing_a_recent_sign_in_asks_a_fresh_one_then_grants_the_scope(db: TestDatabase) {
        let w = world(&db);
        let secret = with_api(&w);
        require(&w, "orders.read", Acr::OneFactor, Some(RECENCY));
        let b = Browser::new(&w.app);
        let first = b.get(&authorize_path("jwtapp", REDIRECT, &[("scope", "openid")]));
        assert!(complete(&b, first, "alice", PASSWORD).callback().contains_key("code"));
        wait_past_recency();
        let path = authorize_path("jwtapp", REDIRECT, &[("scope", "openid orders.read")]);
        let to = b.get(&path).see_other();
        assert!(to.starts_with("/login?"), "a session older than the scope allows signs in again: {to}");
        let silent = b.get(&authorize_path("jwtapp", REDIRECT, &[("scope", "openid orders.read"), ("prompt", "none")]));
        assert_eq!(silent.callback().get("error").map(String::as_str), Some("login_required"));
        let (request, csrf) = form_of(&b, &to);
        let signed = b.post("/login", &[("request", &request), ("csrf", &csrf), ("login", "alice"), ("password", PASSWORD)]);
        let callback = complete(&b, signed, "alice", PASSWORD).callback();
        let reply = redeem(&w, "jwtapp", &callback["code"], REDIRECT, Some(VERIFIER));
        assert_eq!(reply.status, 200, "{}", reply.body);
        let tokens = reply.json();
        assert_eq!(tokens["scope"], "openid orders.read");
        let answer = introspect(&w, &secret, &field(&tokens, "access_token"));
        assert_eq!(answer["scope"], "orders.read");
        assert!(answer["auth_time"].as_i64().unwrap() >= tessera::now() - RECENCY, "{answer}");
    }

    fn a_refresh_past_a_scope_recency_leaves_the_scope_out_and_the_grant_keeps_it(db: TestDatabase) {
        let w = world(&db);
        let secret = with_api(&w);
        require(&w, "orders.read", Acr::OneFactor, Some(RECENCY));
        let tokens = tokens_at(&w, "jwtapp", "openid offline_access orders.read");
        assert_eq!(tokens["scope"], "offline_access openid orders.read");
        let before = refresh(&w, "jwtapp", &field(&tokens, "refresh_token"), None);
        assert_eq!(before.status, 200, "{}", before.body);
        let before = before.json();
        assert_eq!(before["scope"], "offline_access openid orders.read", "within the recency the scope stays");
        wait_past_recency();
        let after = refresh(&w, "jwtapp", &field(&before, "refresh_token"), None);
        assert_eq!(after.status, 200, "{}", after.body);
        let after = after.json();
        assert_eq!(after["scope"], "offline_access openid", "RFC 6749 §5.1: the scope issued");
        let access = field(&after, "access_token");
        assert_eq!(payload(&access)["scope"], "offline_access openid");
        assert_eq!(introspect(&w, &secret, &access), json!({ "active": false }), "not a token for orders-api");
        // The grant keeps the scope: a later refresh still narrows, and asking for the
        // scope explicitly is not a widening.
        let again = refresh(&w, "jwtapp", &field(&after, "refresh_token"), Some("openid orders.read"));
        assert_eq!(again.status, 200, "{}", again.body);
        assert_eq!(again.json()["scope"], "openid");
    }

    fn the_management_api_takes_requirements_and_policies_and_names_bad_fields(db: TestDatabase) {
        let w = world(&db);
        let key = tessera_testkit::management_key(&w.store, "cli", None);
        let api = |method: reqwest::Method, path: &str, body: Value| {
            let response = w.app.api(method, path, &key, &body);
            (response.status().as_u16(), response.json::<Value>().unwrap_or(Value::Null))
        };
        let (status, created) = api(
            reqwest::Method::POST,
            "/api/v1/connections",
            json!({ "name": "payments-api", "required_acr": "2fa", "required_max_age": 600 }),
        );
        assert_eq!(status, 201, "{created}");
        assert_eq!((created["required_acr"].clone(), created["required_max_age"].clone()), (json!("2fa"), json!(600)));
        let id = created["id"].as_str().unwrap().to_owned();
        let (status, scope) = api(
            reqwest::Method::POST,
            &format!("/api/v1/connections/{id}/scopes"),
            json!({ "name": "payments.transfer", "required_acr": "phr", "required_max_age": 300 }),
        );
        assert_eq!(status, 201, "{scope}");
        assert_eq!(scope["effective_requirement"], json!({ "acr": "phr", "max_age": 300 }));
        let (status, updated) = api(
            reqwest::Method::PUT,
            &format!("/api/v1/connections/{id}/scopes/payments.transfer"),
            json!({ "display_name": "Transfer" }),
        );
        assert_eq!(status, 200, "{updated}");
        assert_eq!(updated["required_acr"], Value::Null);
        assert_eq!(updated["effective_requirement"], json!({ "acr": "2fa", "max_age": 600 }), "the connection's");
        for (body, field) in [
            (json!({ "name": "bad-api", "required_acr": "aal3" }), "required_acr"),
            (json!({ "name": "bad-api", "required_acr": "2fa", "required_max_age": 0 }), "required_max_age"),
            (json!({ "name": "bad-api", "required_max_age": 86_401 }), "required_max_age"),
        ] {
            let (status, error) = api(reqwest::Method::POST, "/api/v1/connections", body);
            assert_eq!(status, 400, "{error}");
            assert_eq!(error["field"], field, "{error}");
        }
        let (status, error) = api(
            reqwest::Method::PUT,
            &format!("/api/v1/connections/{id}/scopes/payments.transfer"),
            json!({ "required_acr": "gold" }),
        );
        assert_eq!((status, error["field"].clone()), (400, json!("required_acr")), "{error}");

        let app = json!({ "name": "Payments", "app_type": "web", "redirect_uris": [REDIRECT],
                          "sign_in_policy": "passkey" });
        let (status, created) = api(reqwest::Method::POST, "/api/v1/applications", app.clone());
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["sign_in_policy"], "passkey");
        let mut bad = app;
        bad["sign_in_policy"] = json!("sms");
        let (status, error) = api(reqwest::Method::POST, "/api/v1/applications", bad);
        assert_eq!((status, error["field"].clone()), (400, json!("sign_in_policy")), "{error}");
        let (status, unset) = api(
            reqwest::Method::POST,
            "/api/v1/applications",
            json!({ "name": "Default", "app_type": "web", "redirect_uris": [REDIRECT] }),
        );
        assert_eq!(status, 201, "{unset}");
        assert_eq!(unset["sign_in_policy"], Value::Null, "the server's");
    }
}
