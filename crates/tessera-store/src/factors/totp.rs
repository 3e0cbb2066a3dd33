//! TOTP secrets: one per user, sealed under the master key by `tessera-factors` (this
//! module never sees it in the clear). A secret is pending until the user proves their
//! app has it with a first code; only a confirmed one is a factor.
//!
//! RFC 6238 §5.2: a code is accepted once. [`use_step`] records the time step a code
//! matched in one conditional statement, `UPDATE … SET last_used_step = ? WHERE
//! last_used_step < ?`: of parallel uses of one code, exactly one wins, and a code of a
//! step at or before the last used one is refused.

use diesel::prelude::*;
use tessera_domain::UserId;

use crate::schema::totp_secrets;
use crate::{AnyConnection, StoreResult};

/// A user's TOTP secret. `secret` is sealed; it never appears in `Debug`.
#[derive(Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = totp_secrets)]
pub struct StoredTotp {
    #[diesel(deserialize_as = String)]
    pub user_id: UserId,
    pub secret: String,
    pub confirmed_at: Option<i64>,
    pub last_used_step: i64,
    pub created_at: i64,
}

impl std::fmt::Debug for StoredTotp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredTotp")
            .field("user_id", &self.user_id)
            .field("confirmed_at", &self.confirmed_at)
            .field("last_used_step", &self.last_used_step)
            .finish_non_exhaustive()
    }
}

/// Stores a new pending secret for `user_id`, replacing a pending one; `false` (nothing
/// written) when the user has a confirmed secret: it must be removed first.
pub fn begin(conn: &mut AnyConnection, user_id: &UserId, sealed: &str, now: i64) -> StoreResult<bool> {
    diesel::delete(
        totp_secrets::table
            .filter(totp_secrets::user_id.eq(user_id.as_str()))
            .filter(totp_secrets::confirmed_at.is_null()),
    )
    .execute(conn)?;
    if find(conn, user_id)?.is_some() {
        return Ok(false);
    }
    diesel::insert_into(totp_secrets::table)
        .values((
            totp_secrets::user_id.eq(user_id.as_str()),
            totp_secrets::secret.eq(sealed),
            totp_secrets::last_used_step.eq(0),
            totp_secrets::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(true)
}

/// The user's secret, pending or confirmed.
pub fn find(conn: &mut AnyConnection, user_id: &UserId) -> StoreResult<Option<StoredTotp>> {
    Ok(totp_secrets::table.find(user_id.as_str()).select(StoredTotp::as_select()).first(conn).optional()?)
}

/// The user's confirmed secret: their TOTP factor.
pub fn find_confirmed(conn: &mut AnyConnection, user_id: &UserId) -> StoreResult<Option<StoredTotp>> {
    Ok(find(conn, user_id)?.filter(|t| t.confirmed_at.is_some()))
}

/// Records that a code of `step` was accepted: `false` when that step or a later one was
/// used already (a replay, or the loser of a race), or the user has no secret.
pub fn use_step(conn: &mut AnyConnection, user_id: &UserId, step: i64) -> StoreResult<bool> {
    let rows = diesel::update(
        totp_secrets::table
            .filter(totp_secrets::user_id.eq(user_id.as_str()))
            .filter(totp_secrets::last_used_step.lt(step)),
    )
    .set(totp_secrets::last_used_step.eq(step))
    .execute(conn)?;
    Ok(rows == 1)
}

/// Confirms the pending secret with the first code's `step` (recorded as used, so that
/// code cannot sign in afterwards): `false` when there is no pending secret or the step
/// was used already.
pub fn confirm(conn: &mut AnyConnection, user_id: &UserId, step: i64, now: i64) -> StoreResult<bool> {
    let rows = diesel::update(
        totp_secrets::table
            .filter(totp_secrets::user_id.eq(user_id.as_str()))
            .filter(totp_secrets::confirmed_at.is_null())
            .filter(totp_secrets::last_used_step.lt(step)),
    )
    .set((totp_secrets::confirmed_at.eq(now), totp_secrets::last_used_step.eq(step)))
    .execute(conn)?;
    Ok(rows == 1)
}

/// Removes the user's secret, pending or confirmed: whether there was one.
pub fn delete(conn: &mut AnyConnection, user_id: &UserId) -> StoreResult<bool> {
    Ok(diesel::delete(totp_secrets::table.find(user_id.as_str())).execute(conn)? == 1)
}
