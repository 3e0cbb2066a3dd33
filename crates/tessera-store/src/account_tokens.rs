//! Single-use account links sent by mail (docs/accounts.md): verifying an email address
//! and setting a new password after "forgot password". The token travels only in the
//! mail; the table keeps its SHA-256 hash, the purpose, the user, the address the link
//! was sent to, its expiry and when it was spent.
//!
//! A link is spent by one conditional `UPDATE … WHERE consumed_at IS NULL AND
//! expires_at > now` (row-locked on Postgres, serialized on SQLite): of parallel uses,
//! exactly one wins. Issuing a link deletes the user's older links of the same purpose,
//! so only the newest one works.

use diesel::prelude::*;
use tessera_domain::UserId;

use crate::schema::account_tokens;
use crate::{AnyConnection, StoreResult};

/// What a link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Following it marks `email` as the user's verified address.
    VerifyEmail,
    /// Following it lets the user set a new password.
    ResetPassword,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::ResetPassword => "reset_password",
        }
    }
}

/// A link to store.
#[derive(Debug, Clone)]
pub struct NewAccountToken<'a> {
    pub token_hash: &'a str,
    pub purpose: Purpose,
    pub user_id: &'a UserId,
    /// The address the link is sent to.
    pub email: &'a str,
    pub expires_at: i64,
}

/// A link that was just spent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpentToken {
    pub user_id: UserId,
    pub email: String,
}

/// Stores a new link, deleting the user's older links of the same purpose (a new link
/// supersedes them).
pub fn issue(conn: &mut AnyConnection, new: &NewAccountToken<'_>, now: i64) -> StoreResult<()> {
    diesel::delete(
        account_tokens::table
            .filter(account_tokens::user_id.eq(new.user_id.as_str()))
            .filter(account_tokens::purpose.eq(new.purpose.as_str())),
    )
    .execute(conn)?;
    diesel::insert_into(account_tokens::table)
        .values((
            account_tokens::token_hash.eq(new.token_hash),
            account_tokens::purpose.eq(new.purpose.as_str()),
            account_tokens::user_id.eq(new.user_id.as_str()),
            account_tokens::email.eq(new.email),
            account_tokens::created_at.eq(now),
            account_tokens::expires_at.eq(new.expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The user and address of a live (unspent, unexpired) link, without spending it: what
/// a page shows before the user confirms.
pub fn find_live(
    conn: &mut AnyConnection,
    token_hash: &str,
    purpose: Purpose,
    now: i64,
) -> StoreResult<Option<SpentToken>> {
    let row: Option<(String, String)> = account_tokens::table
        .filter(account_tokens::token_hash.eq(token_hash))
        .filter(account_tokens::purpose.eq(purpose.as_str()))
        .filter(account_tokens::consumed_at.is_null())
        .filter(account_tokens::expires_at.gt(now))
        .select((account_tokens::user_id, account_tokens::email))
        .first(conn)
        .optional()?;
    Ok(row.map(|(user_id, email)| SpentToken { user_id: UserId::from(user_id), email }))
}

/// Spends a live link of `purpose`: `None` when it is unknown, of another purpose,
/// expired or spent already (by this call's rivals too: see the module's comment). Call
/// it in the transaction that does what the link allows, so both happen or neither.
pub fn redeem(
    conn: &mut AnyConnection,
    token_hash: &str,
    purpose: Purpose,
    now: i64,
) -> StoreResult<Option<SpentToken>> {
    let spent = diesel::update(
        account_tokens::table
            .filter(account_tokens::token_hash.eq(token_hash))
            .filter(account_tokens::purpose.eq(purpose.as_str()))
            .filter(account_tokens::consumed_at.is_null())
            .filter(account_tokens::expires_at.gt(now)),
    )
    .set(account_tokens::consumed_at.eq(now))
    .execute(conn)?;
    if spent != 1 {
        return Ok(None);
    }
    let (user_id, email): (String, String) =
        account_tokens::table.find(token_hash).select((account_tokens::user_id, account_tokens::email)).first(conn)?;
    Ok(Some(SpentToken { user_id: UserId::from(user_id), email }))
}

/// Deletes every link of `purpose` of a user (e.g. verification links once the address
/// changed or was removed).
pub fn revoke_all(conn: &mut AnyConnection, user_id: &UserId, purpose: Purpose) -> StoreResult<usize> {
    Ok(diesel::delete(
        account_tokens::table
            .filter(account_tokens::user_id.eq(user_id.as_str()))
            .filter(account_tokens::purpose.eq(purpose.as_str())),
    )
    .execute(conn)?)
}

/// How many links of `purpose` a user has (spent ones included, until purged).
pub fn count_of_user(conn: &mut AnyConnection, user_id: &UserId, purpose: Purpose) -> StoreResult<i64> {
    Ok(account_tokens::table
        .filter(account_tokens::user_id.eq(user_id.as_str()))
        .filter(account_tokens::purpose.eq(purpose.as_str()))
        .count()
        .get_result(conn)?)
}

/// Deletes links that expired at or before `now`, spent or not.
pub fn purge(conn: &mut AnyConnection, now: i64) -> StoreResult<usize> {
    Ok(diesel::delete(account_tokens::table.filter(account_tokens::expires_at.le(now))).execute(conn)?)
}
