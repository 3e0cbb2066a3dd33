//! Authorization codes: what an authorization ends in, spent once at the token endpoint.
//! Codes are stored only as SHA-256 hashes.

use diesel::prelude::*;

use tessera_domain::{ApplicationId, GrantId, UserId};

use crate::json::json_list;
use crate::schema::{authorization_codes, user_claims, users};
use crate::users::UserWithClaims;
use crate::{AnyConnection, StoreError, StoreResult};

/// An authorization code and everything it was issued for (RFC 6749 §4.1.2: bound to
/// the client and redirect URI; RFC 7636 §4.4: to the code challenge). `grant_id` is the
/// id the grant created at redemption takes, so a replay can revoke it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub code_hash: String,
    pub grant_id: GrantId,
    pub application_id: ApplicationId,
    pub user_id: UserId,
    pub sid: Option<String>,
    pub redirect_uri: String,
    pub scope: String,
    pub resources: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
    /// RFC 9449 §10: the thumbprint of the key the code must be redeemed with.
    pub dpop_jkt: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = authorization_codes)]
struct CodeRow {
    code_hash: String,
    grant_id: String,
    application_id: String,
    user_id: String,
    sid: Option<String>,
    redirect_uri: String,
    scope: String,
    resources: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    auth_time: i64,
    amr: String,
    created_at: i64,
    expires_at: i64,
    consumed_at: Option<i64>,
    dpop_jkt: Option<String>,
}

impl TryFrom<CodeRow> for AuthorizationCode {
    type Error = StoreError;
    fn try_from(row: CodeRow) -> StoreResult<AuthorizationCode> {
        Ok(AuthorizationCode {
            resources: crate::json::parse_as(&row.resources)?,
            amr: crate::json::parse_as(&row.amr)?,
            code_hash: row.code_hash,
            grant_id: GrantId::from(row.grant_id),
            application_id: ApplicationId::from(row.application_id),
            user_id: UserId::from(row.user_id),
            sid: row.sid,
            redirect_uri: row.redirect_uri,
            scope: row.scope,
            nonce: row.nonce,
            code_challenge: row.code_challenge,
            code_challenge_method: row.code_challenge_method,
            auth_time: row.auth_time,
            created_at: row.created_at,
            expires_at: row.expires_at,
            consumed_at: row.consumed_at,
            dpop_jkt: row.dpop_jkt,
        })
    }
}

/// A code to store. `grant_id` comes from [`crate::new_id`]; the grant itself is created
/// when the code is redeemed.
#[derive(Debug, Clone)]
pub struct NewAuthorizationCode {
    pub code_hash: String,
    pub grant_id: GrantId,
    pub application_id: ApplicationId,
    pub user_id: UserId,
    pub sid: Option<String>,
    pub redirect_uri: String,
    pub scope: String,
    pub resources: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub expires_at: i64,
    /// RFC 9449 §10: the `dpop_jkt` of the authorization request.
    pub dpop_jkt: Option<String>,
}

pub fn insert_code(conn: &mut AnyConnection, new: &NewAuthorizationCode, now: i64) -> StoreResult<()> {
    diesel::insert_into(authorization_codes::table)
        .values((
            (
                authorization_codes::code_hash.eq(&new.code_hash),
                authorization_codes::grant_id.eq(new.grant_id.as_str()),
                authorization_codes::application_id.eq(new.application_id.as_str()),
                authorization_codes::user_id.eq(new.user_id.as_str()),
                authorization_codes::sid.eq(&new.sid),
                authorization_codes::redirect_uri.eq(&new.redirect_uri),
                authorization_codes::scope.eq(&new.scope),
                authorization_codes::resources.eq(json_list(&new.resources)),
            ),
            (
                authorization_codes::nonce.eq(&new.nonce),
                authorization_codes::code_challenge.eq(&new.code_challenge),
                authorization_codes::code_challenge_method.eq(&new.code_challenge_method),
                authorization_codes::auth_time.eq(new.auth_time),
                authorization_codes::amr.eq(json_list(&new.amr)),
                authorization_codes::created_at.eq(now),
                authorization_codes::expires_at.eq(new.expires_at),
                authorization_codes::dpop_jkt.eq(&new.dpop_jkt),
            ),
        ))
        .execute(conn)?;
    Ok(())
}

/// The code with this hash, consumed or not, without consuming it: for checks that must
/// not spend the code when they fail (docs/security.md: a replay with a wrong verifier or
/// wrong client credentials revokes nothing).
pub fn get_code(conn: &mut AnyConnection, code_hash: &str) -> StoreResult<Option<AuthorizationCode>> {
    authorization_codes::table
        .find(code_hash)
        .select(CodeRow::as_select())
        .first(conn)
        .optional()?
        .map(AuthorizationCode::try_from)
        .transpose()
}

/// [`get_code`] and the code's user with their claim values, in one statement (one round
/// trip on Postgres): what a code exchange reads before it checks and signs.
pub fn get_code_with_user(
    conn: &mut AnyConnection,
    code_hash: &str,
) -> StoreResult<Option<(AuthorizationCode, Option<UserWithClaims>)>> {
    let rows: Vec<(CodeRow, crate::users::JoinedUser, crate::users::JoinedValue)> = authorization_codes::table
        .left_join(users::table.on(users::id.eq(authorization_codes::user_id)))
        .left_join(user_claims::table.on(user_claims::user_id.eq(authorization_codes::user_id)))
        .filter(authorization_codes::code_hash.eq(code_hash))
        .select((
            CodeRow::as_select(),
            Option::<crate::users::Row>::as_select(),
            (user_claims::claim_name, user_claims::value).nullable(),
        ))
        .load(conn)?;
    let mut code = None;
    let user = crate::users::with_claims(rows.into_iter().map(|(row, user, value)| {
        code.get_or_insert(row);
        (user, value)
    }))?;
    let Some(code) = code else { return Ok(None) };
    Ok(Some((AuthorizationCode::try_from(code)?, user)))
}

/// What redeeming a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeConsumption {
    /// This call consumed the code, and it had not expired.
    Consumed(AuthorizationCode),
    /// The code had been consumed before: RFC 6749 §4.1.2 says to deny the request and
    /// revoke what was issued from it (the grant `code.grant_id`).
    AlreadyConsumed(AuthorizationCode),
    /// The code expired unused.
    Expired,
    /// No such code.
    Unknown,
}

/// RFC 6749 §4.1.2: a code is single use. The consuming `UPDATE … WHERE consumed_at IS
/// NULL` is atomic, so of N concurrent redemptions exactly one gets `Consumed`. An expired
/// code is never marked consumed; a consumed one stays `AlreadyConsumed` after it expires.
pub fn consume(conn: &mut AnyConnection, code_hash: &str, now: i64) -> StoreResult<CodeConsumption> {
    let consumed = diesel::update(
        authorization_codes::table
            .find(code_hash)
            .filter(authorization_codes::consumed_at.is_null())
            .filter(authorization_codes::expires_at.gt(now)),
    )
    .set(authorization_codes::consumed_at.eq(now))
    .execute(conn)?;
    let Some(code) = get_code(conn, code_hash)? else {
        return Ok(CodeConsumption::Unknown);
    };
    Ok(if consumed == 1 {
        CodeConsumption::Consumed(code)
    } else if code.consumed_at.is_some() {
        CodeConsumption::AlreadyConsumed(code)
    } else {
        CodeConsumption::Expired
    })
}
