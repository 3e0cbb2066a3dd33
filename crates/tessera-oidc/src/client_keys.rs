//! The public keys of an application, which verify its `private_key_jwt` client
//! assertions (RFC 7523) and its signed request objects (RFC 9101): registered inline
//! (`jwks`) or published at its `jwks_uri` (RFC 7591 §2), never both.
//!
//! A `jwks_uri` is fetched through the outbound guard (`tessera_outbound::fetch`: https,
//! public addresses unless the operator lists the host, no redirects, bounded time and
//! size) when first needed, and kept in this node's memory for the answer's
//! `Cache-Control: max-age`, within [`MIN_TTL`] and [`MAX_TTL`] ([`DEFAULT_TTL`] without
//! one). A signature whose `kid` names no key held means the client may have rotated
//! its keys: the set is fetched again at once, at most once per [`REFETCH_INTERVAL`] per
//! URL (so unknown `kid`s cannot turn into a stream of requests to the client's server),
//! and the signature checked once more. A set that cannot be fetched, or that is not a
//! JWK Set of public keys, verifies nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tessera_domain::SigningAlgorithm;
use tessera_outbound::{DocumentFetcher, OutboundError};
use tessera_store::applications::Application;
use tessera_tokens::jwt::{self, JwtError, Verified, VerifyingKey};

/// Seconds a fetched key set is kept at least, whatever its `Cache-Control` says.
pub const MIN_TTL: u64 = 60;
/// Seconds a fetched key set is kept at most.
pub const MAX_TTL: u64 = 3600;
/// Seconds a fetched key set is kept when its answer gives no `max-age`.
pub const DEFAULT_TTL: u64 = 300;
/// The shortest time between two fetches of one URL caused by unknown `kid`s.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(1);
/// The most key sets kept; past it the oldest go first.
const CAPACITY: usize = 1000;

/// Why a JWT of an application could not be verified.
#[derive(Debug)]
pub enum KeyFailure {
    /// The application registered no keys.
    NoKeys,
    /// Its `jwks_uri` could not be fetched, or did not hold a JWK Set of public keys.
    Unavailable(String),
    /// The JWT itself was refused with the keys held.
    Jwt(JwtError),
}

struct Entry {
    keys: Arc<Vec<VerifyingKey>>,
    fetched: Instant,
    expires: Instant,
}

/// The key sets fetched from `jwks_uri`s, shared by this node's workers.
pub struct ClientKeys {
    fetcher: Arc<DocumentFetcher>,
    cache: Mutex<HashMap<String, Entry>>,
}

impl ClientKeys {
    pub fn new(fetcher: Arc<DocumentFetcher>) -> ClientKeys {
        ClientKeys { fetcher, cache: Mutex::new(HashMap::new()) }
    }

    /// Verifies `token` (a JWS the application signed) with the application's keys,
    /// fetching them again once if it names a key not held. Blocking: it may fetch.
    pub fn verify(&self, app: &Application, token: &str) -> Result<Verified, KeyFailure> {
        if let Some(jwks) = &app.settings.jwks {
            let keys = parse_keys(jwks);
            if keys.is_empty() {
                return Err(KeyFailure::NoKeys);
            }
            return jwt::verify(token, &keys, SigningAlgorithm::ALL).map_err(KeyFailure::Jwt);
        }
        let Some(uri) = app.settings.jwks_uri.as_deref() else { return Err(KeyFailure::NoKeys) };
        let (keys, fresh) = self.keys_of(uri, false)?;
        match jwt::verify(token, &keys, SigningAlgorithm::ALL) {
            Err(JwtError::UnknownKey(_)) if !fresh => {
                let (keys, _) = self.keys_of(uri, true)?;
                jwt::verify(token, &keys, SigningAlgorithm::ALL).map_err(KeyFailure::Jwt)
            }
            other => other.map_err(KeyFailure::Jwt),
        }
    }

    /// The keys published at `uri`, and whether they were fetched by this call. With
    /// `refetch`, the held set is replaced unless it is younger than
    /// [`REFETCH_INTERVAL`].
    fn keys_of(&self, uri: &str, refetch: bool) -> Result<(Arc<Vec<VerifyingKey>>, bool), KeyFailure> {
        let now = Instant::now();
        {
            let mut cache = self.cache.lock().map_err(|_| KeyFailure::Unavailable("key cache poisoned".into()))?;
            if let Some(entry) = cache.get_mut(uri) {
                let live = now < entry.expires;
                let recent = now.duration_since(entry.fetched) < REFETCH_INTERVAL;
                if live && (!refetch || recent) {
                    return Ok((entry.keys.clone(), false));
                }
                // Claim the fetch: concurrent callers keep the held set meanwhile.
                if live {
                    entry.fetched = now;
                }
            }
        }
        Ok((Arc::new(self.fetch(uri)?), true))
    }

    /// Fetches and parses the set at `uri`, and keeps it for its lifetime.
    fn fetch(&self, uri: &str) -> Result<Vec<VerifyingKey>, KeyFailure> {
        let url = url::Url::parse(uri).map_err(|e| KeyFailure::Unavailable(format!("{uri}: {e}")))?;
        let fetched = self
            .fetcher
            .get(&url, "application/jwk-set+json, application/json")
            .map_err(|e| KeyFailure::Unavailable(describe(&e)))?;
        if fetched.status != 200 {
            return Err(KeyFailure::Unavailable(format!("{uri} answered {}", fetched.status)));
        }
        let jwks: Value = serde_json::from_slice(&fetched.body)
            .map_err(|_| KeyFailure::Unavailable(format!("{uri} did not answer a JSON JWK Set")))?;
        tessera_domain::check_jwks(&jwks).map_err(|e| KeyFailure::Unavailable(format!("{uri}: {e}")))?;
        let keys = parse_keys(&jwks);
        let ttl = match (fetched.no_store, fetched.max_age) {
            (true, _) => MIN_TTL,
            (false, Some(max_age)) => max_age.clamp(MIN_TTL, MAX_TTL),
            (false, None) => DEFAULT_TTL,
        };
        let now = Instant::now();
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CAPACITY && !cache.contains_key(uri) {
                let oldest = cache.iter().min_by_key(|(_, e)| e.fetched).map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    cache.remove(&oldest);
                }
            }
            let entry = Entry { keys: Arc::new(keys.clone()), fetched: now, expires: now + Duration::from_secs(ttl) };
            cache.insert(uri.to_owned(), entry);
        }
        Ok(keys)
    }
}

/// The verifying keys of a JWK Set (keys of unknown types are skipped).
fn parse_keys(jwks: &Value) -> Vec<VerifyingKey> {
    jwks.get("keys")
        .and_then(Value::as_array)
        .map(|keys| keys.iter().filter_map(|k| VerifyingKey::from_jwk(k, None)).collect())
        .unwrap_or_default()
}

fn describe(error: &OutboundError) -> String {
    match error {
        OutboundError::Refused(why) => format!("refused by the outbound guard: {why}"),
        other => other.to_string(),
    }
}
