//! Signing keys: generated per algorithm (ES256 on P-256, EdDSA on Ed25519, RS256 with
//! 2048-bit RSA), kept as PKCS#8, parsed once into a [`Signer`] that signs JWS compact
//! serialisations, and published as JWKs (RFC 7517) whose `kid` is the RFC 7638
//! thumbprint.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tessera_domain::SigningAlgorithm;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("generating a {0} key failed")]
    Generate(SigningAlgorithm),
    #[error("the stored {0} key is not a valid PKCS#8 key of that algorithm")]
    Parse(SigningAlgorithm),
    #[error("signing failed")]
    Sign,
}

/// A freshly generated key: its private half as PKCS#8 (to encrypt and store) and its
/// public JWK.
pub struct GeneratedKey {
    pub kid: String,
    pub alg: SigningAlgorithm,
    pub pkcs8: Vec<u8>,
    pub public_jwk: Value,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey").field("kid", &self.kid).field("alg", &self.alg).finish_non_exhaustive()
    }
}

/// Generates a new key of `alg`.
pub fn generate(alg: SigningAlgorithm) -> Result<GeneratedKey, KeyError> {
    let rng = SystemRandom::new();
    let pkcs8 = match alg {
        SigningAlgorithm::ES256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map(|doc| doc.as_ref().to_vec())
            .map_err(|_| KeyError::Generate(alg))?,
        SigningAlgorithm::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng)
            .map(|doc| doc.as_ref().to_vec())
            .map_err(|_| KeyError::Generate(alg))?,
        SigningAlgorithm::RS256 => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Generate(alg))?;
            let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> = pair.as_der().map_err(|_| KeyError::Generate(alg))?;
            der.as_ref().to_vec()
        }
    };
    let signer = Signer::from_pkcs8(String::new(), alg, &pkcs8)?;
    let public_jwk = signer.public_jwk_without_kid();
    let kid = thumbprint(&public_jwk);
    let mut public_jwk = public_jwk;
    if let Value::Object(map) = &mut public_jwk {
        map.insert("kid".into(), Value::String(kid.clone()));
        map.insert("alg".into(), Value::String(alg.as_str().into()));
        map.insert("use".into(), Value::String("sig".into()));
    }
    Ok(GeneratedKey { kid, alg, pkcs8, public_jwk })
}

enum PrivateKey {
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

/// A private key parsed once, ready to sign.
pub struct Signer {
    kid: String,
    alg: SigningAlgorithm,
    key: PrivateKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("kid", &self.kid).field("alg", &self.alg).finish_non_exhaustive()
    }
}

impl Signer {
    pub fn from_pkcs8(kid: String, alg: SigningAlgorithm, pkcs8: &[u8]) -> Result<Signer, KeyError> {
        let key = match alg {
            SigningAlgorithm::ES256 => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                .map(PrivateKey::Ec)
                .map_err(|_| KeyError::Parse(alg))?,
            SigningAlgorithm::EdDSA => {
                Ed25519KeyPair::from_pkcs8(pkcs8).map(PrivateKey::Ed).map_err(|_| KeyError::Parse(alg))?
            }
            SigningAlgorithm::RS256 => {
                RsaKeyPair::from_pkcs8(pkcs8).map(PrivateKey::Rsa).map_err(|_| KeyError::Parse(alg))?
            }
        };
        Ok(Signer { kid, alg, key, rng: SystemRandom::new() })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> SigningAlgorithm {
        self.alg
    }

    /// RFC 7515 §5.1: the signature over the JWS signing input.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.key {
            PrivateKey::Ec(pair) => {
                pair.sign(&self.rng, message).map(|s| s.as_ref().to_vec()).map_err(|_| KeyError::Sign)
            }
            PrivateKey::Ed(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            PrivateKey::Rsa(pair) => {
                let mut signature = vec![0u8; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut signature).map_err(|_| KeyError::Sign)?;
                Ok(signature)
            }
        }
    }

    /// The public key as a JWK holding only the required members (RFC 7638 §3.2).
    pub fn public_jwk_without_kid(&self) -> Value {
        match &self.key {
            PrivateKey::Ec(pair) => {
                // SEC 1 uncompressed point: 0x04 || x (32 bytes) || y (32 bytes).
                let point = pair.public_key().as_ref();
                let x = point.get(1..33).unwrap_or_default();
                let y = point.get(33..65).unwrap_or_default();
                json!({ "crv": "P-256", "kty": "EC", "x": b64(x), "y": b64(y) })
            }
            PrivateKey::Ed(pair) => json!({ "crv": "Ed25519", "kty": "OKP", "x": b64(pair.public_key().as_ref()) }),
            PrivateKey::Rsa(pair) => {
                let public = pair.public_key();
                json!({
                    "e": b64(public.exponent().big_endian_without_leading_zero()),
                    "kty": "RSA",
                    "n": b64(public.modulus().big_endian_without_leading_zero()),
                })
            }
        }
    }
}

/// RFC 7638: the SHA-256 of the JWK's required members in lexicographic order, without
/// whitespace, base64url-encoded. The order is written out here rather than left to the
/// JSON library's map ordering.
fn thumbprint(jwk: &Value) -> String {
    let member = |name: &str| Value::String(jwk.get(name).and_then(Value::as_str).unwrap_or_default().to_owned());
    let canonical = match jwk.get("kty").and_then(Value::as_str) {
        Some("EC") => format!(r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#, member("crv"), member("x"), member("y")),
        Some("OKP") => format!(r#"{{"crv":{},"kty":"OKP","x":{}}}"#, member("crv"), member("x")),
        _ => format!(r#"{{"e":{},"kty":"RSA","n":{}}}"#, member("e"), member("n")),
    };
    b64(&Sha256::digest(canonical.as_bytes()))
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_publish_a_jwk_named_by_its_thumbprint() {
        for alg in SigningAlgorithm::ALL {
            let key = generate(*alg).unwrap();
            assert_eq!(key.public_jwk["kid"], key.kid.as_str());
            assert_eq!(key.public_jwk["alg"], alg.as_str());
            assert_eq!(key.public_jwk["use"], "sig");
            assert!(key.public_jwk.get("d").is_none(), "no private member may be published");
            assert_eq!(key.kid.len(), 43, "base64url of a SHA-256");
            let signer = Signer::from_pkcs8(key.kid.clone(), *alg, &key.pkcs8).unwrap();
            assert_eq!(signer.public_jwk_without_kid()["kty"], key.public_jwk["kty"]);
        }
    }

    #[test]
    fn ec_jwk_has_32_byte_coordinates() {
        let key = generate(SigningAlgorithm::ES256).unwrap();
        for coordinate in ["x", "y"] {
            let raw = URL_SAFE_NO_PAD.decode(key.public_jwk[coordinate].as_str().unwrap()).unwrap();
            assert_eq!(raw.len(), 32);
        }
    }

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        // RFC 7638 §3.1.
        let jwk = json!({
            "e": "AQAB",
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        });
        assert_eq!(thumbprint(&jwk), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn a_key_of_another_algorithm_does_not_parse() {
        let ec = generate(SigningAlgorithm::ES256).unwrap();
        assert_eq!(
            Signer::from_pkcs8(String::new(), SigningAlgorithm::EdDSA, &ec.pkcs8).unwrap_err(),
            KeyError::Parse(SigningAlgorithm::EdDSA)
        );
        assert!(Signer::from_pkcs8(String::new(), SigningAlgorithm::RS256, b"garbage").is_err());
    }
}
