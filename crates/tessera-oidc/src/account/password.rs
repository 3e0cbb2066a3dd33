//! The password form of the account page. The current password is checked through the
//! sign-in throttle (a wrong one counts as a failed sign-in of the account: ASVS 5.0
//! V6.3.1), the new one by the password policy (V6.2). Then one transaction sets it
//! if the stored hash is still the one checked (a compare-and-set: of parallel changes
//! proving the same current password exactly one wins; the others answer 409 and write
//! nothing), ends every other browser and console session of the user and revokes every grant not
//! issued in this browser's session (`offline_access` ones included), with their refresh
//! and reference tokens (V7.4.3), queues back-channel logout tokens for the sessions
//! ended, audits `user.password_change` and queues the "password changed" mail. This
//! browser stays signed in.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use tessera_auth::{Channel, PasswordAttempt, Reservations, Verdict};
use tessera_store::{AnyConnection, StoreError, StoreResult, admin_sessions, audit, browser_sessions, grants, users};

use super::{Account, Submitted, done, forged, page, refused, signed_in};
use crate::error::{bad_form, run_blocking};
use crate::interaction::audit_user;
use crate::state::{OidcState, now};
use crate::view::Deferred;

/// What checking the current password came to.
pub(crate) enum Current {
    /// It is the account's: give the reservations back in the write that acts on it.
    Right(Reservations),
    /// The message to show beside the field, and the status (wrong: 400, locked: 429
    /// with the seconds to wait).
    Refused { message: String, status: StatusCode, retry_after: Option<i64> },
}

/// Checks `password` as the signed-in user's current one, through the sign-in throttle;
/// a wrong one is audited as a failed sign-in and stays counted.
pub(crate) fn check_current(
    state: &OidcState,
    account: &Account,
    password: &str,
    client_ip: Option<&str>,
    purpose: &str,
    now: i64,
) -> StoreResult<Current> {
    let login = account.user.username.to_lowercase();
    let attempt = PasswordAttempt {
        login: &login,
        user: Some(&account.user),
        password,
        client_ip,
        channel: Channel::AccountPage,
    };
    match tessera_auth::check_password(&state.store, &state.passwords, &attempt, now)? {
        Verdict::Matched(reservations) => Ok(Current::Right(reservations)),
        Verdict::Locked { until } => Ok(Current::Refused {
            message: tessera_auth::locked_message(until, now),
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after: Some(until - now),
        }),
        Verdict::Wrong => {
            state.store.write_transaction(|c| {
                let event = audit::NewAuditEvent {
                    actor: &format!("user:{}", account.user.id),
                    action: "user.sign_in_failed",
                    target: &attempt.target(),
                    summary: json!({ "page": "account", "for": purpose }),
                    client_ip,
                };
                audit::record(c, &event, now).map(|_| ())
            })?;
            Ok(Current::Refused {
                message: "This is not your current password.".into(),
                status: StatusCode::BAD_REQUEST,
                retry_after: None,
            })
        }
    }
}

/// `POST /account/password`.
pub(crate) async fn submit(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    let Some(submitted) = Submitted::read(&request, &body, &state) else { return bad_form().into_response() };
    let state = state.into_inner();
    let waker = state.clone();
    run_blocking(
        move || change(&state, &submitted),
        move |(response, changed)| {
            if changed {
                waker.outbox_wake.notify();
                if let Some(accounts) = &waker.accounts {
                    accounts.wake();
                }
            }
            response.into_response()
        },
    )
    .await
}

/// The page again with the password fields' errors.
fn refuse(
    state: &OidcState,
    account: &Account,
    status: StatusCode,
    retry_after: Option<i64>,
    set: impl FnOnce(&mut super::Problems),
    now: i64,
) -> StoreResult<Deferred> {
    let mut page = state.store.read_transaction(|c| page(c, state, account, now))?;
    set(&mut page.problems);
    let answer = if status == StatusCode::BAD_REQUEST { refused(page) } else { Deferred::page_status(status, page) };
    Ok(match retry_after {
        Some(seconds) => answer.retry_after(seconds),
        None => answer,
    })
}

fn change(state: &OidcState, submitted: &Submitted) -> StoreResult<(Deferred, bool)> {
    let now = now();
    let form = &submitted.form;
    let client_ip = submitted.client_ip.as_deref();
    let Some(account) = state.store.read_transaction(|c| signed_in(c, state, submitted.cookie.as_deref(), now))? else {
        return Ok((super::to_sign_in(), false));
    };
    if !account.posted(form) {
        return Ok((forged(), false));
    }
    let reservations = match check_current(
        state,
        &account,
        form.get("current_password").unwrap_or(""),
        client_ip,
        "password_change",
        now,
    )? {
        Current::Right(reservations) => reservations,
        Current::Refused { message, status, retry_after } => {
            let page = refuse(state, &account, status, retry_after, |p| p.current_password = Some(message), now)?;
            return Ok((page, false));
        }
    };
    let new = form.get("password").unwrap_or("");
    let claims = state.store.read_transaction(|c| users::claim_values(c, &account.user))?;
    // ASVS 5.0 V6.2: the policy, with the account's own names as words not to build on.
    let about_user: Vec<&str> = [account.user.username.as_str()]
        .into_iter()
        .chain(account.user.email.as_deref())
        .chain(claims.values().filter_map(serde_json::Value::as_str))
        .collect();
    let checked = state.settings.password_policy.check(new.to_owned(), &about_user);
    let problem = match &checked {
        Err(refused) => Some((true, refused.to_string())),
        Ok(_) if form.get("password_confirm") != Some(new) => {
            Some((false, "The two passwords differ. Type the same new password twice.".to_owned()))
        }
        Ok(_) => None,
    };
    let Ok(password) = checked.map_err(|_| ()).and_then(|p| if problem.is_some() { Err(()) } else { Ok(p) }) else {
        // The current password was right: that attempt is not held against the account.
        state.store.write_transaction(|c| reservations.refund(c))?;
        let (on_password, message) = problem.unwrap_or((true, String::new()));
        let page = refuse(
            state,
            &account,
            StatusCode::BAD_REQUEST,
            None,
            |p| if on_password { p.password = Some(message) } else { p.confirm = Some(message) },
            now,
        )?;
        return Ok((page, false));
    };
    let hash = state.passwords.hash(password.expose()).map_err(|e| StoreError::Database(e.to_string()))?;
    // The hash the current password was checked against (a match needs one).
    let verified = account.user.password_hash.clone().unwrap_or_default();
    let written = state.store.write_transaction(|c| {
        // Checked again in the transaction that writes: a session ended meanwhile changes nothing.
        let Some(account) = signed_in(c, state, submitted.cookie.as_deref(), now)? else {
            return Ok(Written::SignedOut);
        };
        reservations.refund(c)?;
        // The check and the write it guards, one statement: of parallel changes proving
        // the same current password, one writes; the others find it changed.
        if !users::replace_password_hash(c, &account.user.id, &verified, &hash, now)? {
            return Ok(Written::Stale);
        }
        let ended = end_other_access(c, &account, now)?;
        audit_user(c, &account.user.id, "user.password_change", ended, client_ip, now)?;
        if let Some(accounts) = &state.accounts {
            accounts.send_password_changed(c, &account.user, now)?;
        }
        Ok(Written::Changed)
    })?;
    Ok(match written {
        Written::Changed => (done("password"), true),
        Written::SignedOut => (super::to_sign_in(), false),
        Written::Stale => {
            // The change that won signed the other browsers out: this one too, perhaps.
            let still = state.store.read_transaction(|c| signed_in(c, state, submitted.cookie.as_deref(), now))?;
            let Some(account) = still else { return Ok((super::to_sign_in(), false)) };
            let page = refuse(
                state,
                &account,
                StatusCode::CONFLICT,
                None,
                |p| p.current_password = Some(CHANGED_MEANWHILE.into()),
                now,
            )?;
            (page, false)
        }
    })
}

/// What the transaction of a password change did.
enum Written {
    Changed,
    /// This browser's session ended meanwhile.
    SignedOut,
    /// The password changed between the check of the current one and the write.
    Stale,
}

/// The answer to a change that lost to another (409).
const CHANGED_MEANWHILE: &str =
    "Your password was changed by another request meanwhile, so nothing was changed here. Enter your current password.";

/// Ends what the old password opened elsewhere: the other browser sessions (with their
/// back-channel logout tokens), the console sessions, and every grant not issued in
/// this browser's session. A summary for the audit event.
fn end_other_access(c: &mut AnyConnection, account: &Account, now: i64) -> StoreResult<serde_json::Value> {
    let user_id = &account.user.id;
    let (sessions, in_sessions) = browser_sessions::end_others_of_user(c, user_id, Some(&account.session.sid), now)?;
    let others = grants::revoke_grants_of_user_except_session(c, user_id, &account.session.sid, now)?;
    let console = admin_sessions::end_all_of_user(c, user_id, now)?;
    Ok(json!({
        "sessions_ended": sessions,
        "grants_revoked": in_sessions + others,
        "console_sessions_ended": console,
        "page": "account",
    }))
}
