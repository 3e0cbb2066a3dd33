//! `/account/sign-in/factor`: the second factor of the account page's own sign-in
//! (`super::sign_in`), as the factor page of an authorization asks it
//! (`crate::interaction::factor`): a TOTP or recovery code (`tessera_auth::check_code`),
//! or one of the user's passkeys (a WebAuthn get, its attempt reserved in the same
//! throttle before the assertion is checked). The password waits in
//! `tessera_store::pending_sign_ins`, bound to this browser's anonymous session; success
//! takes it once and starts the signed-in session (a new id) with both factors' `amr`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use tessera_auth::{Admission, Channel, CodeAttempt, CodeVerdict, PasswordAttempt};
use tessera_domain::assurance::{self, Factor};
use tessera_store::factors::ceremonies::Kind;
use tessera_store::factors::{self as stored_factors, passkeys as stored_passkeys, recovery_codes};
use tessera_store::pending_sign_ins::{self, PendingSignIn};
use tessera_store::users::User;
use tessera_store::{AnyConnection, StoreError, StoreResult, users};
use tessera_tokens::SecretHash;

use super::sign_in::{Outcome, with_cookie};
use super::{PATH, SIGN_IN_PATH, Submitted};
use crate::error::{bad_form, run_blocking};
use crate::interaction::audit_user;
use crate::interaction::ceremonies::{ceremony_answer, json_error, verify_passkey};
use crate::interaction::factor::{FactorPage, WRONG_CODE, WRONG_PASSKEY, wake_mail};
use crate::session::{self, Device};
use crate::state::{OidcState, now};
use crate::view::{Deferred, see_other};

/// Where the factor form posts.
const FACTOR_PATH: &str = "/account/sign-in/factor";

/// The factor form for `user`, on the session `session_id`.
pub(crate) fn page(
    conn: &mut AnyConnection,
    state: &OidcState,
    session_id: &str,
    user: &User,
    error: Option<String>,
) -> StoreResult<FactorPage> {
    let factors = stored_factors::summary(conn, &user.id)?;
    Ok(FactorPage {
        action: FACTOR_PATH,
        request: None,
        csrf: session::csrf_token(session_id),
        client_name: None,
        username: user.username.clone(),
        totp: factors.totp && state.factors.master_key.is_some(),
        recovery_code: factors.recovery_codes_left > 0 && state.factors.master_key.is_some(),
        passkey: factors.passkeys > 0 && state.factors.relying_party.is_some(),
        step_up: false,
        error,
    })
}

/// This browser's session, its half-done sign-in and the user, when the form is its own.
struct Waiting {
    session_id: String,
    pending: PendingSignIn,
    user: User,
}

fn waiting(state: &OidcState, submitted: &Submitted, now: i64) -> StoreResult<Option<Waiting>> {
    state.store.read_transaction(|c| {
        let Some((session_id, session)) = session::current(c, submitted.cookie.as_deref(), &state.settings, now)?
        else {
            return Ok(None);
        };
        if !session::csrf_matches(&session_id, submitted.form.get("csrf")) {
            return Ok(None);
        }
        let Some(pending) = pending_sign_ins::get(c, &session.id_hash, now)? else { return Ok(None) };
        let Some(user) = users::find(c, &pending.user_id)?.filter(|u| !u.disabled) else { return Ok(None) };
        Ok(Some(Waiting { session_id, pending, user }))
    })
}

/// `POST /account/sign-in/factor`: a `code`, or a passkey's `ceremony` and `credential`.
pub(crate) async fn submit(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    let Some(submitted) = Submitted::read(&request, &body, &state) else { return bad_form().into_response() };
    let device = Device::of(&request);
    let state = state.into_inner();
    let worker = state.clone();
    run_blocking(
        move || present(&worker, &submitted, &device),
        move |outcome| {
            wake_mail(&state);
            with_cookie(&state, outcome)
        },
    )
    .await
}

fn present(state: &OidcState, submitted: &Submitted, device: &Device) -> StoreResult<Outcome> {
    let now = now();
    let Some(waiting) = waiting(state, submitted, now)? else {
        return Ok((see_other(SIGN_IN_PATH), None));
    };
    let user = &waiting.user;
    let client_ip = device.client_ip.as_deref();
    let again = |status: StatusCode, message: &str| -> StoreResult<Deferred> {
        let page = state.store.read_transaction(|c| page(c, state, &waiting.session_id, user, Some(message.into())))?;
        Ok(Deferred::page_status(status, page))
    };
    let failed = |factor: &str| {
        state.store.write_transaction(|c| {
            let event = tessera_store::audit::NewAuditEvent {
                actor: "anonymous",
                action: "user.sign_in_failed",
                target: &format!("user:{}", user.id),
                summary: json!({ "page": "account", "factor": factor }),
                client_ip,
            };
            tessera_store::audit::record(c, &event, now).map(|_| ())
        })
    };
    let form = &submitted.form;
    let (factor, reservations) = if let Some(credential) = form.get("credential") {
        let Some(party) = state.factors.relying_party.as_deref() else {
            return Ok((again(StatusCode::BAD_REQUEST, WRONG_PASSKEY)?, None));
        };
        let attempt = PasswordAttempt {
            login: &user.username,
            user: Some(user),
            password: "",
            client_ip,
            channel: Channel::AccountPage,
        };
        let reservations = match tessera_auth::reserve(&state.store, &attempt, now)? {
            Admission::Locked { until } => {
                let message = tessera_auth::locked_message(until, now);
                return Ok((again(StatusCode::TOO_MANY_REQUESTS, &message)?.retry_after(until - now), None));
            }
            Admission::Reserved(reservations) => reservations,
        };
        match verify_passkey(state, party, user, form.get("ceremony").unwrap_or(""), credential, now)? {
            Some(factor) => (factor, reservations),
            None => {
                failed("passkey")?;
                return Ok((again(StatusCode::BAD_REQUEST, WRONG_PASSKEY)?, None));
            }
        }
    } else {
        let Some(key) = state.factors.master_key.as_deref() else {
            return Ok((again(StatusCode::BAD_REQUEST, WRONG_CODE)?, None));
        };
        let attempt =
            CodeAttempt { user, code: form.get("code").unwrap_or(""), client_ip, channel: Channel::AccountPage };
        match tessera_auth::check_code(&state.store, key, &attempt, now)? {
            CodeVerdict::Locked { until } => {
                let message = tessera_auth::locked_message(until, now);
                return Ok((again(StatusCode::TOO_MANY_REQUESTS, &message)?.retry_after(until - now), None));
            }
            CodeVerdict::Wrong => {
                failed("code")?;
                return Ok((again(StatusCode::BAD_REQUEST, WRONG_CODE)?, None));
            }
            CodeVerdict::Matched { factor, reservations } => (factor, reservations),
        }
    };
    state.store.write_transaction(|c| {
        reservations.refund(c)?;
        let hash = SecretHash::of(&waiting.session_id);
        // Of parallel finishes one takes the waiting sign-in; the others start nothing.
        if !pending_sign_ins::take(c, hash.as_str())? {
            return Ok((see_other(SIGN_IN_PATH), None));
        }
        let amr = assurance::record(&waiting.pending.amr, factor, false);
        let (new_id, _) = session::start(
            c,
            Some(&waiting.session_id),
            Some((&user.id, now, amr.clone(), device)),
            &state.settings,
            now,
        )?;
        audit_user(c, &user.id, "user.sign_in", json!({ "page": "account", "amr": amr }), client_ip, now)?;
        if factor == Factor::RecoveryCode {
            let left = recovery_codes::count_left(c, &user.id)?;
            audit_user(
                c,
                &user.id,
                "user.recovery_code_used",
                json!({ "page": "account", "codes_left": left }),
                client_ip,
                now,
            )?;
            if let Some(accounts) = &state.accounts {
                accounts.send_recovery_code_used(c, user, left, now)?;
            }
        }
        Ok((see_other(&format!("{PATH}?notice=signed-in")), Some(new_id)))
    })
}

/// `POST /account/sign-in/factor/passkey`: the options of a WebAuthn get over the user's
/// passkeys.
pub(crate) async fn passkey_options(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<OidcState>,
) -> HttpResponse {
    let Some(submitted) = Submitted::read(&request, &body, &state) else {
        return json_error(StatusCode::BAD_REQUEST, "The form could not be read.").into_response();
    };
    let state = state.into_inner();
    run_blocking(
        move || {
            let now = now();
            let Some(party) = state.factors.relying_party.as_deref() else {
                return Ok(json_error(StatusCode::NOT_FOUND, "Passkeys are not available on this server."));
            };
            let Some(waiting) = waiting(&state, &submitted, now)? else {
                return Ok(json_error(StatusCode::FORBIDDEN, "This sign-in has expired. Start again."));
            };
            let passkeys = state.store.read_statement(|c| stored_passkeys::list_of_user(c, &waiting.user.id))?;
            if passkeys.is_empty() {
                return Ok(json_error(StatusCode::BAD_REQUEST, "You have no passkey."));
            }
            let credentials: Vec<&str> = passkeys.iter().map(|p| p.credential.as_str()).collect();
            let ceremony =
                party.start_authentication(&credentials).map_err(|e| StoreError::Corrupt(format!("passkeys: {e}")))?;
            ceremony_answer(&state, ceremony, Kind::Authentication, Some(&waiting.user.id), now)
        },
        Deferred::into_response,
    )
    .await
}
