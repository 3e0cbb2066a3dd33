//! Self-service account deletion, only when the `account_self_deletion` setting is on
//! (otherwise `404`, and the page offers none). The current password confirms it (through
//! the sign-in throttle); then one transaction does what an administrator's delete
//! does: every grant with its refresh and reference tokens revoked, every browser and
//! console session ended with back-channel logout tokens queued, the user and their
//! claim values deleted, and `user.self_delete` audited.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::json;
use tessera_store::{StoreResult, grants, users};

use super::password::{Current, check_current};
use super::{Submitted, forged, page, signed_in};
use crate::error::{bad_form, run_blocking};
use crate::interaction::audit_user;
use crate::pages::ErrorPage;
use crate::session;
use crate::state::{OidcState, now};
use crate::view::Deferred;

/// After the account is gone.
#[derive(Template)]
#[template(path = "account/deleted.html")]
pub struct AccountDeletedPage {
    pub username: String,
}

fn not_offered() -> Deferred {
    Deferred::page_status(
        StatusCode::NOT_FOUND,
        ErrorPage {
            title: "Not available".into(),
            message: "Accounts are not deleted here. Ask an administrator to delete yours.".into(),
        },
    )
}

/// `POST /account/delete`.
pub(crate) async fn submit(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    if !state.settings.account_self_deletion {
        return not_offered().into_response();
    }
    let Some(submitted) = Submitted::read(&request, &body, &state) else { return bad_form().into_response() };
    let state = state.into_inner();
    let worker = state.clone();
    run_blocking(
        move || delete(&worker, &submitted),
        move |(response, deleted)| {
            let mut response = response.into_response();
            if deleted {
                state.outbox_wake.notify();
                let _ = response.add_cookie(&session::removal(&state.settings));
            }
            response
        },
    )
    .await
}

fn delete(state: &OidcState, submitted: &Submitted) -> StoreResult<(Deferred, bool)> {
    let now = now();
    let client_ip = submitted.client_ip.as_deref();
    let Some(account) = state.store.read_transaction(|c| signed_in(c, state, submitted.cookie.as_deref(), now))? else {
        return Ok((super::to_sign_in(), false));
    };
    if !account.posted(&submitted.form) {
        return Ok((forged(), false));
    }
    let password = submitted.form.get("current_password").unwrap_or("");
    let reservations = match check_current(state, &account, password, client_ip, "self_delete", now)? {
        Current::Right(reservations) => reservations,
        Current::Refused { message, status, retry_after } => {
            let mut page = state.store.read_transaction(|c| page(c, state, &account, now))?;
            page.problems.delete_password = Some(message);
            let answer = Deferred::page_status(status, page);
            let answer = match retry_after {
                Some(seconds) => answer.retry_after(seconds),
                None => answer,
            };
            return Ok((answer, false));
        }
    };
    state.store.write_transaction(|c| {
        let Some(account) = signed_in(c, state, submitted.cookie.as_deref(), now)? else {
            return Ok((super::to_sign_in(), false));
        };
        reservations.refund(c)?;
        let ended = grants::end_access_of_user(c, &account.user.id, now)?;
        users::delete(c, &account.user.id)?;
        let summary = json!({ "username": account.user.username, "access_ended": ended, "page": "account" });
        audit_user(c, &account.user.id, "user.self_delete", summary, client_ip, now)?;
        Ok((Deferred::page(AccountDeletedPage { username: account.user.username.clone() }), true))
    })
}
