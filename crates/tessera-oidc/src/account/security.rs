//! The account page's Security section (docs/authentication.md): the user's passkeys
//! ([`passkeys`]), their authenticator app ([`totp`]) and their recovery codes
//! ([`recovery_codes`]).
//!
//! Adding or removing a factor asks for proof that the person at the keyboard is the
//! account's owner (ASVS 5.0 V6.4.3, NIST SP 800-63B §6.1.2.1): either a recent sign-in
//! in this session (`auth_time` within [`RECENT_SIGN_IN`] seconds) or the current
//! password, checked through the sign-in throttle like any password. Each change runs in
//! one transaction, is audited with the user as actor, and mails the user (an owner
//! learns of a factor they did not add). The pages holding a secret (the TOTP secret,
//! the recovery codes) are answered `no-store` like every page.

pub mod passkeys;
pub mod recovery_codes;
pub mod totp;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;
use tessera_auth::Reservations;
use tessera_store::factors::{passkeys as stored_passkeys, recovery_codes as stored_codes, totp as stored_totp};
use tessera_store::users::User;
use tessera_store::{AnyConnection, StoreResult};

use super::password::{Current, check_current};
use super::{Account, AccountPage, Submitted, forged, page, refused, signed_in, time, to_sign_in};
use crate::error::{bad_form, run_blocking};
use crate::interaction::audit_user;
use crate::state::{OidcState, now};
use crate::view::Deferred;

/// Seconds after a sign-in during which adding or removing a factor needs no password.
pub const RECENT_SIGN_IN: i64 = 5 * 60;

/// One passkey in the list.
pub struct PasskeyItem {
    pub id: String,
    pub name: String,
    pub created: String,
    /// When it was last used to sign in, or "never".
    pub last_used: String,
    /// Bound to one device (not synced).
    pub device_bound: bool,
}

/// The Security section of the account page.
#[derive(Default)]
pub struct SecuritySection {
    /// Passkeys can be registered here (the issuer is a valid relying party).
    pub passkeys_available: bool,
    pub passkeys: Vec<PasskeyItem>,
    /// TOTP can be set up (a master key seals the secrets).
    pub totp_available: bool,
    /// Since when the authenticator app is active.
    pub totp_since: Option<String>,
    pub recovery_codes_left: i64,
    /// When the current set of recovery codes was made.
    pub recovery_codes_made: Option<String>,
    /// The forms must carry the current password (no recent sign-in).
    pub needs_password: bool,
}

/// Errors of the Security section's forms, shown beside them.
#[derive(Default)]
pub struct SecurityProblems {
    pub passkeys: Option<String>,
    pub totp: Option<String>,
    pub recovery_codes: Option<String>,
}

impl SecurityProblems {
    pub fn any(&self) -> bool {
        self.passkeys.is_some() || self.totp.is_some() || self.recovery_codes.is_some()
    }
}

/// Whether this session signed in recently enough to change factors without a password.
pub(crate) fn recently_signed_in(account: &Account, now: i64) -> bool {
    account.session.auth_time.is_some_and(|at| now - at <= RECENT_SIGN_IN)
}

/// The Security section of `account`.
pub(crate) fn section(
    conn: &mut AnyConnection,
    state: &OidcState,
    account: &Account,
    now: i64,
) -> StoreResult<SecuritySection> {
    let user_id = &account.user.id;
    let passkeys = stored_passkeys::list_of_user(conn, user_id)?
        .into_iter()
        .map(|p| PasskeyItem {
            id: p.id,
            name: p.name,
            created: time(p.created_at),
            last_used: p.last_used_at.map_or_else(|| "never".to_owned(), time),
            device_bound: p.device_bound,
        })
        .collect();
    let totp = stored_totp::find_confirmed(conn, user_id)?;
    Ok(SecuritySection {
        passkeys_available: state.factors.relying_party.is_some(),
        passkeys,
        totp_available: state.factors.master_key.is_some(),
        totp_since: totp.and_then(|t| t.confirmed_at).map(time),
        recovery_codes_left: stored_codes::count_left(conn, user_id)?,
        recovery_codes_made: stored_codes::generated_at(conn, user_id)?.map(time),
        needs_password: !recently_signed_in(account, now),
    })
}

/// How the owner proved themselves before a change of factors.
pub(crate) enum Proof {
    /// A recent sign-in in this session.
    Recent,
    /// The current password: give its reservations back in the write that acts on it.
    Password(Reservations),
}

impl Proof {
    /// Gives back the throttle's reservations of a password that was right.
    pub(crate) fn settle(&self, conn: &mut AnyConnection) -> StoreResult<()> {
        match self {
            Proof::Recent => Ok(()),
            Proof::Password(reservations) => reservations.refund(conn),
        }
    }
}

/// A refusal of [`prove`]: the message, the status (400 wrong, 429 locked) and the
/// seconds to wait.
pub(crate) struct Refusal {
    pub message: String,
    pub status: StatusCode,
    pub retry_after: Option<i64>,
}

/// A recent sign-in, or the current password posted as `current_password` (through the
/// sign-in throttle; a wrong one is audited and stays counted).
pub(crate) fn prove(
    state: &OidcState,
    account: &Account,
    password: Option<&str>,
    client_ip: Option<&str>,
    purpose: &str,
    now: i64,
) -> StoreResult<Result<Proof, Refusal>> {
    if recently_signed_in(account, now) {
        return Ok(Ok(Proof::Recent));
    }
    let Some(password) = password.filter(|p| !p.is_empty()) else {
        return Ok(Err(Refusal {
            message: "Enter your current password: you signed in more than 5 minutes ago.".into(),
            status: StatusCode::BAD_REQUEST,
            retry_after: None,
        }));
    };
    Ok(match check_current(state, account, password, client_ip, purpose, now)? {
        Current::Right(reservations) => Ok(Proof::Password(reservations)),
        Current::Refused { message, status, retry_after } => Err(Refusal { message, status, retry_after }),
    })
}

/// The account page again with a problem in the Security section: 400, or the
/// refusal's own status (429 with `Retry-After`).
pub(crate) fn refuse(
    state: &OidcState,
    account: &Account,
    status: StatusCode,
    retry_after: Option<i64>,
    set: impl FnOnce(&mut SecurityProblems),
    now: i64,
) -> StoreResult<Deferred> {
    let mut page: AccountPage = state.store.read_transaction(|c| page(c, state, account, now))?;
    set(&mut page.security_problems);
    let answer = if status == StatusCode::BAD_REQUEST { refused(page) } else { Deferred::page_status(status, page) };
    Ok(match retry_after {
        Some(seconds) => answer.retry_after(seconds),
        None => answer,
    })
}

/// A change of the user's factors, recorded: audited as `action` with the user as actor,
/// and mailed (added or removed, `factor` in words).
pub(crate) struct Change<'a> {
    pub action: &'a str,
    pub summary: Value,
    pub factor: &'a str,
    pub added: bool,
}

/// Records `change` in the caller's transaction; whether a mail was queued.
pub(crate) fn record(
    conn: &mut AnyConnection,
    state: &OidcState,
    user: &User,
    change: &Change<'_>,
    client_ip: Option<&str>,
    now: i64,
) -> StoreResult<bool> {
    audit_user(conn, &user.id, change.action, change.summary.clone(), client_ip, now)?;
    let Some(accounts) = &state.accounts else { return Ok(false) };
    let sent = if change.added {
        accounts.send_factor_added(conn, user, change.factor, now)?
    } else {
        accounts.send_factor_removed(conn, user, change.factor, false, now)?
    };
    Ok(sent == tessera_auth::Sent::Queued)
}

/// Wakes the mail delivery after a change that queued mail.
pub(crate) fn wake_mail(state: &OidcState, queued: bool) {
    if queued {
        state.outbox_wake.notify();
        if let Some(accounts) = &state.accounts {
            accounts.wake();
        }
    }
}

/// What a change on the Security section answers, and whether it queued mail.
pub(crate) type Answer = (Deferred, bool);

/// A form posted on the Security section: the form is read, then, off the async
/// threads, the session's account is found and the form's CSRF token checked before
/// `apply` runs with them; mail it queued is sent at once.
pub(crate) async fn change(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<OidcState>,
    apply: fn(&OidcState, &Submitted, Account, i64) -> StoreResult<Answer>,
) -> HttpResponse {
    let Some(submitted) = Submitted::read(&request, &body, &state) else { return bad_form().into_response() };
    let state = state.into_inner();
    let waker = state.clone();
    run_blocking(
        move || {
            let now = now();
            let cookie = submitted.cookie.as_deref();
            let Some(account) = state.store.read_transaction(|c| signed_in(c, &state, cookie, now))? else {
                return Ok((to_sign_in(), false));
            };
            if !account.posted(&submitted.form) {
                return Ok((forged(), false));
            }
            apply(&state, &submitted, account, now)
        },
        move |(answer, queued)| {
            wake_mail(&waker, queued);
            answer.into_response()
        },
    )
    .await
}
