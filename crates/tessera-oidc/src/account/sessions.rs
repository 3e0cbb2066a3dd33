//! The sessions and applications of the account page: ending one session or every other
//! one, and withdrawing a consent. The same store functions and semantics as the
//! administrator's (`/api/v1/users/{id}/sessions`, `/consents`): an ended session's
//! grants are revoked (not `offline_access` ones) and its applications get a back-channel
//! logout token; a withdrawn consent revokes every grant, refresh token and reference
//! token the user gave that application, and the next authorization asks again.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use tessera_domain::ApplicationId;
use tessera_store::{StoreResult, browser_sessions, consents};

use super::{Account, Submitted, done, forged, signed_in};
use crate::error::{bad_form, run_blocking};
use crate::interaction::audit_user;
use crate::pages::SignedOutPage;
use crate::session;
use crate::state::{OidcState, now};
use crate::view::Deferred;

/// What a form of this module did: the answer, whether logout tokens may wait in the
/// outbox, and whether this browser's own session ended.
struct Outcome {
    response: Deferred,
    queued: bool,
    signed_out: bool,
}

impl Outcome {
    fn only(response: Deferred) -> Outcome {
        Outcome { response, queued: false, signed_out: false }
    }
}

/// Runs `act` for the signed-in user of a form with this session's CSRF token, in one
/// transaction, and answers.
async fn act(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<OidcState>,
    act: impl FnOnce(&mut tessera_store::AnyConnection, &Account, &Submitted, i64) -> StoreResult<Outcome> + Send + 'static,
) -> HttpResponse {
    let Some(submitted) = Submitted::read(&request, &body, &state) else { return bad_form().into_response() };
    let state = state.into_inner();
    let worker = state.clone();
    run_blocking(
        move || {
            let now = now();
            worker.store.write_transaction(|c| {
                let Some(account) = signed_in(c, &worker, submitted.cookie.as_deref(), now)? else {
                    return Ok(Outcome::only(super::to_sign_in()));
                };
                if !account.posted(&submitted.form) {
                    return Ok(Outcome::only(forged()));
                }
                act(c, &account, &submitted, now)
            })
        },
        move |outcome| {
            if outcome.queued {
                state.outbox_wake.notify();
            }
            let mut response = outcome.response.into_response();
            if outcome.signed_out {
                let _ = response.add_cookie(&session::removal(&state.settings));
            }
            response
        },
    )
    .await
}

/// `POST /account/sessions/end` with `sid`: ends that session of the user (this
/// browser's own: signs out).
pub(crate) async fn end_one(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    act(request, body, state, |c, account, submitted, now| {
        let sid = submitted.form.get("sid").unwrap_or("").to_owned();
        let Some(revoked) = browser_sessions::end_of_user(c, &account.user.id, &sid, now)? else {
            // Ended already (or never the user's): nothing to do, the list shows the rest.
            return Ok(Outcome::only(done("session")));
        };
        let summary = json!({ "sid": sid, "grants_revoked": revoked, "page": "account" });
        audit_user(c, &account.user.id, "user.session_end", summary, submitted.client_ip.as_deref(), now)?;
        if sid == account.session.sid {
            return Ok(Outcome { response: Deferred::page(SignedOutPage {}), queued: true, signed_out: true });
        }
        Ok(Outcome { response: done("session"), queued: true, signed_out: false })
    })
    .await
}

/// `POST /account/sessions/end-others`: signs out everywhere but this browser.
pub(crate) async fn end_others(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    act(request, body, state, |c, account, submitted, now| {
        let (sessions, grants_revoked) =
            browser_sessions::end_others_of_user(c, &account.user.id, Some(&account.session.sid), now)?;
        let summary = json!({ "sessions": sessions, "grants_revoked": grants_revoked, "kept": account.session.sid, "page": "account" });
        audit_user(c, &account.user.id, "user.sessions_end", summary, submitted.client_ip.as_deref(), now)?;
        Ok(Outcome { response: done("sessions"), queued: sessions > 0, signed_out: false })
    })
    .await
}

/// `POST /account/consents/revoke` with `application_id`.
pub(crate) async fn revoke_consent(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<OidcState>,
) -> HttpResponse {
    act(request, body, state, |c, account, submitted, now| {
        let application = ApplicationId::from(submitted.form.get("application_id").unwrap_or("").to_owned());
        let Some((consent, revoked)) = consents::revoke(c, &account.user.id, &application, now)? else {
            return Ok(Outcome::only(done("consent")));
        };
        let summary = json!({
            "application_id": application,
            "scope": consent.scope,
            "grants_revoked": revoked,
            "page": "account",
        });
        audit_user(c, &account.user.id, "user.consent_revoke", summary, submitted.client_ip.as_deref(), now)?;
        Ok(Outcome::only(done("consent")))
    })
    .await
}
