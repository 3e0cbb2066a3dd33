//! The keys a node signs and verifies with, held in memory: one signing key per
//! algorithm, every published public key, and the JWKS document serialised once.

use std::sync::{Arc, RwLock};

use serde_json::{Value, json};
use tessera_domain::SigningAlgorithm;

use crate::jwt::VerifyingKey;
use crate::signing::{KeyError, Signer};

/// A key as loaded from storage, its private half already decrypted.
pub struct LoadedKey {
    pub kid: String,
    pub alg: SigningAlgorithm,
    /// The PKCS#8 private key when this key signs new tokens; `None` for a key that is
    /// only published (not yet active, or retired).
    pub signing_pkcs8: Option<Vec<u8>>,
    pub public_jwk: Value,
}

/// A consistent set of keys. Built whole and swapped whole (see [`SharedKeySet`]).
#[derive(Debug, Default)]
pub struct KeySet {
    signers: Vec<Signer>,
    verifying: Vec<VerifyingKey>,
    jwks: String,
}

impl KeySet {
    pub fn new(keys: Vec<LoadedKey>) -> Result<KeySet, KeyError> {
        let mut signers = Vec::new();
        let mut verifying = Vec::new();
        let mut published = Vec::new();
        for key in keys {
            if let Some(pkcs8) = &key.signing_pkcs8
                && !signers.iter().any(|s: &Signer| s.alg() == key.alg)
            {
                signers.push(Signer::from_pkcs8(key.kid.clone(), key.alg, pkcs8)?);
            }
            if let Some(public) = VerifyingKey::from_jwk(&key.public_jwk, Some(key.alg)) {
                verifying.push(public);
                published.push(key.public_jwk);
            }
        }
        let jwks = json!({ "keys": published }).to_string();
        Ok(KeySet { signers, verifying, jwks })
    }

    /// The key that signs new tokens of `alg`.
    pub fn signer(&self, alg: SigningAlgorithm) -> Option<&Signer> {
        self.signers.iter().find(|s| s.alg() == alg)
    }

    /// Every published public key.
    pub fn verifying_keys(&self) -> &[VerifyingKey] {
        &self.verifying
    }

    /// The JWKS document (RFC 7517 §5), serialised once.
    pub fn jwks_json(&self) -> &str {
        &self.jwks
    }
}

/// The node's current key set, replaced whole when keys rotate; readers take a cheap
/// snapshot.
#[derive(Debug, Clone, Default)]
pub struct SharedKeySet(Arc<RwLock<Arc<KeySet>>>);

impl SharedKeySet {
    pub fn new(keys: KeySet) -> SharedKeySet {
        SharedKeySet(Arc::new(RwLock::new(Arc::new(keys))))
    }

    pub fn current(&self) -> Arc<KeySet> {
        match self.0.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn replace(&self, keys: KeySet) {
        let keys = Arc::new(keys);
        match self.0.write() {
            Ok(mut guard) => *guard = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::signing::generate;

    #[test]
    fn one_signer_per_algorithm_and_every_key_published() {
        let active = generate(SigningAlgorithm::ES256).unwrap();
        let next = generate(SigningAlgorithm::ES256).unwrap();
        let ed = generate(SigningAlgorithm::EdDSA).unwrap();
        let set = KeySet::new(vec![
            LoadedKey {
                kid: active.kid.clone(),
                alg: active.alg,
                signing_pkcs8: Some(active.pkcs8.clone()),
                public_jwk: active.public_jwk.clone(),
            },
            LoadedKey {
                kid: next.kid.clone(),
                alg: next.alg,
                signing_pkcs8: None,
                public_jwk: next.public_jwk.clone(),
            },
            LoadedKey {
                kid: ed.kid.clone(),
                alg: ed.alg,
                signing_pkcs8: Some(ed.pkcs8.clone()),
                public_jwk: ed.public_jwk.clone(),
            },
        ])
        .unwrap();
        assert_eq!(set.signer(SigningAlgorithm::ES256).unwrap().kid(), active.kid);
        assert_eq!(set.signer(SigningAlgorithm::EdDSA).unwrap().kid(), ed.kid);
        assert!(set.signer(SigningAlgorithm::RS256).is_none());
        let jwks: Value = serde_json::from_str(set.jwks_json()).unwrap();
        let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
        assert_eq!(kids, [active.kid.as_str(), next.kid.as_str(), ed.kid.as_str()]);
        assert_eq!(set.verifying_keys().len(), 3);

        let token = crate::jwt::sign(set.signer(SigningAlgorithm::ES256).unwrap(), "JWT", &json!({"a": 1})).unwrap();
        assert!(crate::jwt::verify(&token, set.verifying_keys(), &[SigningAlgorithm::ES256]).is_ok());
    }

    #[test]
    fn shared_set_swaps_whole() {
        let shared = SharedKeySet::default();
        assert!(shared.current().verifying_keys().is_empty());
        let key = generate(SigningAlgorithm::EdDSA).unwrap();
        let snapshot = shared.current();
        shared.replace(
            KeySet::new(vec![LoadedKey {
                kid: key.kid,
                alg: key.alg,
                signing_pkcs8: Some(key.pkcs8),
                public_jwk: key.public_jwk,
            }])
            .unwrap(),
        );
        assert!(snapshot.signer(SigningAlgorithm::EdDSA).is_none(), "an old snapshot stays as it was");
        assert!(shared.current().signer(SigningAlgorithm::EdDSA).is_some());
    }
}
