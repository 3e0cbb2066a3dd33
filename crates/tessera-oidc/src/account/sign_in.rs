//! `/account/sign-in`: the account page's own sign-in (no application involved), and
//! `/account/sign-out`. The form is bound to an anonymous session, as the sign-in page
//! of an authorization is; the password goes through the same throttle
//! (`tessera_auth::check_password`: per account and per client address, reserved
//! before the hash), and success starts a new session (a new id) and comes back to
//! `/account`.
//!
//! A user with a second factor (TOTP or a passkey) is asked for it as on the sign-in page
//! of an authorization (docs/authentication.md, "Signing in"): after the password the
//! browser's session stays anonymous, the password waits server-side in
//! `tessera_store::pending_sign_ins` (bound to that session, 5 minutes), and the factor
//! form (`/account/sign-in/factor`) takes a TOTP or recovery code, or the user's passkey,
//! through the same throttle. Else the account page would sign in with the password
//! alone, and a factor could be removed there without ever being presented.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::json;
use tessera_auth::{Channel, PasswordAttempt, Verdict};
use tessera_store::{StoreResult, audit, browser_sessions, pending_sign_ins, users};

use super::{PATH, Submitted, forged, signed_in};
use crate::error::{bad_form, run_blocking};
use crate::form::Params;
use crate::interaction::audit_user;
use crate::pages::SignedOutPage;
use crate::session::{self, Device};
use crate::state::{OidcState, now};
use crate::view::{Deferred, see_other};

/// The same words as the sign-in page of an authorization, for an unknown name too.
const WRONG: &str = "The username or password is incorrect.";

#[derive(Template)]
#[template(path = "account/sign_in.html")]
pub struct AccountSignInPage {
    pub csrf: String,
    pub login: String,
    pub error: Option<String>,
    pub notice: Option<String>,
}

/// Seconds a right password waits for its second factor.
pub(crate) const FACTOR_LIFETIME: i64 = 5 * 60;

/// Where a recovery link asked for on the account page leads once the password is set.
pub(crate) const AFTER_RECOVERY: &str = "/account/sign-in?notice=password-reset";

/// The words of each `notice` code of this page.
fn notice_text(code: &str) -> Option<&'static str> {
    match code {
        "password-reset" => Some(
            "Your password was changed, and every session signed in to your account was signed out. Sign in with \
             your new password.",
        ),
        _ => None,
    }
}

/// What a sign-in form answers, and the session cookie to set, if any.
pub(crate) type Outcome = (Deferred, Option<String>);

pub(crate) fn with_cookie(state: &OidcState, (response, cookie): Outcome) -> HttpResponse {
    let mut response = response.into_response();
    if let Some(id) = cookie {
        let _ = response.add_cookie(&session::cookie(&id, &state.settings));
    }
    response
}

/// `GET /account/sign-in`: the form, on this browser's session (an anonymous one is
/// started when it has none); a signed-in browser goes straight to `/account`.
pub(crate) async fn show(request: HttpRequest, state: web::Data<OidcState>) -> HttpResponse {
    let cookie = session::presented_id(&request, &state.settings);
    let notice = Params::parse(request.query_string().as_bytes())
        .ok()
        .and_then(|p| p.get("notice").and_then(notice_text))
        .map(str::to_owned);
    let state = state.into_inner();
    let worker = state.clone();
    run_blocking(
        move || {
            let now = now();
            worker.store.write_transaction(|c| {
                if signed_in(c, &worker, cookie.as_deref(), now)?.is_some() {
                    return Ok((see_other(PATH), None));
                }
                let (id, fresh) = match session::current(c, cookie.as_deref(), &worker.settings, now)? {
                    Some((id, _)) => (id, false),
                    None => (session::start(c, None, None, &worker.settings, now)?.0, true),
                };
                let page =
                    AccountSignInPage { csrf: session::csrf_token(&id), login: String::new(), error: None, notice };
                Ok((Deferred::page(page), fresh.then_some(id)))
            })
        },
        |outcome| with_cookie(&state, outcome),
    )
    .await
}

/// `POST /account/sign-in`.
pub(crate) async fn submit(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    let Some(submitted) = Submitted::read(&request, &body, &state) else { return bad_form().into_response() };
    let device = Device::of(&request);
    let state = state.into_inner();
    let worker = state.clone();
    run_blocking(move || sign_in(&worker, &submitted, &device), |outcome| with_cookie(&state, outcome)).await
}

fn sign_in(state: &OidcState, submitted: &Submitted, device: &Device) -> StoreResult<Outcome> {
    let now = now();
    let form = &submitted.form;
    let login = form.get("login").unwrap_or("").trim().to_lowercase();
    let password = form.get("password").unwrap_or("");
    let loaded = state.store.read_transaction(|c| {
        let Some((id, _)) = session::current(c, submitted.cookie.as_deref(), &state.settings, now)? else {
            return Ok(None);
        };
        let user = if login.is_empty() { None } else { users::find_by_login(c, &login)? };
        Ok(Some((id, user)))
    })?;
    // No session, or a form of another one: nothing is checked.
    let Some((session_id, user)) = loaded.filter(|(id, _)| session::csrf_matches(id, form.get("csrf"))) else {
        return Ok((forged(), None));
    };
    let page = |error: String| AccountSignInPage {
        csrf: session::csrf_token(&session_id),
        login: login.clone(),
        error: Some(error),
        notice: None,
    };
    let attempt = PasswordAttempt {
        login: &login,
        user: user.as_ref(),
        password,
        client_ip: device.client_ip.as_deref(),
        channel: Channel::AccountPage,
    };
    let reservations = match tessera_auth::check_password(&state.store, &state.passwords, &attempt, now)? {
        Verdict::Locked { until } => {
            let refused =
                Deferred::page_status(StatusCode::TOO_MANY_REQUESTS, page(tessera_auth::locked_message(until, now)));
            return Ok((refused.retry_after(until - now), None));
        }
        // A disabled account is refused like a wrong password, and counted the same.
        Verdict::Matched(reservations) if user.as_ref().is_some_and(|u| !u.disabled) => Some(reservations),
        Verdict::Matched(_) | Verdict::Wrong => None,
    };
    state.store.write_transaction(|c| match (&user, &reservations) {
        (Some(user), Some(reservations)) => {
            reservations.refund(c)?;
            if tessera_store::factors::summary(c, &user.id)?.has_second_factor() {
                let hash = tessera_tokens::SecretHash::of(&session_id);
                let amr = vec!["pwd".to_owned()];
                pending_sign_ins::begin(c, hash.as_str(), &user.id, &amr, now + FACTOR_LIFETIME, now)?;
                let page = super::sign_in_factor::page(c, state, &session_id, user, None)?;
                return Ok((Deferred::page(page), None));
            }
            let (new_id, _) = session::start(
                c,
                Some(&session_id),
                Some((&user.id, now, vec!["pwd".to_owned()], device)),
                &state.settings,
                now,
            )?;
            audit_user(
                c,
                &user.id,
                "user.sign_in",
                json!({ "page": "account", "amr": ["pwd"] }),
                attempt.client_ip,
                now,
            )?;
            Ok((see_other(&format!("{PATH}?notice=signed-in")), Some(new_id)))
        }
        _ => {
            let event = audit::NewAuditEvent {
                actor: "anonymous",
                action: "user.sign_in_failed",
                target: &attempt.target(),
                summary: json!({ "page": "account" }),
                client_ip: attempt.client_ip,
            };
            audit::record(c, &event, now)?;
            Ok((Deferred::page(page(WRONG.into())), None))
        }
    })
}

/// `POST /account/sign-out`: ends this browser's session as RP-initiated logout does
/// (the grants that end with it revoked, the applications it signed in to told).
pub(crate) async fn sign_out(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    let Some(submitted) = Submitted::read(&request, &body, &state) else { return bad_form().into_response() };
    let state = state.into_inner();
    let worker = state.clone();
    run_blocking(
        move || {
            let now = now();
            worker.store.write_transaction(|c| {
                let Some(account) = signed_in(c, &worker, submitted.cookie.as_deref(), now)? else {
                    return Ok((super::to_sign_in(), false));
                };
                if !session::csrf_matches(&account.session_id, submitted.form.get("csrf")) {
                    return Ok((forged(), false));
                }
                let revoked = browser_sessions::end_of_user(c, &account.user.id, &account.session.sid, now)?;
                let summary = json!({ "sid": account.session.sid, "grants_revoked": revoked, "page": "account" });
                audit_user(c, &account.user.id, "user.sign_out", summary, submitted.client_ip.as_deref(), now)?;
                Ok((Deferred::page(SignedOutPage {}), true))
            })
        },
        |(response, ended)| {
            let mut response = response.into_response();
            if ended {
                state.outbox_wake.notify();
                let _ = response.add_cookie(&session::removal(&state.settings));
            }
            response
        },
    )
    .await
}
