//! Initial access tokens (RFC 7591 §3): bearer tokens administrators issue so that clients
//! may register themselves, each with an expiry and a quota of registrations. Only the
//! SHA-256 hash of a token is stored; a registration spends one use in one conditional
//! `UPDATE` (the check and the write it guards are one statement), in the transaction that
//! creates the application, so N parallel registrations on a quota of k give exactly k.

use diesel::prelude::*;

use crate::error::found;
use crate::page::{Page, Paged};
use crate::schema::initial_access_tokens;
use crate::{AnyConnection, StoreResult, new_id};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = initial_access_tokens)]
pub struct InitialAccessToken {
    pub id: String,
    #[diesel(column_name = token_hash)]
    pub token_hash: String,
    pub note: String,
    /// Registrations the token allowed when issued.
    pub quota: i64,
    /// Registrations it still allows.
    pub uses_left: i64,
    pub expires_at: i64,
    pub created_at: i64,
}

/// Stores a new token (`token_hash`: the SHA-256 of the generated token).
pub fn create(
    conn: &mut AnyConnection,
    token_hash: &str,
    note: &str,
    quota: i64,
    expires_at: i64,
    now: i64,
) -> StoreResult<InitialAccessToken> {
    let id = new_id();
    diesel::insert_into(initial_access_tokens::table)
        .values((
            initial_access_tokens::id.eq(&id),
            initial_access_tokens::token_hash.eq(token_hash),
            initial_access_tokens::note.eq(note),
            initial_access_tokens::quota.eq(quota),
            initial_access_tokens::uses_left.eq(quota),
            initial_access_tokens::expires_at.eq(expires_at),
            initial_access_tokens::created_at.eq(now),
        ))
        .execute(conn)?;
    get(conn, &id)
}

pub fn get(conn: &mut AnyConnection, id: &str) -> StoreResult<InitialAccessToken> {
    initial_access_tokens::table
        .find(id)
        .select(InitialAccessToken::as_select())
        .first(conn)
        .optional()?
        .ok_or(crate::StoreError::not_found("initial access token"))
}

/// Every token, oldest first, by keyset pages.
pub fn list(conn: &mut AnyConnection, page: &Page) -> StoreResult<Paged<InitialAccessToken>> {
    let mut query = initial_access_tokens::table.select(InitialAccessToken::as_select()).into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(initial_access_tokens::id.gt(after));
    }
    let rows = query.order(initial_access_tokens::id.asc()).limit(page.fetch_limit()).load(conn)?;
    Ok(Paged::from_rows(rows, page, |t| t.id.clone()))
}

/// Revokes (deletes) token `id`; the applications it registered stay.
pub fn delete(conn: &mut AnyConnection, id: &str) -> StoreResult<()> {
    let deleted = diesel::delete(initial_access_tokens::table.find(id)).execute(conn)?;
    found(deleted, "initial access token")
}

/// Spends one use of the token whose hash is `token_hash`, if it is unexpired at `now`
/// and has a use left: its id, or `None` (unknown, expired or used up). The hash is of a
/// 256-bit random token, so finding it by index reveals nothing an attacker could use.
pub fn spend(conn: &mut AnyConnection, token_hash: &str, now: i64) -> StoreResult<Option<String>> {
    let Some(id) = initial_access_tokens::table
        .filter(initial_access_tokens::token_hash.eq(token_hash))
        .select(initial_access_tokens::id)
        .first::<String>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let spent = diesel::update(
        initial_access_tokens::table
            .find(&id)
            .filter(initial_access_tokens::uses_left.gt(0))
            .filter(initial_access_tokens::expires_at.gt(now)),
    )
    .set(initial_access_tokens::uses_left.eq(initial_access_tokens::uses_left - 1))
    .execute(conn)?;
    Ok((spent == 1).then_some(id))
}

/// Whether the token whose hash is `token_hash` could be spent at `now` (known, unexpired,
/// a use left), read only: the registration endpoint answers a bad token before it reads
/// the metadata; the use itself is spent by [`spend`] in the creating transaction.
pub fn is_spendable(conn: &mut AnyConnection, token_hash: &str, now: i64) -> StoreResult<bool> {
    let found = initial_access_tokens::table
        .filter(initial_access_tokens::token_hash.eq(token_hash))
        .filter(initial_access_tokens::uses_left.gt(0))
        .filter(initial_access_tokens::expires_at.gt(now))
        .select(initial_access_tokens::id)
        .first::<String>(conn)
        .optional()?;
    Ok(found.is_some())
}

/// Deletes the tokens that expired at or before `now` (purge).
pub fn purge_expired(conn: &mut AnyConnection, now: i64) -> StoreResult<usize> {
    Ok(diesel::delete(initial_access_tokens::table.filter(initial_access_tokens::expires_at.le(now))).execute(conn)?)
}
