//! Sign-in throttling (OWASP ASVS 5.0 V6.3.1): a budget of attempts per bucket (an
//! account, or a client address) in a fixed window, shared by every node.
//!
//! The same table keeps event buckets for [`sample`], which rate-limits audit events
//! that unauthenticated requests can cause.
//!
//! An attempt is *reserved* before the password is checked, by one statement per bucket
//! (an `INSERT … ON CONFLICT DO UPDATE … RETURNING`, atomic on both backends): of any
//! number of parallel attempts, at most `Limit::attempts` are ever evaluated in a window.
//! Once the budget is spent, the next attempt locks the bucket for `Limit::lockout`
//! seconds; nothing but the end of the lock lifts it (a later failure never clears or
//! shortens it). A successful sign-in gives back its own reservation ([`refund`]), so
//! people who sign in are not counted, while earlier failures still count until the
//! window ends: a correct password does not reset an attacker's budget.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable};

use crate::prepared::{Bind, Fixed};
use crate::schema::sign_in_throttle;
use crate::{AnyConnection, StoreResult};

/// How many attempts a bucket may have evaluated within `window` seconds; the attempt
/// after that locks it for `lockout` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub attempts: i64,
    pub window: i64,
    pub lockout: i64,
}

/// Attempts against one account (key `account:<user id>`, or `login:<name>` for a name
/// that is no account), shared by the login pages, the admin console and the password
/// grant: five within 15 minutes, then locked for 15 minutes.
pub const ACCOUNT_LIMIT: Limit = Limit { attempts: 5, window: 15 * 60, lockout: 15 * 60 };
/// Attempts from one client address (key `ip:<address>`): thirty within 15 minutes,
/// then locked for 15 minutes.
pub const IP_LIMIT: Limit = Limit { attempts: 30, window: 15 * 60, lockout: 15 * 60 };
/// Registrations from one client address (key `register:<address>`): ten within an
/// hour, then none for an hour. Each counts, whether it creates an account or meets a
/// taken name: the budget bounds both account spam and probing which names are taken.
pub const REGISTRATION_LIMIT: Limit = Limit { attempts: 10, window: 3600, lockout: 3600 };
/// A bucket whose window began this many seconds ago (the longest window of the limits
/// here) and that is not locked holds nothing: [`purge`] deletes it.
pub const PURGE_AFTER: i64 = max(max(ACCOUNT_LIMIT.window, IP_LIMIT.window), REGISTRATION_LIMIT.window);

const fn max(a: i64, b: i64) -> i64 {
    if a > b { a } else { b }
}

/// Refusals of a locked bucket reach the audit log at most once per this many seconds.
pub const REFUSAL_AUDIT_INTERVAL: i64 = 60;

/// Names [`RESERVE`] in diesel's statement cache.
struct Reserve;

/// Reserves an attempt on bucket $1 at $2 (window $3 s, $4 attempts, lockout $5 s,
/// refusal audits every $6 s). The cases, in order: still locked (refused, counted in
/// `refused`); the lock or the window is over (a new window, allowed); the budget is
/// spent (refused, locked from now); otherwise allowed and counted.
const RESERVE: &str = "INSERT INTO sign_in_throttle \
     (key, failures, window_started_at, locked_until, refused, refusal_audited_at, audit_refusal) \
     VALUES ($1, 1, $2, NULL, 0, NULL, FALSE) \
     ON CONFLICT (key) DO UPDATE SET \
     failures = CASE \
       WHEN sign_in_throttle.locked_until > $2 THEN sign_in_throttle.failures \
       WHEN sign_in_throttle.locked_until IS NOT NULL OR sign_in_throttle.window_started_at + $3 <= $2 THEN 1 \
       WHEN sign_in_throttle.failures >= $4 THEN sign_in_throttle.failures \
       ELSE sign_in_throttle.failures + 1 END, \
     window_started_at = CASE \
       WHEN sign_in_throttle.locked_until > $2 THEN sign_in_throttle.window_started_at \
       WHEN sign_in_throttle.locked_until IS NOT NULL OR sign_in_throttle.window_started_at + $3 <= $2 THEN $2 \
       ELSE sign_in_throttle.window_started_at END, \
     locked_until = CASE \
       WHEN sign_in_throttle.locked_until > $2 THEN sign_in_throttle.locked_until \
       WHEN sign_in_throttle.locked_until IS NOT NULL OR sign_in_throttle.window_started_at + $3 <= $2 THEN NULL \
       WHEN sign_in_throttle.failures >= $4 THEN $2 + $5 \
       ELSE NULL END, \
     refused = CASE \
       WHEN sign_in_throttle.locked_until > $2 THEN sign_in_throttle.refused + 1 \
       WHEN sign_in_throttle.locked_until IS NOT NULL OR sign_in_throttle.window_started_at + $3 <= $2 THEN 0 \
       WHEN sign_in_throttle.failures >= $4 THEN 1 \
       ELSE 0 END, \
     audit_refusal = CASE \
       WHEN sign_in_throttle.locked_until > $2 THEN \
         (sign_in_throttle.refusal_audited_at IS NULL OR sign_in_throttle.refusal_audited_at + $6 <= $2) \
       WHEN sign_in_throttle.locked_until IS NOT NULL OR sign_in_throttle.window_started_at + $3 <= $2 THEN FALSE \
       WHEN sign_in_throttle.failures >= $4 THEN TRUE \
       ELSE FALSE END, \
     refusal_audited_at = CASE \
       WHEN sign_in_throttle.locked_until > $2 THEN CASE \
         WHEN sign_in_throttle.refusal_audited_at IS NULL OR sign_in_throttle.refusal_audited_at + $6 <= $2 THEN $2 \
         ELSE sign_in_throttle.refusal_audited_at END \
       WHEN sign_in_throttle.locked_until IS NOT NULL OR sign_in_throttle.window_started_at + $3 <= $2 THEN NULL \
       WHEN sign_in_throttle.failures >= $4 THEN $2 \
       ELSE sign_in_throttle.refusal_audited_at END \
     RETURNING window_started_at, locked_until, refused, audit_refusal";

#[derive(QueryableByName)]
struct Reserved {
    #[diesel(sql_type = BigInt)]
    window_started_at: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    locked_until: Option<i64>,
    #[diesel(sql_type = BigInt)]
    refused: i64,
    #[diesel(sql_type = Bool)]
    audit_refusal: bool,
}

/// The answer to [`reserve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The attempt may be evaluated; it counts unless [`refund`]ed with this window.
    Allowed { key: String, window_started_at: i64 },
    /// The bucket is locked until `until`: the attempt must not be evaluated.
    /// `audit` says whether this refusal is due for the audit log (rate-limited), and
    /// `refused` how many attempts the current lock has refused so far.
    Locked { until: i64, refused: i64, audit: bool },
}

/// Reserves one attempt on `key` under `limit`, atomically: see the module's comment.
/// One statement; run it through [`crate::Store::write_statement`].
pub fn reserve(conn: &mut AnyConnection, key: &str, limit: Limit, now: i64) -> StoreResult<Reservation> {
    let binds = [
        Bind::Text(key),
        Bind::Int(now),
        Bind::Int(limit.window),
        Bind::Int(limit.attempts),
        Bind::Int(limit.lockout),
        Bind::Int(REFUSAL_AUDIT_INTERVAL),
    ];
    let row: Reserved = Fixed::<Reserve>::new(RESERVE, &binds).get_result(conn)?;
    Ok(match row.locked_until {
        Some(until) if until > now => Reservation::Locked { until, refused: row.refused, audit: row.audit_refusal },
        _ => Reservation::Allowed { key: key.to_owned(), window_started_at: row.window_started_at },
    })
}

/// Gives back an [`Reservation::Allowed`] attempt (it succeeded, or was not evaluated
/// because another bucket refused it). It never lifts a lock, and a reservation of an
/// earlier window gives nothing back.
pub fn refund(conn: &mut AnyConnection, reservation: &Reservation) -> StoreResult<()> {
    let Reservation::Allowed { key, window_started_at } = reservation else { return Ok(()) };
    diesel::update(
        sign_in_throttle::table
            .find(key)
            .filter(sign_in_throttle::window_started_at.eq(window_started_at))
            .filter(sign_in_throttle::failures.gt(0)),
    )
    .set(sign_in_throttle::failures.eq(sign_in_throttle::failures - 1))
    .execute(conn)?;
    Ok(())
}

/// Names [`SAMPLE`] in diesel's statement cache.
struct Sample;

/// Samples event bucket $1 at $2 (at most one event per $3 s): `audit_refusal` says
/// whether this one is due, `refused` how many were passed over before it. An event
/// bucket keeps the last recorded event's time in `window_started_at` and the events
/// passed over since in `failures`; it is never locked.
const SAMPLE: &str = "INSERT INTO sign_in_throttle \
     (key, failures, window_started_at, locked_until, refused, refusal_audited_at, audit_refusal) \
     VALUES ($1, 0, $2, NULL, 0, NULL, TRUE) \
     ON CONFLICT (key) DO UPDATE SET \
     refused = CASE WHEN sign_in_throttle.window_started_at + $3 <= $2 \
       THEN sign_in_throttle.failures ELSE sign_in_throttle.refused END, \
     audit_refusal = (sign_in_throttle.window_started_at + $3 <= $2), \
     failures = CASE WHEN sign_in_throttle.window_started_at + $3 <= $2 \
       THEN 0 ELSE sign_in_throttle.failures + 1 END, \
     window_started_at = CASE WHEN sign_in_throttle.window_started_at + $3 <= $2 \
       THEN $2 ELSE sign_in_throttle.window_started_at END \
     RETURNING refused, audit_refusal";

#[derive(QueryableByName)]
struct Sampled {
    #[diesel(sql_type = BigInt)]
    refused: i64,
    #[diesel(sql_type = Bool)]
    audit_refusal: bool,
}

/// Rate-limits an event that anyone can cause (a failed client authentication, say), so
/// that unauthenticated requests cannot fill the audit log: of the events of bucket
/// `key`, at most one per `interval` seconds is due. Returns `Some(passed_over)` when
/// this one is due (with how many were passed over since the last one), `None` when it
/// is to be passed over. One atomic statement; the bucket is purged like the others.
pub fn sample(conn: &mut AnyConnection, key: &str, interval: i64, now: i64) -> StoreResult<Option<i64>> {
    let binds = [Bind::Text(key), Bind::Int(now), Bind::Int(interval)];
    let row: Sampled = Fixed::<Sample>::new(SAMPLE, &binds).get_result(conn)?;
    Ok(row.audit_refusal.then_some(row.refused))
}

/// Until when `key` is locked, if it is locked at `now` (for display; deciding is
/// [`reserve`]'s).
pub fn locked_until(conn: &mut AnyConnection, key: &str, now: i64) -> StoreResult<Option<i64>> {
    let until: Option<Option<i64>> =
        sign_in_throttle::table.find(key).select(sign_in_throttle::locked_until).first(conn).optional()?;
    Ok(until.flatten().filter(|until| *until > now))
}

/// Deletes the buckets that no longer hold anything: their window is over (for the
/// longest window of the limits here) and they are not locked.
pub fn purge(conn: &mut AnyConnection, now: i64) -> StoreResult<usize> {
    let window = PURGE_AFTER;
    Ok(diesel::delete(
        sign_in_throttle::table
            .filter(sign_in_throttle::window_started_at.le(now - window))
            .filter(sign_in_throttle::locked_until.is_null().or(sign_in_throttle::locked_until.le(now))),
    )
    .execute(conn)?)
}
