//! Refresh tokens: stored only as SHA-256 hashes, each in a grant (its family), spent
//! once by rotation ([`crate::redeem::rotate_refresh`]).

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
