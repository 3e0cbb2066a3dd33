//! What the protocol endpoints share, built once at start.

use tessera_store::Store;
use tessera_tokens::SharedKeySet;

/// The protocol app's state.
#[derive(Clone)]
pub struct OidcState {
    pub store: Store,
    pub keys: SharedKeySet,
    /// The issuer identifier, without a trailing slash (OIDC Discovery §3).
    pub issuer: String,
}

impl OidcState {
    pub fn new(store: Store, keys: SharedKeySet, issuer: &str) -> OidcState {
        OidcState { store, keys, issuer: issuer.trim_end_matches('/').to_owned() }
    }

    /// An absolute URL of this issuer.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

/// The current time in unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
