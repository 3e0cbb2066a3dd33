//! JWTs in JWS compact serialisation (RFC 7519, RFC 7515): signing with a [`Signer`] and
//! verifying against published keys. Verification refuses `alg: none`, any algorithm
//! not explicitly allowed, and any header algorithm other than the key's own
//! (algorithm confusion, RFC 8725 §3.1 and §3.2).

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Map, Value};
use tessera_domain::SigningAlgorithm;

use crate::signing::{KeyError, Signer, b64};

/// RFC 7519 §4.1.7: a new token's `jti`, unique across every token Tessera signs: a
/// UUIDv7 (time-ordered, the rest random) as 32 lowercase hex digits. The one place a
/// `jti` is made.
pub fn new_jti() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Signs `claims` as a JWT with header `{alg, kid, typ}` (RFC 9068 §2.1: `at+jwt` for
/// access tokens; `JWT` for ID tokens).
pub fn sign(signer: &Signer, typ: &str, claims: &impl Serialize) -> Result<String, KeyError> {
    #[derive(Serialize)]
    struct Header<'a> {
        alg: &'a str,
        kid: &'a str,
        typ: &'a str,
    }
    let header = serde_json::to_vec(&Header { alg: signer.alg().as_str(), kid: signer.kid(), typ })
        .map_err(|_| KeyError::Sign)?;
    let payload = serde_json::to_vec(claims).map_err(|_| KeyError::Sign)?;
    let mut token = String::with_capacity((header.len() + payload.len()) * 4 / 3 + 100);
    URL_SAFE_NO_PAD.encode_string(&header, &mut token);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
    let signature = signer.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&b64(&signature));
    Ok(token)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("not a JWS compact serialisation")]
    Malformed,
    #[error("algorithm {0:?} is not accepted here")]
    AlgorithmNotAllowed(String),
    #[error("no published key has kid {0:?}")]
    UnknownKey(String),
    #[error("the signature does not verify")]
    BadSignature,
}

/// A public key able to verify, parsed from a JWK.
#[derive(Debug, Clone)]
pub struct VerifyingKey {
    pub kid: String,
    pub alg: SigningAlgorithm,
    material: PublicMaterial,
}

#[derive(Debug, Clone)]
enum PublicMaterial {
    /// An EC P-256 point or an Ed25519 key, parsed once (aws-lc-rs validates the point
    /// when parsing; not at every verification).
    Parsed(ParsedPublicKey),
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
}

impl VerifyingKey {
    /// Reads a public JWK (`kty` EC/P-256, OKP/Ed25519 or RSA). `alg` is the algorithm
    /// the key is for: taken from the JWK's `alg` when present, else from `default_alg`.
    pub fn from_jwk(jwk: &Value, default_alg: Option<SigningAlgorithm>) -> Option<VerifyingKey> {
        let field = |name: &str| jwk.get(name).and_then(Value::as_str).and_then(|v| URL_SAFE_NO_PAD.decode(v).ok());
        let kid = jwk.get("kid").and_then(Value::as_str).unwrap_or_default().to_owned();
        let (alg, material) = match (jwk.get("kty")?.as_str()?, jwk.get("crv").and_then(Value::as_str)) {
            ("EC", Some("P-256")) => {
                let (x, y) = (field("x")?, field("y")?);
                if x.len() != 32 || y.len() != 32 {
                    return None;
                }
                let mut point = vec![4u8];
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                (
                    SigningAlgorithm::ES256,
                    PublicMaterial::Parsed(ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).ok()?),
                )
            }
            ("OKP", Some("Ed25519")) => {
                (SigningAlgorithm::EdDSA, PublicMaterial::Parsed(ParsedPublicKey::new(&ED25519, field("x")?).ok()?))
            }
            ("RSA", _) => (SigningAlgorithm::RS256, PublicMaterial::Rsa { n: field("n")?, e: field("e")? }),
            _ => return None,
        };
        let declared = match jwk.get("alg").and_then(Value::as_str) {
            Some(text) => Some(SigningAlgorithm::parse(text).ok()?),
            None => default_alg,
        };
        if declared.is_some_and(|d| d != alg) {
            return None;
        }
        Some(VerifyingKey { kid, alg, material })
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match (&self.material, self.alg) {
            (PublicMaterial::Parsed(key), SigningAlgorithm::ES256 | SigningAlgorithm::EdDSA) => {
                key.verify_sig(message, signature).is_ok()
            }
            (PublicMaterial::Rsa { n, e }, SigningAlgorithm::RS256) => {
                RsaPublicKeyComponents { n, e }.verify(&RSA_PKCS1_2048_8192_SHA256, message, signature).is_ok()
            }
            _ => false,
        }
    }
}

/// A verified JWT: its header algorithm and key, and its claims (not yet checked for
/// time, issuer or audience: that is the caller's rule to apply).
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub alg: SigningAlgorithm,
    pub kid: String,
    pub typ: Option<String>,
    pub claims: Map<String, Value>,
}

/// Verifies a JWT's signature with the key its header names, among `keys`, accepting
/// only the algorithms in `allowed`. A header without `kid` is accepted only when one
/// key of the header's algorithm could be meant.
pub fn verify(token: &str, keys: &[VerifyingKey], allowed: &[SigningAlgorithm]) -> Result<Verified, JwtError> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header: Map<String, Value> = decode_json(header_b64)?;
    let alg_text = header.get("alg").and_then(Value::as_str).ok_or(JwtError::Malformed)?;
    let alg = SigningAlgorithm::parse(alg_text)
        .ok()
        .filter(|a| allowed.contains(a))
        .ok_or_else(|| JwtError::AlgorithmNotAllowed(alg_text.chars().take(16).collect()))?;
    if header.get("crit").is_some() {
        // RFC 7515 §4.1.11: no extension is understood here.
        return Err(JwtError::Malformed);
    }
    let kid = header.get("kid").and_then(Value::as_str);
    let candidates: Vec<&VerifyingKey> =
        keys.iter().filter(|k| k.alg == alg && kid.is_none_or(|kid| k.kid == kid)).collect();
    let key = match (kid, candidates.as_slice()) {
        (_, [only]) => *only,
        (Some(kid), []) => return Err(JwtError::UnknownKey(kid.chars().take(64).collect())),
        _ => return Err(JwtError::UnknownKey(String::new())),
    };
    let signature = URL_SAFE_NO_PAD.decode(signature_b64).map_err(|_| JwtError::Malformed)?;
    let signing_input_len = header_b64.len() + 1 + payload_b64.len();
    let message = token.get(..signing_input_len).ok_or(JwtError::Malformed)?;
    if !key.verify(message.as_bytes(), &signature) {
        return Err(JwtError::BadSignature);
    }
    let claims: Map<String, Value> = decode_json(payload_b64)?;
    let typ = header.get("typ").and_then(Value::as_str).map(str::to_owned);
    Ok(Verified { alg, kid: key.kid.clone(), typ, claims })
}

/// RFC 9068 §4: a JWT access token this issuer signed and that is live at `now`: `typ`
/// `at+jwt`, signature by a published key, `iss` the issuer, `exp` in the future and
/// `nbf` in the past (each within `leeway` seconds). Revocation is the caller's check
/// (it needs the database).
pub fn verify_access_token(
    token: &str,
    keys: &[VerifyingKey],
    issuer: &str,
    now: i64,
    leeway: i64,
) -> Option<Verified> {
    let verified = verify(token, keys, SigningAlgorithm::ALL).ok()?;
    let time = |name: &str| verified.claims.get(name).and_then(Value::as_i64);
    let live = verified.typ.as_deref() == Some("at+jwt")
        && verified.claims.get("iss").and_then(Value::as_str) == Some(issuer)
        && time("exp").is_some_and(|exp| exp + leeway > now)
        && time("nbf").is_none_or(|nbf| nbf - leeway <= now);
    live.then_some(verified)
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, JwtError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::signing::generate;

    fn pair(alg: SigningAlgorithm) -> (Signer, VerifyingKey) {
        let key = generate(alg).unwrap();
        let signer = Signer::from_pkcs8(key.kid.clone(), alg, &key.pkcs8).unwrap();
        (signer, VerifyingKey::from_jwk(&key.public_jwk, None).unwrap())
    }

    #[test]
    fn tokens_of_every_algorithm_verify() {
        for alg in SigningAlgorithm::ALL {
            let (signer, public) = pair(*alg);
            let token = sign(&signer, "at+jwt", &json!({"sub": "alice", "n": 1})).unwrap();
            let verified = verify(&token, std::slice::from_ref(&public), SigningAlgorithm::ALL).unwrap();
            assert_eq!(verified.claims["sub"], "alice");
            assert_eq!(verified.alg, *alg);
            assert_eq!(verified.typ.as_deref(), Some("at+jwt"));
            assert_eq!(verified.kid, signer.kid());
        }
    }

    #[test]
    fn alg_none_and_unlisted_algorithms_are_refused() {
        let (signer, public) = pair(SigningAlgorithm::ES256);
        let token = sign(&signer, "JWT", &json!({"sub": "a"})).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let none_header = b64(br#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("{none_header}.{payload}.");
        assert_eq!(
            verify(&unsigned, std::slice::from_ref(&public), SigningAlgorithm::ALL),
            Err(JwtError::AlgorithmNotAllowed("none".into()))
        );
        assert!(matches!(
            verify(&token, std::slice::from_ref(&public), &[SigningAlgorithm::RS256]),
            Err(JwtError::AlgorithmNotAllowed(_))
        ));
    }

    #[test]
    fn a_header_claiming_another_algorithm_than_the_key_is_refused() {
        let (signer, public) = pair(SigningAlgorithm::ES256);
        let token = sign(&signer, "JWT", &json!({"sub": "a"})).unwrap();
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = b64(format!(r#"{{"alg":"EdDSA","kid":"{}"}}"#, signer.kid()).as_bytes());
        parts[0] = &forged;
        let forged_token = parts.join(".");
        assert!(verify(&forged_token, std::slice::from_ref(&public), SigningAlgorithm::ALL).is_err());
    }

    #[test]
    fn tampered_payload_or_foreign_key_fails() {
        let (signer, public) = pair(SigningAlgorithm::EdDSA);
        let token = sign(&signer, "JWT", &json!({"sub": "a"})).unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = b64(br#"{"sub":"mallory"}"#);
        assert_eq!(
            verify(&parts.join("."), std::slice::from_ref(&public), SigningAlgorithm::ALL),
            Err(JwtError::BadSignature)
        );
        let (_, other) = pair(SigningAlgorithm::EdDSA);
        assert!(matches!(verify(&token, &[other], SigningAlgorithm::ALL), Err(JwtError::UnknownKey(_))));
    }

    #[test]
    fn garbage_is_malformed_never_a_panic() {
        let (_, public) = pair(SigningAlgorithm::ES256);
        for garbage in ["", ".", "..", "a.b.c", "a.b.c.d", "eyJ.eyJ.", "\u{0}.\u{1}.\u{2}", "ééé.ééé.ééé"] {
            assert!(verify(garbage, std::slice::from_ref(&public), SigningAlgorithm::ALL).is_err(), "{garbage:?}");
        }
    }

    #[test]
    fn a_jwk_whose_alg_contradicts_its_key_type_is_refused() {
        let key = generate(SigningAlgorithm::ES256).unwrap();
        let mut jwk = key.public_jwk.clone();
        jwk["alg"] = json!("RS256");
        assert!(VerifyingKey::from_jwk(&jwk, None).is_none());
        assert!(VerifyingKey::from_jwk(&json!({"kty": "oct", "k": "AAAA"}), None).is_none());
    }
}
