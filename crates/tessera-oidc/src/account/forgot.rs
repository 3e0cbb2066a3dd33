//! `/account/forgot`: "forgot password" from the account page's sign-in, where no
//! application is involved. The same request as an authorization's (`request_link`: the
//! same answer whoever is named, the same throttles, the same mail), with its form bound
//! to the browser's (anonymous) session as the account sign-in's is; the link it mails
//! carries `?then=account`, so once the new password is set the user lands on
//! `/account/sign-in`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use tessera_auth::account_links::AfterRecovery;
use tessera_store::{StoreResult, users};

use super::sign_in::{Outcome, with_cookie};
use super::{PATH, SIGN_IN_PATH, Submitted, forged, signed_in};
use crate::error::{bad_form, run_blocking};
use crate::interaction::recovery::{
    ForgotPage, IP_LOCKED, LinkRequest, NO_LOGIN, Requested, SENT, request_link, unavailable,
};
use crate::session;
use crate::state::{OidcState, now};
use crate::view::{Deferred, see_other};

/// Where the form posts.
pub(crate) const FORGOT_PATH: &str = "/account/forgot";

fn forgot_page(session_id: &str, login: &str) -> ForgotPage {
    ForgotPage {
        action: FORGOT_PATH,
        request: None,
        csrf: session::csrf_token(session_id),
        client_name: None,
        back: SIGN_IN_PATH.to_owned(),
        login: login.to_owned(),
        login_error: None,
        error: None,
        notice: None,
    }
}

/// `GET /account/forgot`: the form, on this browser's session (an anonymous one is
/// started when it has none); a signed-in browser goes to `/account`.
pub(crate) async fn show(request: HttpRequest, state: web::Data<OidcState>) -> HttpResponse {
    let cookie = session::presented_id(&request, &state.settings);
    let state = state.into_inner();
    let worker = state.clone();
    run_blocking(
        move || {
            if worker.accounts.is_none() {
                return Ok((unavailable(), None));
            }
            let now = now();
            worker.store.write_transaction(|c| {
                if signed_in(c, &worker, cookie.as_deref(), now)?.is_some() {
                    return Ok((see_other(PATH), None));
                }
                let (id, fresh) = match session::current(c, cookie.as_deref(), &worker.settings, now)? {
                    Some((id, _)) => (id, false),
                    None => (session::start(c, None, None, &worker.settings, now)?.0, true),
                };
                Ok((Deferred::page(forgot_page(&id, "")), fresh.then_some(id)))
            })
        },
        |outcome| with_cookie(&state, outcome),
    )
    .await
}

/// `POST /account/forgot`.
pub(crate) async fn submit(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    let Some(submitted) = Submitted::read(&request, &body, &state) else { return bad_form().into_response() };
    let state = state.into_inner();
    let worker = state.clone();
    run_blocking(move || forgot(&worker, &submitted), |outcome| with_cookie(&state, outcome)).await
}

fn forgot(state: &OidcState, submitted: &Submitted) -> StoreResult<Outcome> {
    let Some(mail) = &state.accounts else { return Ok((unavailable(), None)) };
    let now = now();
    let form = &submitted.form;
    let login = form.get("login").unwrap_or("").trim().to_lowercase();
    let loaded = state.store.read_transaction(|c| {
        let Some((id, _)) = session::current(c, submitted.cookie.as_deref(), &state.settings, now)? else {
            return Ok(None);
        };
        let user = if login.is_empty() { None } else { users::find_by_login(c, &login)? };
        Ok(Some((id, user)))
    })?;
    // No session, or a form of another one: nothing is asked.
    let Some((session_id, user)) = loaded.filter(|(id, _)| session::csrf_matches(id, form.get("csrf"))) else {
        return Ok((forged(), None));
    };
    let mut page = forgot_page(&session_id, &login);
    let asked = LinkRequest {
        login: &login,
        user: user.as_ref(),
        after: AfterRecovery::AccountPage,
        summary: json!({ "page": "account" }),
        client_ip: submitted.client_ip.as_deref(),
    };
    let answer = match request_link(state, mail, &asked, now)? {
        Requested::NoLogin => {
            page.login_error = Some(NO_LOGIN.into());
            Deferred::page_status(StatusCode::BAD_REQUEST, page)
        }
        Requested::IpLocked { until } => {
            page.error = Some(IP_LOCKED.into());
            Deferred::page_status(StatusCode::TOO_MANY_REQUESTS, page).retry_after(until - now)
        }
        Requested::Answered => {
            page.notice = Some(SENT.into());
            Deferred::page(page)
        }
    };
    Ok((answer, None))
}
