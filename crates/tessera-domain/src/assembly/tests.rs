use serde_json::json;

use super::*;
use crate::scope::{AllowedScopes, ScopeCatalog, resolve_requested};

fn set(s: &str) -> ScopeSet {
    ScopeSet::parse(s).unwrap()
}

fn catalog() -> ScopeCatalog {
    ScopeCatalog::standard()
        .with_identity_scope("employee", ["employee_id", "iss", "sub"])
        .unwrap()
        .with_api_scope("library-api", "library-api")
        .unwrap()
        .with_api_scope("library-api-checked-books", "library-api")
        .unwrap()
        .with_api_scope("billing", "billing")
        .unwrap()
}

fn resolve(scope: &str) -> ResolvedScopes {
    let allowed = AllowedScopes {
        identity: set("openid profile email phone name employee"),
        api: set("library-api library-api-checked-books billing"),
        offline_access: true,
    };
    resolve_requested(&set(scope), &catalog(), &allowed).unwrap()
}

fn user() -> BTreeMap<String, Value> {
    BTreeMap::from([
        ("name".to_owned(), json!("John Doe")),
        ("email".to_owned(), json!("john.doe@email.com")),
        ("email_verified".to_owned(), json!(true)),
        ("nickname".to_owned(), json!("")),
        ("given_name".to_owned(), Value::Null),
        ("phone_number".to_owned(), json!("+5500000000000")),
        ("employee_id".to_owned(), json!(42)),
        ("sub".to_owned(), json!("forged")),
        ("iss".to_owned(), json!("https://evil.test")),
        ("secret_note".to_owned(), json!("not in any scope")),
    ])
}

fn userinfo(scope: &str) -> Map<String, Value> {
    let resolved = resolve(scope);
    let values = user();
    claims_for_userinfo(&IdentityClaims { sub: "26cf5325", user_values: &values, scopes: &resolved.identity })
}

#[test]
fn openid_alone_gives_only_sub() {
    assert_eq!(json!(userinfo("openid")), json!({"sub": "26cf5325"}));
}

#[test]
fn granted_scopes_add_the_claims_the_user_has() {
    assert_eq!(
        json!(userinfo("openid email name")),
        json!({
            "sub": "26cf5325",
            "name": "John Doe",
            "email": "john.doe@email.com",
            "email_verified": true
        })
    );
}

#[test]
fn claims_without_a_value_are_omitted_never_null() {
    let claims = userinfo("openid profile");
    assert_eq!(claims.get("name"), Some(&json!("John Doe")));
    assert!(!claims.contains_key("nickname"));
    assert!(!claims.contains_key("given_name"));
    assert!(!claims.contains_key("birthdate"));
    assert!(claims.values().all(|v| !v.is_null()));
}

#[test]
fn claims_outside_the_granted_scopes_are_not_disclosed() {
    let claims = userinfo("openid profile");
    assert!(!claims.contains_key("email"));
    assert!(!claims.contains_key("phone_number"));
    assert!(!claims.contains_key("secret_note"));
}

#[test]
fn sub_and_registered_claims_never_come_from_user_values() {
    let claims = userinfo("openid employee");
    assert_eq!(claims.get("sub"), Some(&json!("26cf5325")));
    assert!(!claims.contains_key("iss"));
    assert_eq!(claims.get("employee_id"), Some(&json!(42)));
}

#[test]
fn the_id_token_carries_the_same_claims_as_userinfo() {
    let resolved = resolve("openid profile email phone");
    let values = user();
    let input = IdentityClaims { sub: "26cf5325", user_values: &values, scopes: &resolved.identity };
    let id = claims_for_id_token(&input);
    assert_eq!(id, claims_for_userinfo(&input));
    assert_eq!(id.get("phone_number"), Some(&json!("+5500000000000")));
}

#[test]
fn audience_is_the_distinct_granted_connections_sorted() {
    let resolved = resolve("openid library-api-checked-books library-api billing offline_access");
    let (aud, scope) = access_token_audience_and_scope(&resolved, None).unwrap();
    assert_eq!(aud, vec!["billing", "library-api"]);
    assert_eq!(scope, set("openid library-api-checked-books library-api billing offline_access"));
}

#[test]
fn identity_only_grants_have_no_api_audience() {
    let (aud, scope) = access_token_audience_and_scope(&resolve("openid profile"), None).unwrap();
    assert!(aud.is_empty());
    assert_eq!(scope.to_string(), "openid profile");
}

#[test]
fn a_resource_filter_keeps_only_its_connections_and_their_scopes() {
    let resolved = resolve("openid profile library-api-checked-books billing offline_access");
    let (aud, scope) = access_token_audience_and_scope(&resolved, Some(&["library-api".to_owned()])).unwrap();
    assert_eq!(aud, vec!["library-api"]);
    assert_eq!(scope, set("openid profile library-api-checked-books offline_access"));
}

#[test]
fn an_empty_resource_filter_changes_nothing() {
    let resolved = resolve("openid billing");
    assert_eq!(
        access_token_audience_and_scope(&resolved, Some(&[])).unwrap(),
        access_token_audience_and_scope(&resolved, None).unwrap()
    );
}

#[test]
fn a_resource_naming_no_granted_connection_is_invalid_target() {
    let resolved = resolve("openid billing");
    let err = access_token_audience_and_scope(&resolved, Some(&["billing".to_owned(), "library-api".to_owned()]))
        .unwrap_err();
    assert_eq!(err, TargetError::NotGranted { resource: "library-api".into() });
    assert_eq!(err.oauth_error_code(), "invalid_target");
    assert!(err.to_string().contains("\"library-api\""));
}

#[test]
fn a_repeated_resource_is_harmless() {
    let resolved = resolve("billing library-api");
    let (aud, scope) =
        access_token_audience_and_scope(&resolved, Some(&["billing".to_owned(), "billing".to_owned()])).unwrap();
    assert_eq!(aud, vec!["billing"]);
    assert_eq!(scope, set("billing"));
}

static WEB: std::sync::LazyLock<ClientId> = std::sync::LazyLock::new(|| ClientId::from("web"));
static GRANT: std::sync::LazyLock<GrantId> = std::sync::LazyLock::new(|| GrantId::from("g1"));

fn facts<'a>(scope: &'a ScopeSet, audience: &'a [String], amr: &'a [String]) -> AccessTokenFacts<'a> {
    AccessTokenFacts {
        issuer: "https://id.example",
        subject: "u1",
        audience,
        client_id: &WEB,
        scope,
        issued_at: 100,
        expires_at: 3700,
        jti: "j1",
        auth_time: Some(90),
        amr,
        sid: Some("s1"),
        grant_id: Some(&GRANT),
        machine: false,
    }
}

#[test]
fn a_user_access_token_states_rfc_9068_claims_and_its_grant() {
    let scope = set("openid orders");
    let amr = vec!["pwd".to_owned()];
    let one = vec!["orders".to_owned()];
    let claims = access_token_claims(&facts(&scope, &one, &amr));
    assert_eq!(
        Value::Object(claims),
        json!({ "iss": "https://id.example", "sub": "u1", "aud": "orders", "client_id": "web",
                "scope": "openid orders", "iat": 100, "nbf": 100, "exp": 3700, "jti": "j1",
                "auth_time": 90, "acr": "1fa", "amr": ["pwd"], "sid": "s1", "grant_id": "g1" })
    );
    let none = access_token_claims(&facts(&scope, &[], &[]));
    assert_eq!(none["aud"], "https://id.example", "no connection: the issuer");
    assert!(none.get("amr").is_none() && none.get("acr").is_none());
    let strong = vec!["mfa".to_owned(), "otp".to_owned(), "pwd".to_owned()];
    assert_eq!(access_token_claims(&facts(&scope, &one, &strong))["acr"], "2fa", "acr follows amr");
    let two = vec!["a".to_owned(), "b".to_owned()];
    assert_eq!(access_token_claims(&facts(&scope, &two, &[]))["aud"], json!(["a", "b"]));
}

#[test]
fn a_machine_access_token_has_gty_and_no_grant() {
    let scope = set("orders");
    let aud = vec!["orders".to_owned()];
    let machine = AccessTokenFacts {
        subject: "web",
        auth_time: None,
        sid: None,
        grant_id: None,
        machine: true,
        ..facts(&scope, &aud, &[])
    };
    let claims = access_token_claims(&machine);
    assert_eq!(claims["gty"], "client_credentials");
    assert!(claims.get("grant_id").is_none() && claims.get("auth_time").is_none());
    let nothing = AccessTokenFacts { audience: &[], ..machine };
    assert_eq!(access_token_claims(&nothing)["aud"], json!([]));
}

#[test]
fn an_id_token_states_the_authentication_over_its_claims() {
    let amr = vec!["pwd".to_owned()];
    let facts = IdTokenFacts {
        issuer: "https://id.example",
        subject: "u1",
        client_id: &WEB,
        issued_at: 100,
        expires_at: 3700,
        auth_time: Some(90),
        nonce: Some("n"),
        sid: None,
        amr: &amr,
    };
    let given = json!({ "email": "a@example.com", "sub": "forged", "iss": "x", "sid": "forged", "acr": "phr" });
    let claims = id_token_claims(&facts, given.as_object().cloned().unwrap());
    assert_eq!(
        Value::Object(claims),
        json!({ "iss": "https://id.example", "sub": "u1", "aud": "web", "azp": "web", "iat": 100, "exp": 3700,
                "auth_time": 90, "nonce": "n", "acr": "1fa", "amr": ["pwd"], "email": "a@example.com" })
    );
}
