//! The factor page, `/login/factor?request=…` (docs/authentication.md, "Signing in" and
//! "Step-up"): the factor a pending request still needs after the first one.
//!
//! Two cases reach it:
//! - a sign-in half done: the password was right, but the user has a second factor
//!   (always asked, whatever the policy) or the request's requirement needs one. The
//!   first factor is kept in the pending request (`FirstFactor`), which belongs to this
//!   browser's session; the session is not signed in until the factor page succeeds,
//!   then it starts anew (a new id) with `amr = record(first, factor)` and `auth_time`
//!   now;
//! - a step-up: a signed-in session whose `amr` misses the requirement
//!   (`Requirement::next_step`): only the missing factor is asked (a passkey for `phr`),
//!   and success adds to the session's `amr` and sets its `auth_time` to now.
//!
//! The page offers what the user has and the step allows: a TOTP code, a recovery code,
//! or "use your passkey" (a WebAuthn get over the user's passkeys, `static/passkeys.js`).
//! A user lacking the factor needed enrols one first (`super::enrol`). Every attempt
//! goes through the sign-in throttle (issue 18 §7): codes by `tessera_auth::check_code`,
//! passkey assertions by `tessera_auth::reserve` before the assertion is verified.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::json;
use tessera_auth::{Admission, Channel, CodeAttempt, CodeVerdict, PasswordAttempt};
use tessera_domain::assurance::{self, Factor, Requirement, Step};
use tessera_factors::RelyingParty;
use tessera_store::factors::ceremonies::Kind;
use tessera_store::factors::{self as stored_factors, Summary, passkeys as stored_passkeys, recovery_codes};
use tessera_store::users::User;
use tessera_store::{AnyConnection, StoreError, StoreResult, browser_sessions, users};

use super::ceremonies::{ceremony_answer, json_error, verify_passkey};
use super::{audit_user, handle_from_query, resume_location};
use crate::authorize::{Pending, load_pending, save_pending};
use crate::error::{bad_form, expired, run_blocking};
use crate::form::Params;
use crate::session::{self, Device};
use crate::state::{OidcState, now};
use crate::view::{Deferred, see_other};

/// The factor page (mounted by `crate::configure`), where authorize sends a step-up.
pub(crate) use crate::assurance::FACTOR_PATH;
pub(crate) const WRONG_CODE: &str = "This code is not right, or was used already. Type the code your app shows now, or a \
                          recovery code.";
pub(crate) const WRONG_PASSKEY: &str = "This passkey could not be used. Try again, or use another way.";

/// Who is signing in on the factor page, and what they proved so far.
pub(crate) struct Subject {
    pub user: User,
    pub progress: Progress,
}

/// What a subject proved so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Progress {
    /// The `amr` so far: the first factor's, or the session's.
    pub amr: Vec<String>,
    pub auth_time: i64,
    /// A sign-in half done (the session is not signed in yet), not a step-up.
    pub first_factor: bool,
}

/// The subject of a pending request on the factor and enrolment pages: the user of its
/// half-done sign-in, else the session's signed-in user. A disabled user has none.
pub(crate) fn subject(conn: &mut AnyConnection, pending: &Pending, now: i64) -> StoreResult<Option<Subject>> {
    let (user_id, amr, auth_time, first_factor) = match (&pending.request.first_factor, &pending.session.user_id) {
        (Some(first), _) => (first.user_id.clone(), first.amr.clone(), first.at, true),
        (None, Some(user_id)) => {
            (user_id.clone(), pending.session.amr.clone(), pending.session.auth_time.unwrap_or(now), false)
        }
        (None, None) => return Ok(None),
    };
    let progress = Progress { amr, auth_time, first_factor };
    Ok(users::find(conn, &user_id)?.filter(|u| !u.disabled).map(|user| Subject { user, progress }))
}

/// What the factor page asks of the subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Nothing more: finish the sign-in (or continue the request).
    Nothing,
    /// One of the user's own factors; `passkey_only` when the step is `phr`.
    Present { totp: bool, recovery_code: bool, passkey: bool },
    /// The user must enrol a factor first: a passkey, and (for a second factor) TOTP.
    Enrol { totp: bool, passkey: bool },
}

/// The factor the subject must present next, from the requirement's step and the
/// factors the user has. A user who has a second factor presents it before enrolling
/// anything (an attacker with the password alone cannot enrol their own).
pub(crate) fn need(
    requirement: Option<Requirement>,
    subject: &Progress,
    factors: &Summary,
    passkeys_available: bool,
    totp_available: bool,
    now: i64,
) -> Need {
    let step = requirement.and_then(|r| r.next_step(&subject.amr, Some(subject.auth_time), now));
    let any = Need::Present {
        totp: factors.totp,
        recovery_code: factors.recovery_codes_left > 0,
        passkey: factors.passkeys > 0 && passkeys_available,
    };
    let has_second = factors.has_second_factor();
    match step {
        // A fresh sign-in is authorize's to ask (`/login`); a half-done one asks its
        // second factor first.
        None | Some(Step::SignIn) if subject.first_factor && has_second => any,
        None | Some(Step::SignIn) => Need::Nothing,
        Some(Step::Passkey) if factors.passkeys > 0 => {
            Need::Present { totp: false, recovery_code: false, passkey: true }
        }
        Some(Step::Passkey) if subject.first_factor && has_second => any,
        Some(Step::Passkey) => Need::Enrol { totp: false, passkey: passkeys_available },
        Some(Step::SecondFactor) if has_second || factors.recovery_codes_left > 0 => any,
        Some(Step::SecondFactor) => Need::Enrol { totp: totp_available, passkey: passkeys_available },
    }
}

/// The subject of a pending request and what it needs.
pub(crate) fn situation(
    conn: &mut AnyConnection,
    state: &OidcState,
    pending: &Pending,
    now: i64,
) -> StoreResult<Option<(Subject, Need)>> {
    let Some(subject) = subject(conn, pending, now)? else { return Ok(None) };
    let factors = stored_factors::summary(conn, &subject.user.id)?;
    let need = need(
        crate::assurance::requirement_on(conn, state, &pending.app, &pending.request, now)?,
        &subject.progress,
        &factors,
        state.factors.relying_party.is_some(),
        state.factors.master_key.is_some(),
        now,
    );
    Ok(Some((subject, need)))
}

/// `templates/login/factor.html`: the second factor of an authorization's sign-in or
/// step-up, or of the account page's own sign-in (`crate::account::sign_in_factor`).
#[derive(Template)]
#[template(path = "login/factor.html")]
pub struct FactorPage {
    /// Where the forms post ([`FACTOR_PATH`] or the account page's); passkey options
    /// at `{action}/passkey`.
    pub action: &'static str,
    /// The authorization request's handle; `None` on the account page.
    pub request: Option<String>,
    pub csrf: String,
    /// The application signed in to; `None` on the account page.
    pub client_name: Option<String>,
    pub username: String,
    pub totp: bool,
    pub recovery_code: bool,
    pub passkey: bool,
    /// A step-up of a signed-in session rather than the second half of a sign-in.
    pub step_up: bool,
    pub error: Option<String>,
}

fn page(pending: &Pending, subject: &Subject, need: Need, error: Option<String>) -> FactorPage {
    let (totp, recovery_code, passkey) = match need {
        Need::Present { totp, recovery_code, passkey } => (totp, recovery_code, passkey),
        Need::Nothing | Need::Enrol { .. } => (false, false, false),
    };
    FactorPage {
        action: FACTOR_PATH,
        request: Some(pending.handle.clone()),
        csrf: session::csrf_token(&pending.session_id),
        client_name: Some(pending.app.settings.name.clone()),
        username: subject.user.username.clone(),
        totp,
        recovery_code,
        passkey,
        step_up: !subject.progress.first_factor,
        error,
    }
}

/// Where the subject goes when the page has nothing to ask.
fn elsewhere(pending: &Pending, need: Need) -> Option<String> {
    match need {
        Need::Present { .. } => None,
        Need::Enrol { .. } => Some(format!("{}?request={}", super::enrol::ENROL_PATH, pending.handle)),
        Need::Nothing => Some(resume_location(&pending.handle)),
    }
}

/// `GET /login/factor?request=…`.
pub(crate) async fn show(request: HttpRequest, state: web::Data<OidcState>) -> HttpResponse {
    let cookie = session::presented_id(&request, &state.settings);
    let device = Device::of(&request);
    let handle = handle_from_query(request.query_string());
    let state = state.into_inner();
    let worker = state.clone();
    run_blocking(
        move || {
            let now = now();
            let loaded = worker.store.read_transaction(|c| {
                let Some(pending) = load_pending(c, &worker, handle.as_deref(), cookie.as_deref(), now)? else {
                    return Ok(None);
                };
                let situation = situation(c, &worker, &pending, now)?;
                Ok(Some((pending, situation)))
            })?;
            let Some((pending, situation)) = loaded else { return Ok((expired(), None)) };
            let Some((subject, need)) = situation else {
                return Ok((see_other(&format!("/login?request={}", pending.handle)), None));
            };
            // A half-done sign-in that needs nothing more (its factor was removed
            // meanwhile) finishes with what it proved.
            if need == Need::Nothing && subject.progress.first_factor {
                return worker
                    .store
                    .write_transaction(|c| finish(c, &worker, pending.clone(), &subject, None, &device, now));
            }
            if let Some(location) = elsewhere(&pending, need) {
                return Ok((see_other(&location), None));
            }
            Ok((
                Deferred::client_page(StatusCode::OK, page(&pending, &subject, need, None), pending.redirect_uri()),
                None,
            ))
        },
        move |outcome| with_cookie(&state, outcome),
    )
    .await
}

/// A page and the new session cookie, if the sign-in finished.
pub(crate) type Outcome = (Deferred, Option<String>);

pub(crate) fn with_cookie(state: &OidcState, (response, cookie): Outcome) -> HttpResponse {
    let mut response = response.into_response();
    if let Some(id) = cookie {
        let _ = response.add_cookie(&session::cookie(&id, &state.settings));
    }
    response
}

/// `POST /login/factor`: a `code` (TOTP or recovery code), or a passkey's `ceremony`
/// and `credential`.
pub(crate) async fn submit(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    sign_in_step(request, body, state, present).await
}

/// A form posted on the sign-in pages that may sign the user in: `step` runs off the
/// async threads with the form, the session cookie and the device; the answer sets the
/// new session cookie, and mail the step queued is sent at once.
pub(crate) async fn sign_in_step(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<OidcState>,
    step: fn(&OidcState, &Params, Option<&str>, &Device) -> StoreResult<Outcome>,
) -> HttpResponse {
    let cookie = session::presented_id(&request, &state.settings);
    let Ok(form) = Params::from_page_form(&body) else { return bad_form().into_response() };
    let device = Device::of(&request);
    let state = state.into_inner();
    let worker = state.clone();
    run_blocking(
        move || step(&worker, &form, cookie.as_deref(), &device),
        move |outcome| {
            wake_mail(&state);
            with_cookie(&state, outcome)
        },
    )
    .await
}

/// Wakes the mail delivery (a recovery code's use, a factor enrolled).
pub(crate) fn wake_mail(state: &OidcState) {
    state.outbox_wake.notify();
    if let Some(accounts) = &state.accounts {
        accounts.wake();
    }
}

fn present(state: &OidcState, form: &Params, cookie: Option<&str>, device: &Device) -> StoreResult<Outcome> {
    let now = now();
    let loaded = state.store.read_transaction(|c| {
        let Some(pending) = load_pending(c, state, form.get("request"), cookie, now)? else { return Ok(None) };
        let situation = situation(c, state, &pending, now)?;
        Ok(Some((pending, situation)))
    })?;
    let Some((pending, situation)) = loaded else { return Ok((expired(), None)) };
    if !session::csrf_matches(&pending.session_id, form.get("csrf")) {
        return Ok((bad_form(), None));
    }
    let Some((subject, need)) = situation else {
        return Ok((see_other(&format!("/login?request={}", pending.handle)), None));
    };
    let Need::Present { totp, recovery_code, passkey } = need else {
        return Ok((see_other(&elsewhere(&pending, need).unwrap_or_else(|| resume_location(&pending.handle))), None));
    };
    let client_ip = device.client_ip.as_deref();
    let client_id = pending.app.client_id.clone();
    let channel = Channel::LoginPage { client_id: &client_id };
    let again = |status: StatusCode, message: &str| {
        Deferred::client_page(status, page(&pending, &subject, need, Some(message.to_owned())), pending.redirect_uri())
    };
    let (factor, reservations) = if let Some(credential) = form.get("credential").filter(|_| passkey) {
        let Some(party) = state.factors.relying_party.as_deref() else {
            return Ok((again(StatusCode::BAD_REQUEST, WRONG_PASSKEY), None));
        };
        let attempt = PasswordAttempt {
            login: &subject.user.username,
            user: Some(&subject.user),
            password: "",
            client_ip,
            channel,
        };
        let reservations = match tessera_auth::reserve(&state.store, &attempt, now)? {
            Admission::Locked { until } => {
                let message = tessera_auth::locked_message(until, now);
                return Ok((again(StatusCode::TOO_MANY_REQUESTS, &message).retry_after(until - now), None));
            }
            Admission::Reserved(reservations) => reservations,
        };
        match verify_passkey(state, party, &subject.user, form.get("ceremony").unwrap_or(""), credential, now)? {
            Some(factor) => (factor, reservations),
            None => {
                failed(state, &subject.user, &pending, "passkey", client_ip, now)?;
                return Ok((again(StatusCode::BAD_REQUEST, WRONG_PASSKEY), None));
            }
        }
    } else if totp || recovery_code {
        let Some(key) = state.factors.master_key.as_deref() else {
            return Ok((again(StatusCode::BAD_REQUEST, "One-time codes are not available on this server."), None));
        };
        let code = form.get("code").unwrap_or("");
        let attempt = CodeAttempt { user: &subject.user, code, client_ip, channel };
        match tessera_auth::check_code(&state.store, key, &attempt, now)? {
            CodeVerdict::Locked { until } => {
                let message = tessera_auth::locked_message(until, now);
                return Ok((again(StatusCode::TOO_MANY_REQUESTS, &message).retry_after(until - now), None));
            }
            CodeVerdict::Wrong => {
                failed(state, &subject.user, &pending, "code", client_ip, now)?;
                return Ok((again(StatusCode::BAD_REQUEST, WRONG_CODE), None));
            }
            CodeVerdict::Matched { factor, reservations } => (factor, reservations),
        }
    } else {
        return Ok((again(StatusCode::BAD_REQUEST, WRONG_PASSKEY), None));
    };
    state.store.write_transaction(|c| {
        reservations.refund(c)?;
        finish(c, state, pending.clone(), &subject, Some(factor), device, now)
    })
}

/// A factor refused: audited as a failed sign-in (the throttle counted it already).
fn failed(
    state: &OidcState,
    user: &User,
    pending: &Pending,
    factor: &str,
    client_ip: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    state.store.write_transaction(|c| {
        let target = format!("user:{}", user.id);
        let event = tessera_store::audit::NewAuditEvent {
            actor: "anonymous",
            action: "user.sign_in_failed",
            target: &target,
            summary: json!({ "client_id": pending.app.client_id, "factor": factor }),
            client_ip,
        };
        tessera_store::audit::record(c, &event, now).map(|_| ())
    })
}

/// Finishes a factor in the caller's write: a half-done sign-in starts its session (a
/// new id, `amr` of both factors, `auth_time` now); a step-up adds the factor to the
/// session's `amr` and sets its `auth_time` to now. Audited `user.sign_in` with the
/// `amr`; a recovery code's use is audited and mailed. Then the request continues.
pub(crate) fn finish(
    conn: &mut AnyConnection,
    state: &OidcState,
    mut pending: Pending,
    subject: &Subject,
    factor: Option<Factor>,
    device: &Device,
    now: i64,
) -> StoreResult<Outcome> {
    let amr = match factor {
        Some(factor) => assurance::record(&subject.progress.amr, factor, false),
        None => subject.progress.amr.clone(),
    };
    let user = &subject.user;
    let client_ip = device.client_ip.as_deref();
    let new_cookie = if subject.progress.first_factor {
        let (new_id, _) = session::start(
            conn,
            Some(&pending.session_id),
            Some((&user.id, now, amr.clone(), device)),
            &state.settings,
            now,
        )?;
        pending.request.first_factor = None;
        pending.request.signed_in_at = Some(now);
        save_pending(conn, &pending)?;
        Some(new_id)
    } else {
        browser_sessions::authenticate(conn, &pending.session.id_hash, &user.id, now, &amr, now)?;
        None
    };
    let summary = json!({ "client_id": pending.app.client_id, "amr": amr, "step_up": !subject.progress.first_factor });
    audit_user(conn, &user.id, "user.sign_in", summary, client_ip, now)?;
    if factor == Some(Factor::RecoveryCode) {
        let left = recovery_codes::count_left(conn, &user.id)?;
        let summary = json!({ "client_id": pending.app.client_id, "codes_left": left });
        audit_user(conn, &user.id, "user.recovery_code_used", summary, client_ip, now)?;
        if let Some(accounts) = &state.accounts {
            accounts.send_recovery_code_used(conn, user, left, now)?;
        }
    }
    Ok((see_other(&resume_location(&pending.handle)), new_cookie))
}

/// `POST /login/factor/passkey`: the options of a WebAuthn get over the subject's
/// passkeys, when the page offers a passkey.
pub(crate) async fn passkey_options(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<OidcState>,
) -> HttpResponse {
    super::ceremonies::answer_passkey_options(request, body, state, factor_passkey_options).await
}

fn factor_passkey_options(
    state: &OidcState,
    party: &RelyingParty,
    form: &Params,
    cookie: Option<&str>,
    now: i64,
) -> StoreResult<Deferred> {
    let loaded = state.store.read_transaction(|c| {
        let Some(pending) = load_pending(c, state, form.get("request"), cookie, now)? else {
            return Ok(None);
        };
        let Some((subject, need)) = situation(c, state, &pending, now)? else { return Ok(None) };
        let passkeys = stored_passkeys::list_of_user(c, &subject.user.id)?;
        Ok(Some((pending, subject, need, passkeys)))
    })?;
    let Some((pending, subject, need, passkeys)) = loaded else {
        return Ok(json_error(StatusCode::BAD_REQUEST, "This sign-in has expired. Start again."));
    };
    if !session::csrf_matches(&pending.session_id, form.get("csrf")) {
        return Ok(json_error(StatusCode::FORBIDDEN, "This form has expired. Start again."));
    }
    if !matches!(need, Need::Present { passkey: true, .. }) || passkeys.is_empty() {
        return Ok(json_error(StatusCode::BAD_REQUEST, "No passkey is asked for here."));
    }
    let credentials: Vec<&str> = passkeys.iter().map(|p| p.credential.as_str()).collect();
    let ceremony =
        party.start_authentication(&credentials).map_err(|e| StoreError::Corrupt(format!("passkeys: {e}")))?;
    ceremony_answer(state, ceremony, Kind::Authentication, Some(&subject.user.id), now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_domain::Acr;

    fn subject(amr: &[&str], first_factor: bool) -> Progress {
        Progress { amr: amr.iter().map(|a| (*a).to_owned()).collect(), auth_time: 1_000, first_factor }
    }

    const TOTP: Summary = Summary { totp: true, passkeys: 0, recovery_codes_left: 10 };
    const PASSKEY: Summary = Summary { totp: false, passkeys: 1, recovery_codes_left: 0 };
    const NONE: Summary = Summary { totp: false, passkeys: 0, recovery_codes_left: 0 };

    #[test]
    fn a_user_with_a_second_factor_is_always_asked_for_it() {
        let need = need(None, &subject(&["pwd"], true), &TOTP, true, true, 1_000);
        assert_eq!(need, Need::Present { totp: true, recovery_code: true, passkey: false });
        assert_eq!(need_of(None, &["pwd"], true, &NONE), Need::Nothing);
    }

    fn need_of(requirement: Option<Requirement>, amr: &[&str], first: bool, factors: &Summary) -> Need {
        need(requirement, &subject(amr, first), factors, true, true, 1_000)
    }

    #[test]
    fn a_step_up_asks_only_the_missing_factor() {
        let phr = Some(Requirement { acr: Acr::PhishingResistant, max_age: None });
        let both = Summary { totp: true, passkeys: 1, recovery_codes_left: 3 };
        assert_eq!(
            need_of(phr, &["mfa", "otp", "pwd"], false, &both),
            Need::Present { totp: false, recovery_code: false, passkey: true }
        );
        let two = Some(Requirement { acr: Acr::TwoFactor, max_age: None });
        assert_eq!(need_of(two, &["mfa", "otp", "pwd"], false, &both), Need::Nothing);
        assert_eq!(
            need_of(two, &["pwd"], false, &PASSKEY),
            Need::Present { totp: false, recovery_code: false, passkey: true }
        );
    }

    #[test]
    fn a_user_without_the_factor_needed_enrols_but_presents_their_own_first() {
        let two = Some(Requirement { acr: Acr::TwoFactor, max_age: None });
        assert_eq!(need_of(two, &["pwd"], true, &NONE), Need::Enrol { totp: true, passkey: true });
        let phr = Some(Requirement { acr: Acr::PhishingResistant, max_age: None });
        assert_eq!(need_of(phr, &["pwd"], true, &NONE), Need::Enrol { totp: false, passkey: true });
        assert_eq!(
            need_of(phr, &["pwd"], true, &TOTP),
            Need::Present { totp: true, recovery_code: true, passkey: false }
        );
        assert_eq!(need_of(phr, &["mfa", "otp", "pwd"], false, &TOTP), Need::Enrol { totp: false, passkey: true });
    }
}
