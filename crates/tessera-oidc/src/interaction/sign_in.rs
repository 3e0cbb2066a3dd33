//! The sign-in page: username or email and password (argon2id). Attempts are throttled
//! per account and per client IP by `tessera_auth::sign_in` (reserved before the hash, so
//! parallel attempts cannot pass the limit), and an unknown user gets the same message,
//! status and timing as a wrong password. Success starts a new session (a new id).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use tessera_auth::{Channel, PasswordAttempt, Verdict};
use tessera_store::{StoreError, users};

use super::{audit_user, handle_from_query, resume_location};
use crate::authorize::{Pending, load_pending, save_pending};
use crate::error::{bad_form, expired, run_blocking};
use crate::form::Params;
use crate::pages::SignInPage;
use crate::session;
use crate::state::{OidcState, now};
use crate::view::{Deferred, see_other};

const WRONG: &str = "The username or password is incorrect.";

fn page(
    pending: &Pending,
    state: &OidcState,
    login: &str,
    error: Option<String>,
    notice: Option<String>,
) -> SignInPage {
    SignInPage {
        request: pending.handle.clone(),
        csrf: session::csrf_token(&pending.session_id),
        client_name: pending.app.settings.name.clone(),
        login: login.to_owned(),
        error,
        registration_enabled: state.settings.registration_enabled && pending.app.settings.self_registration,
        notice,
    }
}

/// `GET /login?request=…`.
pub(crate) async fn show(request: HttpRequest, state: web::Data<OidcState>) -> HttpResponse {
    let cookie = session::presented_id(&request, &state.settings);
    let handle = handle_from_query(request.query_string());
    let state = state.into_inner();
    run_blocking(
        move || {
            state.store.read_transaction(|c| {
                let Some(pending) = load_pending(c, &state, handle.as_deref(), cookie.as_deref(), now())? else {
                    return Ok(expired());
                };
                let hint = pending.request.login_hint.clone().unwrap_or_default();
                Ok(Deferred::client_page(
                    StatusCode::OK,
                    page(&pending, &state, &hint, None, None),
                    pending.redirect_uri(),
                ))
            })
        },
        Deferred::into_response,
    )
    .await
}

/// `POST /login`.
pub(crate) async fn submit(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    let cookie = session::presented_id(&request, &state.settings);
    let Ok(form) = Params::from_page_form(&body) else { return bad_form().into_response() };
    let device = session::Device::of(&request);
    let state = state.into_inner();
    let worker = state.clone();
    run_blocking(
        move || sign_in(&worker, &form, cookie.as_deref(), &device),
        |(response, new_session)| {
            let mut response = response.into_response();
            if let Some(new_session) = new_session {
                let _ = response.add_cookie(&session::cookie(&new_session, &state.settings));
            }
            response
        },
    )
    .await
}

type Outcome = (Deferred, Option<String>);

fn sign_in(
    state: &OidcState,
    form: &Params,
    cookie: Option<&str>,
    device: &session::Device,
) -> Result<Outcome, StoreError> {
    let client_ip = device.client_ip.as_deref();
    let now = now();
    let login = form.get("login").unwrap_or("").trim().to_lowercase();
    let password = form.get("password").unwrap_or("");

    // Read what is needed, then reserve the attempt and hash outside any transaction.
    let loaded = state.store.read_transaction(|c| {
        let Some(pending) = load_pending(c, state, form.get("request"), cookie, now)? else { return Ok(None) };
        let user = if login.is_empty() { None } else { users::find_by_login(c, &login)? };
        Ok(Some((pending, user)))
    })?;
    let Some((pending, user)) = loaded else { return Ok((expired(), None)) };
    if !session::csrf_matches(&pending.session_id, form.get("csrf")) {
        return Ok((bad_form(), None));
    }
    let client_id = pending.app.client_id.clone();
    let attempt = PasswordAttempt {
        login: &login,
        user: user.as_ref(),
        password,
        client_ip,
        channel: Channel::LoginPage { client_id: &client_id },
    };
    let reservations = match tessera_auth::check_password(&state.store, &state.passwords, &attempt, now)? {
        Verdict::Locked { until } => {
            let message = tessera_auth::locked_message(until, now);
            let page = page(&pending, state, &login, Some(message), None);
            let refused = Deferred::client_page(StatusCode::TOO_MANY_REQUESTS, page, pending.redirect_uri());
            return Ok((refused.retry_after(until - now), None));
        }
        // A disabled account is refused like a wrong password, and counted the same.
        Verdict::Matched(reservations) if user.as_ref().is_some_and(|u| !u.disabled) => Some(reservations),
        Verdict::Matched(_) | Verdict::Wrong => None,
    };

    state.store.write_transaction(|c| match (&user, reservations) {
        (Some(user), Some(reservations)) => {
            reservations.refund(c)?;
            let (new_id, _session) = session::start(
                c,
                Some(&pending.session_id),
                Some((&user.id, now, vec!["pwd".to_owned()], device)),
                &state.settings,
                now,
            )?;
            let mut pending = pending;
            pending.request.signed_in_at = Some(now);
            save_pending(c, &pending)?;
            audit_user(
                c,
                &user.id,
                "user.sign_in",
                json!({ "client_id": pending.app.client_id, "amr": ["pwd"] }),
                client_ip,
                now,
            )?;
            Ok((see_other(&resume_location(&pending.handle)), Some(new_id)))
        }
        _ => {
            tessera_store::audit::record(
                c,
                &tessera_store::audit::NewAuditEvent {
                    actor: "anonymous",
                    action: "user.sign_in_failed",
                    target: &attempt.target(),
                    summary: json!({ "client_id": pending.app.client_id }),
                    client_ip,
                },
                now,
            )?;
            Ok((
                Deferred::client_page(
                    StatusCode::OK,
                    page(&pending, state, &login, Some(WRONG.into()), None),
                    pending.redirect_uri(),
                ),
                None,
            ))
        }
    })
}
