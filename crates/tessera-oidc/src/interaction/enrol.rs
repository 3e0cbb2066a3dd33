//! Enrolment during sign-in, `/login/enrol?request=…` (issue 18 §4, docs/authentication.md
//! "Signing in"): when the pending request needs a factor the user has not got (no TOTP
//! or passkey for `2fa`, no passkey for `phr`), the user sets one up here, as required
//! claims are asked: a step of the pending request. Only a user who has no factor that
//! would do gets here (`super::factor::need`): someone holding just the password cannot
//! add a factor beside the owner's.
//!
//! An authenticator app (a new secret, its QR code drawn locally and the key for manual
//! entry, confirmed by a first code) or a passkey (a WebAuthn registration through
//! `static/passkeys.js`). The factor is audited and mailed like one added on the account
//! page, then counts as presented: the sign-in finishes (or the session steps up) as on
//! the factor page (`super::factor::finish`). Recovery codes are offered next.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::json;
use tessera_auth::{Channel, CodeAttempt, Confirmation};
use tessera_domain::assurance::Factor;
use tessera_factors::RelyingParty;
use tessera_factors::TotpSecret;
use tessera_factors::passkeys::PasskeyUser;
use tessera_store::factors::ceremonies::{self, Kind};
use tessera_store::factors::passkeys::{self as stored_passkeys, NewPasskey};
use tessera_store::factors::{recovery_codes as stored_codes, totp};
use tessera_store::users::User;
use tessera_store::{AnyConnection, StoreError, StoreResult};
use tessera_tokens::SecretHash;

use super::ceremonies::{ceremony_answer, json_error};
use super::factor::{Need, Outcome, Subject, finish, situation, wake_mail};
use super::{audit_user, handle_from_query, resume_location};
use crate::account::security::RECENT_SIGN_IN;
use crate::authorize::{Pending, load_pending};
use crate::error::{bad_form, expired, run_blocking};
use crate::form::Params;
use crate::session::{self, Device};
use crate::state::{OidcState, now};
use crate::view::{Deferred, see_other};

/// The enrolment page (mounted by `crate::configure`).
pub(crate) const ENROL_PATH: &str = "/login/enrol";
/// A requirement no factor of this server can meet (neither passkeys nor TOTP available).
const UNAVAILABLE: &str = "This application needs a sign-in method this server does not offer (passkeys or an \
                           authenticator app). Ask its administrator.";
/// The offer of recovery codes after an enrolment.
pub(crate) const RECOVERY_CODES_PATH: &str = "/login/enrol/recovery-codes";

#[derive(Template)]
#[template(path = "login/enrol.html")]
pub struct EnrolPage {
    pub request: String,
    pub csrf: String,
    pub client_name: String,
    pub username: String,
    pub totp: bool,
    pub passkey: bool,
    pub error: Option<String>,
}

/// The authenticator app's setup: the QR code and the key, and the form for a first code.
#[derive(Template)]
#[template(path = "login/enrol_totp.html")]
pub struct EnrolTotpPage {
    pub request: String,
    pub csrf: String,
    pub client_name: String,
    pub qr_svg: String,
    pub secret: String,
    pub issuer_name: String,
    pub error: Option<String>,
}

/// The offer of recovery codes, or (`codes` not empty) the codes, shown once.
#[derive(Template)]
#[template(path = "login/enrol_recovery_codes.html")]
pub struct EnrolRecoveryCodesPage {
    pub request: String,
    pub csrf: String,
    pub client_name: String,
    pub codes: Vec<String>,
    pub continue_to: String,
}

fn page(pending: &Pending, subject: &Subject, totp: bool, passkey: bool, error: Option<String>) -> EnrolPage {
    EnrolPage {
        request: pending.handle.clone(),
        csrf: session::csrf_token(&pending.session_id),
        client_name: pending.app.settings.name.clone(),
        username: subject.user.username.clone(),
        totp,
        passkey,
        error,
    }
}

/// The pending request, its subject and the factors it may enrol; otherwise where the
/// browser goes instead.
fn load(
    state: &OidcState,
    handle: Option<&str>,
    cookie: Option<&str>,
    now: i64,
) -> StoreResult<Result<(Pending, Subject, bool, bool), Deferred>> {
    state.store.read_transaction(|c| {
        let Some(pending) = load_pending(c, state, handle, cookie, now)? else { return Ok(Err(expired())) };
        let Some((subject, need)) = situation(c, state, &pending, now)? else {
            return Ok(Err(see_other(&format!("/login?request={}", pending.handle))));
        };
        Ok(match need {
            Need::Enrol { totp, passkey } if totp || passkey => Ok((pending, subject, totp, passkey)),
            Need::Enrol { .. } => Err(crate::error::Untrusted(UNAVAILABLE.into()).page()),
            Need::Present { .. } => {
                Err(see_other(&format!("{}?request={}", super::factor::FACTOR_PATH, pending.handle)))
            }
            Need::Nothing => Err(see_other(&resume_location(&pending.handle))),
        })
    })
}

/// `GET /login/enrol?request=…`.
pub(crate) async fn show(request: HttpRequest, state: web::Data<OidcState>) -> HttpResponse {
    let cookie = session::presented_id(&request, &state.settings);
    let handle = handle_from_query(request.query_string());
    let state = state.into_inner();
    run_blocking(
        move || {
            Ok(match load(&state, handle.as_deref(), cookie.as_deref(), now())? {
                Err(elsewhere) => elsewhere,
                Ok((pending, subject, totp, passkey)) => Deferred::client_page(
                    StatusCode::OK,
                    page(&pending, &subject, totp, passkey, None),
                    pending.redirect_uri(),
                ),
            })
        },
        Deferred::into_response,
    )
    .await
}

/// The setup page of the user's pending TOTP secret, or `None` when there is none.
fn totp_page(
    conn: &mut AnyConnection,
    state: &OidcState,
    pending: &Pending,
    user: &User,
    error: Option<String>,
) -> StoreResult<Option<EnrolTotpPage>> {
    let Some(key) = state.factors.master_key.as_deref() else { return Ok(None) };
    let Some(stored) = totp::find(conn, &user.id)?.filter(|t| t.confirmed_at.is_none()) else { return Ok(None) };
    let secret = TotpSecret::open(&stored.secret, key, user.id.as_str())
        .map_err(|e| StoreError::Corrupt(format!("the TOTP secret of user {}: {e}", user.id)))?;
    let issuer_name = state.factors.issuer_name.clone();
    let uri = secret.uri(&issuer_name, user.email.as_deref().unwrap_or(&user.username));
    Ok(Some(EnrolTotpPage {
        request: pending.handle.clone(),
        csrf: session::csrf_token(&pending.session_id),
        client_name: pending.app.settings.name.clone(),
        qr_svg: tessera_factors::qr::svg(&uri, 200).unwrap_or_default(),
        secret: secret.base32_grouped(),
        issuer_name,
        error,
    }))
}

/// `POST /login/enrol/totp`: without `code`, a new pending secret and its setup page;
/// with `code`, the first code that turns it on.
pub(crate) async fn submit_totp(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    super::factor::sign_in_step(request, body, state, enrol_totp).await
}

fn enrol_totp(state: &OidcState, form: &Params, cookie: Option<&str>, device: &Device) -> StoreResult<Outcome> {
    let now = now();
    let (pending, subject, totp_allowed) = match load(state, form.get("request"), cookie, now)? {
        Err(elsewhere) => return Ok((elsewhere, None)),
        Ok((pending, subject, totp, _)) => (pending, subject, totp),
    };
    if !session::csrf_matches(&pending.session_id, form.get("csrf")) {
        return Ok((bad_form(), None));
    }
    let Some(key) = state.factors.master_key.as_deref().filter(|_| totp_allowed) else {
        return Ok((see_other(&format!("{ENROL_PATH}?request={}", pending.handle)), None));
    };
    let user = &subject.user;
    let Some(code) = form.get("code") else {
        let secret = TotpSecret::generate();
        let sealed = secret.seal(key, user.id.as_str()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let page = state.store.write_transaction(|c| {
            // A confirmed secret cannot be here (the user would present it instead).
            totp::begin(c, &user.id, &sealed, now)?;
            totp_page(c, state, &pending, user, None)
        })?;
        return Ok((shown(&pending, page), None));
    };
    let wrong = |status: StatusCode, message: &str| -> StoreResult<Deferred> {
        let page = state.store.read_transaction(|c| totp_page(c, state, &pending, user, Some(message.to_owned())))?;
        Ok(shown_status(&pending, status, page))
    };
    let client_ip = device.client_ip.as_deref();
    let channel = Channel::LoginPage { client_id: &pending.app.client_id };
    let attempt = CodeAttempt { user, code, client_ip, channel };
    let (step, reservations) = match tessera_auth::check_confirmation(&state.store, key, &attempt, now)? {
        Confirmation::NothingPending => {
            return Ok((see_other(&format!("{ENROL_PATH}?request={}", pending.handle)), None));
        }
        Confirmation::Locked { until } => {
            let message = tessera_auth::locked_message(until, now);
            return Ok((wrong(StatusCode::TOO_MANY_REQUESTS, &message)?.retry_after(until - now), None));
        }
        Confirmation::Wrong => {
            return Ok((
                wrong(StatusCode::BAD_REQUEST, "This code is not right. Type the 6 digits your app shows now.")?,
                None,
            ));
        }
        Confirmation::Right { step, reservations } => (step, reservations),
    };
    let outcome = state.store.write_transaction(|c| {
        if !totp::confirm(c, &user.id, step, now)? {
            return Ok(None);
        }
        reservations.refund(c)?;
        added(
            c,
            state,
            &pending,
            user,
            "user.totp_enabled",
            json!({}),
            "An authenticator app (one-time codes)",
            client_ip,
            now,
        )?;
        finish(c, state, pending.clone(), &subject, Some(Factor::Totp), device, now).map(Some)
    })?;
    match outcome {
        None => Ok((wrong(StatusCode::BAD_REQUEST, "This code was used already. Wait for the next one.")?, None)),
        Some((_, cookie)) => Ok((see_other(&format!("{RECOVERY_CODES_PATH}?request={}", pending.handle)), cookie)),
    }
}

fn shown(pending: &Pending, page: Option<EnrolTotpPage>) -> Deferred {
    shown_status(pending, StatusCode::OK, page)
}

fn shown_status(pending: &Pending, status: StatusCode, page: Option<EnrolTotpPage>) -> Deferred {
    match page {
        Some(page) => Deferred::client_page(status, page, pending.redirect_uri()),
        None => see_other(&format!("{ENROL_PATH}?request={}", pending.handle)),
    }
}

/// A factor added during sign-in: audited and mailed as on the account page.
#[allow(clippy::too_many_arguments)]
fn added(
    conn: &mut AnyConnection,
    state: &OidcState,
    pending: &Pending,
    user: &User,
    action: &str,
    mut summary: serde_json::Value,
    factor: &str,
    client_ip: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    if let Some(object) = summary.as_object_mut() {
        object.insert("client_id".into(), json!(pending.app.client_id));
        object.insert("page".into(), json!("sign_in"));
    }
    audit_user(conn, &user.id, action, summary, client_ip, now)?;
    if let Some(accounts) = &state.accounts {
        accounts.send_factor_added(conn, user, factor, now)?;
    }
    Ok(())
}

/// `POST /login/enrol/passkey/options`: a WebAuthn registration for the subject.
pub(crate) async fn passkey_options(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<OidcState>,
) -> HttpResponse {
    super::ceremonies::answer_passkey_options(request, body, state, registration_options).await
}

fn registration_options(
    state: &OidcState,
    party: &RelyingParty,
    form: &Params,
    cookie: Option<&str>,
    now: i64,
) -> StoreResult<Deferred> {
    let (pending, subject) = match load(state, form.get("request"), cookie, now)? {
        Ok((pending, subject, _, true)) => (pending, subject),
        _ => return Ok(json_error(StatusCode::BAD_REQUEST, "No passkey can be added here. Start again.")),
    };
    if !session::csrf_matches(&pending.session_id, form.get("csrf")) {
        return Ok(json_error(StatusCode::FORBIDDEN, "This form has expired. Start again."));
    }
    let user = &subject.user;
    let existing = state.store.read_statement(|c| stored_passkeys::list_of_user(c, &user.id))?;
    let credentials: Vec<&str> = existing.iter().map(|p| p.credential.as_str()).collect();
    let passkey_user = PasskeyUser {
        user_id: user.id.as_str(),
        name: user.email.as_deref().unwrap_or(&user.username),
        display_name: &user.username,
    };
    let ceremony = party
        .start_registration(passkey_user, &credentials)
        .map_err(|e| StoreError::Corrupt(format!("passkeys: {e}")))?;
    ceremony_answer(state, ceremony, Kind::Registration, Some(&user.id), now)
}

/// `POST /login/enrol/passkey`: the browser's new passkey.
pub(crate) async fn submit_passkey(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<OidcState>,
) -> HttpResponse {
    super::factor::sign_in_step(request, body, state, enrol_passkey).await
}

fn enrol_passkey(state: &OidcState, form: &Params, cookie: Option<&str>, device: &Device) -> StoreResult<Outcome> {
    let now = now();
    let (pending, subject, totp_allowed) = match load(state, form.get("request"), cookie, now)? {
        Ok((pending, subject, totp, true)) => (pending, subject, totp),
        Ok((pending, ..)) => return Ok((see_other(&format!("{ENROL_PATH}?request={}", pending.handle)), None)),
        Err(elsewhere) => return Ok((elsewhere, None)),
    };
    if !session::csrf_matches(&pending.session_id, form.get("csrf")) {
        return Ok((bad_form(), None));
    }
    let refused = |message: &str| {
        let page = page(&pending, &subject, totp_allowed, true, Some(message.to_owned()));
        Deferred::client_page(StatusCode::BAD_REQUEST, page, pending.redirect_uri())
    };
    let Some(party) = state.factors.relying_party.as_deref() else {
        return Ok((refused("Passkeys are not available on this server."), None));
    };
    let user = &subject.user;
    let hash = SecretHash::of(form.get("ceremony").unwrap_or(""));
    let taken = state.store.write_statement(|c| ceremonies::take(c, hash.as_str(), Kind::Registration, now))?;
    let Some(ceremony) = taken.filter(|t| t.user_id.as_ref() == Some(&user.id)) else {
        return Ok((refused("This passkey registration expired. Try again."), None));
    };
    let registered = match party.finish_registration(form.get("credential").unwrap_or(""), &ceremony.state) {
        Ok(registered) => registered,
        Err(error) => {
            tracing::info!(%error, "a passkey registration during sign-in was refused");
            return Ok((refused("Your browser's passkey could not be registered. Try again."), None));
        }
    };
    let client_ip = device.client_ip.as_deref();
    let outcome = state.store.write_transaction(|c| {
        let new = NewPasskey {
            user_id: &user.id,
            name: "Passkey",
            credential: &registered.credential,
            credential_id: &registered.credential_id,
            device_bound: registered.device_bound,
        };
        let stored = match stored_passkeys::create(c, &new, now) {
            Err(StoreError::Conflict { .. }) => return Ok(None),
            other => other?,
        };
        let summary = json!({ "passkey": stored.id, "name": stored.name, "device_bound": stored.device_bound });
        added(c, state, &pending, user, "user.passkey_added", summary, "A passkey named “Passkey”", client_ip, now)?;
        // Registration requires user verification (tessera_factors::passkeys).
        let factor = Factor::Passkey { device_bound: registered.device_bound, user_verified: true };
        finish(c, state, pending.clone(), &subject, Some(factor), device, now).map(Some)
    })?;
    Ok(match outcome {
        None => (refused("This passkey is registered already."), None),
        Some((_, cookie)) => (see_other(&format!("{RECOVERY_CODES_PATH}?request={}", pending.handle)), cookie),
    })
}

/// The signed-in session of a pending request, if it signed in within
/// [`RECENT_SIGN_IN`] (the enrolment just finished it): recovery codes may be made.
fn recently_signed_in(
    conn: &mut AnyConnection,
    state: &OidcState,
    handle: Option<&str>,
    cookie: Option<&str>,
    now: i64,
) -> StoreResult<Option<(Pending, User)>> {
    let Some(pending) = load_pending(conn, state, handle, cookie, now)? else { return Ok(None) };
    let recent = pending.session.auth_time.is_some_and(|at| now - at <= RECENT_SIGN_IN);
    let Some(user_id) = pending.session.user_id.clone().filter(|_| recent && pending.request.first_factor.is_none())
    else {
        return Ok(None);
    };
    let user = tessera_store::users::find(conn, &user_id)?.filter(|u| !u.disabled);
    Ok(user.map(|user| (pending, user)))
}

/// `GET /login/enrol/recovery-codes?request=…`: the offer of recovery codes.
pub(crate) async fn show_recovery_codes(request: HttpRequest, state: web::Data<OidcState>) -> HttpResponse {
    let cookie = session::presented_id(&request, &state.settings);
    let handle = handle_from_query(request.query_string());
    let state = state.into_inner();
    run_blocking(
        move || {
            state.store.read_transaction(|c| {
                let now = now();
                let Some((pending, _)) = recently_signed_in(c, &state, handle.as_deref(), cookie.as_deref(), now)?
                else {
                    return Ok(match handle {
                        Some(handle) => see_other(&resume_location(&handle)),
                        None => expired(),
                    });
                };
                let page = EnrolRecoveryCodesPage {
                    request: pending.handle.clone(),
                    csrf: session::csrf_token(&pending.session_id),
                    client_name: pending.app.settings.name.clone(),
                    codes: Vec::new(),
                    continue_to: resume_location(&pending.handle),
                };
                Ok(Deferred::client_page(StatusCode::OK, page, pending.redirect_uri()))
            })
        },
        Deferred::into_response,
    )
    .await
}

/// `POST /login/enrol/recovery-codes`: a new set of recovery codes, shown once.
pub(crate) async fn make_recovery_codes(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<OidcState>,
) -> HttpResponse {
    let cookie = session::presented_id(&request, &state.settings);
    let Ok(form) = Params::from_page_form(&body) else { return bad_form().into_response() };
    let client_ip = request.peer_addr().map(|a| a.ip().to_string());
    let state = state.into_inner();
    let waker = state.clone();
    run_blocking(
        move || {
            let now = now();
            let codes = tessera_factors::recovery_codes::generate();
            let hashes: Vec<String> = codes.iter().map(|c| c.hash().as_str().to_owned()).collect();
            state.store.write_transaction(|c| {
                let Some((pending, user)) = recently_signed_in(c, &state, form.get("request"), cookie.as_deref(), now)?
                else {
                    return Ok(expired());
                };
                if !session::csrf_matches(&pending.session_id, form.get("csrf")) {
                    return Ok(bad_form());
                }
                let replaced = stored_codes::count_left(c, &user.id)?;
                let refs: Vec<&str> = hashes.iter().map(String::as_str).collect();
                stored_codes::replace(c, &user.id, &refs, now)?;
                let summary = json!({ "count": refs.len(), "unused_replaced": replaced });
                added(
                    c,
                    &state,
                    &pending,
                    &user,
                    "user.recovery_codes_generated",
                    summary,
                    "A new set of recovery codes (the old ones no longer work)",
                    client_ip.as_deref(),
                    now,
                )?;
                let page = EnrolRecoveryCodesPage {
                    request: pending.handle.clone(),
                    csrf: session::csrf_token(&pending.session_id),
                    client_name: pending.app.settings.name.clone(),
                    codes: codes.iter().map(|code| code.expose().to_owned()).collect(),
                    continue_to: resume_location(&pending.handle),
                };
                Ok(Deferred::client_page(StatusCode::OK, page, pending.redirect_uri()))
            })
        },
        move |answer| {
            wake_mail(&waker);
            answer.into_response()
        },
    )
    .await
}
