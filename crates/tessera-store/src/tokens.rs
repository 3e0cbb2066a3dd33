//! What is issued at the token endpoint and outlives the request: grants (refresh-token
//! families), refresh tokens, reference access tokens, and the `jti` of client assertions
//! already used. Tokens are stored only as SHA-256 hashes.

use diesel::prelude::*;
use serde_json::{Map, Value};

use crate::json::object_text;
use crate::prepared::{Bind, Fixed};
use crate::schema::{
    admin_sessions, authorization_codes, authorization_requests, browser_sessions, client_assertion_jtis, grants,
    reference_tokens, refresh_tokens, user_claims, users,
};
use crate::sessions::{UserWithClaims, json_list};
use crate::users::{self as user_rows, found};
use crate::{AnyConnection, StoreError, StoreResult, new_id};

// ---------------------------------------------------------------------------------------
// Grants
// ---------------------------------------------------------------------------------------

/// What a user (or, for machine tokens, a client alone) granted an application: the
/// family every refresh token and reference token issued from one authorization belongs
/// to. Revoking it ends them all. `expires_at` is the family's absolute expiry.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub id: String,
    pub application_id: String,
    pub user_id: Option<String>,
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
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = grants)]
struct GrantRow {
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
}

impl TryFrom<GrantRow> for Grant {
    type Error = StoreError;
    fn try_from(row: GrantRow) -> StoreResult<Grant> {
        Ok(Grant {
            resources: crate::json::parse_as(&row.resources)?,
            amr: crate::json::parse_as(&row.amr)?,
            custom_claims: crate::json::parse_as(&row.custom_claims)?,
            issued_claims: crate::json::parse_as(&row.issued_claims)?,
            id: row.id,
            application_id: row.application_id,
            user_id: row.user_id,
            sid: row.sid,
            scope: row.scope,
            auth_time: row.auth_time,
            created_at: row.created_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
        })
    }
}

/// A grant to create. `id` is the `grant_id` of the authorization code being redeemed,
/// or `None` for a new id.
#[derive(Debug, Clone, Default)]
pub struct NewGrant {
    pub id: Option<String>,
    pub application_id: String,
    pub user_id: Option<String>,
    pub sid: Option<String>,
    pub scope: String,
    pub resources: Vec<String>,
    pub auth_time: Option<i64>,
    pub amr: Vec<String>,
    pub custom_claims: Map<String, Value>,
    pub issued_claims: Map<String, Value>,
    pub expires_at: i64,
}

pub fn create_grant(conn: &mut AnyConnection, new: &NewGrant, now: i64) -> StoreResult<Grant> {
    let id = new.id.clone().unwrap_or_else(new_id);
    diesel::insert_into(grants::table)
        .values((
            grants::id.eq(&id),
            grants::application_id.eq(&new.application_id),
            grants::user_id.eq(&new.user_id),
            grants::sid.eq(&new.sid),
            grants::scope.eq(&new.scope),
            grants::resources.eq(json_list(&new.resources)),
            grants::auth_time.eq(new.auth_time),
            grants::amr.eq(json_list(&new.amr)),
            grants::custom_claims.eq(object_text(&new.custom_claims)?),
            grants::issued_claims.eq(object_text(&new.issued_claims)?),
            grants::created_at.eq(now),
            grants::expires_at.eq(new.expires_at),
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
        created_at: now,
        expires_at: new.expires_at,
        revoked_at: None,
    })
}

pub fn get_grant(conn: &mut AnyConnection, id: &str) -> StoreResult<Grant> {
    grants::table
        .find(id)
        .select(GrantRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::not_found("grant"))?
        .try_into()
}

/// The grant `id` and its user with their claim values, in one statement.
pub fn get_grant_with_user(conn: &mut AnyConnection, id: &str) -> StoreResult<Option<(Grant, Option<UserWithClaims>)>> {
    let rows: Vec<(GrantRow, user_rows::JoinedUser, user_rows::JoinedValue)> = grants::table
        .left_join(users::table.on(users::id.nullable().eq(grants::user_id)))
        .left_join(user_claims::table.on(user_claims::user_id.nullable().eq(grants::user_id)))
        .filter(grants::id.eq(id))
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
pub fn revoke_grant(conn: &mut AnyConnection, id: &str, now: i64) -> StoreResult<bool> {
    let changed = diesel::update(grants::table.find(id).filter(grants::revoked_at.is_null()))
        .set(grants::revoked_at.eq(now))
        .execute(conn)?;
    diesel::update(
        reference_tokens::table
            .filter(reference_tokens::grant_id.eq(id))
            .filter(reference_tokens::revoked_at.is_null()),
    )
    .set(reference_tokens::revoked_at.eq(now))
    .execute(conn)?;
    Ok(changed > 0)
}

/// OIDC Back-Channel Logout 1.0 §2.7: refresh tokens issued within a browser session end
/// with it. Tessera revokes every grant of the session, `offline_access` ones included
/// (the spec allows keeping those; a logout that leaves tokens alive surprises users).
/// Returns how many were revoked.
pub fn revoke_grants_of_session(conn: &mut AnyConnection, sid: &str, now: i64) -> StoreResult<usize> {
    let ids: Vec<String> =
        grants::table.filter(grants::sid.eq(sid)).filter(grants::revoked_at.is_null()).select(grants::id).load(conn)?;
    revoke_grants(conn, &ids, now)
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
    user_id: &str,
    application_id: &str,
    now: i64,
) -> StoreResult<usize> {
    let ids: Vec<String> = grants::table
        .filter(grants::user_id.eq(user_id))
        .filter(grants::application_id.eq(application_id))
        .filter(grants::revoked_at.is_null())
        .select(grants::id)
        .load(conn)?;
    revoke_grants(conn, &ids, now)
}

/// Revokes every grant of a user (password reset, account disabled).
pub fn revoke_grants_of_user(conn: &mut AnyConnection, user_id: &str, now: i64) -> StoreResult<usize> {
    let ids: Vec<String> = grants::table
        .filter(grants::user_id.eq(user_id))
        .filter(grants::revoked_at.is_null())
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
pub fn end_access_of_user(conn: &mut AnyConnection, user_id: &str, now: i64) -> StoreResult<AccessEnded> {
    let grants = revoke_grants_of_user(conn, user_id, now)?;
    let reference_tokens = diesel::update(
        reference_tokens::table
            .filter(reference_tokens::user_id.eq(user_id))
            .filter(reference_tokens::revoked_at.is_null()),
    )
    .set(reference_tokens::revoked_at.eq(now))
    .execute(conn)?;
    let browser_sessions = crate::sessions::end_all_of_user(conn, user_id, now)?;
    let admin_sessions = crate::admin_sessions::end_all_of_user(conn, user_id, now)?;
    Ok(AccessEnded { grants, reference_tokens, browser_sessions, admin_sessions })
}

/// Ends every token of an application, at once (application disabled or deleted): its
/// grants with their refresh and reference tokens, and its machine tokens. Enabling it
/// again restores none of them.
pub fn end_access_of_application(conn: &mut AnyConnection, application_id: &str, now: i64) -> StoreResult<AccessEnded> {
    let ids: Vec<String> = grants::table
        .filter(grants::application_id.eq(application_id))
        .filter(grants::revoked_at.is_null())
        .select(grants::id)
        .load(conn)?;
    let grants = revoke_grants(conn, &ids, now)?;
    let reference_tokens = diesel::update(
        reference_tokens::table
            .filter(reference_tokens::application_id.eq(application_id))
            .filter(reference_tokens::revoked_at.is_null()),
    )
    .set(reference_tokens::revoked_at.eq(now))
    .execute(conn)?;
    Ok(AccessEnded { grants, reference_tokens, ..AccessEnded::default() })
}

/// The grant `id` if its tokens may still be honoured: not revoked, and its user (if
/// any) exists and is not disabled (RFC 7662 §2.2: `active` reflects the account too).
pub fn find_live_grant(conn: &mut AnyConnection, id: &str) -> StoreResult<Option<Grant>> {
    let row: Option<GrantRow> = grants::table
        .left_join(users::table.on(users::id.nullable().eq(grants::user_id)))
        .filter(grants::id.eq(id))
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

/// Replaces the custom claims of a grant; the next tokens of the family carry them. The
/// caller has checked them (DESIGN.md: custom claims never override registered claims).
/// Records the custom claims of the grant's latest issuance.
/// Names [`SET_ISSUED_CLAIMS`] in diesel's statement cache.
struct SetIssuedClaims;

/// A grant's issued claims ($1) on the grant $2. Prepared once per connection (diesel
/// caches no `UPDATE` it builds): every refresh-token rotation runs it on SQLite.
const SET_ISSUED_CLAIMS: &str = "UPDATE grants SET issued_claims = $1 WHERE id = $2";

pub fn set_issued_claims(conn: &mut AnyConnection, grant_id: &str, claims: &Map<String, Value>) -> StoreResult<()> {
    let claims = object_text(claims)?;
    let changed =
        Fixed::<SetIssuedClaims>::new(SET_ISSUED_CLAIMS, &[Bind::Text(&claims), Bind::Text(grant_id)]).execute(conn)?;
    found(changed, "grant")
}

pub fn set_custom_claims(conn: &mut AnyConnection, grant_id: &str, claims: &Map<String, Value>) -> StoreResult<()> {
    let changed = diesel::update(grants::table.find(grant_id))
        .set(grants::custom_claims.eq(object_text(claims)?))
        .execute(conn)?;
    found(changed, "grant")
}

// ---------------------------------------------------------------------------------------
// Refresh tokens
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshToken {
    pub token_hash: String,
    pub grant_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
}

/// Stores a refresh token of `grant_id`. Its expiry is capped at the grant's.
pub fn insert_refresh_token(
    conn: &mut AnyConnection,
    token_hash: &str,
    grant_id: &str,
    expires_at: i64,
    now: i64,
) -> StoreResult<()> {
    let grant_expires_at: i64 = grants::table
        .find(grant_id)
        .select(grants::expires_at)
        .first(conn)
        .optional()?
        .ok_or(StoreError::not_found("grant"))?;
    insert_refresh_row(conn, token_hash, grant_id, expires_at.min(grant_expires_at), now)
}

pub(crate) fn insert_refresh_row(
    conn: &mut AnyConnection,
    token_hash: &str,
    grant_id: &str,
    expires_at: i64,
    now: i64,
) -> StoreResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(token_hash),
            refresh_tokens::grant_id.eq(grant_id),
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

/// What presenting a refresh token found.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant, reason = "returned once per request and matched at once")]
pub enum Rotation {
    /// The token was consumed by this call and its successor stored in the same grant.
    Rotated { grant: Grant },
    /// The token had been spent already (RFC 9700 §4.14.2: the caller revokes the grant).
    Reused { grant_id: String },
    /// The token, or its grant, is past its expiry.
    Expired,
    /// The grant has been revoked.
    Revoked,
    /// No such token.
    Unknown,
}

/// RFC 9700 §4.14.2 (refresh token rotation): spends `old_hash` and stores `new_hash` in
/// the same grant, expiring at `new_expires_at` or the grant's absolute expiry, whichever
/// is first. Spending is an atomic `UPDATE … WHERE consumed_at IS NULL`: of concurrent
/// rotations of one token exactly one is `Rotated`, the others `Reused`.
///
/// The caller checks that `grant.application_id` is the authenticated client (RFC 6749
/// §6) inside the same transaction and returns an error otherwise, which rolls the
/// rotation back.
pub fn rotate(
    conn: &mut AnyConnection,
    old_hash: &str,
    new_hash: &str,
    new_expires_at: i64,
    now: i64,
) -> StoreResult<Rotation> {
    let Some((token, grant)) = find_refresh_token(conn, old_hash)? else {
        return Ok(Rotation::Unknown);
    };
    if grant.revoked_at.is_some() {
        return Ok(Rotation::Revoked);
    }
    if token.consumed_at.is_some() {
        return Ok(Rotation::Reused { grant_id: grant.id });
    }
    if token.expires_at <= now || grant.expires_at <= now {
        return Ok(Rotation::Expired);
    }
    let consumed = diesel::update(refresh_tokens::table.find(old_hash).filter(refresh_tokens::consumed_at.is_null()))
        .set(refresh_tokens::consumed_at.eq(now))
        .execute(conn)?;
    if consumed == 0 {
        return Ok(Rotation::Reused { grant_id: grant.id });
    }
    insert_refresh_row(conn, new_hash, &grant.id, new_expires_at.min(grant.expires_at), now)?;
    Ok(Rotation::Rotated { grant })
}

// ---------------------------------------------------------------------------------------
// Reference access tokens
// ---------------------------------------------------------------------------------------

/// A reference (opaque) access token to store: the claims it stands for, as a JWT access
/// token would carry them (RFC 9068 §2.2), answered at introspection.
#[derive(Debug, Clone, Default)]
pub struct NewReferenceToken {
    pub token_hash: String,
    pub grant_id: Option<String>,
    pub application_id: String,
    pub user_id: Option<String>,
    pub claims: Map<String, Value>,
    pub expires_at: i64,
}

pub fn insert_reference_token(conn: &mut AnyConnection, new: &NewReferenceToken, now: i64) -> StoreResult<()> {
    diesel::insert_into(reference_tokens::table)
        .values((
            reference_tokens::token_hash.eq(&new.token_hash),
            reference_tokens::grant_id.eq(&new.grant_id),
            reference_tokens::application_id.eq(&new.application_id),
            reference_tokens::user_id.eq(&new.user_id),
            reference_tokens::claims.eq(object_text(&new.claims)?),
            reference_tokens::created_at.eq(now),
            reference_tokens::expires_at.eq(new.expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// An active reference token: its claims and, for a user's token, its grant's
/// [`Grant::issued_claims`].
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveReference {
    pub claims: Map<String, Value>,
    pub issued_claims: Map<String, Value>,
}

/// RFC 7662 §2.2: the claims of an active token; `None` for an unknown, expired or
/// revoked token, one whose grant was revoked, or one of a disabled or deleted user, so
/// the caller answers only
/// `{"active": false}`.
pub fn find_active(conn: &mut AnyConnection, token_hash: &str, now: i64) -> StoreResult<Option<ActiveReference>> {
    let found: Option<(String, Option<String>)> = reference_tokens::table
        .left_join(grants::table.on(grants::id.nullable().eq(reference_tokens::grant_id)))
        .left_join(users::table.on(users::id.nullable().eq(reference_tokens::user_id)))
        .filter(reference_tokens::token_hash.eq(token_hash))
        .filter(reference_tokens::expires_at.gt(now))
        .filter(reference_tokens::revoked_at.is_null())
        .filter(grants::revoked_at.is_null())
        .filter(reference_tokens::user_id.is_null().or(users::disabled.eq(false)))
        .select((reference_tokens::claims, grants::issued_claims.nullable()))
        .first(conn)
        .optional()?;
    found
        .map(|(claims, issued)| {
            Ok(ActiveReference {
                claims: crate::json::parse_as(&claims)?,
                issued_claims: issued.as_deref().map(crate::json::parse_as).transpose()?.unwrap_or_default(),
            })
        })
        .transpose()
}

/// [`find_active`] and the token's user with their claim values, in one statement (for
/// userinfo): `None` as for [`find_active`]; the user is `None` for a machine token or a
/// user that no longer exists.
pub fn find_active_with_user(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: i64,
) -> StoreResult<Option<(ActiveReference, Option<UserWithClaims>)>> {
    type Found = (String, Option<String>, user_rows::JoinedUser, user_rows::JoinedValue);
    let rows: Vec<Found> = reference_tokens::table
        .left_join(grants::table.on(grants::id.nullable().eq(reference_tokens::grant_id)))
        .left_join(users::table.on(users::id.nullable().eq(reference_tokens::user_id)))
        .left_join(user_claims::table.on(user_claims::user_id.nullable().eq(reference_tokens::user_id)))
        .filter(reference_tokens::token_hash.eq(token_hash))
        .filter(reference_tokens::expires_at.gt(now))
        .filter(reference_tokens::revoked_at.is_null())
        .filter(grants::revoked_at.is_null())
        .select((
            reference_tokens::claims,
            grants::issued_claims.nullable(),
            Option::<user_rows::Row>::as_select(),
            (user_claims::claim_name, user_claims::value).nullable(),
        ))
        .load(conn)?;
    let mut token = None;
    let user = user_rows::with_claims(rows.into_iter().map(|(claims, issued, user, value)| {
        token.get_or_insert((claims, issued));
        (user, value)
    }))?;
    let Some((claims, issued)) = token else { return Ok(None) };
    let active = ActiveReference {
        claims: crate::json::parse_as(&claims)?,
        issued_claims: issued.as_deref().map(crate::json::parse_as).transpose()?.unwrap_or_default(),
    };
    Ok(Some((active, user)))
}

/// RFC 7009 §2.1: revokes a reference token issued to `application_id` (another
/// client's token is left alone). `false` when there was no such unrevoked token, which
/// RFC 7009 §2.2 answers like a success.
pub fn revoke_reference_token(
    conn: &mut AnyConnection,
    token_hash: &str,
    application_id: &str,
    now: i64,
) -> StoreResult<bool> {
    let changed = diesel::update(
        reference_tokens::table
            .find(token_hash)
            .filter(reference_tokens::application_id.eq(application_id))
            .filter(reference_tokens::revoked_at.is_null()),
    )
    .set(reference_tokens::revoked_at.eq(now))
    .execute(conn)?;
    Ok(changed > 0)
}

// ---------------------------------------------------------------------------------------
// Client assertion replay guard
// ---------------------------------------------------------------------------------------

/// RFC 7523 §3 (item 7): a client assertion's `jti` is used once. Records it until
/// `expires_at` (the assertion's `exp`); `false` when the client already used it and the
/// record has not expired. Expired records of the same key are removed first.
///
/// On Postgres a duplicate inserted concurrently aborts the transaction after this
/// returns `false`; the caller refuses the assertion at once, so nothing else runs in it.
pub fn record_jti(
    conn: &mut AnyConnection,
    application_id: &str,
    jti_hash: &str,
    expires_at: i64,
    now: i64,
) -> StoreResult<bool> {
    let key = client_assertion_jtis::table.find((application_id, jti_hash));
    diesel::delete(key.filter(client_assertion_jtis::expires_at.le(now))).execute(conn)?;
    let seen: i64 = key.count().get_result(conn)?;
    if seen > 0 {
        return Ok(false);
    }
    let inserted = diesel::insert_into(client_assertion_jtis::table)
        .values((
            client_assertion_jtis::application_id.eq(application_id),
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

// ---------------------------------------------------------------------------------------
// Purging
// ---------------------------------------------------------------------------------------

/// How many rows [`purge_expired`] deleted, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeCounts {
    pub authorization_codes: usize,
    pub authorization_requests: usize,
    pub refresh_tokens: usize,
    pub reference_tokens: usize,
    pub client_assertion_jtis: usize,
    pub grants: usize,
    pub browser_sessions: usize,
    pub admin_sessions: usize,
    /// Sign-in throttle buckets whose window and lock are over.
    pub sign_in_buckets: usize,
}

impl PurgeCounts {
    pub fn total(&self) -> usize {
        self.authorization_codes
            + self.authorization_requests
            + self.refresh_tokens
            + self.reference_tokens
            + self.client_assertion_jtis
            + self.grants
            + self.browser_sessions
            + self.admin_sessions
            + self.sign_in_buckets
    }
}

/// Deletes what expired at or before `now`: codes, pending requests, refresh and
/// reference tokens, jti records, browser sessions past their absolute timeout,
/// grants past their absolute expiry, and sign-in throttle buckets that hold nothing. A grant stays while a reference token issued from
/// it is still unexpired, so deleting it cannot cut that token short.
pub fn purge_expired(conn: &mut AnyConnection, now: i64) -> StoreResult<PurgeCounts> {
    let authorization_codes =
        diesel::delete(authorization_codes::table.filter(authorization_codes::expires_at.le(now))).execute(conn)?;
    let authorization_requests =
        diesel::delete(authorization_requests::table.filter(authorization_requests::expires_at.le(now)))
            .execute(conn)?;
    let client_assertion_jtis =
        diesel::delete(client_assertion_jtis::table.filter(client_assertion_jtis::expires_at.le(now))).execute(conn)?;
    let reference_tokens =
        diesel::delete(reference_tokens::table.filter(reference_tokens::expires_at.le(now))).execute(conn)?;
    let refresh_tokens =
        diesel::delete(refresh_tokens::table.filter(refresh_tokens::expires_at.le(now))).execute(conn)?;
    let live_reference_token = reference_tokens::table
        .filter(reference_tokens::grant_id.eq(grants::id.nullable()))
        .filter(reference_tokens::expires_at.gt(now));
    let grants = diesel::delete(
        grants::table
            .filter(grants::expires_at.le(now))
            .filter(diesel::dsl::not(diesel::dsl::exists(live_reference_token))),
    )
    .execute(conn)?;
    let browser_sessions =
        diesel::delete(browser_sessions::table.filter(browser_sessions::expires_at.le(now))).execute(conn)?;
    let admin_sessions =
        diesel::delete(admin_sessions::table.filter(admin_sessions::expires_at.le(now))).execute(conn)?;
    let sign_in_buckets = crate::throttle::purge(conn, now)?;
    Ok(PurgeCounts {
        authorization_codes,
        authorization_requests,
        refresh_tokens,
        reference_tokens,
        client_assertion_jtis,
        grants,
        browser_sessions,
        admin_sessions,
        sign_in_buckets,
    })
}
