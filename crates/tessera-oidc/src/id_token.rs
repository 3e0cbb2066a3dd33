//! ID tokens (OIDC Core §2, §3.1.3.6): `iss sub aud exp iat auth_time nonce sid amr azp`,
//! `at_hash`, and the claims of the granted identity scopes; and reading them back as
//! `id_token_hint`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256, Sha512};
use tessera_domain::SigningAlgorithm;

use crate::error::OAuthError;
use crate::state::OidcState;

/// What an ID token says about an authentication.
pub struct IdTokenInput<'a> {
    pub client_id: &'a str,
    pub sub: &'a str,
    pub auth_time: Option<i64>,
    pub nonce: Option<&'a str>,
    pub sid: Option<&'a str>,
    pub amr: &'a [String],
    /// The access token issued with it, for `at_hash`.
    pub access_token: Option<&'a str>,
    /// Claims of the granted identity scopes (from the domain's assembly).
    pub claims: Map<String, Value>,
    pub lifetime: i64,
    pub alg: SigningAlgorithm,
}

pub fn mint(state: &OidcState, input: &IdTokenInput<'_>, now: i64) -> Result<String, OAuthError> {
    let mut claims = input.claims.clone();
    claims.insert("iss".into(), Value::String(state.issuer.clone()));
    claims.insert("sub".into(), Value::String(input.sub.to_owned()));
    claims.insert("aud".into(), Value::String(input.client_id.to_owned()));
    claims.insert("azp".into(), Value::String(input.client_id.to_owned()));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + input.lifetime));
    if let Some(auth_time) = input.auth_time {
        claims.insert("auth_time".into(), json!(auth_time));
    }
    if let Some(nonce) = input.nonce {
        claims.insert("nonce".into(), Value::String(nonce.to_owned()));
    }
    if let Some(sid) = input.sid {
        claims.insert("sid".into(), Value::String(sid.to_owned()));
    }
    if !input.amr.is_empty() {
        claims.insert("amr".into(), json!(input.amr));
    }
    if let Some(token) = input.access_token {
        claims.insert("at_hash".into(), Value::String(token_hash(input.alg, token)));
    }
    let keys = state.keys.current();
    let signer = keys.signer(input.alg).ok_or_else(|| {
        tracing::error!(alg = %input.alg, "no active signing key");
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
pub fn hinted_subject(state: &OidcState, hint: &str, client_id: &str, _now: i64) -> Option<String> {
    let claims = verified_id_token(state, hint)?;
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == client_id,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(client_id)),
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
