//! The replay guard of client assertions: the `jti` values already used, stored only as
//! SHA-256 hashes.

use diesel::prelude::*;
use tessera_domain::ApplicationId;

use crate::schema::client_assertion_jtis;
use crate::{AnyConnection, StoreError, StoreResult};

/// RFC 7523 §3 (item 7): a client assertion's `jti` is used once. Records it until
/// `expires_at` (the assertion's `exp`); `false` when the client already used it and the
/// record has not expired. Expired records of the same key are removed first.
///
/// On Postgres a duplicate inserted concurrently aborts the transaction after this
/// returns `false`; the caller refuses the assertion at once, so nothing else runs in it.
pub fn record_jti(
    conn: &mut AnyConnection,
    application_id: &ApplicationId,
    jti_hash: &str,
    expires_at: i64,
    now: i64,
) -> StoreResult<bool> {
    let key = client_assertion_jtis::table.find((application_id.as_str(), jti_hash));
    diesel::delete(key.filter(client_assertion_jtis::expires_at.le(now))).execute(conn)?;
    let seen: i64 = key.count().get_result(conn)?;
    if seen > 0 {
        return Ok(false);
    }
    let inserted = diesel::insert_into(client_assertion_jtis::table)
        .values((
            client_assertion_jtis::application_id.eq(application_id.as_str()),
            client_assertion_jtis::jti_hash.eq(jti_hash),
            client_assertion_jtis::expires_at.eq(expires_at),
        ))
        .execute(conn);
    match inserted.map_err(StoreError::from) {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict { .. }) => Ok(false),
        Err(other) => Err(other),
    }
}
