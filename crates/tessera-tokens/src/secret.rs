//! Generated secrets: client and API-connection secrets, management-key secrets, opaque
//! tokens, authorization codes, session ids. 256 random bits, base64url without padding;
//! stored only as their SHA-256 and compared in constant time. (argon2 is for user
//! passwords, which have little entropy; a 256-bit secret needs no stretching, and the
//! token path cannot afford it.)

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A secret as handed to its owner once. It never appears in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> SecretHash {
        SecretHash::of(&self.0)
    }
}

/// 256 random bits from the operating system's CSPRNG, base64url (43 characters).
pub fn generate_secret() -> Secret {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Secret(URL_SAFE_NO_PAD.encode(bytes))
}

/// A new client id: 24 letters and digits taken from 256-bit random secrets (about 142
/// bits): unguessable, and safe wherever a client id goes (a URL, HTTP Basic, a command
/// line, where a leading '-' would read as a flag). Never UUID-shaped (a UUID has 32 hex
/// digits), so it cannot collide with a user id as a token's `sub` (RFC 9068 §5).
pub fn generate_client_id() -> String {
    const LEN: usize = 24;
    let mut id = String::with_capacity(LEN);
    while id.len() < LEN {
        let secret = generate_secret();
        let wanted = LEN - id.len();
        id.extend(secret.expose().chars().filter(char::is_ascii_alphanumeric).take(wanted));
    }
    id
}

/// The SHA-256 of a secret, as lowercase hex: what the database stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretHash(String);

impl SecretHash {
    pub fn of(secret: &str) -> SecretHash {
        let digest = Sha256::digest(secret.as_bytes());
        SecretHash(hex(&digest))
    }

    /// A hash read back from storage.
    pub fn from_stored(stored: impl Into<String>) -> SecretHash {
        SecretHash(stored.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is the secret this is the hash of, in time independent of
    /// where the two differ.
    pub fn matches(&self, presented: &str) -> bool {
        let candidate = SecretHash::of(presented);
        candidate.0.as_bytes().ct_eq(self.0.as_bytes()).into()
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_256_bits_and_distinct() {
        let a = generate_secret();
        let b = generate_secret();
        assert_eq!(a.expose().len(), 43);
        assert_eq!(URL_SAFE_NO_PAD.decode(a.expose()).unwrap().len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn generated_client_ids_are_24_alphanumerics() {
        let id = generate_client_id();
        assert_eq!(id.len(), 24);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(id, generate_client_id());
    }

    #[test]
    fn generated_client_ids_pass_the_domain_rules_and_are_never_uuid_shaped() {
        for _ in 0..1000 {
            let id = generate_client_id();
            assert!(tessera_domain::check_client_id(&id).is_ok(), "{id}");
        }
    }

    #[test]
    fn hash_is_sha256_hex() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(SecretHash::of("abc").as_str(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn hash_matches_only_its_secret() {
        let secret = generate_secret();
        let stored = SecretHash::from_stored(secret.hash().as_str());
        assert!(stored.matches(secret.expose()));
        assert!(!stored.matches(generate_secret().expose()));
        assert!(!stored.matches(""));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = generate_secret();
        assert!(!format!("{secret:?}").contains(secret.expose()));
    }
}
