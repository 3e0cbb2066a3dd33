//! The shared state: the introspection client, the cache and the scope `/protected` needs.

use crate::StartError;
use crate::cache::{TokenCache, TokenKey};
use crate::config::Config;
use crate::error::ApiError;
use crate::introspection::{ActiveToken, Introspection, Introspector};

/// At most this many active answers are cached.
pub const CACHE_CAPACITY: usize = 10_000;
/// An answer is cached until the token's `exp`, but never longer than this many seconds:
/// the longest a token revoked at Tessera can still be accepted here.
pub const CACHE_MAX_TTL: i64 = 60;

pub struct AppState {
    required_scope: String,
    /// The URL DPoP proofs name for `/protected`.
    pub protected_url: String,
    /// The DPoP proofs accepted while fresh.
    pub seen_proofs: crate::dpop::SeenProofs,
    /// RFC 9728: the metadata document served at its well-known path, if configured.
    pub resource_metadata: Option<crate::config::ResourceMetadata>,
    /// RFC 9470: what each route needs of the user's authentication.
    step_up: Vec<(String, crate::step_up::Rule)>,
    introspector: Introspector,
    cache: TokenCache,
}

impl AppState {
    pub fn new(config: &Config) -> Result<AppState, StartError> {
        Ok(AppState {
            required_scope: config.required_scope.clone(),
            protected_url: format!("{}/protected", config.public_url),
            seen_proofs: crate::dpop::SeenProofs::default(),
            resource_metadata: config.resource_metadata.clone(),
            step_up: config.step_up.clone(),
            introspector: Introspector::new(config)?,
            cache: TokenCache::new(CACHE_CAPACITY, CACHE_MAX_TTL),
        })
    }

    /// RFC 9728 §5.1: the metadata URL 401 answers name, if there is a document.
    pub fn resource_metadata_url(&self) -> Option<&str> {
        self.resource_metadata.as_ref().map(|m| m.url.as_str())
    }

    /// How many times Tessera was asked (cache hits do not count).
    pub fn introspection_calls(&self) -> u64 {
        self.introspector.calls()
    }

    /// How many active answers are cached.
    pub fn cached_tokens(&self) -> usize {
        self.cache.count()
    }

    /// The active token carrying the required scope, from the cache or from Tessera.
    ///
    /// Inactive answers are not cached: a token Tessera has just issued must not be
    /// refused because an earlier look-up, before it existed, said no.
    pub async fn authorize(&self, token: &str) -> Result<ActiveToken, ApiError> {
        let active = self.active_token(token).await?;
        if !active.has_scope(&self.required_scope) {
            return Err(ApiError::InsufficientScope(self.required_scope.clone()));
        }
        Ok(active)
    }

    /// RFC 9470 §3: whether the user's authentication behind `active` is strong and recent
    /// enough for `path` (checked on every call, cached answers included: recency passes).
    pub fn check_step_up(&self, path: &str, active: &ActiveToken, now: i64) -> Result<(), ApiError> {
        match self.step_up.iter().find(|(route, _)| route == path) {
            None => Ok(()),
            Some((_, rule)) => rule
                .check(active.acr.as_deref(), active.auth_time, now)
                .map_err(ApiError::InsufficientUserAuthentication),
        }
    }

    async fn active_token(&self, token: &str) -> Result<ActiveToken, ApiError> {
        let key = TokenKey::of(token);
        if let Some(active) = self.cache.get(&key, unix_now()) {
            return Ok(active);
        }
        match self.introspector.introspect(token).await {
            Ok(Introspection::Active(active)) => {
                self.cache.insert(key, active.clone(), unix_now());
                Ok(active)
            }
            Ok(Introspection::Inactive) => Err(ApiError::InvalidToken),
            Err(error) => {
                tracing::warn!(%error, "cannot validate an access token");
                Err(ApiError::Unavailable)
            }
        }
    }
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
