//! Sign-in throttling (OWASP ASVS V6.3.1): failed attempts counted per key (an account
//! name or a client IP) in a fixed window; past the limit the key is locked for a while.

use diesel::prelude::*;

use crate::schema::sign_in_throttle;
use crate::{AnyConnection, StoreResult};

/// How many failures a key may have within `window` seconds before it is locked for
/// `lockout` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub failures: i64,
    pub window: i64,
    pub lockout: i64,
}

/// Sign-in failures of one account (key `account:<login>`, shared by the login pages and
/// the admin console): five within 15 minutes lock it for 15 minutes.
pub const ACCOUNT_LIMIT: Limit = Limit { failures: 5, window: 15 * 60, lockout: 15 * 60 };
/// Sign-in failures from one client address (key `ip:<address>`): thirty within 15
/// minutes lock it for 15 minutes.
pub const IP_LIMIT: Limit = Limit { failures: 30, window: 15 * 60, lockout: 15 * 60 };

/// Until when `key` is locked, if it is locked at `now`.
pub fn locked_until(conn: &mut AnyConnection, key: &str, now: i64) -> StoreResult<Option<i64>> {
    let until: Option<Option<i64>> =
        sign_in_throttle::table.find(key).select(sign_in_throttle::locked_until).first(conn).optional()?;
    Ok(until.flatten().filter(|until| *until > now))
}

/// Counts a failure; returns the lock's end when this failure reached the limit.
pub fn record_failure(conn: &mut AnyConnection, key: &str, limit: Limit, now: i64) -> StoreResult<Option<i64>> {
    let current: Option<(i64, i64)> = sign_in_throttle::table
        .find(key)
        .select((sign_in_throttle::failures, sign_in_throttle::window_started_at))
        .first(conn)
        .optional()?;
    let (failures, window_started_at) = match current {
        Some((failures, started)) if started + limit.window > now => (failures + 1, started),
        _ => (1, now),
    };
    let locked_until = (failures >= limit.failures).then_some(now + limit.lockout);
    if current.is_some() {
        diesel::update(sign_in_throttle::table.find(key))
            .set((
                sign_in_throttle::failures.eq(if locked_until.is_some() { 0 } else { failures }),
                sign_in_throttle::window_started_at.eq(window_started_at),
                sign_in_throttle::locked_until.eq(locked_until),
            ))
            .execute(conn)?;
    } else {
        diesel::insert_into(sign_in_throttle::table)
            .values((
                sign_in_throttle::key.eq(key),
                sign_in_throttle::failures.eq(failures),
                sign_in_throttle::window_started_at.eq(window_started_at),
                sign_in_throttle::locked_until.eq(locked_until),
            ))
            .execute(conn)?;
    }
    Ok(locked_until)
}

/// Forgets the failures of `key` (after a successful sign-in).
pub fn clear(conn: &mut AnyConnection, key: &str) -> StoreResult<()> {
    diesel::delete(sign_in_throttle::table.find(key)).execute(conn)?;
    Ok(())
}
