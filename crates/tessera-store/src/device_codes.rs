//! Device authorization requests (RFC 8628): a device code the client polls the token
//! endpoint with, and a user code the user types on the verification page. The device
//! code is stored only as its SHA-256 hash, the user code only as the hash of its
//! normalized form. A request is pending until the user approves or denies it; an
//! approved one is spent once by the token endpoint ([`redeem`]).

use diesel::prelude::*;
use tessera_domain::{ApplicationId, GrantId, UserId};

use crate::grants::{self, NewGrant};
use crate::json::json_list;
use crate::prepared::{Bind, Fixed};
use crate::reference_tokens::{self, NewReferenceToken};
use crate::refresh_tokens;
use crate::schema::device_codes;
use crate::{AnyConnection, StoreError, StoreResult};

/// Where a device authorization request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    /// Waiting for the user (RFC 8628 §3.5 `authorization_pending`).
    Pending,
    /// The user approved it: the token endpoint may spend it once.
    Approved,
    /// The user denied it (§3.5 `access_denied`).
    Denied,
}

impl DeviceStatus {
    fn as_str(self) -> &'static str {
        match self {
            DeviceStatus::Pending => "pending",
            DeviceStatus::Approved => "approved",
            DeviceStatus::Denied => "denied",
        }
    }

    fn parse(raw: &str) -> StoreResult<DeviceStatus> {
        match raw {
            "pending" => Ok(DeviceStatus::Pending),
            "approved" => Ok(DeviceStatus::Approved),
            "denied" => Ok(DeviceStatus::Denied),
            other => Err(StoreError::Corrupt(format!("device code status {other:?}"))),
        }
    }
}

/// A device authorization request. `grant_id` is the id the grant created at redemption
/// takes. `user_id`, `sid`, `auth_time` and `amr` are the approving user's sign-in, and
/// `scope` the scope granted, once approved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCode {
    pub device_code_hash: String,
    pub user_code_hash: String,
    pub grant_id: GrantId,
    pub application_id: ApplicationId,
    pub scope: String,
    pub resources: Vec<String>,
    pub status: DeviceStatus,
    /// Seconds a client must wait between polls (§3.2 `interval`, grown by `slow_down`).
    pub poll_interval: i64,
    pub last_polled_at: Option<i64>,
    /// Whether the last poll came sooner than the interval allowed (§3.5 `slow_down`).
    pub too_fast: bool,
    pub user_id: Option<UserId>,
    pub sid: Option<String>,
    pub auth_time: Option<i64>,
    pub amr: Vec<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = device_codes)]
struct Row {
    device_code_hash: String,
    user_code_hash: String,
    grant_id: String,
    application_id: String,
    scope: String,
    resources: String,
    status: String,
    poll_interval: i64,
    last_polled_at: Option<i64>,
    too_fast: i64,
    user_id: Option<String>,
    sid: Option<String>,
    auth_time: Option<i64>,
    amr: String,
    created_at: i64,
    expires_at: i64,
    consumed_at: Option<i64>,
}

impl TryFrom<Row> for DeviceCode {
    type Error = StoreError;
    fn try_from(row: Row) -> StoreResult<DeviceCode> {
        Ok(DeviceCode {
            resources: crate::json::parse_as(&row.resources)?,
            amr: crate::json::parse_as(&row.amr)?,
            status: DeviceStatus::parse(&row.status)?,
            device_code_hash: row.device_code_hash,
            user_code_hash: row.user_code_hash,
            grant_id: GrantId::from(row.grant_id),
            application_id: ApplicationId::from(row.application_id),
            scope: row.scope,
            poll_interval: row.poll_interval,
            last_polled_at: row.last_polled_at,
            too_fast: row.too_fast != 0,
            user_id: row.user_id.map(UserId::from),
            sid: row.sid,
            auth_time: row.auth_time,
            created_at: row.created_at,
            expires_at: row.expires_at,
            consumed_at: row.consumed_at,
        })
    }
}

/// A device authorization request to store (pending).
#[derive(Debug, Clone)]
pub struct NewDeviceCode {
    pub device_code_hash: String,
    pub user_code_hash: String,
    pub application_id: ApplicationId,
    pub scope: String,
    pub resources: Vec<String>,
    pub poll_interval: i64,
    pub expires_at: i64,
}

/// Stores a pending request. A user code hash already taken is a conflict (the caller
/// draws another code).
pub fn create(conn: &mut AnyConnection, new: &NewDeviceCode, now: i64) -> StoreResult<()> {
    diesel::insert_into(device_codes::table)
        .values((
            device_codes::device_code_hash.eq(&new.device_code_hash),
            device_codes::user_code_hash.eq(&new.user_code_hash),
            device_codes::grant_id.eq(crate::new_id()),
            device_codes::application_id.eq(new.application_id.as_str()),
            device_codes::scope.eq(&new.scope),
            device_codes::resources.eq(json_list(&new.resources)),
            device_codes::status.eq(DeviceStatus::Pending.as_str()),
            device_codes::poll_interval.eq(new.poll_interval),
            device_codes::too_fast.eq(0_i64),
            device_codes::amr.eq("[]"),
            device_codes::created_at.eq(now),
            device_codes::expires_at.eq(new.expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The request with this device code hash, whatever its state.
pub fn get(conn: &mut AnyConnection, device_code_hash: &str) -> StoreResult<Option<DeviceCode>> {
    device_codes::table
        .find(device_code_hash)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(DeviceCode::try_from)
        .transpose()
}

/// The pending, unexpired request whose user code has this hash: what the verification
/// page may act on. Approved, denied and expired requests are as good as unknown.
pub fn find_pending_by_user_code(
    conn: &mut AnyConnection,
    user_code_hash: &str,
    now: i64,
) -> StoreResult<Option<DeviceCode>> {
    device_codes::table
        .filter(device_codes::user_code_hash.eq(user_code_hash))
        .filter(device_codes::status.eq(DeviceStatus::Pending.as_str()))
        .filter(device_codes::expires_at.gt(now))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(DeviceCode::try_from)
        .transpose()
}

/// The approving user's sign-in and the scope granted.
#[derive(Debug, Clone)]
pub struct Approval {
    pub user_id: UserId,
    pub sid: Option<String>,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub scope: String,
}

/// Approves a pending, unexpired request; `false` when it was not pending any more.
pub fn approve(conn: &mut AnyConnection, device_code_hash: &str, approval: &Approval, now: i64) -> StoreResult<bool> {
    let changed = diesel::update(
        device_codes::table
            .find(device_code_hash)
            .filter(device_codes::status.eq(DeviceStatus::Pending.as_str()))
            .filter(device_codes::expires_at.gt(now)),
    )
    .set((
        device_codes::status.eq(DeviceStatus::Approved.as_str()),
        device_codes::user_id.eq(approval.user_id.as_str()),
        device_codes::sid.eq(&approval.sid),
        device_codes::auth_time.eq(approval.auth_time),
        device_codes::amr.eq(json_list(&approval.amr)),
        device_codes::scope.eq(&approval.scope),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Denies a pending request (RFC 8628 §3.5 `access_denied`); `false` when it was not
/// pending any more.
pub fn deny(conn: &mut AnyConnection, device_code_hash: &str, now: i64) -> StoreResult<bool> {
    let changed = diesel::update(
        device_codes::table
            .find(device_code_hash)
            .filter(device_codes::status.eq(DeviceStatus::Pending.as_str()))
            .filter(device_codes::expires_at.gt(now)),
    )
    .set(device_codes::status.eq(DeviceStatus::Denied.as_str()))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Names [`POLL`] in diesel's statement cache.
struct Poll;

/// Records a poll of request $1 by application $3 at $2. Every expression reads the row
/// as it was before the update (both backends), so `too_fast` says whether this poll came
/// within the interval, and such a poll grows the interval by 5 seconds (RFC 8628 §3.5).
const POLL: &str = "UPDATE device_codes SET \
     too_fast = CASE WHEN last_polled_at IS NOT NULL AND $2 - last_polled_at < poll_interval THEN 1 ELSE 0 END, \
     poll_interval = CASE WHEN last_polled_at IS NOT NULL AND $2 - last_polled_at < poll_interval \
       THEN poll_interval + 5 ELSE poll_interval END, \
     last_polled_at = $2 \
     WHERE device_code_hash = $1 AND application_id = $3";

/// How many seconds `slow_down` adds to the interval (RFC 8628 §3.5).
pub const SLOW_DOWN_STEP: i64 = 5;

/// RFC 8628 §3.5: records a poll by `application_id` and returns the request as it is
/// after it ([`DeviceCode::too_fast`] tells whether to answer `slow_down`). Another
/// application's poll changes nothing (and still reads the row, so the caller can tell
/// it apart from an unknown code). Run it in a write transaction: the update and the
/// read are one step.
pub fn poll(
    conn: &mut AnyConnection,
    device_code_hash: &str,
    application_id: &ApplicationId,
    now: i64,
) -> StoreResult<Option<DeviceCode>> {
    let binds = [Bind::Text(device_code_hash), Bind::Int(now), Bind::Text(application_id.as_str())];
    Fixed::<Poll>::new(POLL, &binds).execute(conn)?;
    get(conn, device_code_hash)
}

/// Spends the approved, unspent, unexpired request `device_code_hash` and, only if this
/// call spent it, creates `grant` (its `id` is the request's `grant_id`), a refresh token
/// `refresh_hash` of the grant and the reference access token `reference`. The spending
/// `UPDATE … WHERE consumed_at IS NULL` is atomic, so of concurrent redemptions exactly
/// one answers `true`. Run it in a write transaction.
pub fn redeem(
    conn: &mut AnyConnection,
    device_code_hash: &str,
    grant: &NewGrant,
    refresh_hash: Option<&str>,
    reference: Option<&NewReferenceToken>,
    now: i64,
) -> StoreResult<bool> {
    let spent = diesel::update(
        device_codes::table
            .find(device_code_hash)
            .filter(device_codes::status.eq(DeviceStatus::Approved.as_str()))
            .filter(device_codes::consumed_at.is_null())
            .filter(device_codes::expires_at.gt(now)),
    )
    .set(device_codes::consumed_at.eq(now))
    .execute(conn)?;
    if spent == 0 {
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

/// Makes a request expire now (for tests and for ending it early).
pub fn expire(conn: &mut AnyConnection, device_code_hash: &str, now: i64) -> StoreResult<()> {
    diesel::update(device_codes::table.find(device_code_hash)).set(device_codes::expires_at.eq(now)).execute(conn)?;
    Ok(())
}

/// Deletes requests that expired at or before `now`.
pub fn purge(conn: &mut AnyConnection, now: i64) -> StoreResult<usize> {
    Ok(diesel::delete(device_codes::table.filter(device_codes::expires_at.le(now))).execute(conn)?)
}
