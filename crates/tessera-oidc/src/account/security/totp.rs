//! The authenticator app (TOTP, RFC 6238) on the account page.
//!
//! - `POST /account/security/totp` (the current password unless the sign-in is recent)
//!   makes a new secret, sealed under the master key, pending until confirmed, and leads
//!   to the enrolment page;
//! - `GET /account/security/totp` shows the pending secret as a QR code drawn locally and
//!   as text for manual entry (`no-store`), with the form for the first code;
//! - `POST /account/security/totp/confirm` with `code`: a right code (±1 step) confirms
//!   the secret, its step recorded as used; audited `user.totp_enabled`, mailed;
//! - `POST /account/security/totp/remove` (the current password unless the sign-in is
//!   recent): audited `user.totp_disabled`, mailed.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::json;
use tessera_auth::{Channel, CodeAttempt, Confirmation};
use tessera_factors::TotpSecret;
use tessera_store::StoreResult;
use tessera_store::factors::totp;

use super::super::{Account, Submitted, done, signed_in, to_sign_in};
use super::{Answer, Change, prove, record, refuse};
use crate::error::run_blocking;
use crate::session;
use crate::state::{OidcState, now};
use crate::view::{Deferred, see_other};

/// The enrolment page.
pub(crate) const PATH: &str = "/account/security/totp";

/// `templates/account/security_totp.html`.
#[derive(Template)]
#[template(path = "account/security_totp.html")]
pub struct TotpPage {
    pub csrf: String,
    pub username: String,
    /// The `otpauth://` URI as an inline SVG QR code (drawn here, markup we made).
    pub qr_svg: String,
    /// The secret in base32, in groups of four.
    pub secret: String,
    pub issuer_name: String,
    pub error: Option<String>,
}

/// The enrolment page of the user's pending secret, or `None` when there is none.
fn enrolment(state: &OidcState, account: &Account, error: Option<String>) -> StoreResult<Option<TotpPage>> {
    let Some(key) = state.factors.master_key.as_deref() else { return Ok(None) };
    let Some(pending) = state.store.read_transaction(|c| totp::find(c, &account.user.id))? else { return Ok(None) };
    if pending.confirmed_at.is_some() {
        return Ok(None);
    }
    let Ok(secret) = TotpSecret::open(&pending.secret, key, account.user.id.as_str()) else {
        tracing::error!(user = %account.user.id, "a pending TOTP secret does not open with the master key");
        return Ok(None);
    };
    let label = account.user.email.as_deref().unwrap_or(&account.user.username);
    let issuer_name = state.factors.issuer_name.clone();
    let uri = secret.uri(&issuer_name, label);
    let qr_svg = tessera_factors::qr::svg(&uri, 200).unwrap_or_default();
    Ok(Some(TotpPage {
        csrf: session::csrf_token(&account.session_id),
        username: account.user.username.clone(),
        qr_svg,
        secret: secret.base32_grouped(),
        issuer_name,
        error,
    }))
}

/// `POST /account/security/totp`: a new pending secret.
pub(crate) async fn begin(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    super::change(request, body, state, start).await
}

fn start(state: &OidcState, submitted: &Submitted, account: Account, now: i64) -> StoreResult<Answer> {
    let form = &submitted.form;
    let problem = |status, retry_after, message: String| -> StoreResult<Answer> {
        Ok((refuse(state, &account, status, retry_after, |p| p.totp = Some(message), now)?, false))
    };
    let Some(key) = state.factors.master_key.as_deref() else {
        return problem(StatusCode::BAD_REQUEST, None, "Authenticator apps are not available on this server.".into());
    };
    let client_ip = submitted.client_ip.as_deref();
    let proof = match prove(state, &account, form.get("current_password"), client_ip, "totp_enabled", now)? {
        Ok(proof) => proof,
        Err(r) => return problem(r.status, r.retry_after, r.message),
    };
    let secret = TotpSecret::generate();
    let sealed =
        secret.seal(key, account.user.id.as_str()).map_err(|e| tessera_store::StoreError::Corrupt(e.to_string()))?;
    let begun = state.store.write_transaction(|c| {
        proof.settle(c)?;
        totp::begin(c, &account.user.id, &sealed, now)
    })?;
    if !begun {
        let message = "An authenticator app is set up already. Remove it first to set up another.";
        return problem(StatusCode::BAD_REQUEST, None, message.into());
    }
    Ok((see_other(PATH), false))
}

/// `GET /account/security/totp`.
pub(crate) async fn show(request: HttpRequest, state: web::Data<OidcState>) -> HttpResponse {
    let cookie = session::presented_id(&request, &state.settings);
    let state = state.into_inner();
    run_blocking(
        move || {
            let now = now();
            let Some(account) = state.store.read_transaction(|c| signed_in(c, &state, cookie.as_deref(), now))? else {
                return Ok(to_sign_in());
            };
            Ok(match enrolment(&state, &account, None)? {
                Some(page) => Deferred::page(page),
                None => see_other(super::super::PATH),
            })
        },
        Deferred::into_response,
    )
    .await
}

/// `POST /account/security/totp/confirm` with `code`.
pub(crate) async fn confirm(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    super::change(request, body, state, confirmation).await
}

fn confirmation(state: &OidcState, submitted: &Submitted, account: Account, now: i64) -> StoreResult<Answer> {
    let form = &submitted.form;
    let Some(key) = state.factors.master_key.as_deref() else { return Ok((see_other(super::super::PATH), false)) };
    let again = |status: StatusCode, message: &str| -> StoreResult<Deferred> {
        let page = enrolment(state, &account, Some(message.to_owned()))?;
        Ok(page.map_or_else(|| see_other(super::super::PATH), |p| Deferred::page_status(status, p)))
    };
    let wrong =
        |message: &str| -> StoreResult<(Deferred, bool)> { Ok((again(StatusCode::BAD_REQUEST, message)?, false)) };
    let client_ip = submitted.client_ip.as_deref();
    let attempt = CodeAttempt {
        user: &account.user,
        code: form.get("code").unwrap_or(""),
        client_ip,
        channel: Channel::AccountPage,
    };
    let (step, reservations) = match tessera_auth::check_confirmation(&state.store, key, &attempt, now)? {
        Confirmation::NothingPending => return Ok((see_other(super::super::PATH), false)),
        Confirmation::Locked { until } => {
            let message = tessera_auth::locked_message(until, now);
            return Ok((again(StatusCode::TOO_MANY_REQUESTS, &message)?.retry_after(until - now), false));
        }
        Confirmation::Wrong => return wrong("This code is not right. Type the 6 digits your app shows now."),
        Confirmation::Right { step, reservations } => (step, reservations),
    };
    let confirmed = state.store.write_transaction(|c| {
        let Some(account) = signed_in(c, state, submitted.cookie.as_deref(), now)? else { return Ok(None) };
        if !totp::confirm(c, &account.user.id, step, now)? {
            return Ok(Some(None));
        }
        reservations.refund(c)?;
        let change = Change {
            action: "user.totp_enabled",
            summary: json!({ "page": "account" }),
            factor: "An authenticator app (one-time codes)",
            added: true,
        };
        record(c, state, &account.user, &change, client_ip, now).map(|queued| Some(Some(queued)))
    })?;
    match confirmed {
        None => Ok((to_sign_in(), false)),
        // Used meanwhile by a parallel confirmation, or replaced.
        Some(None) => wrong("This code was used already. Wait for the next one."),
        Some(Some(queued)) => Ok((done("totp-enabled"), queued)),
    }
}

/// `POST /account/security/totp/remove`.
pub(crate) async fn remove(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    super::change(request, body, state, removal).await
}

fn removal(state: &OidcState, submitted: &Submitted, account: Account, now: i64) -> StoreResult<Answer> {
    let form = &submitted.form;
    let client_ip = submitted.client_ip.as_deref();
    let proof = match prove(state, &account, form.get("current_password"), client_ip, "totp_disabled", now)? {
        Ok(proof) => proof,
        Err(r) => {
            return Ok((refuse(state, &account, r.status, r.retry_after, |p| p.totp = Some(r.message), now)?, false));
        }
    };
    let queued = state.store.write_transaction(|c| {
        proof.settle(c)?;
        let Some(account) = signed_in(c, state, submitted.cookie.as_deref(), now)? else { return Ok(None) };
        let confirmed = totp::find_confirmed(c, &account.user.id)?.is_some();
        if !totp::delete(c, &account.user.id)? || !confirmed {
            // Nothing active to remove (a pending enrolment is simply dropped).
            return Ok(Some(false));
        }
        let change = Change {
            action: "user.totp_disabled",
            summary: json!({ "page": "account" }),
            factor: "The authenticator app (one-time codes)",
            added: false,
        };
        record(c, state, &account.user, &change, client_ip, now).map(Some)
    })?;
    Ok(match queued {
        None => (to_sign_in(), false),
        Some(queued) => (done("totp-disabled"), queued),
    })
}
