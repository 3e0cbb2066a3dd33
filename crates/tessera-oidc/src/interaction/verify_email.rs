//! Email verification (docs/accounts.md): the page a verification link opens, and the
//! step of an authorization that waits for a verified address.
//!
//! `/account/verify/{token}` shows the address and a button; only the POST spends the
//! link (so that a mail scanner fetching the link verifies nothing), and only if the
//! address is still the account's. The verified flag is set by the link alone, never
//! by anything the user types (OIDC Core §5.1; docs/security.md, "Learned from the
//! 2026-12 review").
//!
//! `/login/verify-email?request=…` is where `authorize::decide` sends a signed-in user
//! whose address is not verified when the `unverified_sign_in` setting is off: it says
//! where the link went, sends a new one on request (throttled per account), and
//! continues once the address is verified.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use tessera_auth::Sent;
use tessera_auth::account_links::{self, VERIFY_PATH};
use tessera_store::account_tokens::Purpose;
use tessera_store::{StoreResult, users};

use super::handle_from_query;
use super::recovery::{dead_link, link_csrf, link_csrf_matches, plausible_token};
use crate::authorize::{Pending, load_pending};
use crate::error::{bad_form, expired, run_blocking};
use crate::form::Params;
use crate::session;
use crate::state::{OidcState, now};
use crate::view::{Deferred, see_other};

/// The authorization step that waits for a verified address.
pub(crate) const VERIFY_EMAIL_STEP_PATH: &str = "/login/verify-email";

#[derive(Template)]
#[template(path = "login/verify_email.html")]
struct VerifyPage {
    action: String,
    csrf: String,
    email: String,
    done: bool,
}

#[derive(Template)]
#[template(path = "login/check_mail.html")]
struct CheckMailPage {
    request: String,
    csrf: String,
    client_name: String,
    email: Option<String>,
    notice: Option<String>,
    error: Option<String>,
}

/// `GET /account/verify/{token}`.
pub(crate) async fn show(token: web::Path<String>, state: web::Data<OidcState>) -> HttpResponse {
    let token = token.into_inner();
    let state = state.into_inner();
    run_blocking(
        move || {
            if !plausible_token(&token) {
                return Ok(dead_link());
            }
            state.store.read_transaction(|c| {
                let Some(user) = account_links::link_owner(c, &token, Purpose::VerifyEmail, now())? else {
                    return Ok(dead_link());
                };
                let Some(email) = user.email else { return Ok(dead_link()) };
                let action = format!("{VERIFY_PATH}{token}");
                Ok(Deferred::page(VerifyPage { action, csrf: link_csrf(&token), email, done: false }))
            })
        },
        Deferred::into_response,
    )
    .await
}

/// `POST /account/verify/{token}`.
pub(crate) async fn submit(
    request: HttpRequest,
    token: web::Path<String>,
    body: web::Bytes,
    state: web::Data<OidcState>,
) -> HttpResponse {
    let token = token.into_inner();
    let Ok(form) = Params::from_page_form(&body) else { return bad_form().into_response() };
    let client_ip = request.peer_addr().map(|a| a.ip().to_string());
    let state = state.into_inner();
    run_blocking(
        move || {
            let Some(mail) = &state.accounts else { return Ok(dead_link()) };
            if !plausible_token(&token) {
                return Ok(dead_link());
            }
            if !link_csrf_matches(&token, form.get("csrf")) {
                return Ok(bad_form());
            }
            let verified =
                state.store.write_transaction(|c| mail.verify_email(c, &token, client_ip.as_deref(), now()))?;
            Ok(match verified.and_then(|u| u.email) {
                Some(email) => {
                    Deferred::page(VerifyPage { action: String::new(), csrf: String::new(), email, done: true })
                }
                None => dead_link(),
            })
        },
        Deferred::into_response,
    )
    .await
}

fn check_mail_page(pending: &Pending, email: Option<String>) -> CheckMailPage {
    CheckMailPage {
        request: pending.handle.clone(),
        csrf: session::csrf_token(&pending.session_id),
        client_name: pending.app.settings.name.clone(),
        email,
        notice: None,
        error: None,
    }
}

/// The pending request and its signed-in user, if the user still has to verify.
fn waiting(
    c: &mut tessera_store::AnyConnection,
    state: &OidcState,
    handle: Option<&str>,
    cookie: Option<&str>,
    now: i64,
) -> StoreResult<Result<(Pending, users::User), Deferred>> {
    let Some(pending) = load_pending(c, state, handle, cookie, now)? else { return Ok(Err(expired())) };
    let user = match &pending.session.user_id {
        Some(id) => users::find(c, id)?.filter(|u| !u.disabled),
        None => None,
    };
    match user {
        Some(user) if !user.email_verified => Ok(Ok((pending, user))),
        // Verified meanwhile, or not signed in: the authorization decides what is next.
        _ => Ok(Err(see_other(&super::resume_location(&pending.handle)))),
    }
}

/// `GET /login/verify-email?request=…`.
pub(crate) async fn show_step(request: HttpRequest, state: web::Data<OidcState>) -> HttpResponse {
    let cookie = session::presented_id(&request, &state.settings);
    let handle = handle_from_query(request.query_string());
    let state = state.into_inner();
    run_blocking(
        move || {
            state.store.read_transaction(|c| {
                Ok(match waiting(c, &state, handle.as_deref(), cookie.as_deref(), now())? {
                    Err(elsewhere) => elsewhere,
                    Ok((pending, user)) => Deferred::client_page(
                        StatusCode::OK,
                        check_mail_page(&pending, user.email),
                        pending.redirect_uri(),
                    ),
                })
            })
        },
        Deferred::into_response,
    )
    .await
}

/// `POST /login/verify-email`: sends a new link.
pub(crate) async fn submit_step(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    let cookie = session::presented_id(&request, &state.settings);
    let Ok(form) = Params::from_page_form(&body) else { return bad_form().into_response() };
    let state = state.into_inner();
    run_blocking(move || resend(&state, &form, cookie.as_deref()), Deferred::into_response).await
}

fn resend(state: &OidcState, form: &Params, cookie: Option<&str>) -> StoreResult<Deferred> {
    let now = now();
    let found = state.store.read_transaction(|c| waiting(c, state, form.get("request"), cookie, now))?;
    let (pending, user) = match found {
        Ok(found) => found,
        Err(elsewhere) => return Ok(elsewhere),
    };
    if !session::csrf_matches(&pending.session_id, form.get("csrf")) {
        return Ok(bad_form());
    }
    let mut page = check_mail_page(&pending, user.email.clone());
    let Some(mail) = &state.accounts else {
        page.error = Some("Mail cannot be sent from here. Ask an administrator.".into());
        return Ok(Deferred::client_page(StatusCode::SERVICE_UNAVAILABLE, page, pending.redirect_uri()));
    };
    if user.email.is_none() {
        return Ok(Deferred::client_page(StatusCode::BAD_REQUEST, page, pending.redirect_uri()));
    }
    if let Sent::Throttled { until } =
        state.store.write_statement(|c| mail.reserve(c, &user, Purpose::VerifyEmail, now))?
    {
        page.error = Some(format!(
            "A link was sent a moment ago. You can ask for another in {}.",
            account_links::duration_words(until - now)
        ));
        let refused = Deferred::client_page(StatusCode::TOO_MANY_REQUESTS, page, pending.redirect_uri());
        return Ok(refused.retry_after(until - now));
    }
    let sent = state.store.write_transaction(|c| {
        let sent = mail.send_verification(c, &user, now)?;
        let summary = serde_json::json!({ "client_id": pending.app.client_id });
        super::audit_user(c, &user.id, "user.verification_sent", summary, None, now)?;
        Ok(sent)
    })?;
    if sent == Sent::Queued {
        mail.wake();
    }
    page.notice = Some("A new link is on its way. Check your mail.".into());
    Ok(Deferred::client_page(StatusCode::OK, page, pending.redirect_uri()))
}
