//! Sign-ins half done on the account page (docs/authentication.md, "Signing in"): the
//! password was right and a second factor is due. Not a session: the browser's session
//! stays anonymous until the factor is presented. One per browser session, found by the
//! session's id hash, gone with the session (`ON DELETE CASCADE`) or the user, and read
//! only while live. Finishing takes it once (`DELETE`: of parallel finishes, one wins).

use diesel::prelude::*;
use tessera_domain::UserId;

use crate::json::{json_list, parse_as};
use crate::schema::pending_sign_ins;
use crate::{AnyConnection, StoreResult};

/// A sign-in waiting for its second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignIn {
    pub user_id: UserId,
    /// The `amr` of the factors presented so far.
    pub amr: Vec<String>,
    pub started_at: i64,
}

/// Keeps the sign-in of `user_id` on the session `session_id_hash`, replacing one it had.
pub fn begin(
    conn: &mut AnyConnection,
    session_id_hash: &str,
    user_id: &UserId,
    amr: &[String],
    expires_at: i64,
    now: i64,
) -> StoreResult<()> {
    diesel::delete(pending_sign_ins::table.find(session_id_hash)).execute(conn)?;
    diesel::insert_into(pending_sign_ins::table)
        .values((
            pending_sign_ins::session_id_hash.eq(session_id_hash),
            pending_sign_ins::user_id.eq(user_id.as_str()),
            pending_sign_ins::amr.eq(json_list(amr)),
            pending_sign_ins::started_at.eq(now),
            pending_sign_ins::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The live sign-in of the session, if any.
pub fn get(conn: &mut AnyConnection, session_id_hash: &str, now: i64) -> StoreResult<Option<PendingSignIn>> {
    let row: Option<(String, String, i64)> = pending_sign_ins::table
        .find(session_id_hash)
        .filter(pending_sign_ins::expires_at.gt(now))
        .select((pending_sign_ins::user_id, pending_sign_ins::amr, pending_sign_ins::started_at))
        .first(conn)
        .optional()?;
    row.map(|(user_id, amr, started_at)| {
        Ok(PendingSignIn { user_id: UserId::from(user_id), amr: parse_as(&amr)?, started_at })
    })
    .transpose()
}

/// Ends the session's pending sign-in: whether there was one (the one finish that wins).
pub fn take(conn: &mut AnyConnection, session_id_hash: &str) -> StoreResult<bool> {
    Ok(diesel::delete(pending_sign_ins::table.find(session_id_hash)).execute(conn)? == 1)
}
