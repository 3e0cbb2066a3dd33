//! Spending an authorization code or a refresh token together with storing what it
//! issued, as one atomic write.
//!
//! On Postgres each is a single statement, data-modifying common table expressions whose
//! inserts depend on the spend: one round trip, atomic by itself, so callers run it
//! through [`crate::Store::write_statement`] (no `BEGIN` and `COMMIT` around it). On SQLite,
//! which has no data-modifying CTEs and where a statement costs no round trip, the same
//! steps run as separate statements in the caller's transaction. Every statement here
//! is prepared once per connection ([`crate::prepared`]). This is the one place the
//! store writes SQL per backend: the token endpoint's hot path, where Postgres round
//! trips are most of a request's cost.
//!
//! Both answer `false`, having written nothing, when the code or token could not be
//! spent (already spent, expired, unknown; for a refresh token also a grant revoked or
//! expired meanwhile); the caller then finds out which and answers accordingly (for a
//! refresh token, with [`refuse_rotation`]).
//!
//! [`rotate_refresh`], [`retry_rotation`] and [`refuse_rotation`] are the one refresh
//! token rotation: the token endpoint and the management API's `POST /api/v1/token/custom`
//! both rotate through them, so a spent token is treated the same on both.
//!
//! A rotation records on the spent token which token replaced it. Within the
//! application's retry grace, the spent token presented again is a retry of a rotation
//! whose answer was lost ([`retry_rotation`]): if its successor is still unused, the
//! successor is spent and a new one stored, so one refresh token of the family is alive
//! at any time and the grant lives on. Anything else spent is a reuse, which revokes the
//! grant ([`refuse_rotation`]).

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde_json::{Map, Value};
use tessera_domain::{GrantId, UserId};

use crate::audit::{self, NewAuditEvent};
use crate::grants::{self, NewGrant};
use crate::json::{json_list, object_text};
use crate::prepared::{Bind, Fixed};
use crate::reference_tokens::{self, NewReferenceToken};
use crate::refresh_tokens;
use crate::{AnyConnection, StoreError, StoreResult};

/// Names [`REDEEM_CODE_POSTGRES`] in diesel's statement cache.
struct RedeemCode;
/// Names [`ROTATE_POSTGRES`] in diesel's statement cache.
struct RotateRefresh;

/// Names [`SPEND_CODE`] in diesel's statement cache.
struct SpendCode;
/// Names [`SPEND_REFRESH`] in diesel's statement cache.
struct SpendRefresh;
/// Names [`SPEND_SUCCESSOR`] in diesel's statement cache.
struct SpendSuccessor;

/// SQLite: spends a code ($1 now, $2 its hash), as the first step of [`redeem_code`].
const SPEND_CODE: &str = "UPDATE authorization_codes SET consumed_at = $1 \
     WHERE code_hash = $2 AND consumed_at IS NULL AND expires_at > $1";

/// SQLite: spends a refresh token ($1 now, $2 its hash, $3 its grant) of an active
/// grant, naming its successor ($4), as the first step of [`rotate_refresh`].
const SPEND_REFRESH: &str = "UPDATE refresh_tokens SET consumed_at = $1, replaced_by = $4 \
     WHERE token_hash = $2 AND grant_id = $3 AND consumed_at IS NULL AND expires_at > $1 \
     AND EXISTS (SELECT 1 FROM grants WHERE id = $3 AND revoked_at IS NULL AND expires_at > $1)";

/// Both backends: spends the unused successor of the refresh token $2 of the active
/// grant $3, if $2 was spent by a rotation at $4 or later ($1 now), as the first step of
/// [`retry_rotation`]. Concurrent retries (or the successor's own rotation) on
/// Postgres: the second `UPDATE` of the successor waits for the first and then finds it
/// spent, so it changes nothing.
const SPEND_SUCCESSOR: &str = "UPDATE refresh_tokens SET consumed_at = $1 \
     WHERE token_hash = (SELECT replaced_by FROM refresh_tokens \
                         WHERE token_hash = $2 AND grant_id = $3 AND consumed_at >= $4) \
     AND grant_id = $3 AND consumed_at IS NULL AND expires_at > $1 \
     AND EXISTS (SELECT 1 FROM grants WHERE id = $3 AND revoked_at IS NULL AND expires_at > $1)";

/// How many rows the spending part of a statement changed.
#[derive(QueryableByName)]
struct Spent {
    #[diesel(sql_type = BigInt)]
    spent: i64,
}

/// RFC 6749 §4.1.2: spends the code `code_hash` (unexpired, never spent) and, only if
/// this call spent it, creates `grant` (its `id` is the code's `grant_id`), a refresh
/// token `refresh_hash` of the grant expiring with it, and the reference access token
/// `reference`, which must be of that grant and its application. Of concurrent
/// redemptions of one code exactly one answers `true`.
pub fn redeem_code(
    conn: &mut AnyConnection,
    code_hash: &str,
    grant: &NewGrant,
    refresh_hash: Option<&str>,
    reference: Option<&NewReferenceToken>,
    now: i64,
) -> StoreResult<bool> {
    let grant_id = grant
        .id
        .as_ref()
        .map(GrantId::as_str)
        .ok_or_else(|| StoreError::invalid("grant", "the code's grant id is missing"))?;
    if let AnyConnection::Postgres(pg) = conn {
        let (resources, amr) = (json_list(&grant.resources), json_list(&grant.amr));
        let (custom, issued) = (object_text(&grant.custom_claims)?, object_text(&grant.issued_claims)?);
        let reference_claims = reference.map(|r| object_text(&r.claims)).transpose()?.unwrap_or_default();
        let binds = [
            Bind::Int(now),
            Bind::Text(code_hash),
            Bind::Text(grant_id),
            Bind::Text(grant.application_id.as_str()),
            Bind::OptionalText(grant.user_id.as_ref().map(UserId::as_str)),
            Bind::OptionalText(grant.sid.as_deref()),
            Bind::Text(&grant.scope),
            Bind::Text(&resources),
            Bind::OptionalInt(grant.auth_time),
            Bind::Text(&amr),
            Bind::Text(&custom),
            Bind::Text(&issued),
            Bind::Int(grant.expires_at),
            Bind::OptionalText(refresh_hash),
            Bind::OptionalText(reference.map(|r| r.token_hash.as_str())),
            Bind::OptionalText(reference.and_then(|r| r.user_id.as_ref()).map(UserId::as_str)),
            Bind::Text(&reference_claims),
            Bind::Int(reference.map_or(0, |r| r.expires_at)),
            Bind::OptionalText(grant.dpop_jkt.as_deref()),
        ];
        let spent: Spent = Fixed::<RedeemCode>::new(REDEEM_CODE_POSTGRES, &binds).get_result(pg)?;
        return Ok(spent.spent == 1);
    }
    let binds = [Bind::Int(now), Bind::Text(code_hash)];
    if Fixed::<SpendCode>::new(SPEND_CODE, &binds).execute(conn)? == 0 {
        return Ok(false);
    }
    let created = grants::create_grant(conn, grant, now)?;
    if let Some(hash) = refresh_hash {
        refresh_tokens::insert_refresh_row(conn, hash, &created.id, created.expires_at, now)?;
    }
    if let Some(reference) = reference {
        reference_tokens::insert_reference_token(conn, reference, now)?;
    }
    Ok(true)
}

/// The binds: $1 now, $2 code hash, $3–$13 the grant, $14 the refresh token's hash,
/// $15–$18 the reference token (hash, user, claims, expiry), $19 the grant's DPoP key.
const REDEEM_CODE_POSTGRES: &str = "
WITH spent AS (
    UPDATE authorization_codes SET consumed_at = $1
    WHERE code_hash = $2 AND consumed_at IS NULL AND expires_at > $1
    RETURNING code_hash
), new_grant AS (
    INSERT INTO grants (id, application_id, user_id, sid, scope, resources, auth_time, amr,
                        custom_claims, issued_claims, created_at, expires_at, dpop_jkt)
    SELECT $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $1, $13, $19 FROM spent
    RETURNING id
), new_refresh AS (
    INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at)
    SELECT $14, id, $1, $13 FROM new_grant WHERE $14 IS NOT NULL
), new_reference AS (
    INSERT INTO reference_tokens (token_hash, grant_id, application_id, user_id, claims, created_at, expires_at)
    SELECT $15, id, $4, $16, $17, $1, $18 FROM new_grant WHERE $15 IS NOT NULL
)
SELECT count(*) AS spent FROM spent";

/// A refresh token rotation to store (RFC 9700 §4.14.2).
#[derive(Debug, Clone)]
pub struct Rotate<'a> {
    /// The hash of the token presented, which must belong to `grant_id`.
    pub old_hash: &'a str,
    pub grant_id: &'a GrantId,
    /// The successor's hash and expiry (the caller caps it at the grant's expiry).
    pub new_hash: &'a str,
    pub new_expires_at: i64,
    /// The grant's custom claims as of this issuance.
    pub issued_claims: &'a Map<String, Value>,
    /// The reference access token issued with it, if the access token is one (of the
    /// grant `grant_id`).
    pub reference: Option<&'a NewReferenceToken>,
}

/// Spends the refresh token `old_hash` (unexpired, never spent, of an unrevoked and
/// unexpired grant `grant_id`), naming its successor, and, only if this call spent it,
/// stores the successor, the grant's issued claims and the reference access token. Of
/// concurrent rotations of one token exactly one answers `true`.
pub fn rotate_refresh(conn: &mut AnyConnection, rotation: &Rotate<'_>, now: i64) -> StoreResult<bool> {
    let reference = rotation.reference;
    if let AnyConnection::Postgres(pg) = conn {
        let issued = object_text(rotation.issued_claims)?;
        let reference_claims = reference.map(|r| object_text(&r.claims)).transpose()?.unwrap_or_default();
        let binds = [
            Bind::Int(now),
            Bind::Text(rotation.old_hash),
            Bind::Text(rotation.grant_id.as_str()),
            Bind::Text(rotation.new_hash),
            Bind::Int(rotation.new_expires_at),
            Bind::Text(&issued),
            Bind::OptionalText(reference.map(|r| r.token_hash.as_str())),
            Bind::Text(reference.map(|r| r.application_id.as_str()).unwrap_or_default()),
            Bind::OptionalText(reference.and_then(|r| r.user_id.as_ref()).map(UserId::as_str)),
            Bind::Text(&reference_claims),
            Bind::Int(reference.map_or(0, |r| r.expires_at)),
        ];
        let spent: Spent = Fixed::<RotateRefresh>::new(ROTATE_POSTGRES, &binds).get_result(pg)?;
        return Ok(spent.spent == 1);
    }
    let binds = [
        Bind::Int(now),
        Bind::Text(rotation.old_hash),
        Bind::Text(rotation.grant_id.as_str()),
        Bind::Text(rotation.new_hash),
    ];
    if Fixed::<SpendRefresh>::new(SPEND_REFRESH, &binds).execute(conn)? == 0 {
        return Ok(false);
    }
    refresh_tokens::insert_refresh_row(conn, rotation.new_hash, rotation.grant_id, rotation.new_expires_at, now)?;
    grants::set_issued_claims(conn, rotation.grant_id, rotation.issued_claims)?;
    if let Some(reference) = reference {
        reference_tokens::insert_reference_token(conn, reference, now)?;
    }
    Ok(true)
}

/// The binds: $1 now, $2 the old hash, $3 the grant, $4–$5 the successor, $6 the
/// issued claims, $7–$11 the reference token (hash, application, user, claims, expiry).
/// Concurrent rotations of one token: the second `UPDATE` waits for the first and then
/// finds it spent, so it changes nothing and nothing else is written.
const ROTATE_POSTGRES: &str = "
WITH spent AS (
    UPDATE refresh_tokens SET consumed_at = $1, replaced_by = $4
    WHERE token_hash = $2 AND grant_id = $3 AND consumed_at IS NULL AND expires_at > $1
      AND EXISTS (SELECT 1 FROM grants WHERE id = $3 AND revoked_at IS NULL AND expires_at > $1)
    RETURNING grant_id
), successor AS (
    INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at)
    SELECT $4, grant_id, $1, $5 FROM spent
), claims AS (
    UPDATE grants SET issued_claims = $6 WHERE id = $3 AND EXISTS (SELECT 1 FROM spent)
), new_reference AS (
    INSERT INTO reference_tokens (token_hash, grant_id, application_id, user_id, claims, created_at, expires_at)
    SELECT $7, grant_id, $8, $9, $10, $1, $11 FROM spent WHERE $7 IS NOT NULL
)
SELECT count(*) AS spent FROM spent";

/// A retry of the rotation of `rotation.old_hash`, which was spent by a rotation no more
/// than `grace` seconds ago (see [`crate::refresh_tokens::RefreshToken::is_retry`]):
/// spends its successor if that is still unused (never rotated itself, unexpired, its
/// grant active) and, only then, makes the new token `rotation.new_hash` the old token's
/// successor and stores it with the grant's issued claims and the reference access
/// token, audited as `token.refresh_retried` by `actor`. The old token keeps the time of
/// its first rotation, so retries never extend the grace, and the spent successor names
/// no successor, so it is never retried itself: one refresh token of the family is alive
/// afterwards, the one stored last. Of concurrent retries for one successor exactly one
/// answers `true`; `false`: nothing was written. Run it in a write transaction.
pub fn retry_rotation(
    conn: &mut AnyConnection,
    rotation: &Rotate<'_>,
    grace: i64,
    actor: &str,
    now: i64,
) -> StoreResult<bool> {
    if grace <= 0 {
        return Ok(false);
    }
    let grant_id = rotation.grant_id;
    let binds = [
        Bind::Int(now),
        Bind::Text(rotation.old_hash),
        Bind::Text(grant_id.as_str()),
        Bind::Int(now.saturating_sub(grace)),
    ];
    if Fixed::<SpendSuccessor>::new(SPEND_SUCCESSOR, &binds).execute(conn)? == 0 {
        return Ok(false);
    }
    refresh_tokens::set_successor(conn, rotation.old_hash, rotation.new_hash)?;
    refresh_tokens::insert_refresh_row(conn, rotation.new_hash, grant_id, rotation.new_expires_at, now)?;
    grants::set_issued_claims(conn, grant_id, rotation.issued_claims)?;
    if let Some(reference) = rotation.reference {
        reference_tokens::insert_reference_token(conn, reference, now)?;
    }
    let event = NewAuditEvent {
        actor,
        action: "token.refresh_retried",
        target: &format!("grant:{grant_id}"),
        summary: serde_json::json!({ "issued": true, "revoked": false }),
        client_ip: None,
    };
    audit::record(conn, &event, now)?;
    Ok(true)
}

/// Why a refresh token could not be rotated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotRotated {
    /// It had been spent already (RFC 9700 §4.14.2): its grant is now revoked.
    Reused { grant_id: GrantId },
    /// It was rotated within the retry grace and its successor is unused, but that
    /// successor was issued to a concurrent request with the same token, answered first
    /// (a parallel rotation or retry): nothing is revoked.
    Superseded,
    /// Its grant had been revoked.
    Revoked,
    /// It, or its grant, is past its expiry.
    Expired,
    /// No such refresh token.
    Unknown,
}

/// The refusal of a refresh token that [`rotate_refresh`] or [`retry_rotation`] could
/// not spend, or that a caller's check found unusable, with what it calls for
/// (`grace`: the application's retry grace in seconds). Presenting a spent token revokes
/// its whole grant (RFC 9700 §4.14.2: the family's refresh tokens, its reference tokens,
/// and its JWTs for userinfo and introspection), recorded as `token.refresh_reused` by
/// `actor` — unless it is a retry within the grace whose successor is still unused: then
/// a concurrent request with the same token was answered first, and nothing is revoked
/// ([`NotRotated::Superseded`], recorded as `token.refresh_retried`). Run it in a write
/// transaction.
pub fn refuse_rotation(
    conn: &mut AnyConnection,
    old_hash: &str,
    grace: i64,
    actor: &str,
    now: i64,
) -> StoreResult<NotRotated> {
    // The token and its successor as of one moment: a retry that spent the successor
    // also made its own token the successor, in one commit.
    let (token, grant, successor) = match refresh_tokens::find_refresh_token_with_successor(conn, old_hash)? {
        Some((token, grant, successor)) if token.consumed_at.is_some() && grant.revoked_at.is_none() => {
            (token, grant, successor)
        }
        Some((_, grant, _)) if grant.revoked_at.is_some() => return Ok(NotRotated::Revoked),
        Some(_) => return Ok(NotRotated::Expired),
        None => return Ok(NotRotated::Unknown),
    };
    let grant_id = grant.id;
    if token.is_retry(grace, now) && grant.expires_at > now && successor.is_some_and(|s| s.unused(now)) {
        let event = NewAuditEvent {
            actor,
            action: "token.refresh_retried",
            target: &format!("grant:{grant_id}"),
            summary: serde_json::json!({ "issued": false, "revoked": false }),
            client_ip: None,
        };
        audit::record(conn, &event, now)?;
        return Ok(NotRotated::Superseded);
    }
    grants::revoke_grant(conn, &grant_id, now)?;
    let event = NewAuditEvent {
        actor,
        action: "token.refresh_reused",
        target: &format!("grant:{grant_id}"),
        summary: serde_json::json!({ "revoked": true }),
        client_ip: None,
    };
    audit::record(conn, &event, now)?;
    Ok(NotRotated::Reused { grant_id })
}
