//! ID tokens (OIDC Core §2, §3.1.3.6): `iss sub aud exp iat auth_time nonce sid amr azp`,
//! `at_hash`, and the claims of the granted identity scopes; and reading them back as
//! `id_token_hint`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha512};
use tessera_domain::{ClientId, SigningAlgorithm};

use crate::error::OAuthError;
use crate::state::OidcState;

/// Signs an ID token of `claims` (built with `tessera_domain::id_token_claims`), adding
/// `at_hash` for the access token issued with it.
pub fn mint(
    state: &OidcState,
    mut claims: Map<String, Value>,
    access_token: &str,
    alg: SigningAlgorithm,
) -> Result<String, OAuthError> {
    claims.insert("at_hash".into(), Value::String(token_hash(alg, access_token)));
    let keys = state.keys.current();
    let signer = keys.signer(alg).ok_or_else(|| {
        tracing::error!(%alg, "no active signing key");
        OAuthError::server_error()
    })?;
    tessera_tokens::jwt::sign(signer, "JWT", &claims).map_err(|e| {
        tracing::error!(error = %e, "signing an ID token failed");
        OAuthError::server_error()
    })
}

/// OIDC Core §3.1.3.6: the left half of the hash of the token, with the hash of the
/// signing algorithm (SHA-256 for ES256 and RS256; SHA-512 for EdDSA with Ed25519).
pub fn token_hash(alg: SigningAlgorithm, token: &str) -> String {
    let digest: Vec<u8> = match alg {
        SigningAlgorithm::EdDSA => Sha512::digest(token.as_bytes()).to_vec(),
        SigningAlgorithm::ES256 | SigningAlgorithm::RS256 => Sha256::digest(token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// OIDC Core §3.1.2.1 `id_token_hint`: the `sub` of an ID token Tessera signed for this
/// client. Expiry does not matter here (the hint may be old); the signature, issuer and
/// audience do.
pub fn hinted_subject(state: &OidcState, hint: &str, client_id: &ClientId, _now: i64) -> Option<String> {
    let claims = verified_id_token(state, hint)?;
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => client_id == aud.as_str(),
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(client_id.as_str())),
        _ => false,
    };
    if !audience_ok {
        return None;
    }
    claims.get("sub").and_then(Value::as_str).map(str::to_owned)
}

/// The claims of an ID token Tessera signed (any published key, `typ` JWT, our issuer).
pub fn verified_id_token(state: &OidcState, token: &str) -> Option<Map<String, Value>> {
    let keys = state.keys.current();
    let verified = tessera_tokens::jwt::verify(token, keys.verifying_keys(), SigningAlgorithm::ALL).ok()?;
    if verified.typ.as_deref().is_some_and(|t| t != "JWT") {
        return None;
    }
    if verified.claims.get("iss").and_then(Value::as_str) != Some(state.issuer.as_str()) {
        return None;
    }
    Some(verified.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_the_oidc_core_example() {
        // OIDC Core §A.3 (RS256): access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y".
        assert_eq!(
            token_hash(SigningAlgorithm::RS256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
