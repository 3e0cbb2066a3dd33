//! Password recovery (docs/accounts.md): "forgot password" beside the sign-in form, and
//! the page a recovery link opens.
//!
//! `/login/forgot` answers the same page, status and (about) the same time whether or
//! not the name is an account (ASVS 5.0 V6.4.2: no enumeration): both paths reserve the
//! same throttle buckets and render and seal a message; only an account with an address
//! gets it. Requests are budgeted per client address, and an account gets at most one
//! link per `account_mail_resend_interval`.
//!
//! The account page's sign-in has the same "forgot password" (`account/forgot.rs`),
//! through [`request_link`]; its links carry `?then=account` and lead back to it.
//!
//! `/account/recover/{token}` asks the new password twice and checks the password
//! policy; then one transaction spends the link, sets the password, ends every session
//! and revokes every token of the user (`AccountMail::recover`). Its form's CSRF token
//! is derived from the link's token: only someone holding the link can post it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use tessera_auth::account_links::{self, AfterRecovery, RECOVER_PATH, RECOVERY_IP_LIMIT};
use tessera_auth::{AccountMail, Sent};
use tessera_store::account_tokens::Purpose;
use tessera_store::throttle::{self, Reservation};
use tessera_store::users::{self, User};
use tessera_store::{StoreError, StoreResult};

use super::handle_from_query;
use crate::authorize::{Pending, load_pending};
use crate::error::{bad_form, expired, run_blocking};
use crate::form::Params;
use crate::pages::ErrorPage;
use crate::session;
use crate::state::{OidcState, now};
use crate::view::{Deferred, see_other};

/// What `/login/forgot` says after a request, whoever it names.
pub(crate) const SENT: &str = "If that account has an email address, a link to set a new password is on its way. \
     Check your mail.";

/// `templates/login/forgot_password.html`, for an authorization's sign-in or the account
/// page's.
#[derive(Template)]
#[template(path = "login/forgot_password.html")]
pub(crate) struct ForgotPage {
    /// Where the form posts.
    pub action: &'static str,
    /// The pending authorization request's handle, if the form is one's.
    pub request: Option<String>,
    pub csrf: String,
    /// The application the user was signing in to, if any.
    pub client_name: Option<String>,
    /// "Back to sign in".
    pub back: String,
    pub login: String,
    pub login_error: Option<String>,
    pub error: Option<String>,
    pub notice: Option<String>,
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
        action: "/login/forgot",
        request: Some(pending.handle.clone()),
        csrf: session::csrf_token(&pending.session_id),
        client_name: Some(pending.app.settings.name.clone()),
        back: format!(
            "/login?request={}",
            url::form_urlencoded::byte_serialize(pending.handle.as_bytes()).collect::<String>()
        ),
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
pub(crate) fn unavailable() -> Deferred {
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
    let summary = serde_json::json!({ "client_id": pending.app.client_id });
    let asked =
        LinkRequest { login: &login, user: user.as_ref(), after: AfterRecovery::Application, summary, client_ip };
    Ok(match request_link(state, mail, &asked, now)? {
        Requested::NoLogin => {
            page.login_error = Some(NO_LOGIN.into());
            Deferred::client_page(StatusCode::BAD_REQUEST, page, pending.redirect_uri())
        }
        Requested::IpLocked { until } => {
            page.error = Some(IP_LOCKED.into());
            Deferred::client_page(StatusCode::TOO_MANY_REQUESTS, page, pending.redirect_uri()).retry_after(until - now)
        }
        Requested::Answered => {
            page.notice = Some(SENT.into());
            Deferred::client_page(StatusCode::OK, page, pending.redirect_uri())
        }
    })
}

pub(crate) const NO_LOGIN: &str = "Enter your username or email address.";
pub(crate) const IP_LOCKED: &str = "Too many requests from your network. Try again later.";

/// A "forgot password" request, from an authorization's sign-in or the account page's.
pub(crate) struct LinkRequest<'a> {
    /// The name typed, trimmed and lowercased.
    pub login: &'a str,
    /// The account it names, if any.
    pub user: Option<&'a User>,
    pub after: AfterRecovery,
    /// The audit event's summary (where it was asked).
    pub summary: serde_json::Value,
    pub client_ip: Option<&'a str>,
}

/// What a request came to; every request that names something gets the same answer.
pub(crate) enum Requested {
    /// Nothing (or too much) typed.
    NoLogin,
    /// Over the client address's budget.
    IpLocked { until: i64 },
    /// [`SENT`], whether or not a mail left.
    Answered,
}

/// The one way a recovery link is asked for: the per-address budget, then the account's
/// bucket (or the typed name's, for a name that is no account: the same statement either
/// way), then the link and its mail with the `user.recovery_requested` audit in one
/// transaction, or a decoy of the same work.
pub(crate) fn request_link(
    state: &OidcState,
    mail: &AccountMail,
    asked: &LinkRequest<'_>,
    now: i64,
) -> StoreResult<Requested> {
    let login = asked.login;
    if login.is_empty() || login.chars().count() > 320 {
        return Ok(Requested::NoLogin);
    }
    let ip_key = format!("recover:ip:{}", asked.client_ip.unwrap_or("unknown"));
    if let Reservation::Locked { until, .. } =
        state.store.write_statement(|c| throttle::reserve(c, &ip_key, RECOVERY_IP_LIMIT, now))?
    {
        return Ok(Requested::IpLocked { until });
    }
    let allowed = match asked.user {
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
    let queued = match (asked.user, allowed) {
        (Some(user), Sent::Queued) => state.store.write_transaction(|c| {
            let sent = mail.send_recovery(c, user, asked.after, now)?;
            if sent == Sent::Queued {
                super::audit_user(c, &user.id, "user.recovery_requested", asked.summary.clone(), asked.client_ip, now)?;
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
    Ok(Requested::Answered)
}

fn recover_page(token: &str, username: &str, after: AfterRecovery) -> RecoverPage {
    RecoverPage {
        action: format!("{RECOVER_PATH}{token}{}", after.query()),
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
pub(crate) async fn show_recover(
    request: HttpRequest,
    token: web::Path<String>,
    state: web::Data<OidcState>,
) -> HttpResponse {
    let token = token.into_inner();
    let after = AfterRecovery::from_query(request.query_string());
    let state = state.into_inner();
    run_blocking(
        move || {
            if !plausible_token(&token) {
                return Ok(dead_link());
            }
            state.store.read_transaction(|c| {
                Ok(match account_links::link_owner(c, &token, Purpose::ResetPassword, now())? {
                    Some(user) if !user.disabled => Deferred::page(recover_page(&token, &user.username, after)),
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
    let after = AfterRecovery::from_query(request.query_string());
    let state = state.into_inner();
    run_blocking(move || recover(&state, &token, after, &form, client_ip.as_deref()), Deferred::into_response).await
}

fn recover(
    state: &OidcState,
    token: &str,
    after: AfterRecovery,
    form: &Params,
    client_ip: Option<&str>,
) -> StoreResult<Deferred> {
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
    let mut page = recover_page(token, &user.username, after);
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
        Some(_) if after == AfterRecovery::AccountPage => {
            mail.wake();
            Ok(see_other(crate::account::sign_in::AFTER_RECOVERY))
        }
        Some(_) => {
            mail.wake();
            page.done = true;
            Ok(Deferred::page(page))
        }
    }
}
