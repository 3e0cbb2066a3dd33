//! Rate limits on the back-channel endpoints: per client and per client address, on the
//! token endpoint family (token, pushed authorization requests, device authorization,
//! revocation), on introspection, and per address on open dynamic client registration
//! (RFC 7591, without an initial access token). A request over a limit is answered `429 Too Many
//! Requests` with `Retry-After` before any work is done for it.
//!
//! Each limit is "at most `count` requests per `period`", kept by the generic cell rate
//! algorithm (GCRA, as in ATM networks and most rate limiters since): one number per key,
//! the time at which its bucket will be empty again; a request is allowed when that time,
//! plus one request's share of the period, is at most one period ahead of now. So a
//! client may send `count` requests at once after a quiet period, and then one every
//! `period / count`. Nothing but one integer per recent key is kept, in memory.
//!
//! The limits are per node: with N nodes behind a balancer a client gets up to N times
//! the budget. They protect each node's capacity, which is what a node can defend; the
//! sign-in throttles, which protect accounts, are shared through the database
//! (`tessera_store::throttle`).
//!
//! The sign-in pages, registration and the password grant have those per-account and
//! per-address throttles already, on by default; these limits are off by default
//! (`docs/configuration.md` gives values to start from), except open client
//! registration's (20 per hour per address), which creates durable rows for strangers.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::OAuthError;

/// At most `count` requests per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub period: Duration,
}

impl Rate {
    /// Parses `100/s`, `6000/min`, `100000/h`, or `off` (no limit: `None`).
    pub fn parse(raw: &str) -> Result<Option<Rate>, String> {
        let raw = raw.trim();
        if raw.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let wrong = || format!("{raw:?} is not a rate such as 100/s, 6000/min or 100000/h, or off");
        let (count, unit) = raw.split_once('/').ok_or_else(wrong)?;
        let count: u32 = count.trim().parse().map_err(|_| wrong())?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(wrong()),
        };
        if !(1..=1_000_000).contains(&count) {
            return Err(format!("{raw:?}: the count must be between 1 and 1000000"));
        }
        Ok(Some(Rate { count, period }))
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = match self.period.as_secs() {
            1 => "s",
            60 => "min",
            _ => "h",
        };
        write!(f, "{}/{unit}", self.count)
    }
}

/// The configured limits (`None`: no limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimits {
    pub token_per_client: Option<Rate>,
    pub token_per_ip: Option<Rate>,
    pub introspection_per_client: Option<Rate>,
    pub introspection_per_ip: Option<Rate>,
    /// Open dynamic client registrations (RFC 7591) per client address.
    pub registration_per_ip: Option<Rate>,
}

/// Which budget a request draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// Token, pushed authorization requests, device authorization, revocation.
    Token,
    Introspection,
    /// Dynamic client registration without an initial access token, and fetches of
    /// client metadata documents (per address only).
    Registration,
}

/// The limiters of one node, built from [`RateLimits`].
#[derive(Default)]
pub(crate) struct Limiters {
    token_client: Option<Limiter<String>>,
    token_ip: Option<Limiter<IpAddr>>,
    introspection_client: Option<Limiter<String>>,
    introspection_ip: Option<Limiter<IpAddr>>,
    registration_ip: Option<Limiter<IpAddr>>,
}

impl std::fmt::Debug for Limiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiters").finish_non_exhaustive()
    }
}

impl Limiters {
    pub(crate) fn new(limits: &RateLimits) -> Limiters {
        Limiters {
            token_client: limits.token_per_client.map(Limiter::new),
            token_ip: limits.token_per_ip.map(Limiter::new),
            introspection_client: limits.introspection_per_client.map(Limiter::new),
            introspection_ip: limits.introspection_per_ip.map(Limiter::new),
            registration_ip: limits.registration_per_ip.map(Limiter::new),
        }
    }

    /// Counts a request to `endpoint` from `ip` by the client (or API connection) named
    /// `client`, as presented: refused with 429 when either budget is spent. The address
    /// is checked first, so a client cannot spend another client's budget by naming it
    /// from an address that is itself over its limit... and a request refused for its
    /// address does not draw on the named client's budget.
    pub(crate) fn check(&self, endpoint: Endpoint, client: Option<&str>, ip: Option<IpAddr>) -> Result<(), OAuthError> {
        let (by_client, by_ip) = match endpoint {
            Endpoint::Token => (&self.token_client, &self.token_ip),
            Endpoint::Introspection => (&self.introspection_client, &self.introspection_ip),
            Endpoint::Registration => (&None, &self.registration_ip),
        };
        let now = Instant::now();
        if let (Some(limiter), Some(ip)) = (by_ip, ip) {
            limiter.check(network_of(ip), now).map_err(|wait| OAuthError::rate_limited("this address", wait))?;
        }
        if let (Some(limiter), Some(client)) = (by_client, client) {
            limiter.check_str(client, now).map_err(|wait| OAuthError::rate_limited("this client", wait))?;
        }
        Ok(())
    }
}

/// The key of an address: an IPv6 client usually holds a whole /64 (RFC 6177), so its
/// budget is the network's, or a client could take a fresh address per request.
fn network_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
        v4 => v4,
    }
}

const SHARDS: usize = 16;
/// Keys a shard holds before it drops the ones whose buckets are empty again (which are
/// the same as absent). Bounds memory under a flood of new keys.
const PRUNE_AT: usize = 4096;
/// Keys a shard holds at most. When every one is still active (a flood from more keys
/// than this), new keys are let through uncounted rather than growing without bound:
/// the per-address limit then still holds for the keys already tracked.
const MAX_KEYS: usize = 65_536;

/// GCRA over keys of type `K`, in shards behind their own locks.
struct Limiter<K> {
    /// One request's share of the period (the emission interval), in nanoseconds.
    interval: u64,
    /// The period: how far ahead of now a bucket's empty time may be (the burst tolerance).
    tolerance: u64,
    origin: Instant,
    hasher: std::collections::hash_map::RandomState,
    shards: [Mutex<HashMap<K, u64>>; SHARDS],
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    fn new(rate: Rate) -> Limiter<K> {
        let period = u64::try_from(rate.period.as_nanos()).unwrap_or(u64::MAX);
        Limiter {
            interval: period / u64::from(rate.count.max(1)),
            tolerance: period,
            origin: Instant::now(),
            hasher: std::collections::hash_map::RandomState::new(),
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
        }
    }

    fn shard_of<Q: Hash + ?Sized>(&self, key: &Q) -> &Mutex<HashMap<K, u64>> {
        let index = usize::try_from(self.hasher.hash_one(key) % SHARDS as u64).unwrap_or(0);
        &self.shards[index]
    }

    /// Counts one request: `Err(wait)` when the bucket is full, with how long until one
    /// more request fits.
    fn check(&self, key: K, at: Instant) -> Result<(), Duration> {
        let shard = self.shard_of(&key);
        let now = self.elapsed(at);
        let mut buckets = shard.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let empty_at = buckets.get(&key).copied().unwrap_or(0);
        let next = self.admit(empty_at, now)?;
        if !buckets.contains_key(&key) && !self.make_room(&mut buckets, now) {
            return Ok(());
        }
        buckets.insert(key, next);
        Ok(())
    }

    fn elapsed(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The bucket's new empty time if one more request fits.
    fn admit(&self, empty_at: u64, now: u64) -> Result<u64, Duration> {
        let next = empty_at.max(now).saturating_add(self.interval);
        let ahead = next - now;
        if ahead > self.tolerance {
            return Err(Duration::from_nanos(ahead - self.tolerance));
        }
        Ok(next)
    }

    /// Whether a new key may be added, pruning empty buckets when the shard is large.
    fn make_room(&self, buckets: &mut HashMap<K, u64>, now: u64) -> bool {
        if buckets.len() >= PRUNE_AT {
            buckets.retain(|_, empty_at| *empty_at > now);
        }
        buckets.len() < MAX_KEYS
    }
}

impl Limiter<String> {
    /// [`Limiter::check`] without allocating the key when it is already tracked.
    fn check_str(&self, key: &str, at: Instant) -> Result<(), Duration> {
        let shard = self.shard_of(key);
        let now = self.elapsed(at);
        let mut buckets = shard.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(empty_at) = buckets.get_mut(key) {
            *empty_at = self.admit(*empty_at, now)?;
            return Ok(());
        }
        let next = self.admit(0, now)?;
        if self.make_room(&mut buckets, now) {
            buckets.insert(key.to_owned(), next);
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(Rate::parse("off").unwrap(), None);
        assert_eq!(Rate::parse("100/s").unwrap(), Some(Rate { count: 100, period: Duration::from_secs(1) }));
        assert_eq!(Rate::parse(" 6000 / min ").unwrap(), Some(Rate { count: 6000, period: Duration::from_secs(60) }));
        assert_eq!(Rate::parse("5/h").unwrap().unwrap().to_string(), "5/h");
        for bad in ["", "100", "0/s", "-1/s", "10/day", "1.5/s", "2000000/s", "x/s"] {
            assert!(Rate::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn a_burst_of_count_is_allowed_then_one_per_interval() {
        let limiter = Limiter::<String>::new(Rate { count: 3, period: Duration::from_secs(3) });
        let start = limiter.origin + Duration::from_secs(100);
        for _ in 0..3 {
            limiter.check_str("app", start).unwrap();
        }
        let wait = limiter.check_str("app", start).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1), "one request's share of the period");
        // Another key has its own budget.
        limiter.check_str("other", start).unwrap();
        // After one interval, exactly one more fits.
        let later = start + Duration::from_secs(1);
        limiter.check_str("app", later).unwrap();
        assert!(limiter.check_str("app", later).is_err());
        // After a quiet period the whole burst is back.
        let quiet = start + Duration::from_secs(10);
        for _ in 0..3 {
            limiter.check_str("app", quiet).unwrap();
        }
        assert!(limiter.check_str("app", quiet).is_err());
    }

    #[test]
    fn a_refused_request_does_not_count() {
        let limiter = Limiter::<IpAddr>::new(Rate { count: 1, period: Duration::from_secs(1) });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let start = limiter.origin + Duration::from_secs(5);
        limiter.check(ip, start).unwrap();
        for _ in 0..100 {
            assert!(limiter.check(ip, start + Duration::from_millis(500)).is_err());
        }
        limiter.check(ip, start + Duration::from_secs(1)).unwrap();
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        assert_eq!(network_of("2001:db8:1:2:aaaa::1".parse().unwrap()), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        assert_eq!(network_of("::ffff:192.0.2.1".parse().unwrap()), "192.0.2.1".parse::<IpAddr>().unwrap());
        let limiters = Limiters::new(&RateLimits {
            token_per_ip: Some(Rate { count: 1, period: Duration::from_secs(60) }),
            ..RateLimits::default()
        });
        limiters.check(Endpoint::Token, None, Some("2001:db8:1:2::1".parse().unwrap())).unwrap();
        let refused = limiters.check(Endpoint::Token, None, Some("2001:db8:1:2::2".parse().unwrap())).unwrap_err();
        assert_eq!(refused.status.as_u16(), 429);
        assert!(refused.retry_after.is_some());
        limiters.check(Endpoint::Token, None, Some("2001:db8:1:3::1".parse().unwrap())).unwrap();
        // Introspection has its own (here: no) limit.
        limiters.check(Endpoint::Introspection, None, Some("2001:db8:1:2::1".parse().unwrap())).unwrap();
    }

    #[test]
    fn a_shard_full_of_empty_buckets_is_pruned() {
        let limiter = Limiter::<u32>::new(Rate { count: 1, period: Duration::from_secs(1) });
        let start = limiter.origin + Duration::from_secs(1);
        for key in 0..(PRUNE_AT as u32 * SHARDS as u32) {
            limiter.check(key, start).unwrap();
        }
        let later = start + Duration::from_secs(2);
        for key in 0..1000 {
            limiter.check(u32::MAX - key, later).unwrap();
        }
        let held: usize = limiter.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(held < PRUNE_AT * SHARDS, "expired buckets were dropped ({held} held)");
    }
}
