//! Active introspection answers, kept in memory so that a token presented again is not
//! introspected again (RFC 7662 §4 allows this, and asks that an answer is not used past
//! the token's `exp`).
//!
//! Keys are the SHA-256 of the token: the cache never holds a token itself. An entry lives
//! until the answer's `exp`, and at most `max_ttl` seconds, so that a token revoked at
//! Tessera stops being accepted after that long at the latest. At most `capacity` entries
//! are kept; a full cache first drops expired entries, then the oldest.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use sha2::{Digest, Sha256};

use crate::introspection::ActiveToken;

/// SHA-256 of an access token.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TokenKey([u8; 32]);

impl TokenKey {
    pub fn of(token: &str) -> TokenKey {
        TokenKey(Sha256::digest(token.as_bytes()).into())
    }
}

/// A bounded, expiring map from token hashes to active answers; safe to share.
pub struct TokenCache {
    capacity: usize,
    max_ttl: i64,
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    by_key: HashMap<TokenKey, Entry>,
    /// Insertion order: the first is the oldest.
    by_age: BTreeMap<u64, TokenKey>,
    /// (expires_at, age): the first expires soonest.
    by_expiry: BTreeSet<(i64, u64)>,
    next_age: u64,
}

struct Entry {
    token: ActiveToken,
    /// Unix time from which the entry is no longer used.
    expires_at: i64,
    age: u64,
}

impl TokenCache {
    /// A cache of at most `capacity` answers, each kept at most `max_ttl` seconds.
    pub fn new(capacity: usize, max_ttl: i64) -> TokenCache {
        TokenCache { capacity, max_ttl, entries: Mutex::new(Entries::default()) }
    }

    /// The cached answer for `key`, unless it has expired at `now` (unix seconds).
    pub fn get(&self, key: &TokenKey, now: i64) -> Option<ActiveToken> {
        let mut entries = self.lock();
        let expires_at = entries.by_key.get(key)?.expires_at;
        if expires_at <= now {
            entries.remove(key);
            return None;
        }
        entries.by_key.get(key).map(|entry| entry.token.clone())
    }

    /// Keeps `token` until its `exp`, and at most `max_ttl` seconds from `now`. An answer
    /// that has already expired at `now` is not kept.
    pub fn insert(&self, key: TokenKey, token: ActiveToken, now: i64) {
        let bound = now.saturating_add(self.max_ttl);
        let expires_at = token.exp.map_or(bound, |exp| exp.min(bound));
        if expires_at <= now || self.capacity == 0 {
            return;
        }
        let mut entries = self.lock();
        entries.remove(&key);
        if entries.by_key.len() >= self.capacity {
            entries.remove_expired(now);
        }
        while entries.by_key.len() >= self.capacity && entries.remove_oldest() {}
        let age = entries.next_age;
        entries.next_age += 1;
        entries.by_age.insert(age, key);
        entries.by_expiry.insert((expires_at, age));
        entries.by_key.insert(key, Entry { token, expires_at, age });
    }

    /// How many answers are kept (expired ones included until they are dropped).
    pub fn count(&self) -> usize {
        self.lock().by_key.len()
    }

    /// The map stays consistent even if a thread panicked while holding the lock: every
    /// change above completes before anything that could panic.
    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Entries {
    fn remove(&mut self, key: &TokenKey) {
        if let Some(entry) = self.by_key.remove(key) {
            self.by_age.remove(&entry.age);
            self.by_expiry.remove(&(entry.expires_at, entry.age));
        }
    }

    fn remove_expired(&mut self, now: i64) {
        while let Some(&(expires_at, age)) = self.by_expiry.first()
            && expires_at <= now
        {
            match self.by_age.get(&age).copied() {
                Some(key) => self.remove(&key),
                None => {
                    self.by_expiry.pop_first();
                }
            }
        }
    }

    /// Removes the oldest entry; false when there is none.
    fn remove_oldest(&mut self) -> bool {
        let Some(key) = self.by_age.first_key_value().map(|(_, key)| *key) else { return false };
        self.remove(&key);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn token(sub: &str, exp: Option<i64>) -> ActiveToken {
        ActiveToken {
            sub: Some(sub.into()),
            client_id: Some("machine".into()),
            scope: "orders-api".into(),
            exp,
            cnf: None,
            acr: None,
            auth_time: None,
        }
    }

    #[test]
    fn keys_are_the_sha256_of_the_token() {
        let key = TokenKey::of("abc");
        assert_eq!(key.0[..4], [0xba, 0x78, 0x16, 0xbf]);
    }

    #[test]
    fn an_answer_is_kept_until_its_exp() {
        let cache = TokenCache::new(10, 60);
        cache.insert(TokenKey::of("t"), token("a", Some(NOW + 30)), NOW);
        assert_eq!(cache.get(&TokenKey::of("t"), NOW + 29).unwrap().sub.as_deref(), Some("a"));
        assert!(cache.get(&TokenKey::of("t"), NOW + 30).is_none());
        assert_eq!(cache.count(), 0, "an expired entry is removed when it is looked up");
    }

    #[test]
    fn an_answer_is_kept_at_most_the_ttl() {
        let cache = TokenCache::new(10, 60);
        cache.insert(TokenKey::of("long"), token("a", Some(NOW + 3600)), NOW);
        cache.insert(TokenKey::of("no-exp"), token("b", None), NOW);
        assert!(cache.get(&TokenKey::of("long"), NOW + 59).is_some());
        assert!(cache.get(&TokenKey::of("long"), NOW + 60).is_none());
        assert!(cache.get(&TokenKey::of("no-exp"), NOW + 60).is_none());
    }

    #[test]
    fn an_answer_already_expired_is_not_kept() {
        let cache = TokenCache::new(10, 60);
        cache.insert(TokenKey::of("t"), token("a", Some(NOW)), NOW);
        assert_eq!(cache.count(), 0);
    }

    #[test]
    fn a_full_cache_drops_expired_entries_before_the_oldest() {
        let cache = TokenCache::new(3, 60);
        cache.insert(TokenKey::of("oldest"), token("1", Some(NOW + 50)), NOW);
        cache.insert(TokenKey::of("short"), token("2", Some(NOW + 5)), NOW);
        cache.insert(TokenKey::of("third"), token("3", Some(NOW + 50)), NOW);
        cache.insert(TokenKey::of("fourth"), token("4", Some(NOW + 50)), NOW + 10);
        assert_eq!(cache.count(), 3);
        assert!(cache.get(&TokenKey::of("oldest"), NOW + 10).is_some(), "the expired one went first");
        cache.insert(TokenKey::of("fifth"), token("5", Some(NOW + 50)), NOW + 10);
        assert_eq!(cache.count(), 3);
        assert!(cache.get(&TokenKey::of("oldest"), NOW + 10).is_none(), "then the oldest");
        for key in ["third", "fourth", "fifth"] {
            assert!(cache.get(&TokenKey::of(key), NOW + 10).is_some(), "{key}");
        }
    }

    #[test]
    fn inserting_a_key_again_replaces_its_entry() {
        let cache = TokenCache::new(2, 60);
        cache.insert(TokenKey::of("t"), token("a", Some(NOW + 10)), NOW);
        cache.insert(TokenKey::of("t"), token("b", Some(NOW + 40)), NOW);
        assert_eq!(cache.count(), 1);
        assert_eq!(cache.get(&TokenKey::of("t"), NOW + 20).unwrap().sub.as_deref(), Some("b"));
    }
}
