//! The test harness: the real `/api/v1` app (`tessera_admin::api::configure`) over a
//! store from `tessera_testkit::both_backends!` (SQLite always, Postgres when it
//! answers), called with a management key from `tessera_testkit::admin_key`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::{App, test, web};
use serde_json::Value;
use tessera_store::{Store, new_id};
use tessera_tokens::{PasswordHasher, PasswordParams};

/// The TCP peer every test request comes from.
pub const PEER: &str = "203.0.113.9:40000";

/// The app under test.
pub async fn app(
    store: &Store,
) -> impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error> {
    app_with(store, script_support()).await
}

/// The app under test with `scripts` (to read what it encrypted with its master key).
pub async fn app_with(
    store: &Store,
    scripts: tessera_admin::api::ScriptSupport,
) -> impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error> {
    let hasher = PasswordHasher::new(PasswordParams::TESTING).unwrap();
    test::init_service(
        App::new()
            .app_data(web::Data::new(store.clone()))
            .app_data(web::Data::new(tessera_outbound::PrivateHosts::none()))
            .app_data(web::Data::new(hasher))
            .app_data(web::Data::new(tessera_auth::PasswordPolicy::default()))
            .app_data(web::Data::new(tessera_admin::api::TokenSigning {
                keys: tessera_tokens::SharedKeySet::default(),
                issuer: "http://tessera.test".into(),
            }))
            .app_data(web::Data::new(rotation(store)))
            .app_data(web::Data::new(scripts))
            .app_data(web::Data::new(tessera_admin::api::BrowserSessionPolicy { idle_timeout: 3600 }))
            .configure(tessera_admin::api::configure),
    )
    .await
}

/// Wall time of a test script run: small, so a runaway script fails fast.
pub const SCRIPT_WALL_TIME: std::time::Duration = std::time::Duration::from_millis(200);

/// The script engine (with [`SCRIPT_WALL_TIME`]) and a fresh master key.
pub fn script_support() -> tessera_admin::api::ScriptSupport {
    let limits = tessera_claims::Limits { wall_time: SCRIPT_WALL_TIME, ..Default::default() };
    tessera_admin::api::ScriptSupport {
        engine: tessera_claims::ScriptEngine::new(limits),
        master_key: std::sync::Arc::new(tessera_tokens::MasterKey::generate().unwrap()),
    }
}

/// Key rotation as the binary does it, without the master key: a new key row in state
/// `next` (or `active`), audited with the actor.
pub fn rotation(store: &Store) -> tessera_admin::api::KeyRotation {
    let store = store.clone();
    tessera_admin::api::KeyRotation(std::sync::Arc::new(move |alg, now_active, actor: &str| {
        let kid = format!("kid-{}", &new_id()[24..]);
        store
            .write_transaction(|c| {
                let key = tessera_store::keys::NewSigningKey {
                    kid: kid.clone(),
                    alg: alg.as_str().to_owned(),
                    state: if now_active {
                        tessera_store::keys::KeyState::Active
                    } else {
                        tessera_store::keys::KeyState::Next
                    },
                    private_key: "encrypted".into(),
                    public_jwk: serde_json::json!({ "kty": "EC", "kid": kid }),
                    publish_until: None,
                };
                tessera_store::keys::insert(c, &key, 1)?;
                tessera_store::audit::record(
                    c,
                    &tessera_store::audit::NewAuditEvent {
                        actor,
                        action: "signing_key.rotate",
                        target: &kid,
                        summary: serde_json::json!({ "alg": alg.as_str() }),
                        client_ip: None,
                    },
                    1,
                )
            })
            .map_err(|e| e.to_string())?;
        Ok(kid)
    }))
}

/// Sends a request with the key as a Bearer token (if any) and returns status and JSON.
pub async fn call<S>(app: &S, method: Method, path: &str, key: Option<&str>, body: Option<Value>) -> (StatusCode, Value)
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let mut req = test::TestRequest::default().method(method).uri(path).peer_addr(PEER.parse().unwrap());
    if let Some(key) = key {
        req = req.insert_header(("Authorization", format!("Bearer {key}")));
    }
    if let Some(body) = body {
        req = req.set_json(body);
    }
    send(app, req).await
}

pub async fn send<S>(app: &S, req: test::TestRequest) -> (StatusCode, Value)
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let response = test::call_service(app, req.to_request()).await;
    let status = response.status();
    let bytes = test::read_body(response).await;
    let json = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
    (status, json)
}

/// Asserts an error answer: status, code and field.
pub fn assert_error(got: &(StatusCode, Value), status: u16, error: &str, field: Option<&str>) {
    assert_eq!(got.0.as_u16(), status, "{}", got.1);
    assert_eq!(got.1["error"], error, "{}", got.1);
    match field {
        Some(field) => assert_eq!(got.1["field"], field, "{}", got.1),
        None => assert!(got.1["field"].is_null(), "{}", got.1),
    }
}

/// The audit events with `action`, newest first.
pub fn audit_events(store: &Store, action: &str) -> Vec<tessera_store::audit::AuditEvent> {
    store
        .read_transaction(|c| {
            tessera_store::audit::list(
                c,
                &tessera_store::audit::AuditFilter { action: Some(action.into()), ..Default::default() },
                &tessera_store::Page::first(100),
            )
        })
        .unwrap()
        .items
}
