//! Recovery codes: ten per user, kept as SHA-256 hashes (`tessera-factors` makes and
//! hashes them). A new set replaces the old one whole. A code is spent by one
//! conditional `UPDATE … WHERE used_at IS NULL`: of parallel uses of one code, exactly
//! one wins.

use diesel::prelude::*;
use tessera_domain::UserId;

use crate::schema::recovery_codes;
use crate::{AnyConnection, StoreResult};

/// Replaces the user's codes with `hashes`: the old ones stop working.
pub fn replace(conn: &mut AnyConnection, user_id: &UserId, hashes: &[&str], now: i64) -> StoreResult<()> {
    delete_all_of_user(conn, user_id)?;
    let rows: Vec<_> = hashes
        .iter()
        .map(|hash| {
            (
                recovery_codes::user_id.eq(user_id.as_str()),
                recovery_codes::code_hash.eq(*hash),
                recovery_codes::created_at.eq(now),
            )
        })
        .collect();
    // One row at a time: a multi-row insert is not one statement on every backend diesel drives.
    for row in rows {
        diesel::insert_into(recovery_codes::table).values(row).execute(conn)?;
    }
    Ok(())
}

/// Spends the user's code of `hash` at `now`: `false` when it is no code of theirs or was
/// used already (by a parallel request too).
pub fn spend(conn: &mut AnyConnection, user_id: &UserId, hash: &str, now: i64) -> StoreResult<bool> {
    let rows = diesel::update(
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id.as_str()))
            .filter(recovery_codes::code_hash.eq(hash))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(now))
    .execute(conn)?;
    Ok(rows == 1)
}

/// How many of the user's codes are not used yet.
pub fn count_left(conn: &mut AnyConnection, user_id: &UserId) -> StoreResult<i64> {
    Ok(recovery_codes::table
        .filter(recovery_codes::user_id.eq(user_id.as_str()))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)?)
}

/// When the user's current set was made, if they have one.
pub fn generated_at(conn: &mut AnyConnection, user_id: &UserId) -> StoreResult<Option<i64>> {
    Ok(recovery_codes::table
        .filter(recovery_codes::user_id.eq(user_id.as_str()))
        .select(diesel::dsl::max(recovery_codes::created_at))
        .first::<Option<i64>>(conn)?)
}

/// Deletes every code of the user.
pub fn delete_all_of_user(conn: &mut AnyConnection, user_id: &UserId) -> StoreResult<usize> {
    Ok(diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id.as_str()))).execute(conn)?)
}
