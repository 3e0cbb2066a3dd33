//! Grants: what a user (or, for machine tokens, a client alone) granted an application,
//! the family every refresh token and reference token issued from one authorization
//! belongs to, and ending access (revoking grants with their tokens and sessions).

use diesel::prelude::*;
use serde_json::{Map, Value};

use crate::error::found;
use crate::json::{json_list, object_text};
use crate::prepared::{Bind, Fixed};
use crate::schema::{grants, reference_tokens, user_claims, users};
use crate::users::{self as user_rows, UserWithClaims};
use tessera_domain::{ApplicationId, GrantId, UserId};

use crate::{AnyConnection, StoreError, StoreResult, new_id};

/// What a user (or, for machine tokens, a client alone) granted an application: the
/// family every refresh token and reference token issued from one authorization belongs
/// to. Revoking it ends them all. `expires_at` is the family's absolute expiry.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub id: GrantId,
    pub application_id: ApplicationId,
    pub user_id: Option<UserId>,
    pub sid: Option<String>,
    pub scope: String,
    pub resources: Vec<String>,
    pub auth_time: Option<i64>,
    pub amr: Vec<String>,
    /// Claims added to every access token of the family; they persist through rotation.
    pub custom_claims: Map<String, Value>,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// The custom claims of the grant's latest issuance, each with its outputs (the
    /// shape is `tessera-claims`'); userinfo and introspection answer from it.
    pub issued_claims: Map<String, Value>,
    /// RFC 9449 §5: the thumbprint of the key the grant's refresh tokens are bound to (a
    /// public client's grant issued with a DPoP proof).
    pub dpop_jkt: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = grants)]
pub(crate) struct GrantRow {
    id: String,
    application_id: String,
    user_id: Option<String>,
    sid: Option<String>,
    scope: String,
    resources: String,
    auth_time: Option<i64>,
    amr: String,
    custom_claims: String,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    issued_claims: String,
    dpop_jkt: Option<String>,
}

impl TryFrom<GrantRow> for Grant {
    type Error = StoreError;
    fn try_from(row: GrantRow) -> StoreResult<Grant> {
        Ok(Grant {
            resources: crate::json::parse_as(&row.resources)?,
            amr: crate::json::parse_as(&row.amr)?,
            custom_claims: crate::json::parse_as(&row.custom_claims)?,
            issued_claims: crate::json::parse_as(&row.issued_claims)?,
            id: GrantId::from(row.id),
            application_id: ApplicationId::from(row.application_id),
            user_id: row.user_id.map(UserId::from),
            sid: row.sid,
            scope: row.scope,
            auth_time: row.auth_time,
            created_at: row.created_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            dpop_jkt: row.dpop_jkt,
        })
    }
}

/// A grant to create. `id` is the `grant_id` of the authorization code being redeemed,
/// or `None` for a new id.
#[derive(Debug, Clone)]
pub struct NewGrant {
    pub id: Option<GrantId>,
    pub application_id: ApplicationId,
    pub user_id: Option<UserId>,
    pub sid: Option<String>,
    pub scope: String,
    pub resources: Vec<String>,
    pub auth_time: Option<i64>,
    pub amr: Vec<String>,
    pub custom_claims: Map<String, Value>,
    pub issued_claims: Map<String, Value>,
    pub expires_at: i64,
    /// RFC 9449 §5: the key thumbprint the refresh tokens are bound to, if any.
    pub dpop_jkt: Option<String>,
}

pub fn create_grant(conn: &mut AnyConnection, new: &NewGrant, now: i64) -> StoreResult<Grant> {
    let id = new.id.clone().unwrap_or_else(|| GrantId::from(new_id()));
    diesel::insert_into(grants::table)
        .values((
            grants::id.eq(id.as_str()),
            grants::application_id.eq(new.application_id.as_str()),
            grants::user_id.eq(new.user_id.as_ref().map(UserId::as_str)),
            grants::sid.eq(&new.sid),
            grants::scope.eq(&new.scope),
            grants::resources.eq(json_list(&new.resources)),
            grants::auth_time.eq(new.auth_time),
            grants::amr.eq(json_list(&new.amr)),
            grants::custom_claims.eq(object_text(&new.custom_claims)?),
            grants::issued_claims.eq(object_text(&new.issued_claims)?),
            grants::created_at.eq(now),
            grants::expires_at.eq(new.expires_at),
            grants::dpop_jkt.eq(&new.dpop_jkt),
        ))
        .execute(conn)?;
    Ok(Grant {
        id,
        application_id: new.application_id.clone(),
        user_id: new.user_id.clone(),
        sid: new.sid.clone(),
        scope: new.scope.clone(),
        resources: new.resources.clone(),
        auth_time: new.auth_time,
        amr: new.amr.clone(),
        custom_claims: new.custom_claims.clone(),
        issued_claims: new.issued_claims.clone(),
        dpop_jkt: new.dpop_jkt.clone(),
        created_at: now,
        expires_at: new.expires_at,
        revoked_at: None,
    })
}

pub fn get_grant(conn: &mut AnyConnection, id: &GrantId) -> StoreResult<Grant> {
    grants::table
        .find(id.as_str())
        .select(GrantRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::not_found("grant"))?
        .try_into()
}

/// The grant `id` and its user with their claim values, in one statement.
pub fn get_grant_with_user(
    conn: &mut AnyConnection,
    id: &GrantId,
) -> StoreResult<Option<(Grant, Option<UserWithClaims>)>> {
    let rows: Vec<(GrantRow, user_rows::JoinedUser, user_rows::JoinedValue)> = grants::table
        .left_join(users::table.on(users::id.nullable().eq(grants::user_id)))
        .left_join(user_claims::table.on(user_claims::user_id.nullable().eq(grants::user_id)))
        .filter(grants::id.eq(id.as_str()))
        .select((
            GrantRow::as_select(),
            Option::<user_rows::Row>::as_select(),
            (user_claims::claim_name, user_claims::value).nullable(),
        ))
        .load(conn)?;
    let mut grant = None;
    let user = user_rows::with_claims(rows.into_iter().map(|(row, user, value)| {
        grant.get_or_insert(row);
        (user, value)
    }))?;
    let Some(grant) = grant else { return Ok(None) };
    Ok(Some((grant.try_into()?, user)))
}

/// RFC 7009 §2.1 and RFC 6749 §10.4: revokes the grant and with it every refresh token
/// and reference token issued from it. `false` when no unrevoked grant had this id (its
/// reference tokens are revoked all the same).
pub fn revoke_grant(conn: &mut AnyConnection, id: &GrantId, now: i64) -> StoreResult<bool> {
    let changed = diesel::update(grants::table.find(id.as_str()).filter(grants::revoked_at.is_null()))
        .set(grants::revoked_at.eq(now))
        .execute(conn)?;
    diesel::update(
        reference_tokens::table
            .filter(reference_tokens::grant_id.eq(id.as_str()))
            .filter(reference_tokens::revoked_at.is_null()),
    )
    .set(reference_tokens::revoked_at.eq(now))
    .execute(conn)?;
    Ok(changed > 0)
}

/// RP-initiated logout: the grants of the session end with it, except those with
/// `offline_access`, which by definition outlive the user's presence (OIDC Core §11;
/// Back-Channel Logout 1.0 §2.7). Returns how many were revoked.
pub fn revoke_online_grants_of_session(conn: &mut AnyConnection, sid: &str, now: i64) -> StoreResult<usize> {
    let rows: Vec<(String, String)> = grants::table
        .filter(grants::sid.eq(sid))
        .filter(grants::revoked_at.is_null())
        .select((grants::id, grants::scope))
        .load(conn)?;
    let ids: Vec<String> = rows
        .into_iter()
        .filter(|(_, scope)| !scope.split(' ').any(|s| s == tessera_domain::OFFLINE_ACCESS))
        .map(|(id, _)| id)
        .collect();
    revoke_grants(conn, &ids, now)
}

/// Revokes what a user granted one application (consent withdrawn, access removed).
pub fn revoke_grants_of_user_application(
    conn: &mut AnyConnection,
    user_id: &UserId,
    application_id: &ApplicationId,
    now: i64,
) -> StoreResult<usize> {
    let ids: Vec<String> = grants::table
        .filter(grants::user_id.eq(user_id.as_str()))
        .filter(grants::application_id.eq(application_id.as_str()))
        .filter(grants::revoked_at.is_null())
        .select(grants::id)
        .load(conn)?;
    revoke_grants(conn, &ids, now)
}

/// Revokes every grant of a user (password reset, account disabled).
pub fn revoke_grants_of_user(conn: &mut AnyConnection, user_id: &UserId, now: i64) -> StoreResult<usize> {
    let ids: Vec<String> = grants::table
        .filter(grants::user_id.eq(user_id.as_str()))
        .filter(grants::revoked_at.is_null())
        .select(grants::id)
        .load(conn)?;
    revoke_grants(conn, &ids, now)
}

/// Revokes every grant of a user except those issued in the browser session `keep_sid`
/// (a password changed on the account page: the session that changed it goes on, every
/// other grant, `offline_access` ones included, ends). Returns how many were revoked.
pub fn revoke_grants_of_user_except_session(
    conn: &mut AnyConnection,
    user_id: &UserId,
    keep_sid: &str,
    now: i64,
) -> StoreResult<usize> {
    let ids: Vec<String> = grants::table
        .filter(grants::user_id.eq(user_id.as_str()))
        .filter(grants::revoked_at.is_null())
        .filter(grants::sid.is_null().or(grants::sid.ne(keep_sid)))
        .select(grants::id)
        .load(conn)?;
    revoke_grants(conn, &ids, now)
}

/// What ending someone's or something's access revoked or ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct AccessEnded {
    /// Grants revoked, with their refresh tokens and reference tokens.
    pub grants: usize,
    /// Reference tokens revoked besides those of the revoked grants (machine tokens, or
    /// any left unrevoked): `grants` already covers the others.
    pub reference_tokens: usize,
    /// Browser sessions of the sign-in pages ended.
    pub browser_sessions: usize,
    /// Console sessions ended.
    pub admin_sessions: usize,
}

/// Ends everything a user's access rests on, at once (account disabled or deleted,
/// password reset by an administrator; ASVS 5.0 V7.4.2, V7.4.3): every grant with its
/// refresh and reference tokens, every browser session and every console session.
/// Introspection and userinfo refuse the user's tokens from then on; enabling the
/// account again restores none of it.
pub fn end_access_of_user(conn: &mut AnyConnection, user_id: &UserId, now: i64) -> StoreResult<AccessEnded> {
    let grants = revoke_grants_of_user(conn, user_id, now)?;
    let reference_tokens = diesel::update(
        reference_tokens::table
            .filter(reference_tokens::user_id.eq(user_id.as_str()))
            .filter(reference_tokens::revoked_at.is_null()),
    )
    .set(reference_tokens::revoked_at.eq(now))
    .execute(conn)?;
    // OIDC Back-Channel Logout 1.0: the applications of the sessions about to end are told.
    crate::backchannel_logout::enqueue_for_user(conn, user_id, now)?;
    let browser_sessions = crate::browser_sessions::end_all_of_user(conn, user_id, now)?;
    let admin_sessions = crate::admin_sessions::end_all_of_user(conn, user_id, now)?;
    Ok(AccessEnded { grants, reference_tokens, browser_sessions, admin_sessions })
}

/// Ends every token of an application, at once (application disabled or deleted): its
/// grants with their refresh and reference tokens, and its machine tokens. Enabling it
/// again restores none of them.
pub fn end_access_of_application(
    conn: &mut AnyConnection,
    application_id: &ApplicationId,
    now: i64,
) -> StoreResult<AccessEnded> {
    let ids: Vec<String> = grants::table
        .filter(grants::application_id.eq(application_id.as_str()))
        .filter(grants::revoked_at.is_null())
        .select(grants::id)
        .load(conn)?;
    let grants = revoke_grants(conn, &ids, now)?;
    let reference_tokens = diesel::update(
        reference_tokens::table
            .filter(reference_tokens::application_id.eq(application_id.as_str()))
            .filter(reference_tokens::revoked_at.is_null()),
    )
    .set(reference_tokens::revoked_at.eq(now))
    .execute(conn)?;
    Ok(AccessEnded { grants, reference_tokens, ..AccessEnded::default() })
}

/// The grant `id` if its tokens may still be honoured: not revoked, and its user (if
/// any) exists and is not disabled (RFC 7662 §2.2: `active` reflects the account too).
pub fn find_live_grant(conn: &mut AnyConnection, id: &GrantId) -> StoreResult<Option<Grant>> {
    let row: Option<GrantRow> = grants::table
        .left_join(users::table.on(users::id.nullable().eq(grants::user_id)))
        .filter(grants::id.eq(id.as_str()))
        .filter(grants::revoked_at.is_null())
        .filter(grants::user_id.is_null().or(users::disabled.eq(false)))
        .select(GrantRow::as_select())
        .first(conn)
        .optional()?;
    row.map(Grant::try_from).transpose()
}

fn revoke_grants(conn: &mut AnyConnection, ids: &[String], now: i64) -> StoreResult<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::update(
        reference_tokens::table
            .filter(reference_tokens::grant_id.eq_any(ids))
            .filter(reference_tokens::revoked_at.is_null()),
    )
    .set(reference_tokens::revoked_at.eq(now))
    .execute(conn)?;
    Ok(diesel::update(grants::table.filter(grants::id.eq_any(ids)).filter(grants::revoked_at.is_null()))
        .set(grants::revoked_at.eq(now))
        .execute(conn)?)
}

/// Names [`SET_ISSUED_CLAIMS`] in diesel's statement cache.
struct SetIssuedClaims;

/// A grant's issued claims ($1) on the grant $2. Prepared once per connection (diesel
/// caches no `UPDATE` it builds): every refresh-token rotation runs it on SQLite.
const SET_ISSUED_CLAIMS: &str = "UPDATE grants SET issued_claims = $1 WHERE id = $2";

/// Records the custom claims of the grant's latest issuance ([`Grant::issued_claims`]).
pub fn set_issued_claims(conn: &mut AnyConnection, grant_id: &GrantId, claims: &Map<String, Value>) -> StoreResult<()> {
    let claims = object_text(claims)?;
    let changed =
        Fixed::<SetIssuedClaims>::new(SET_ISSUED_CLAIMS, &[Bind::Text(&claims), Bind::Text(grant_id.as_str())])
            .execute(conn)?;
    found(changed, "grant")
}

/// Replaces the custom claims of a grant ([`Grant::custom_claims`]); the next tokens of
/// the family carry them. The caller has checked them (docs/custom-claims.md: no source
/// may set a registered claim).
pub fn set_custom_claims(conn: &mut AnyConnection, grant_id: &GrantId, claims: &Map<String, Value>) -> StoreResult<()> {
    let changed = diesel::update(grants::table.find(grant_id.as_str()))
        .set(grants::custom_claims.eq(object_text(claims)?))
        .execute(conn)?;
    found(changed, "grant")
}
