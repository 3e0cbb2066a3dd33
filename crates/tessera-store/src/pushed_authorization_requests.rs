//! Pushed authorization requests (RFC 9126): requests a client sent to the pushed
//! authorization request endpoint, each waiting to be used once at authorize by that
//! client before it expires. The `request_uri` is stored only as its SHA-256 hash.

use diesel::prelude::*;
use diesel::sql_types::Text;
use serde_json::Value;
use tessera_domain::ApplicationId;

use crate::prepared::{Bind, Fixed};
use crate::schema::pushed_authorization_requests;
use crate::{AnyConnection, StoreResult};

/// A pushed request to store: the hash of its `request_uri`, the client that pushed it
/// and the checked parameters.
#[derive(Debug, Clone)]
pub struct NewPushedRequest {
    pub request_uri_hash: String,
    pub application_id: ApplicationId,
    pub parameters: Value,
    pub expires_at: i64,
}

/// Stores a pushed request.
pub fn create(conn: &mut AnyConnection, new: &NewPushedRequest, now: i64) -> StoreResult<()> {
    diesel::insert_into(pushed_authorization_requests::table)
        .values((
            pushed_authorization_requests::request_uri_hash.eq(&new.request_uri_hash),
            pushed_authorization_requests::application_id.eq(new.application_id.as_str()),
            pushed_authorization_requests::parameters.eq(new.parameters.to_string()),
            pushed_authorization_requests::created_at.eq(now),
            pushed_authorization_requests::expires_at.eq(new.expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Names [`SPEND`] in diesel's statement cache.
struct Spend;

/// Deletes request $1 of application $2 if it has not expired at $3, returning its
/// parameters: finding and spending are one statement on both backends.
const SPEND: &str = "DELETE FROM pushed_authorization_requests \
     WHERE request_uri_hash = $1 AND application_id = $2 AND expires_at > $3 \
     RETURNING parameters";

#[derive(QueryableByName)]
struct Spent {
    #[diesel(sql_type = Text)]
    parameters: String,
}

/// RFC 9126 §4 and §7.3: a pushed request is used once, only by the client that pushed
/// it, and only before it expires. Returns its parameters and removes it in one atomic
/// statement, so of concurrent uses exactly one gets them; `None` for an unknown, spent,
/// expired or another client's request (another client's attempt spends nothing). One
/// statement; run it through [`crate::Store::write_statement`].
pub fn spend(
    conn: &mut AnyConnection,
    request_uri_hash: &str,
    application_id: &ApplicationId,
    now: i64,
) -> StoreResult<Option<Value>> {
    let binds = [Bind::Text(request_uri_hash), Bind::Text(application_id.as_str()), Bind::Int(now)];
    let spent: Option<Spent> = Fixed::<Spend>::new(SPEND, &binds).get_result(conn).optional()?;
    spent.map(|row| crate::json::parse(&row.parameters)).transpose()
}

/// How many pushed requests are stored (expired ones included, until purged).
pub fn count(conn: &mut AnyConnection) -> StoreResult<i64> {
    Ok(pushed_authorization_requests::table.count().get_result(conn)?)
}
