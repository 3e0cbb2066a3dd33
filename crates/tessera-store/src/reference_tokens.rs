//! Reference (opaque) access tokens: stored only as SHA-256 hashes with the claims they
//! stand for, answered at introspection and userinfo.

use diesel::prelude::*;
use serde_json::{Map, Value};

use tessera_domain::{ApplicationId, GrantId, UserId};

use crate::json::object_text;
use crate::schema::{grants, reference_tokens, user_claims, users};
use crate::users::{self as user_rows, UserWithClaims};
use crate::{AnyConnection, StoreResult};

/// A reference (opaque) access token to store: the claims it stands for, as a JWT access
/// token would carry them (RFC 9068 §2.2), answered at introspection.
#[derive(Debug, Clone)]
pub struct NewReferenceToken {
    pub token_hash: String,
    pub grant_id: Option<GrantId>,
    pub application_id: ApplicationId,
    pub user_id: Option<UserId>,
    pub claims: Map<String, Value>,
    pub expires_at: i64,
}

pub fn insert_reference_token(conn: &mut AnyConnection, new: &NewReferenceToken, now: i64) -> StoreResult<()> {
    diesel::insert_into(reference_tokens::table)
        .values((
            reference_tokens::token_hash.eq(&new.token_hash),
            reference_tokens::grant_id.eq(new.grant_id.as_ref().map(GrantId::as_str)),
            reference_tokens::application_id.eq(new.application_id.as_str()),
            reference_tokens::user_id.eq(new.user_id.as_ref().map(UserId::as_str)),
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
    application_id: &ApplicationId,
    now: i64,
) -> StoreResult<bool> {
    let changed = diesel::update(
        reference_tokens::table
            .find(token_hash)
            .filter(reference_tokens::application_id.eq(application_id.as_str()))
            .filter(reference_tokens::revoked_at.is_null()),
    )
    .set(reference_tokens::revoked_at.eq(now))
    .execute(conn)?;
    Ok(changed > 0)
}
