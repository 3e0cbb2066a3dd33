//! DPoP (RFC 9449) at Tessera's endpoints: the `DPoP` header read once per request, its
//! proof checked (`tessera_tokens::dpop`), its `jti` recorded once (the store's replay
//! guard), and the server nonce demanded when the `dpop_nonce_required` setting is on.
//! A request without the header costs nothing here.

use actix_web::HttpRequest;
use sha2::{Digest, Sha256};
use tessera_tokens::dpop::{self, DpopError, Expected, NonceKey, Proof};

use crate::error::OAuthError;
use crate::state::OidcState;

/// The request header carrying a proof (§4.1).
pub const HEADER: &str = "DPoP";
/// The response header carrying a server nonce (§8.1).
pub const NONCE_HEADER: &str = "DPoP-Nonce";

/// The server's DPoP settings, built once at start.
#[derive(Debug, Clone)]
pub struct DpopSettings {
    /// Stateless nonces; every node with the same master key shares the key.
    pub nonces: NonceKey,
    /// §8, §9: proofs must carry a nonce this server issued.
    pub nonce_required: bool,
}

/// The `DPoP` header: `None` when absent; more than one, or one not text, is a
/// malformed proof (§4.3 check 1).
pub fn header(request: &HttpRequest) -> Result<Option<String>, DpopError> {
    let mut values = request.headers().get_all(HEADER);
    let Some(first) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(DpopError::Malformed);
    }
    first.to_str().map(|v| Some(v.trim().to_owned())).map_err(|_| DpopError::Malformed)
}

/// Checks `proof` against the request it came with (§4.3), then the server nonce when
/// one is required, then records its `jti` (scoped to its key) as used: a replay is
/// refused. Nothing is recorded for a proof refused on any other ground.
pub fn check(state: &OidcState, proof: &str, expected: &Expected<'_>) -> Result<Proof, Refused> {
    let proof = dpop::verify_proof(proof, expected).map_err(Refused::Proof)?;
    if state.dpop.nonce_required {
        match proof.nonce.as_deref() {
            None => return Err(Refused::Proof(DpopError::NonceRequired)),
            Some(nonce) if !state.dpop.nonces.accepts(nonce, expected.now) => {
                return Err(Refused::Proof(DpopError::BadNonce));
            }
            Some(_) => {}
        }
    }
    let hash = replay_key(&proof);
    // Accepted while `iat` is within the window: recorded that long.
    let expires_at = proof.iat + dpop::IAT_WINDOW + 1;
    let fresh = state.store.write_statement(|c| tessera_store::dpop_proofs::record(c, &hash, expires_at));
    match fresh {
        Ok(true) => Ok(proof),
        Ok(false) => Err(Refused::Replayed),
        Err(error) => Err(Refused::Store(error.into())),
    }
}

/// The stored form of a proof's identity: SHA-256 of its key's thumbprint and its `jti`
/// (§11.1: a `jti` is unique per key, so another key's proofs cannot take it).
fn replay_key(proof: &Proof) -> String {
    let mut digest = Sha256::new();
    digest.update(proof.jkt.as_bytes());
    digest.update(b".");
    digest.update(proof.jti.as_bytes());
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, digest.finalize())
}

/// Why a proof was refused.
#[derive(Debug)]
pub enum Refused {
    Proof(DpopError),
    Replayed,
    Store(OAuthError),
}

impl Refused {
    /// RFC 9449 §5 and §8: the token endpoint's error.
    pub fn at_token_endpoint(self) -> OAuthError {
        match self {
            Refused::Proof(e) if e.wants_nonce() => OAuthError::use_dpop_nonce(e.to_string()),
            Refused::Proof(e) => OAuthError::invalid_dpop_proof(e.to_string()),
            Refused::Replayed => OAuthError::invalid_dpop_proof("the DPoP proof was already used"),
            Refused::Store(e) => e,
        }
    }
}
