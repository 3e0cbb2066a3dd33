//! The console sign-in's second step (docs/authentication.md, "For administrators"): an
//! administrator who set up an authenticator app is asked, after a right password, for
//! its code or one of their recovery codes. Until then there is no session: the browser
//! holds a pending sign-in (its own HttpOnly, SameSite=Strict cookie, stored as a hash,
//! [`LIFETIME`] seconds), which a right code turns into the console session, once.
//!
//! Codes go through the sign-in throttle like passwords (`tessera_auth::check_code`): a
//! wrong code counts as a failed sign-in of the account, and a locked account is refused
//! without checking.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use tessera_auth::{AccountMail, Channel, CodeAttempt, CodeVerdict};
use tessera_domain::assurance::Factor;
use tessera_store::audit::{self, NewAuditEvent};
use tessera_store::organizations::ADMIN_ROLE;
use tessera_store::{Store, admin_sessions, users};
use tessera_tokens::SecretHash;

use super::super::error::blocking;
use super::super::form::FormData;
use super::super::view::SignInPage;
use super::super::{ConsoleError, html, see_other};
use super::{ConsoleSettings, csrf_token, now, safe_next, same};
use crate::api::ScriptSupport;

/// Seconds a right password waits for its code.
pub const LIFETIME: i64 = 5 * 60;
const COOKIE: &str = "tessera_admin_factor";
const SECURE_COOKIE: &str = "__Host-tessera_admin_factor";

fn cookie_name(settings: &ConsoleSettings) -> &'static str {
    if settings.secure_cookies { SECURE_COOKIE } else { COOKIE }
}

/// The page asking for the code of the pending sign-in `pending_id`, with `error`.
pub(super) fn code_page(
    settings: &ConsoleSettings,
    status: StatusCode,
    pending_id: Option<&str>,
    next: String,
    error: Option<String>,
) -> HttpResponse {
    let page = SignInPage {
        csrf: pending_id.map(csrf_token).unwrap_or_default(),
        login: String::new(),
        next,
        error,
        notice: None,
        second_factor: true,
    };
    let mut response = html(status, &page);
    if let Some(id) = pending_id {
        let cookie = settings.cookie(cookie_name(settings), id, LIFETIME);
        if let Err(error) = response.add_cookie(&cookie) {
            tracing::error!(%error, "could not set the pending sign-in cookie");
        }
    }
    response
}

enum Step {
    Done {
        session_id: String,
    },
    Again {
        status: StatusCode,
        message: String,
        retry_after: Option<i64>,
    },
    /// No pending sign-in (expired, used, or never): start over.
    Expired,
}

const WRONG_CODE: &str =
    "This code is not right. Type the 6 digits your authenticator app shows now, or a recovery code.";

/// `POST /admin/sign-in/code`.
pub(super) async fn submit(
    request: HttpRequest,
    store: web::Data<Store>,
    settings: web::Data<ConsoleSettings>,
    support: Option<web::Data<ScriptSupport>>,
    mail: Option<web::Data<AccountMail>>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form = FormData::parse(&body)?;
    let next = safe_next(form.get("next"));
    let pending = request.cookie(cookie_name(&settings)).map(|c| c.value().to_owned()).filter(|v| !v.is_empty());
    let Some(pending) = pending.filter(|p| same(&csrf_token(p), form.get("csrf"))) else {
        return Ok(expired(&settings, next));
    };
    let Some(support) = support else {
        tracing::error!("the console is mounted without ScriptSupport (the master key) in app data");
        return Err(ConsoleError::Internal);
    };
    let code = form.get("code").unwrap_or("").to_owned();
    let client_ip = request.peer_addr().map(|a| a.ip().to_string());
    let config = settings.clone();
    let id = pending.clone();
    let mailer = mail.clone();
    let step = blocking(move || {
        let now = now();
        let hash = SecretHash::of(&id);
        let found = store.read_transaction(|c| {
            let Some(user_id) = admin_sessions::find_awaiting_factor(c, hash.as_str(), now)? else { return Ok(None) };
            let user = users::get(c, &user_id)?;
            let admin = users::has_role(c, &user.id, ADMIN_ROLE)?;
            Ok(Some((user, admin)))
        })?;
        let Some((user, true)) = found.filter(|(user, _)| !user.disabled) else { return Ok(Step::Expired) };
        let attempt =
            CodeAttempt { user: &user, code: &code, client_ip: client_ip.as_deref(), channel: Channel::Console };
        match tessera_auth::check_code(&store, &support.master_key, &attempt, now)? {
            CodeVerdict::Locked { until } => Ok(Step::Again {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: tessera_auth::locked_message(until, now),
                retry_after: Some(until - now),
            }),
            CodeVerdict::Wrong => {
                store.write_transaction(|c| {
                    let event = NewAuditEvent {
                        actor: "anonymous",
                        action: "admin.sign_in_failed",
                        target: &format!("user:{}", user.id),
                        summary: json!({ "reason": "wrong_code" }),
                        client_ip: client_ip.as_deref(),
                    };
                    audit::record(c, &event, now)
                })?;
                Ok(Step::Again { status: StatusCode::OK, message: WRONG_CODE.to_owned(), retry_after: None })
            }
            CodeVerdict::Matched { factor, reservations } => {
                let completed = store.write_transaction(|c| {
                    reservations.refund(c)?;
                    if !admin_sessions::complete_factor(c, hash.as_str(), now + config.absolute_timeout, now)? {
                        return Ok(false);
                    }
                    let factor_name = if factor == Factor::RecoveryCode { "recovery_code" } else { "totp" };
                    let actor = format!("user:{}", user.id);
                    let event = NewAuditEvent {
                        actor: &actor,
                        action: "admin.sign_in",
                        target: &actor,
                        summary: json!({ "second_factor": factor_name }),
                        client_ip: client_ip.as_deref(),
                    };
                    audit::record(c, &event, now)?;
                    if factor == Factor::RecoveryCode
                        && let Some(mail) = &mailer
                    {
                        let left = tessera_store::factors::recovery_codes::count_left(c, &user.id)?;
                        mail.send_recovery_code_used(c, &user, left, now)?;
                    }
                    Ok(true)
                })?;
                Ok(if completed { Step::Done { session_id: id } } else { Step::Expired })
            }
        }
    })
    .await?;
    match step {
        Step::Done { session_id } => {
            if let Some(mail) = &mail {
                mail.wake();
            }
            let mut response = see_other(&next);
            let cookie = settings.cookie(settings.cookie_name(), &session_id, settings.absolute_timeout);
            let cleared = settings.removal(cookie_name(&settings));
            let sign_in_cleared = settings.removal(settings.sign_in_cookie_name());
            if response
                .add_cookie(&cookie)
                .and_then(|()| response.add_cookie(&cleared))
                .and_then(|()| response.add_cookie(&sign_in_cleared))
                .is_err()
            {
                return Err(ConsoleError::Internal);
            }
            Ok(response)
        }
        Step::Again { status, message, retry_after } => {
            let mut page = code_page(&settings, status, Some(&pending), next, Some(message));
            if let Some(seconds) = retry_after {
                let seconds = u64::try_from(seconds).unwrap_or(0).max(1);
                page.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
            }
            Ok(page)
        }
        Step::Expired => Ok(expired(&settings, next)),
    }
}

/// The pending sign-in is gone: the password form again.
fn expired(settings: &ConsoleSettings, next: String) -> HttpResponse {
    let message = "This sign-in expired. Please sign in again.".to_owned();
    let mut response = super::sign_in_page(settings, StatusCode::FORBIDDEN, String::new(), next, Some(message), None);
    let _ = response.add_cookie(&settings.removal(cookie_name(settings)));
    response
}
