//! The browser side of a sign-in: browser sessions, authorization requests waiting for
//! the user, the authorization codes they end in, and the consents users gave.
//!
//! Session ids, request handles and codes are stored only as SHA-256 hashes; callers hash
//! what the browser presents and look up the hash.

use diesel::prelude::*;
use serde_json::Value;
use tessera_domain::ScopeSet;

use crate::schema::{authorization_codes, authorization_requests, browser_sessions, consents, user_claims, users};
use crate::users::found;
use crate::{AnyConnection, StoreError, StoreResult};

// ---------------------------------------------------------------------------------------
// Browser sessions
// ---------------------------------------------------------------------------------------

/// A browser session. `sid` is the session id shown to applications (OIDC Front-/Back-
/// Channel Logout `sid`); `id_hash` is the hash of the cookie value and never leaves the
/// server. `user_id` is `None` until someone signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSession {
    pub id_hash: String,
    pub sid: String,
    pub user_id: Option<String>,
    pub auth_time: Option<i64>,
    pub amr: Vec<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = browser_sessions)]
struct SessionRow {
    id_hash: String,
    sid: String,
    user_id: Option<String>,
    auth_time: Option<i64>,
    amr: String,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    ended_at: Option<i64>,
}

impl TryFrom<SessionRow> for BrowserSession {
    type Error = StoreError;
    fn try_from(row: SessionRow) -> StoreResult<BrowserSession> {
        Ok(BrowserSession {
            amr: crate::json::parse_as(&row.amr)?,
            id_hash: row.id_hash,
            sid: row.sid,
            user_id: row.user_id,
            auth_time: row.auth_time,
            created_at: row.created_at,
            last_seen_at: row.last_seen_at,
            expires_at: row.expires_at,
            ended_at: row.ended_at,
        })
    }
}

/// A session to create. `expires_at` is the absolute timeout.
#[derive(Debug, Clone, Default)]
pub struct NewSession {
    pub id_hash: String,
    pub sid: String,
    pub user_id: Option<String>,
    pub auth_time: Option<i64>,
    pub amr: Vec<String>,
    pub expires_at: i64,
}

/// Starts a session.
pub fn create(conn: &mut AnyConnection, new: &NewSession, now: i64) -> StoreResult<BrowserSession> {
    diesel::insert_into(browser_sessions::table)
        .values((
            browser_sessions::id_hash.eq(&new.id_hash),
            browser_sessions::sid.eq(&new.sid),
            browser_sessions::user_id.eq(&new.user_id),
            browser_sessions::auth_time.eq(new.auth_time),
            browser_sessions::amr.eq(json_list(&new.amr)),
            browser_sessions::created_at.eq(now),
            browser_sessions::last_seen_at.eq(now),
            browser_sessions::expires_at.eq(new.expires_at),
        ))
        .execute(conn)?;
    Ok(BrowserSession {
        id_hash: new.id_hash.clone(),
        sid: new.sid.clone(),
        user_id: new.user_id.clone(),
        auth_time: new.auth_time,
        amr: new.amr.clone(),
        created_at: now,
        last_seen_at: now,
        expires_at: new.expires_at,
        ended_at: None,
    })
}

/// The session whose cookie hashes to `id_hash`, if it is still alive: not ended, not past
/// its absolute timeout, and seen within the last `idle_timeout` seconds (ASVS V7.3: idle
/// and absolute timeouts). A session that fails any of these is `None`, like an unknown one.
pub fn get_active(
    conn: &mut AnyConnection,
    id_hash: &str,
    idle_timeout: i64,
    now: i64,
) -> StoreResult<Option<BrowserSession>> {
    browser_sessions::table
        .find(id_hash)
        .filter(browser_sessions::ended_at.is_null())
        .filter(browser_sessions::expires_at.gt(now))
        .filter(browser_sessions::last_seen_at.gt(now.saturating_sub(idle_timeout)))
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?
        .map(BrowserSession::try_from)
        .transpose()
}

/// The session with this `sid`, alive or not (to match an `id_token_hint` at logout).
pub fn find_by_sid(conn: &mut AnyConnection, sid: &str) -> StoreResult<Option<BrowserSession>> {
    browser_sessions::table
        .filter(browser_sessions::sid.eq(sid))
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?
        .map(BrowserSession::try_from)
        .transpose()
}

/// Records activity, restarting the idle timeout of an open session.
pub fn touch(conn: &mut AnyConnection, id_hash: &str, now: i64) -> StoreResult<()> {
    let changed = diesel::update(browser_sessions::table.find(id_hash).filter(browser_sessions::ended_at.is_null()))
        .set(browser_sessions::last_seen_at.eq(now))
        .execute(conn)?;
    found(changed, "session")
}

/// Records a sign-in on an open session (OIDC Core §2: `auth_time` and `amr` of the
/// authentication). At sign-in callers should rather [`replace`] the session, so the id
/// changes (ASVS V7.2.4).
pub fn authenticate(
    conn: &mut AnyConnection,
    id_hash: &str,
    user_id: &str,
    auth_time: i64,
    amr: &[String],
    now: i64,
) -> StoreResult<BrowserSession> {
    let changed = diesel::update(browser_sessions::table.find(id_hash).filter(browser_sessions::ended_at.is_null()))
        .set((
            browser_sessions::user_id.eq(user_id),
            browser_sessions::auth_time.eq(auth_time),
            browser_sessions::amr.eq(json_list(amr)),
            browser_sessions::last_seen_at.eq(now),
        ))
        .execute(conn)?;
    found(changed, "session")?;
    get(conn, id_hash)
}

/// ASVS V7.2.4: a new session id at sign-in. Ends the session `old_id_hash` (if any and
/// still open), starts `new`, and moves the authorization requests waiting on the old
/// session to the new one so the sign-in can continue them.
pub fn replace(
    conn: &mut AnyConnection,
    old_id_hash: Option<&str>,
    new: &NewSession,
    now: i64,
) -> StoreResult<BrowserSession> {
    if let Some(old) = old_id_hash {
        end(conn, old, now)?;
    }
    let session = create(conn, new, now)?;
    if let Some(old) = old_id_hash {
        diesel::update(authorization_requests::table.filter(authorization_requests::session_id_hash.eq(old)))
            .set(authorization_requests::session_id_hash.eq(&new.id_hash))
            .execute(conn)?;
    }
    Ok(session)
}

/// Moves a session's end to `expires_at` if that is later (an anonymous session that
/// binds a new pending request lives as long as it).
pub fn extend(conn: &mut AnyConnection, id_hash: &str, expires_at: i64) -> StoreResult<()> {
    diesel::update(browser_sessions::table.find(id_hash).filter(browser_sessions::expires_at.lt(expires_at)))
        .set(browser_sessions::expires_at.eq(expires_at))
        .execute(conn)?;
    Ok(())
}

/// Ends a session (logout); `false` when there was no open session with this id.
pub fn end(conn: &mut AnyConnection, id_hash: &str, now: i64) -> StoreResult<bool> {
    let changed = diesel::update(browser_sessions::table.find(id_hash).filter(browser_sessions::ended_at.is_null()))
        .set(browser_sessions::ended_at.eq(now))
        .execute(conn)?;
    Ok(changed > 0)
}

/// Ends every open session of a user (password change, account disabled, "sign out
/// everywhere"); returns how many were open.
pub fn end_all_of_user(conn: &mut AnyConnection, user_id: &str, now: i64) -> StoreResult<usize> {
    Ok(diesel::update(
        browser_sessions::table
            .filter(browser_sessions::user_id.eq(user_id))
            .filter(browser_sessions::ended_at.is_null()),
    )
    .set(browser_sessions::ended_at.eq(now))
    .execute(conn)?)
}

/// The sessions of a user that [`get_active`] would accept, newest first.
pub fn list_active_of_user(
    conn: &mut AnyConnection,
    user_id: &str,
    idle_timeout: i64,
    now: i64,
) -> StoreResult<Vec<BrowserSession>> {
    let rows: Vec<SessionRow> = browser_sessions::table
        .filter(browser_sessions::user_id.eq(user_id))
        .filter(browser_sessions::ended_at.is_null())
        .filter(browser_sessions::expires_at.gt(now))
        .filter(browser_sessions::last_seen_at.gt(now.saturating_sub(idle_timeout)))
        .select(SessionRow::as_select())
        .order((browser_sessions::created_at.desc(), browser_sessions::sid.asc()))
        .load(conn)?;
    rows.into_iter().map(BrowserSession::try_from).collect()
}

fn get(conn: &mut AnyConnection, id_hash: &str) -> StoreResult<BrowserSession> {
    browser_sessions::table
        .find(id_hash)
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::not_found("session"))?
        .try_into()
}

// ---------------------------------------------------------------------------------------
// Authorization requests
// ---------------------------------------------------------------------------------------

/// An authorization request waiting for sign-in, required claims or consent, stored so
/// that any node can continue it. `parameters` holds the validated request.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizationRequest {
    pub id_hash: String,
    pub application_id: String,
    /// The browser session the request is bound to, if one existed when it started.
    pub session_id_hash: Option<String>,
    pub parameters: Value,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = authorization_requests)]
struct RequestRow {
    id_hash: String,
    application_id: String,
    session_id_hash: Option<String>,
    parameters: String,
    created_at: i64,
    expires_at: i64,
}

impl TryFrom<RequestRow> for AuthorizationRequest {
    type Error = StoreError;
    fn try_from(row: RequestRow) -> StoreResult<AuthorizationRequest> {
        Ok(AuthorizationRequest {
            parameters: crate::json::parse(&row.parameters)?,
            id_hash: row.id_hash,
            application_id: row.application_id,
            session_id_hash: row.session_id_hash,
            created_at: row.created_at,
            expires_at: row.expires_at,
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewAuthorizationRequest {
    pub id_hash: String,
    pub application_id: String,
    pub session_id_hash: Option<String>,
    pub parameters: Value,
    pub expires_at: i64,
}

pub fn create_request(
    conn: &mut AnyConnection,
    new: &NewAuthorizationRequest,
    now: i64,
) -> StoreResult<AuthorizationRequest> {
    diesel::insert_into(authorization_requests::table)
        .values((
            authorization_requests::id_hash.eq(&new.id_hash),
            authorization_requests::application_id.eq(&new.application_id),
            authorization_requests::session_id_hash.eq(&new.session_id_hash),
            authorization_requests::parameters.eq(new.parameters.to_string()),
            authorization_requests::created_at.eq(now),
            authorization_requests::expires_at.eq(new.expires_at),
        ))
        .execute(conn)?;
    Ok(AuthorizationRequest {
        id_hash: new.id_hash.clone(),
        application_id: new.application_id.clone(),
        session_id_hash: new.session_id_hash.clone(),
        parameters: new.parameters.clone(),
        created_at: now,
        expires_at: new.expires_at,
    })
}

/// The request with this handle, unless it has expired (then it is as good as unknown).
pub fn get_request(conn: &mut AnyConnection, id_hash: &str, now: i64) -> StoreResult<Option<AuthorizationRequest>> {
    authorization_requests::table
        .find(id_hash)
        .filter(authorization_requests::expires_at.gt(now))
        .select(RequestRow::as_select())
        .first(conn)
        .optional()?
        .map(AuthorizationRequest::try_from)
        .transpose()
}

/// Replaces the parameters of a pending authorization request (the flow's progress:
/// signed in, consented).
pub fn update_request(conn: &mut AnyConnection, id_hash: &str, parameters: &Value) -> StoreResult<()> {
    let changed = diesel::update(authorization_requests::table.find(id_hash))
        .set(authorization_requests::parameters.eq(parameters.to_string()))
        .execute(conn)?;
    found(changed, "authorization request")
}

/// Removes a finished request; `false` when there was none.
pub fn delete_request(conn: &mut AnyConnection, id_hash: &str) -> StoreResult<bool> {
    Ok(diesel::delete(authorization_requests::table.find(id_hash)).execute(conn)? > 0)
}

// ---------------------------------------------------------------------------------------
// Authorization codes
// ---------------------------------------------------------------------------------------

/// An authorization code and everything it was issued for (RFC 6749 §4.1.2: bound to
/// the client and redirect URI; RFC 7636 §4.4: to the code challenge). `grant_id` is the
/// id the grant created at redemption takes, so a replay can revoke it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub code_hash: String,
    pub grant_id: String,
    pub application_id: String,
    pub user_id: String,
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
}

impl TryFrom<CodeRow> for AuthorizationCode {
    type Error = StoreError;
    fn try_from(row: CodeRow) -> StoreResult<AuthorizationCode> {
        Ok(AuthorizationCode {
            resources: crate::json::parse_as(&row.resources)?,
            amr: crate::json::parse_as(&row.amr)?,
            code_hash: row.code_hash,
            grant_id: row.grant_id,
            application_id: row.application_id,
            user_id: row.user_id,
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
        })
    }
}

/// A code to store. `grant_id` comes from [`crate::new_id`]; the grant itself is created
/// when the code is redeemed.
#[derive(Debug, Clone, Default)]
pub struct NewAuthorizationCode {
    pub code_hash: String,
    pub grant_id: String,
    pub application_id: String,
    pub user_id: String,
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
}

pub fn insert_code(conn: &mut AnyConnection, new: &NewAuthorizationCode, now: i64) -> StoreResult<()> {
    diesel::insert_into(authorization_codes::table)
        .values((
            (
                authorization_codes::code_hash.eq(&new.code_hash),
                authorization_codes::grant_id.eq(&new.grant_id),
                authorization_codes::application_id.eq(&new.application_id),
                authorization_codes::user_id.eq(&new.user_id),
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
            ),
        ))
        .execute(conn)?;
    Ok(())
}

/// The code with this hash, consumed or not, without consuming it: for checks that must
/// not spend the code when they fail (SECURITY.md: a replay with a wrong verifier or wrong
/// client credentials revokes nothing).
pub fn get_code(conn: &mut AnyConnection, code_hash: &str) -> StoreResult<Option<AuthorizationCode>> {
    authorization_codes::table
        .find(code_hash)
        .select(CodeRow::as_select())
        .first(conn)
        .optional()?
        .map(AuthorizationCode::try_from)
        .transpose()
}

/// A user about to be issued tokens, with their claim values.
pub type UserWithClaims = (crate::users::User, std::collections::BTreeMap<String, Value>);

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

// ---------------------------------------------------------------------------------------
// Consents
// ---------------------------------------------------------------------------------------

/// The scopes a user has allowed an application (OIDC Core §3.1.2.4), in canonical form:
/// sorted, separated by single spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub user_id: String,
    pub application_id: String,
    pub scope: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = consents)]
struct ConsentRow {
    user_id: String,
    application_id: String,
    scope: String,
    created_at: i64,
    updated_at: i64,
}

impl From<ConsentRow> for Consent {
    fn from(row: ConsentRow) -> Consent {
        Consent {
            user_id: row.user_id,
            application_id: row.application_id,
            scope: row.scope,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

pub fn get_consent(conn: &mut AnyConnection, user_id: &str, application_id: &str) -> StoreResult<Option<Consent>> {
    Ok(consents::table
        .find((user_id, application_id))
        .select(ConsentRow::as_select())
        .first(conn)
        .optional()?
        .map(Consent::from))
}

/// Records consent to `scope` (space-separated), adding to what was consented before:
/// consenting to `profile` after `openid email` leaves `email openid profile`.
pub fn upsert_consent(
    conn: &mut AnyConnection,
    user_id: &str,
    application_id: &str,
    scope: &str,
    now: i64,
) -> StoreResult<Consent> {
    let given = ScopeSet::parse(scope).map_err(|e| StoreError::invalid("scope", e.to_string()))?;
    match get_consent(conn, user_id, application_id)? {
        Some(existing) => {
            let before = ScopeSet::parse(&existing.scope)
                .map_err(|e| StoreError::Corrupt(format!("consented scope {:?}: {e}", existing.scope)))?;
            let merged = before.union(&given).to_string();
            diesel::update(consents::table.find((user_id, application_id)))
                .set((consents::scope.eq(&merged), consents::updated_at.eq(now)))
                .execute(conn)?;
            Ok(Consent { scope: merged, updated_at: now, ..existing })
        }
        None => {
            let canonical = given.to_string();
            diesel::insert_into(consents::table)
                .values((
                    consents::user_id.eq(user_id),
                    consents::application_id.eq(application_id),
                    consents::scope.eq(&canonical),
                    consents::created_at.eq(now),
                    consents::updated_at.eq(now),
                ))
                .execute(conn)?;
            Ok(Consent {
                user_id: user_id.to_owned(),
                application_id: application_id.to_owned(),
                scope: canonical,
                created_at: now,
                updated_at: now,
            })
        }
    }
}

/// Withdraws a consent; the next authorization asks again.
pub fn delete_consent(conn: &mut AnyConnection, user_id: &str, application_id: &str) -> StoreResult<()> {
    let deleted = diesel::delete(consents::table.find((user_id, application_id))).execute(conn)?;
    found(deleted, "consent")
}

/// The consents a user has given, by application id.
pub fn consents_of_user(conn: &mut AnyConnection, user_id: &str) -> StoreResult<Vec<Consent>> {
    Ok(consents::table
        .filter(consents::user_id.eq(user_id))
        .select(ConsentRow::as_select())
        .order(consents::application_id.asc())
        .load::<ConsentRow>(conn)?
        .into_iter()
        .map(Consent::from)
        .collect())
}

/// A list of strings (`amr`, `resources`) as the JSON array text the columns hold.
pub(crate) fn json_list(items: &[String]) -> String {
    Value::from(items.to_vec()).to_string()
}
