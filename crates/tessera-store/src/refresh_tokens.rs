//! Refresh tokens: stored only as SHA-256 hashes, each in a grant (its family), spent
//! once by rotation ([`crate::redeem::rotate_refresh`]). A token spent by a rotation
//! names its successor (`replaced_by`), so that a retry of that rotation within the
//! application's grace can be told from a reuse ([`RefreshToken::is_retry`],
//! [`crate::redeem::retry_rotation`]).

use diesel::prelude::*;
use tessera_domain::GrantId;

use crate::grants::{Grant, GrantRow};
use crate::schema::{grants, refresh_tokens, user_claims, users};
use crate::users::{self as user_rows, UserWithClaims};
use crate::{AnyConnection, StoreError, StoreResult};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshToken {
    pub token_hash: String,
    #[diesel(deserialize_as = String)]
    pub grant_id: GrantId,
    pub created_at: i64,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
    /// The hash of the token its rotation issued (last issued, after retries); `None`
    /// while unspent, and for a successor that a retry spent, which is never retried.
    pub replaced_by: Option<String>,
}

impl RefreshToken {
    /// Whether presenting this token again at `now` is a retry of its rotation, not a
    /// reuse: it was spent by a rotation (it names a successor) at most `grace` seconds
    /// ago. A grace of 0 turns retries off. Whether the retry can be answered also
    /// depends on the successor being unused, which only
    /// [`crate::redeem::retry_rotation`] decides (atomically).
    pub fn is_retry(&self, grace: i64, now: i64) -> bool {
        grace > 0 && self.replaced_by.is_some() && self.consumed_at.is_some_and(|at| now - at <= grace)
    }
}

/// Stores a refresh token of `grant_id`. Its expiry is capped at the grant's.
pub fn insert_refresh_token(
    conn: &mut AnyConnection,
    token_hash: &str,
    grant_id: &GrantId,
    expires_at: i64,
    now: i64,
) -> StoreResult<()> {
    let grant_expires_at: i64 = grants::table
        .find(grant_id.as_str())
        .select(grants::expires_at)
        .first(conn)
        .optional()?
        .ok_or(StoreError::not_found("grant"))?;
    insert_refresh_row(conn, token_hash, grant_id, expires_at.min(grant_expires_at), now)
}

pub(crate) fn insert_refresh_row(
    conn: &mut AnyConnection,
    token_hash: &str,
    grant_id: &GrantId,
    expires_at: i64,
    now: i64,
) -> StoreResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(token_hash),
            refresh_tokens::grant_id.eq(grant_id.as_str()),
            refresh_tokens::created_at.eq(now),
            refresh_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Makes `successor` the token that replaced the spent `token_hash` (a retry of its
/// rotation issued it; [`crate::redeem::retry_rotation`]).
pub(crate) fn set_successor(conn: &mut AnyConnection, token_hash: &str, successor: &str) -> StoreResult<()> {
    diesel::update(refresh_tokens::table.find(token_hash))
        .set(refresh_tokens::replaced_by.eq(successor))
        .execute(conn)?;
    Ok(())
}

/// The refresh token with this hash and its grant, whatever their state (for revocation
/// and introspection, which check the client and the state themselves).
pub fn find_refresh_token(conn: &mut AnyConnection, token_hash: &str) -> StoreResult<Option<(RefreshToken, Grant)>> {
    let row: Option<(RefreshToken, GrantRow)> = refresh_tokens::table
        .inner_join(grants::table)
        .filter(refresh_tokens::token_hash.eq(token_hash))
        .select((RefreshToken::as_select(), GrantRow::as_select()))
        .first(conn)
        .optional()?;
    row.map(|(token, grant)| Ok((token, Grant::try_from(grant)?))).transpose()
}

/// What a spent token's successor is now: `consumed_at` and `expires_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuccessorState {
    pub consumed_at: Option<i64>,
    pub expires_at: i64,
}

impl SuccessorState {
    /// Never spent (not rotated, not spent by a retry) and unexpired at `now`.
    pub fn unused(&self, now: i64) -> bool {
        self.consumed_at.is_none() && self.expires_at > now
    }
}

/// [`find_refresh_token`] and the state of the token that replaced it, in one statement:
/// the two agree with each other even while concurrent retries replace the successor
/// (on Postgres, two statements could each see another moment).
pub fn find_refresh_token_with_successor(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> StoreResult<Option<(RefreshToken, Grant, Option<SuccessorState>)>> {
    let successor = diesel::alias!(refresh_tokens as successor);
    type Row = (RefreshToken, GrantRow, Option<(Option<i64>, i64)>);
    let row: Option<Row> = refresh_tokens::table
        .inner_join(grants::table)
        .left_join(successor.on(successor.field(refresh_tokens::token_hash).nullable().eq(refresh_tokens::replaced_by)))
        .filter(refresh_tokens::token_hash.eq(token_hash))
        .select((
            RefreshToken::as_select(),
            GrantRow::as_select(),
            (successor.field(refresh_tokens::consumed_at), successor.field(refresh_tokens::expires_at)).nullable(),
        ))
        .first(conn)
        .optional()?;
    row.map(|(token, grant, next)| {
        let next = next.map(|(consumed_at, expires_at)| SuccessorState { consumed_at, expires_at });
        Ok((token, Grant::try_from(grant)?, next))
    })
    .transpose()
}

/// [`find_refresh_token`] and the grant's user with their claim values, in one
/// statement (one round trip on Postgres): what a refresh reads before it checks and
/// signs.
pub fn find_refresh_token_with_user(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> StoreResult<Option<(RefreshToken, Grant, Option<UserWithClaims>)>> {
    let rows: Vec<(RefreshToken, GrantRow, user_rows::JoinedUser, user_rows::JoinedValue)> = refresh_tokens::table
        .inner_join(grants::table)
        .left_join(users::table.on(users::id.nullable().eq(grants::user_id)))
        .left_join(user_claims::table.on(user_claims::user_id.nullable().eq(grants::user_id)))
        .filter(refresh_tokens::token_hash.eq(token_hash))
        .select((
            RefreshToken::as_select(),
            GrantRow::as_select(),
            Option::<user_rows::Row>::as_select(),
            (user_claims::claim_name, user_claims::value).nullable(),
        ))
        .load(conn)?;
    let mut found = None;
    let user = user_rows::with_claims(rows.into_iter().map(|(token, grant, user, value)| {
        found.get_or_insert((token, grant));
        (user, value)
    }))?;
    let Some((token, grant)) = found else { return Ok(None) };
    Ok(Some((token, grant.try_into()?, user)))
}
