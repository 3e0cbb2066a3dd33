//! Password recovery (docs/accounts.md): "forgot password" beside the sign-in form, and
//! the page a recovery link opens.
//!
//! `/login/forgot` answers the same page, status and (about) the same time whether or
//! not the name is an account (ASVS 5.0 V6.4.2: no enumeration): both paths reserve the
//! same throttle buckets and render and seal a message; only an account with an address
//! gets it. Requests are budgeted per client address, and an account gets at most one
//! link per `account_mail_resend_interval`.
//!
//! `/account/recover/{token}` asks the new password twice and checks the password
//! policy; then one transaction spends the link, sets the password, ends every session
//! and revokes every token of the user (`AccountMail::recover`). Its form's CSRF token
//! is derived from the link's token: only someone holding the link can post it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use tessera_auth::Sent;
use tessera_auth::account_links::{self, RECOVER_PATH, RECOVERY_IP_LIMIT};
use tessera_store::account_tokens::Purpose;
use tessera_store::throttle::{self, Reservation};
use tessera_store::{StoreError, StoreResult, users};

use super::handle_from_query;
use crate::authorize::{Pending, load_pending};
use crate::error::{bad_form, expired, run_blocking};
use crate::form::Params;
use crate::pages::ErrorPage;
use crate::session;
use crate::state::{OidcState, now};
use crate::view::Deferred;

/// What `/login/forgot` says after a request, whoever it names.
pub(crate) const SENT: &str = "If that account has an email address, a link to set a new password is on its way. \
     Check your mail.";

#[derive(Template)]
#[template(path = "login/forgot_password.html")]
struct ForgotPage {
    request: String,
    csrf: String,
    client_name: String,
    login: String,
    login_error: Option<String>,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "login/recover.html")]
struct RecoverPage {
    action: String,
    csrf: String,
    username: String,
    password_error: Option<String>,
    confirm_error: Option<String>,
    done: bool,
}

fn forgot_page(pending: &Pending, login: &str) -> ForgotPage {
    ForgotPage {
        request: pending.handle.clone(),
        csrf: session::csrf_token(&pending.session_id),
        client_name: pending.app.settings.name.clone(),
        login: login.to_owned(),
        login_error: None,
        error: None,
        notice: None,
    }
}

/// The CSRF token of a form reached through an account link: bound to the link.
pub(crate) fn link_csrf(token: &str) -> String {
    session::csrf_token(&format!("account link\0{token}"))
}

pub(crate) fn link_csrf_matches(token: &str, submitted: Option<&str>) -> bool {
    session::csrf_matches(&format!("account link\0{token}"), submitted)
}

/// The page of a link that is unknown, spent or expired.
pub(crate) fn dead_link() -> Deferred {
    Deferred::page_status(
        StatusCode::BAD_REQUEST,
        ErrorPage {
            title: "This link does not work any more".into(),
            message: "It was used already, or it expired, or a newer one replaced it. Ask for a new link.".into(),
        },
    )
}

/// The pages when no mail can be sent (the app was built without account mail).
fn unavailable() -> Deferred {
    Deferred::page_status(
        StatusCode::NOT_FOUND,
        ErrorPage { title: "Not available".into(), message: "Ask an administrator to reset your password.".into() },
    )
}

/// `GET /login/forgot?request=…`.
pub(crate) async fn show_forgot(request: HttpRequest, state: web::Data<OidcState>) -> HttpResponse {
    let cookie = session::presented_id(&request, &state.settings);
    let handle = handle_from_query(request.query_string());
    let state = state.into_inner();
    run_blocking(
        move || {
            if state.accounts.is_none() {
                return Ok(unavailable());
            }
            state.store.read_transaction(|c| {
                let Some(pending) = load_pending(c, &state, handle.as_deref(), cookie.as_deref(), now())? else {
                    return Ok(expired());
                };
                let login = pending.request.login_hint.clone().unwrap_or_default();
                Ok(Deferred::client_page(StatusCode::OK, forgot_page(&pending, &login), pending.redirect_uri()))
            })
        },
        Deferred::into_response,
    )
    .await
}

/// `POST /login/forgot`.
pub(crate) async fn submit_forgot(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    let cookie = session::presented_id(&request, &state.settings);
    let Ok(form) = Params::from_page_form(&body) else { return bad_form().into_response() };
    let client_ip = request.peer_addr().map(|a| a.ip().to_string());
    let state = state.into_inner();
    run_blocking(move || forgot(&state, &form, cookie.as_deref(), client_ip.as_deref()), Deferred::into_response).await
}

fn forgot(state: &OidcState, form: &Params, cookie: Option<&str>, client_ip: Option<&str>) -> StoreResult<Deferred> {
    let Some(mail) = &state.accounts else { return Ok(unavailable()) };
    let now = now();
    let login = form.get("login").unwrap_or("").trim().to_lowercase();
    let loaded = state.store.read_transaction(|c| {
        let Some(pending) = load_pending(c, state, form.get("request"), cookie, now)? else { return Ok(None) };
        let user = if login.is_empty() { None } else { users::find_by_login(c, &login)? };
        Ok(Some((pending, user)))
    })?;
    let Some((pending, user)) = loaded else { return Ok(expired()) };
    if !session::csrf_matches(&pending.session_id, form.get("csrf")) {
        return Ok(bad_form());
    }
    let mut page = forgot_page(&pending, &login);
    if login.is_empty() || login.chars().count() > 320 {
        page.login_error = Some("Enter your username or email address.".into());
        return Ok(Deferred::client_page(StatusCode::BAD_REQUEST, page, pending.redirect_uri()));
    }
    let ip_key = format!("recover:ip:{}", client_ip.unwrap_or("unknown"));
    if let Reservation::Locked { until, .. } =
        state.store.write_statement(|c| throttle::reserve(c, &ip_key, RECOVERY_IP_LIMIT, now))?
    {
        page.error = Some("Too many requests from your network. Try again later.".into());
        let refused = Deferred::client_page(StatusCode::TOO_MANY_REQUESTS, page, pending.redirect_uri());
        return Ok(refused.retry_after(until - now));
    }
    // The account's bucket (or the typed name's, for a name that is no account: the same
    // statement either way).
    let allowed = match &user {
        Some(user) => state.store.write_statement(|c| mail.reserve(c, user, Purpose::ResetPassword, now))?,
        None => {
            let key = format!("mail:reset_password:login:{}", login.chars().take(200).collect::<String>());
            let interval = mail.settings.resend_interval.max(1);
            let limit = throttle::Limit { attempts: 1, window: interval, lockout: interval };
            match state.store.write_statement(|c| throttle::reserve(c, &key, limit, now))? {
                Reservation::Locked { until, .. } => Sent::Throttled { until },
                Reservation::Allowed { .. } => Sent::Queued,
            }
        }
    };
    let queued = match (&user, allowed) {
        (Some(user), Sent::Queued) => state.store.write_transaction(|c| {
            let sent = mail.send_recovery(c, user, now)?;
            if sent == Sent::Queued {
                super::audit_user(
                    c,
                    &user.id,
                    "user.recovery_requested",
                    serde_json::json!({ "client_id": pending.app.client_id }),
                    client_ip,
                    now,
                )?;
            }
            Ok(sent == Sent::Queued)
        })?,
        _ => {
            mail.recovery_decoy();
            false
        }
    };
    if queued {
        mail.wake();
    }
    page.notice = Some(SENT.into());
    Ok(Deferred::client_page(StatusCode::OK, page, pending.redirect_uri()))
}

fn recover_page(token: &str, username: &str) -> RecoverPage {
    RecoverPage {
        action: format!("{RECOVER_PATH}{token}"),
        csrf: link_csrf(token),
        username: username.to_owned(),
        password_error: None,
        confirm_error: None,
        done: false,
    }
}

/// A token as it may appear in a link path (anything else is no link of ours).
pub(crate) fn plausible_token(token: &str) -> bool {
    (20..=100).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `GET /account/recover/{token}`.
pub(crate) async fn show_recover(token: web::Path<String>, state: web::Data<OidcState>) -> HttpResponse {
    let token = token.into_inner();
    let state = state.into_inner();
    run_blocking(
        move || {
            if !plausible_token(&token) {
                return Ok(dead_link());
            }
            state.store.read_transaction(|c| {
                Ok(match account_links::link_owner(c, &token, Purpose::ResetPassword, now())? {
                    Some(user) if !user.disabled => Deferred::page(recover_page(&token, &user.username)),
                    _ => dead_link(),
                })
            })
        },
        Deferred::into_response,
    )
    .await
}

/// `POST /account/recover/{token}`.
pub(crate) async fn submit_recover(
    request: HttpRequest,
    token: web::Path<String>,
    body: web::Bytes,
    state: web::Data<OidcState>,
) -> HttpResponse {
    let token = token.into_inner();
    let Ok(form) = Params::from_page_form(&body) else { return bad_form().into_response() };
    let client_ip = request.peer_addr().map(|a| a.ip().to_string());
    let state = state.into_inner();
    run_blocking(move || recover(&state, &token, &form, client_ip.as_deref()), Deferred::into_response).await
}

fn recover(state: &OidcState, token: &str, form: &Params, client_ip: Option<&str>) -> StoreResult<Deferred> {
    let Some(mail) = &state.accounts else { return Ok(unavailable()) };
    if !plausible_token(token) {
        return Ok(dead_link());
    }
    if !link_csrf_matches(token, form.get("csrf")) {
        return Ok(bad_form());
    }
    let now = now();
    let owner = state.store.read_transaction(|c| {
        let Some(user) = account_links::link_owner(c, token, Purpose::ResetPassword, now)? else { return Ok(None) };
        let claims = users::claim_values(c, &user)?;
        Ok(Some((user, claims)))
    })?;
    let Some((user, claims)) = owner.filter(|(u, _)| !u.disabled) else { return Ok(dead_link()) };
    let mut page = recover_page(token, &user.username);
    let password = form.get("password").unwrap_or("");
    // ASVS 5.0 V6.2: the policy, with the account's own names as words not to build on.
    let about_user: Vec<&str> = [user.username.as_str()]
        .into_iter()
        .chain(user.email.as_deref())
        .chain(claims.values().filter_map(serde_json::Value::as_str))
        .collect();
    let checked = state.settings.password_policy.check(password.to_owned(), &about_user);
    if let Err(refused) = &checked {
        page.password_error = Some(refused.to_string());
    } else if form.get("password_confirm") != Some(password) {
        page.confirm_error = Some("The two passwords differ. Type the same new password twice.".into());
    }
    let Ok(password) = checked.map_err(|_| ()).and_then(|p| if page.confirm_error.is_some() { Err(()) } else { Ok(p) })
    else {
        return Ok(Deferred::page_status(StatusCode::BAD_REQUEST, page));
    };
    let hash = state.passwords.hash(password.expose()).map_err(|e| StoreError::Database(e.to_string()))?;
    match state.store.write_transaction(|c| mail.recover(c, token, &hash, client_ip, now))? {
        None => Ok(dead_link()),
        Some(_) => {
            mail.wake();
            page.done = true;
            Ok(Deferred::page(page))
        }
    }
}
