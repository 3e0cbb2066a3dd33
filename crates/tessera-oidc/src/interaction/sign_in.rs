//! The sign-in page: username or email and password (argon2id). Failures are throttled
//! per account and per client IP, and an unknown user gets the same message, status and
//! timing as a wrong password. Success starts a new session (a new id).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use tessera_store::throttle;
use tessera_store::{StoreError, users};

use super::{audit_user, bad_form, handle_from_query, resume_location};
use crate::authorize::{Pending, expired, failure, load_pending, save_pending};
use crate::form::Params;
use crate::pages::SignInPage;
use crate::session;
use crate::state::{OidcState, now};
use crate::view::{Deferred, run_blocking};

pub use throttle::{ACCOUNT_LIMIT, IP_LIMIT};

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
        registration_enabled: state.settings.registration_enabled,
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
            state.store.read(|c| {
                let Some(pending) = load_pending(c, &state, handle.as_deref(), cookie.as_deref(), now())? else {
                    return Ok(expired());
                };
                let hint = pending.request.login_hint.clone().unwrap_or_default();
                Ok(Deferred::client_page(StatusCode::OK, page(&pending, &state, &hint, None, None), &pending))
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
    let client_ip = request.peer_addr().map(|a| a.ip().to_string());
    let state = state.into_inner();
    let worker = state.clone();
    let result = web::block(move || sign_in(&worker, &form, cookie.as_deref(), client_ip.as_deref())).await;
    match result {
        Ok(Ok((response, Some(new_session)))) => {
            let mut response = response.into_response();
            let _ = response.add_cookie(&session::cookie(&new_session, &state.settings));
            response
        }
        Ok(Ok((response, None))) => response.into_response(),
        Ok(Err(error)) => failure(error),
        Err(_) => failure(StoreError::Unavailable("worker pool".into())),
    }
}

type Outcome = (Deferred, Option<String>);

fn sign_in(
    state: &OidcState,
    form: &Params,
    cookie: Option<&str>,
    client_ip: Option<&str>,
) -> Result<Outcome, StoreError> {
    let now = now();
    let login = form.get("login").unwrap_or("").trim().to_lowercase();
    let password = form.get("password").unwrap_or("");
    let account_key = format!("account:{}", login.chars().take(200).collect::<String>());
    let ip_key = format!("ip:{}", client_ip.unwrap_or("unknown"));

    // Read what is needed, then hash outside any transaction (argon2 takes tens of ms).
    let loaded = state.store.read(|c| {
        let Some(pending) = load_pending(c, state, form.get("request"), cookie, now)? else { return Ok(None) };
        let locked = [&account_key, &ip_key]
            .into_iter()
            .map(|key| throttle::locked_until(c, key, now))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .max();
        let user = if login.is_empty() { None } else { users::find_by_login(c, &login)? };
        Ok(Some((pending, locked, user)))
    })?;
    let Some((pending, locked, user)) = loaded else { return Ok((expired(), None)) };
    if !session::csrf_matches(&pending.session_id, form.get("csrf")) {
        return Ok((bad_form(), None));
    }
    if let Some(until) = locked {
        let minutes = ((until - now) + 59) / 60;
        let message =
            format!("Too many failed sign-ins. Try again in {minutes} minute{}.", if minutes == 1 { "" } else { "s" });
        return Ok((
            Deferred::client_page(
                StatusCode::TOO_MANY_REQUESTS,
                page(&pending, state, &login, Some(message), None),
                &pending,
            ),
            None,
        ));
    }
    let verified = state.passwords.verify(password, user.as_ref().and_then(|u| u.password_hash.as_deref()));
    let user = user.filter(|u| verified && !u.disabled);

    state.store.write(|c| match &user {
        None => {
            throttle::record_failure(c, &account_key, ACCOUNT_LIMIT, now)?;
            throttle::record_failure(c, &ip_key, IP_LIMIT, now)?;
            let target = format!("login:{}", login.chars().take(100).collect::<String>());
            tessera_store::audit::record(
                c,
                &tessera_store::audit::NewAuditEvent {
                    actor: "anonymous",
                    action: "user.sign_in_failed",
                    target: &target,
                    summary: json!({ "client_id": pending.app.client_id }),
                    client_ip,
                },
                now,
            )?;
            Ok((
                Deferred::client_page(
                    StatusCode::OK,
                    page(&pending, state, &login, Some(WRONG.into()), None),
                    &pending,
                ),
                None,
            ))
        }
        Some(user) => {
            throttle::clear(c, &account_key)?;
            let (new_id, _session) = session::start(
                c,
                Some(&pending.session_id),
                Some((user.id.as_str(), now, vec!["pwd".to_owned()])),
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
            Ok((crate::authorize::response::see_other(&resume_location(&pending.handle)), Some(new_id)))
        }
    })
}
