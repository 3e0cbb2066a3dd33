//! The records of users' authentication factors beyond the password
//! (docs/authentication.md), one module per aggregate: [`passkeys`], [`totp`],
//! [`recovery_codes`], and the WebAuthn [`ceremonies`] in progress. The factors' rules
//! and cryptography are `tessera-factors`'; this keeps what they need, and spends what
//! is single use in one conditional statement each, so that of parallel uses exactly
//! one wins: a recovery code (`UPDATE … WHERE used_at IS NULL`), a TOTP time step
//! (`UPDATE … WHERE last_used_step < ?`), a ceremony (`UPDATE … WHERE used_at IS NULL`).
//!
//! Every row belongs to a user and is deleted with them (`ON DELETE CASCADE`).

pub mod ceremonies;
pub mod passkeys;
pub mod recovery_codes;
pub mod totp;

use tessera_domain::UserId;

use crate::{AnyConnection, StoreResult};

/// What factors a user has: for the sign-in flow (which factor to ask for) and the
/// console.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// A confirmed TOTP secret (an unconfirmed one is not a factor yet).
    pub totp: bool,
    pub passkeys: i64,
    /// Recovery codes not used yet.
    pub recovery_codes_left: i64,
}

impl Summary {
    /// Whether the user has a factor beside the password (recovery codes alone are a way
    /// back in, not a factor one enrols).
    pub fn has_second_factor(&self) -> bool {
        self.totp || self.passkeys > 0
    }
}

/// The factors of `user_id`.
pub fn summary(conn: &mut AnyConnection, user_id: &UserId) -> StoreResult<Summary> {
    Ok(Summary {
        totp: totp::find_confirmed(conn, user_id)?.is_some(),
        passkeys: passkeys::count_of_user(conn, user_id)?,
        recovery_codes_left: recovery_codes::count_left(conn, user_id)?,
    })
}

/// What [`remove_all`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    pub totp: bool,
    pub passkeys: usize,
    pub recovery_codes: usize,
    pub ceremonies: usize,
}

/// Deletes every factor of `user_id` (an administrator's reset): their passkeys, TOTP
/// secret, recovery codes and ceremonies in progress.
pub fn remove_all(conn: &mut AnyConnection, user_id: &UserId) -> StoreResult<Removed> {
    Ok(Removed {
        passkeys: passkeys::delete_all_of_user(conn, user_id)?,
        totp: totp::delete(conn, user_id)?,
        recovery_codes: recovery_codes::delete_all_of_user(conn, user_id)?,
        ceremonies: ceremonies::delete_all_of_user(conn, user_id)?,
    })
}
