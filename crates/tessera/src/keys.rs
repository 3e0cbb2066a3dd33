//! Signing keys over time: generated at first start, rotated on demand, activated once
//! every node has had time to publish them, and withdrawn from the JWKS once every token
//! they signed has expired. Each node reloads its key set from the database on a timer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;
use tessera_domain::SigningAlgorithm;
use tessera_store::audit::{self, NewAuditEvent};
use tessera_store::keys::{self, KeyState, NewSigningKey};
use tessera_store::{Store, StoreError};
use tessera_tokens::{KeySet, LoadedKey, MasterKey, SharedKeySet};

/// How long a retired key stays published: the longest a JWT Tessera signs may live (the
/// upper bound of access and ID token lifetimes) plus five minutes of clock skew.
pub const RETIRED_KEY_PUBLISHED_FOR: i64 = tessera_domain::lifetime::ACCESS_TOKEN_BOUNDS.1 + 300;

#[derive(Debug, thiserror::Error)]
pub enum KeyManagementError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Crypto(String),
}

fn context(kid: &str) -> String {
    format!("signing_key:{kid}")
}

/// A new key of `alg`, its private half encrypted with the master key.
fn new_key(
    master_key: &MasterKey,
    alg: SigningAlgorithm,
    state: KeyState,
) -> Result<NewSigningKey, KeyManagementError> {
    let generated = tessera_tokens::signing::generate(alg).map_err(|e| KeyManagementError::Crypto(e.to_string()))?;
    let private_key = master_key
        .encrypt(&generated.pkcs8, &context(&generated.kid))
        .map_err(|e| KeyManagementError::Crypto(e.to_string()))?;
    Ok(NewSigningKey {
        kid: generated.kid,
        alg: alg.as_str().to_owned(),
        state,
        private_key,
        public_jwk: generated.public_jwk,
        publish_until: None,
    })
}

/// Gives every algorithm an active key if it has none (first start). Returns the kids
/// created.
pub fn ensure_signing_keys(store: &Store, master_key: &MasterKey, now: i64) -> Result<Vec<String>, KeyManagementError> {
    let mut created = Vec::new();
    for alg in SigningAlgorithm::ALL {
        if store.read_transaction(|c| keys::active(c, alg.as_str()))?.is_some() {
            continue;
        }
        let key = new_key(master_key, *alg, KeyState::Active)?;
        let inserted = store.write_transaction(|c| {
            if keys::active(c, alg.as_str())?.is_some() {
                return Ok(None);
            }
            let key = keys::insert(c, &key, now)?;
            audit::record(c, &key_event("signing_key.create", &key.kid, &key.alg, "active"), now)?;
            Ok(Some(key.kid))
        })?;
        created.extend(inserted);
    }
    Ok(created)
}

fn key_event<'a>(action: &'a str, kid: &'a str, alg: &str, state: &str) -> NewAuditEvent<'a> {
    NewAuditEvent {
        actor: "system",
        action,
        target: kid,
        summary: json!({ "alg": alg, "state": state }),
        client_ip: None,
    }
}

/// Starts a rotation: a new key of `alg` in state `next`, published at once and
/// activated by the nodes after `activation_delay` (or immediately with `now_active`,
/// for a compromised key: nodes that have not yet reloaded may then briefly sign with a
/// key that other nodes do not publish yet).
pub fn rotate(
    store: &Store,
    master_key: &MasterKey,
    alg: SigningAlgorithm,
    now_active: bool,
    actor: &str,
    now: i64,
) -> Result<String, KeyManagementError> {
    let key = new_key(master_key, alg, KeyState::Next)?;
    Ok(store.write_transaction(|c| {
        let inserted = keys::insert(c, &key, now)?;
        let mut event = key_event("signing_key.rotate", &inserted.kid, &inserted.alg, "next");
        event.actor = actor;
        audit::record(c, &event, now)?;
        if now_active {
            keys::activate(c, &inserted.kid, now + RETIRED_KEY_PUBLISHED_FOR, now)?;
            let mut event = key_event("signing_key.activate", &inserted.kid, &inserted.alg, "active");
            event.actor = actor;
            audit::record(c, &event, now)?;
        }
        Ok(inserted.kid)
    })?)
}

/// Activates every `next` key whose activation delay has passed (retiring the key it
/// replaces) and deletes keys no longer published. Safe to run on every node.
pub fn advance(store: &Store, activation_delay: i64, now: i64) -> Result<(), KeyManagementError> {
    let due: Vec<String> = store
        .read_transaction(keys::list)?
        .into_iter()
        .filter(|k| k.state == KeyState::Next && k.created_at + activation_delay <= now)
        .map(|k| k.kid)
        .collect();
    for kid in due {
        store.write_transaction(|c| {
            let key = keys::get(c, &kid)?;
            if key.state != KeyState::Next {
                return Ok(());
            }
            keys::activate(c, &kid, now + RETIRED_KEY_PUBLISHED_FOR, now)?;
            audit::record(c, &key_event("signing_key.activate", &kid, &key.alg, "active"), now)?;
            Ok(())
        })?;
    }
    store.write_transaction(|c| keys::delete_unpublished(c, now))?;
    Ok(())
}

/// Builds the key set from the database: every published key, and the private half of
/// each active one.
pub fn load(store: &Store, master_key: &MasterKey, now: i64) -> Result<KeySet, KeyManagementError> {
    let published = store.read_transaction(|c| keys::publishable(c, now))?;
    let mut loaded = Vec::with_capacity(published.len());
    for key in published {
        let alg = SigningAlgorithm::parse(&key.alg).map_err(|e| KeyManagementError::Crypto(e.to_string()))?;
        let signing_pkcs8 = match key.state {
            KeyState::Active => Some(
                master_key
                    .decrypt(&key.private_key, &context(&key.kid))
                    .map_err(|e| KeyManagementError::Crypto(format!("signing key {}: {e}", key.kid)))?,
            ),
            _ => None,
        };
        loaded.push(LoadedKey { kid: key.kid, alg, signing_pkcs8, public_jwk: key.public_jwk });
    }
    KeySet::new(loaded).map_err(|e| KeyManagementError::Crypto(e.to_string()))
}

/// How often each node deletes expired codes, tokens, sessions and requests.
const PURGE_EVERY: Duration = Duration::from_secs(300);

/// Reloads the node's keys every `interval` until `stop` is set, and every
/// [`PURGE_EVERY`] removes what has expired.
pub fn spawn_refresher(
    store: Store,
    master_key: Arc<MasterKey>,
    shared: SharedKeySet,
    activation_delay: i64,
    interval: Duration,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let tick = Duration::from_millis(100).min(interval);
        let mut waited = Duration::ZERO;
        let mut since_purge = Duration::ZERO;
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(tick);
            waited += tick;
            if waited < interval {
                continue;
            }
            since_purge += waited;
            waited = Duration::ZERO;
            let now = crate::now();
            if since_purge >= PURGE_EVERY {
                since_purge = Duration::ZERO;
                match store.write_transaction(|c| tessera_store::purge::purge_expired(c, now)) {
                    Ok(counts) if counts.total() > 0 => {
                        tracing::info!(removed = counts.total(), "purged expired tokens and codes")
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "purging expired tokens failed"),
                }
            }
            let result = advance(&store, activation_delay, now).and_then(|()| load(&store, &master_key, now));
            match result {
                Ok(keys) => shared.replace(keys),
                Err(error) => tracing::warn!(%error, "reloading signing keys failed; keeping the current ones"),
            }
        }
    })
}
