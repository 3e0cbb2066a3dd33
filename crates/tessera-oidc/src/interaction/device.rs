//! The device verification page (RFC 8628 §3.3), `/device`: the user enters the user
//! code the device shows (pre-filled from `?user_code=`, as `verification_uri_complete`
//! carries it). A right code starts a pending authorization request bound to this
//! browser's session and marked as the device's, which then runs the same steps as any
//! authorization (sign-in, required claims, consent, always asked for a device); its end
//! approves the device code ([`approve`]) instead of redirecting with a code, and a denial
//! at consent denies it ([`deny`]).
//!
//! §5.1: user codes have little entropy, so guesses are throttled per client address:
//! every code tried counts, a right one is given back, and once the budget is spent even
//! a right code is refused until the lock ends.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::json;
use tessera_domain::UserId;
use tessera_store::audit::{self, NewAuditEvent};
use tessera_store::authorization_requests::{self, NewAuthorizationRequest};
use tessera_store::browser_sessions::BrowserSession;
use tessera_store::device_codes::{self, Approval};
use tessera_store::throttle::{self, Limit, Reservation};
use tessera_store::{AnyConnection, StoreError, StoreResult, applications};
use tessera_tokens::{SecretHash, generate_secret};

use super::audit_user;
use crate::authorize::{decide, request::AuthorizationRequest};
use crate::device_authorization::{normalize_user_code, user_code_hash};
use crate::error::{bad_form, run_blocking};
use crate::form::Params;
use crate::reply::{ReplyTo, ResponseMode};
use crate::session;
use crate::state::{OidcState, now};
use crate::view::Deferred;

/// §5.1: user codes tried from one client address (key `device:<address>`): ten within
/// 15 minutes, then none for 15 minutes.
pub const USER_CODE_LIMIT: Limit = Limit { attempts: 10, window: 15 * 60, lockout: 15 * 60 };

/// The form asking for the user code, posted to `/device`.
#[derive(Template)]
#[template(path = "login/device.html")]
pub struct DevicePage {
    pub csrf: String,
    pub user_code: String,
    pub error: Option<String>,
}

/// The end of a device's authorization: the user goes back to the device.
#[derive(Template)]
#[template(path = "login/device_done.html")]
pub struct DeviceDonePage {
    pub approved: bool,
}

/// A response and, when a session was started for it, the cookie's id.
type Answer = (Deferred, Option<String>);

fn respond((response, cookie): Answer, state: &OidcState) -> HttpResponse {
    let mut response = response.into_response();
    if let Some(id) = cookie {
        let _ = response.add_cookie(&session::cookie(&id, &state.settings));
    }
    response
}

/// `GET /device[?user_code=…]`.
pub(crate) async fn show(request: HttpRequest, state: web::Data<OidcState>) -> HttpResponse {
    let cookie = session::presented_id(&request, &state.settings);
    let typed = Params::parse(request.query_string().as_bytes())
        .ok()
        .and_then(|p| p.get("user_code").map(|c| c.chars().take(16).collect::<String>()))
        .unwrap_or_default();
    let state = state.into_inner();
    let worker = state.clone();
    run_blocking(
        move || {
            worker.store.write_transaction(|c| {
                let now = now();
                // The form's CSRF token is bound to a session: an anonymous one if none.
                let (session_id, new_cookie) = match session::current(c, cookie.as_deref(), &worker.settings, now)? {
                    Some((id, _)) => (id, None),
                    None => {
                        let (id, _) = session::start(c, None, None, &worker.settings, now)?;
                        (id.clone(), Some(id))
                    }
                };
                let page = DevicePage { csrf: session::csrf_token(&session_id), user_code: typed, error: None };
                Ok((Deferred::page(page), new_cookie))
            })
        },
        |answer| respond(answer, &state),
    )
    .await
}

/// `POST /device`: `user_code` and `csrf`.
pub(crate) async fn submit(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    let cookie = session::presented_id(&request, &state.settings);
    let Ok(form) = Params::from_page_form(&body) else { return bad_form().into_response() };
    let client_ip = request.peer_addr().map(|a| a.ip().to_string());
    let state = state.into_inner();
    let worker = state.clone();
    run_blocking(
        move || enter_code(&worker, cookie.as_deref(), &form, client_ip.as_deref()),
        |answer| respond(answer, &state),
    )
    .await
}

fn enter_code(state: &OidcState, cookie: Option<&str>, form: &Params, client_ip: Option<&str>) -> StoreResult<Answer> {
    let now = now();
    let Some((session_id, session)) =
        state.store.read_transaction(|c| session::current(c, cookie, &state.settings, now))?
    else {
        return Ok((bad_form(), None));
    };
    if !session::csrf_matches(&session_id, form.get("csrf")) {
        return Ok((bad_form(), None));
    }
    let typed: String = form.get("user_code").unwrap_or_default().chars().take(16).collect();
    let form_again = |status: StatusCode, error: &str| {
        let page = DevicePage {
            csrf: session::csrf_token(&session_id),
            user_code: typed.clone(),
            error: Some(error.to_owned()),
        };
        (Deferred::page_status(status, page), None)
    };
    // §5.1: reserved before the code is looked up; only a right code gives it back.
    let bucket = format!("device:{}", client_ip.unwrap_or("unknown"));
    let reservation = state.store.write_statement(|c| throttle::reserve(c, &bucket, USER_CODE_LIMIT, now))?;
    if let Reservation::Locked { until, refused, audit } = reservation {
        if audit {
            let event = NewAuditEvent {
                actor: "anonymous",
                action: "device.user_code_throttled",
                target: &format!("ip:{}", client_ip.unwrap_or("unknown")),
                summary: json!({ "locked_until": until, "refused_so_far": refused }),
                client_ip,
            };
            state.store.write_transaction(|c| audit::record(c, &event, now))?;
        }
        let minutes = ((until - now) + 59) / 60;
        let error = format!("Too many codes were tried from your network. Try again in {minutes} minutes.");
        let (refused, session) = form_again(StatusCode::TOO_MANY_REQUESTS, &error);
        return Ok((refused.retry_after(until - now), session));
    }
    let found = match normalize_user_code(&typed) {
        Some(code) => state
            .store
            .read_statement(|c| device_codes::find_pending_by_user_code(c, user_code_hash(&code).as_str(), now))?,
        None => None,
    };
    let Some(device) = found else {
        let error = "That code is not valid, or it has expired. Check the code on your device and try again.";
        return Ok(form_again(StatusCode::BAD_REQUEST, error));
    };
    state.store.write_transaction(|c| {
        throttle::refund(c, &reservation)?;
        let app = applications::get(c, &device.application_id)?;
        if !app.settings.enabled {
            return Ok(form_again(StatusCode::BAD_REQUEST, "The application of this code is not available."));
        }
        let authorization = AuthorizationRequest {
            client_id: app.client_id.clone(),
            reply: ReplyTo { redirect_uri: String::new(), response_mode: ResponseMode::Query, state: None },
            scope: device.scope.clone(),
            nonce: None,
            code_challenge: None,
            // §5.4: the user confirms every device, even an application consented to.
            prompt: vec!["consent".to_owned()],
            max_age: None,
            login_hint: None,
            hinted_sub: None,
            signed_in_at: None,
            consented: false,
            resources: device.resources.clone(),
            device: Some(device.device_code_hash.clone()),
            dpop_jkt: None,
            acr_values: None,
            essential_acr: None,
            first_factor: None,
        };
        let handle = generate_secret();
        authorization_requests::create_request(
            c,
            &NewAuthorizationRequest {
                id_hash: handle.hash().as_str().to_owned(),
                application_id: app.id.clone(),
                session_id_hash: Some(session.id_hash.clone()),
                parameters: serde_json::to_value(&authorization).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                expires_at: device.expires_at.min(now + session::ANONYMOUS_SESSION_LIFETIME),
            },
            now,
        )?;
        Ok((decide(c, state, handle.expose(), &authorization, &app, &session, now)?, None))
    })
}

/// The end of a device's authorization (called by `authorize::decide` once the user has
/// signed in, given the required claims and consented): approves the device code with
/// the user's sign-in and the scope consented to, so the device's next poll gets tokens.
pub(crate) fn approve(
    conn: &mut AnyConnection,
    handle: &str,
    request: &AuthorizationRequest,
    device_code_hash: &str,
    session: &BrowserSession,
    user_id: &UserId,
    now: i64,
) -> StoreResult<Deferred> {
    authorization_requests::delete_request(conn, SecretHash::of(handle).as_str())?;
    let approval = Approval {
        user_id: user_id.clone(),
        sid: Some(session.sid.clone()),
        auth_time: session.auth_time.unwrap_or(now),
        amr: session.amr.clone(),
        scope: request.scope.clone(),
    };
    if !device_codes::approve(conn, device_code_hash, &approval, now)? {
        return Ok(gone());
    }
    let summary = json!({ "client_id": request.client_id, "scope": request.scope });
    audit_user(conn, user_id, "user.device_approved", summary, None, now)?;
    Ok(Deferred::page(DeviceDonePage { approved: true }))
}

/// A denial at consent: the device's next poll gets `access_denied` (§3.5).
pub(crate) fn deny(conn: &mut AnyConnection, device_code_hash: &str, now: i64) -> StoreResult<Deferred> {
    if !device_codes::deny(conn, device_code_hash, now)? {
        return Ok(gone());
    }
    Ok(Deferred::page(DeviceDonePage { approved: false }))
}

/// The device code expired, or was answered in another window, meanwhile.
fn gone() -> Deferred {
    Deferred::page_status(
        StatusCode::BAD_REQUEST,
        crate::pages::ErrorPage {
            title: "This code can no longer be used".into(),
            message: "It has expired or was already answered. Start again on your device.".into(),
        },
    )
}
