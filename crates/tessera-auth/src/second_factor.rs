//! A one-time code as a second factor (docs/authentication.md): a TOTP code (RFC 6238)
//! or one of the user's recovery codes, checked the same wherever it is typed (the
//! sign-in pages, the admin console).
//!
//! Issue 18 §7, OWASP ASVS 5.0 V6.3.1: a wrong code counts like a wrong password. The
//! attempt is reserved in the sign-in throttle (`tessera_store::throttle`) *before* the
//! code is checked, in the client address's bucket and then the account's (the same
//! buckets as [`crate::sign_in::check_password`]); a locked bucket refuses without
//! checking. A right code is spent atomically: a TOTP code by recording its time step
//! (`UPDATE … WHERE last_used_step < step`, so a code is accepted once: RFC 6238 §5.2),
//! a recovery code by `UPDATE … WHERE used_at IS NULL`; of parallel uses, one wins.

use tessera_domain::assurance::Factor;
use tessera_factors::{TotpSecret, recovery_codes};
use tessera_store::factors::{recovery_codes as stored_codes, totp};
use tessera_store::users::User;
use tessera_store::{Store, StoreError, StoreResult};
use tessera_tokens::MasterKey;

use crate::sign_in::{Admission, Channel, PasswordAttempt, Reservations, reserve};

/// One attempt at a second factor by a user whose password (or other first factor) was
/// right.
#[derive(Debug, Clone, Copy)]
pub struct CodeAttempt<'a> {
    pub user: &'a User,
    /// What was typed: six digits of TOTP, or a recovery code (any case, spaces, dashes).
    pub code: &'a str,
    pub client_ip: Option<&'a str>,
    pub channel: Channel<'a>,
}

/// What a code attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeVerdict {
    /// The code was right and is now spent: `factor` is [`Factor::Totp`] or
    /// [`Factor::RecoveryCode`] (then mail the user: `AccountMail::send_recovery_code_used`).
    /// Give the reservations back in the write that signs the user in.
    Matched { factor: Factor, reservations: Reservations },
    /// A wrong, stale or replayed code; the attempt stays counted.
    Wrong,
    /// Too many attempts: the code was not checked.
    Locked { until: i64 },
}

/// The attempt as the throttle sees it: the user's, by the name they are known by.
fn as_password<'a>(attempt: &CodeAttempt<'a>, login: &'a str) -> PasswordAttempt<'a> {
    PasswordAttempt {
        login,
        user: Some(attempt.user),
        password: "",
        client_ip: attempt.client_ip,
        channel: attempt.channel,
    }
}

/// Reserves the attempt, then checks the code: see the module's comment. `master_key`
/// opens the user's TOTP secret.
pub fn check_code(
    store: &Store,
    master_key: &MasterKey,
    attempt: &CodeAttempt<'_>,
    now: i64,
) -> StoreResult<CodeVerdict> {
    let login = attempt.user.username.to_lowercase();
    let reservations = match reserve(store, &as_password(attempt, &login), now)? {
        Admission::Locked { until } => return Ok(CodeVerdict::Locked { until }),
        Admission::Reserved(reservations) => reservations,
    };
    let user_id = &attempt.user.id;
    let typed: String = attempt.code.chars().filter(|c| !c.is_whitespace()).collect();
    let looks_like_totp =
        typed.len() == tessera_factors::totp::DIGITS as usize && typed.bytes().all(|b| b.is_ascii_digit());
    if looks_like_totp {
        if let Some(stored) = store.read_statement(|c| totp::find_confirmed(c, user_id))? {
            let secret = TotpSecret::open(&stored.secret, master_key, user_id.as_str())
                .map_err(|e| StoreError::Corrupt(format!("the TOTP secret of user {user_id}: {e}")))?;
            if let Some(step) = secret.verify(&typed, now, Some(stored.last_used_step))
                && store.write_statement(|c| totp::use_step(c, user_id, step))?
            {
                return Ok(CodeVerdict::Matched { factor: Factor::Totp, reservations });
            }
        }
        return Ok(CodeVerdict::Wrong);
    }
    if let Some(hash) = recovery_codes::hash_of_input(attempt.code)
        && store.write_statement(|c| stored_codes::spend(c, user_id, hash.as_str(), now))?
    {
        return Ok(CodeVerdict::Matched { factor: Factor::RecoveryCode, reservations });
    }
    Ok(CodeVerdict::Wrong)
}

/// What the first code typed to confirm a new authenticator app came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// The code is one of the pending secret's: confirm it with `totp::confirm` at `step`
    /// and give the reservations back in the same write.
    Right { step: i64, reservations: Reservations },
    /// A wrong or stale code; the attempt stays counted.
    Wrong,
    /// Too many attempts: the code was not checked.
    Locked { until: i64 },
    /// The user has no pending secret (confirmed meanwhile, removed, never begun).
    NothingPending,
}

/// The code typed to confirm a pending TOTP secret (account page or enrolment during
/// sign-in): reserved in the sign-in throttle before it is checked, as a code at sign-in
/// is, so that a stolen session cannot try codes against a secret it did not see. The
/// write that confirms is the caller's (it records the change in the same transaction).
pub fn check_confirmation(
    store: &Store,
    master_key: &MasterKey,
    attempt: &CodeAttempt<'_>,
    now: i64,
) -> StoreResult<Confirmation> {
    let user_id = &attempt.user.id;
    let Some(pending) = store.read_statement(|c| totp::find(c, user_id))?.filter(|t| t.confirmed_at.is_none()) else {
        return Ok(Confirmation::NothingPending);
    };
    let login = attempt.user.username.to_lowercase();
    let reservations = match reserve(store, &as_password(attempt, &login), now)? {
        Admission::Locked { until } => return Ok(Confirmation::Locked { until }),
        Admission::Reserved(reservations) => reservations,
    };
    let secret = TotpSecret::open(&pending.secret, master_key, user_id.as_str())
        .map_err(|e| StoreError::Corrupt(format!("the TOTP secret of user {user_id}: {e}")))?;
    let typed: String = attempt.code.chars().filter(|c| !c.is_whitespace()).collect();
    Ok(match secret.verify(&typed, now, Some(pending.last_used_step)) {
        Some(step) => Confirmation::Right { step, reservations },
        None => Confirmation::Wrong,
    })
}
