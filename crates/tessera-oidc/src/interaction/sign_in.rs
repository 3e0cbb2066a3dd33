//! The sign-in page: username or email and password (argon2id), or a passkey alone
//! (docs/authentication.md, "Signing in"). Attempts are throttled per account and per
//! client IP by `tessera_auth::sign_in` (reserved before the hash or the assertion is
//! checked, so parallel attempts cannot pass the limit), and an unknown user gets the
//! same message, status and timing as a wrong password.
//!
//! A right password signs in only when nothing more is due: a user with a second factor
//! (always), or a request whose requirement needs one, goes on to the factor page
//! (`super::factor`) with the password kept as the request's first factor; the session
//! stays as it was. Success starts a new session (a new id).
//!
//! A passkey alone: "Sign in with a passkey", and conditional UI (the browser offers the
//! passkeys in the login field's autofill, `autocomplete="username webauthn"`), both a
//! discoverable WebAuthn get through `static/passkeys.js`. The user handle finds the user;
//! user verification is required (the passkey is then two kinds of factor, `phr`); a
//! disabled user is refused like an unknown passkey.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use tessera_auth::{Admission, Channel, PasswordAttempt, Verdict};
use tessera_domain::assurance::{self, Factor};
use tessera_factors::RelyingParty;
use tessera_store::factors::ceremonies::{self, Kind};
use tessera_store::factors::{self as stored_factors, passkeys as stored_passkeys};
use tessera_store::{StoreError, StoreResult, users};
use tessera_tokens::SecretHash;

use super::ceremonies::{ceremony_answer, json_error};
use super::factor::{FACTOR_PATH, Need, Progress};
use super::{audit_user, handle_from_query, resume_location};
use crate::authorize::request::FirstFactor;
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
        passkeys: state.factors.relying_party.is_some(),
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
            let amr = assurance::record(&[], Factor::Password, true);
            let progress = Progress { amr: amr.clone(), auth_time: now, first_factor: true };
            let factors = stored_factors::summary(c, &user.id)?;
            let need = super::factor::need(
                crate::assurance::requirement_on(c, state, &pending.app, &pending.request, now)?,
                &progress,
                &factors,
                state.factors.relying_party.is_some(),
                state.factors.master_key.is_some(),
                now,
            );
            if need != Need::Nothing {
                // Not signed in yet: the password waits, with this request, for the
                // factor page.
                let mut pending = pending;
                pending.request.first_factor = Some(FirstFactor { user_id: user.id.clone(), amr, at: now });
                save_pending(c, &pending)?;
                return Ok((see_other(&format!("{FACTOR_PATH}?request={}", pending.handle)), None));
            }
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

/// `POST /login/passkey/options`: the options of a discoverable WebAuthn get (no user
/// yet), for "Sign in with a passkey" and conditional UI.
pub(crate) async fn passkey_options(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<OidcState>,
) -> HttpResponse {
    super::ceremonies::answer_passkey_options(request, body, state, discoverable_options).await
}

fn discoverable_options(
    state: &OidcState,
    party: &RelyingParty,
    form: &Params,
    cookie: Option<&str>,
    now: i64,
) -> StoreResult<Deferred> {
    let pending = state.store.read_transaction(|c| load_pending(c, state, form.get("request"), cookie, now))?;
    let Some(pending) = pending else {
        return Ok(json_error(StatusCode::BAD_REQUEST, "This sign-in has expired. Start again."));
    };
    if !session::csrf_matches(&pending.session_id, form.get("csrf")) {
        return Ok(json_error(StatusCode::FORBIDDEN, "This form has expired. Start again."));
    }
    let ceremony = party.start_discoverable().map_err(|e| StoreError::Corrupt(format!("passkeys: {e}")))?;
    ceremony_answer(state, ceremony, Kind::Discoverable, None, now)
}

const WRONG_PASSKEY: &str = "This passkey could not be used to sign in. Try again, or use your password.";

/// `POST /login/passkey`: the browser's answer to a discoverable get.
pub(crate) async fn passkey(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    super::factor::sign_in_step(request, body, state, passkey_sign_in).await
}

fn passkey_sign_in(
    state: &OidcState,
    form: &Params,
    cookie: Option<&str>,
    device: &session::Device,
) -> StoreResult<Outcome> {
    let now = now();
    let client_ip = device.client_ip.as_deref();
    let Some(pending) = state.store.read_transaction(|c| load_pending(c, state, form.get("request"), cookie, now))?
    else {
        return Ok((expired(), None));
    };
    if !session::csrf_matches(&pending.session_id, form.get("csrf")) {
        return Ok((bad_form(), None));
    }
    let refused = |status: StatusCode, message: &str| {
        Deferred::client_page(status, page(&pending, state, "", Some(message.to_owned()), None), pending.redirect_uri())
    };
    let Some(party) = state.factors.relying_party.as_deref() else {
        return Ok((refused(StatusCode::BAD_REQUEST, WRONG_PASSKEY), None));
    };
    let response = form.get("credential").unwrap_or("");
    // The passkey names its user (the user handle) and itself; both must agree with
    // what is stored before the assertion is worth checking.
    let discovered = party.identify(response).ok();
    let found = match &discovered {
        Some(discovered) => state.store.read_transaction(|c| {
            let Some(stored) = stored_passkeys::find_by_credential_id(c, &discovered.credential_id)? else {
                return Ok(None);
            };
            let user = users::find(c, &stored.user_id)?;
            Ok(user.map(|user| (stored, user)))
        })?,
        None => None,
    };
    let found = found.filter(|(stored, _)| {
        discovered
            .as_ref()
            .is_some_and(|d| tessera_factors::passkeys::user_handle(stored.user_id.as_str()) == d.user_handle)
    });
    let client_id = pending.app.client_id.clone();
    let login = match (&found, &discovered) {
        (Some((_, user)), _) => user.username.to_lowercase(),
        (None, Some(d)) => format!("passkey:{}", d.credential_id.chars().take(100).collect::<String>()),
        (None, None) => "passkey:".to_owned(),
    };
    let attempt = PasswordAttempt {
        login: &login,
        user: found.as_ref().map(|(_, user)| user),
        password: "",
        client_ip,
        channel: Channel::LoginPage { client_id: &client_id },
    };
    let reservations = match tessera_auth::reserve(&state.store, &attempt, now)? {
        Admission::Locked { until } => {
            let message = tessera_auth::locked_message(until, now);
            return Ok((refused(StatusCode::TOO_MANY_REQUESTS, &message).retry_after(until - now), None));
        }
        Admission::Reserved(reservations) => reservations,
    };
    let hash = SecretHash::of(form.get("ceremony").unwrap_or(""));
    let ceremony = state.store.write_statement(|c| ceremonies::take(c, hash.as_str(), Kind::Discoverable, now))?;
    let verified = match (&found, ceremony) {
        (Some((stored, user)), Some(ceremony)) if !user.disabled => {
            match party.finish_discoverable(response, &ceremony.state, &stored.credential) {
                // A passkey alone must have verified the user (UV): else it is one factor.
                Ok(used) if matches!(used.factor, Factor::Passkey { user_verified: true, .. }) => Some(used),
                Ok(_) => None,
                Err(error) => {
                    tracing::info!(%error, "a passkey sign-in was refused");
                    None
                }
            }
        }
        _ => None,
    };
    state.store.write_transaction(|c| match (&found, &verified) {
        (Some((stored, user)), Some(used)) => {
            reservations.refund(c)?;
            stored_passkeys::record_use(c, &stored.id, used.updated_credential.as_deref(), now)?;
            let amr = assurance::record(&[], used.factor, true);
            let (new_id, _) = session::start(
                c,
                Some(&pending.session_id),
                Some((&user.id, now, amr.clone(), device)),
                &state.settings,
                now,
            )?;
            let mut pending = pending.clone();
            pending.request.first_factor = None;
            pending.request.signed_in_at = Some(now);
            save_pending(c, &pending)?;
            let summary = json!({ "client_id": pending.app.client_id, "amr": amr });
            audit_user(c, &user.id, "user.sign_in", summary, client_ip, now)?;
            Ok((see_other(&resume_location(&pending.handle)), Some(new_id)))
        }
        _ => {
            tessera_store::audit::record(
                c,
                &tessera_store::audit::NewAuditEvent {
                    actor: "anonymous",
                    action: "user.sign_in_failed",
                    target: &attempt.target(),
                    summary: json!({ "client_id": pending.app.client_id, "factor": "passkey" }),
                    client_ip,
                },
                now,
            )?;
            Ok((refused(StatusCode::BAD_REQUEST, WRONG_PASSKEY), None))
        }
    })
}
