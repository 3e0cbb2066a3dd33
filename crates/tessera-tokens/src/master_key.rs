//! The master key: 256 bits that encrypt signing keys and script secrets at rest with
//! AES-256-GCM. Configured as base64 (`master_key`) or kept in a file in the data
//! folder of an embedded installation.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Encrypted values start with this version tag, so the format can change later.
const FORMAT: &str = "v1.";
/// What the check value encrypts: decrypting it proves a node holds the right key.
const CHECK_PLAINTEXT: &[u8] = b"tessera master key check";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MasterKeyError {
    #[error(
        "must be 32 bytes encoded in base64 (44 characters); generate one with `tessera config generate-master-key`"
    )]
    Malformed,
    #[error("the value was not encrypted with this master key, or it was altered")]
    Decrypt,
    #[error("the system random number generator failed")]
    Random,
}

/// The master key. Its bytes never appear in `Debug`.
pub struct MasterKey {
    key: LessSafeKey,
    encoded: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    /// A new random key.
    pub fn generate() -> Result<MasterKey, MasterKeyError> {
        let mut bytes = [0u8; 32];
        SystemRandom::new().fill(&mut bytes).map_err(|_| MasterKeyError::Random)?;
        MasterKey::from_bytes(&bytes)
    }

    /// Reads a key written as base64 (surrounding whitespace ignored).
    pub fn from_base64(encoded: &str) -> Result<MasterKey, MasterKeyError> {
        let bytes = STANDARD.decode(encoded.trim()).map_err(|_| MasterKeyError::Malformed)?;
        MasterKey::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8]) -> Result<MasterKey, MasterKeyError> {
        if bytes.len() != 32 {
            return Err(MasterKeyError::Malformed);
        }
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| MasterKeyError::Malformed)?;
        Ok(MasterKey { key: LessSafeKey::new(unbound), encoded: STANDARD.encode(bytes) })
    }

    /// The key as base64, to write to the key file once.
    pub fn to_base64(&self) -> &str {
        &self.encoded
    }

    /// Encrypts `plaintext`; `context` (e.g. `"signing_key:<kid>"`) is bound as
    /// associated data, so a ciphertext moved to another row does not decrypt.
    pub fn encrypt(&self, plaintext: &[u8], context: &str) -> Result<String, MasterKeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| MasterKeyError::Random)?;
        let mut buffer = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context.as_bytes()), &mut buffer)
            .map_err(|_| MasterKeyError::Random)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buffer);
        Ok(format!("{FORMAT}{}", STANDARD.encode(out)))
    }

    /// Decrypts a value made by [`MasterKey::encrypt`] with the same `context`.
    pub fn decrypt(&self, encrypted: &str, context: &str) -> Result<Vec<u8>, MasterKeyError> {
        let body = encrypted.strip_prefix(FORMAT).ok_or(MasterKeyError::Decrypt)?;
        let raw = STANDARD.decode(body).map_err(|_| MasterKeyError::Decrypt)?;
        if raw.len() < NONCE_LEN {
            return Err(MasterKeyError::Decrypt);
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| MasterKeyError::Decrypt)?;
        let mut buffer = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .map_err(|_| MasterKeyError::Decrypt)?;
        Ok(plain.to_vec())
    }

    /// A value stored once per installation; [`MasterKey::verify_check`] on it tells
    /// whether a node was started with the installation's key.
    pub fn check_value(&self) -> Result<String, MasterKeyError> {
        self.encrypt(CHECK_PLAINTEXT, "instance")
    }

    pub fn verify_check(&self, check: &str) -> bool {
        self.decrypt(check, "instance").is_ok_and(|plain| plain == CHECK_PLAINTEXT)
    }

    /// A 256-bit key for `purpose` (e.g. `"dpop nonce"`), the same on every node holding
    /// this master key: HMAC-SHA256 of the purpose under the master key.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let bytes = STANDARD.decode(&self.encoded).unwrap_or_default();
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &bytes);
        let tag = aws_lc_rs::hmac::sign(&key, purpose.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_value_decrypts_with_the_same_key_and_context() {
        let key = MasterKey::generate().unwrap();
        let sealed = key.encrypt(b"private key", "signing_key:1").unwrap();
        assert!(!sealed.contains("private key"));
        assert_eq!(key.decrypt(&sealed, "signing_key:1").unwrap(), b"private key");
    }

    #[test]
    fn another_context_or_key_or_a_flipped_byte_does_not_decrypt() {
        let key = MasterKey::generate().unwrap();
        let sealed = key.encrypt(b"secret", "a").unwrap();
        assert_eq!(key.decrypt(&sealed, "b"), Err(MasterKeyError::Decrypt));
        let other = MasterKey::generate().unwrap();
        assert_eq!(other.decrypt(&sealed, "a"), Err(MasterKeyError::Decrypt));
        let mut raw = STANDARD.decode(&sealed[3..]).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let tampered = format!("v1.{}", STANDARD.encode(raw));
        assert_eq!(key.decrypt(&tampered, "a"), Err(MasterKeyError::Decrypt));
        assert_eq!(key.decrypt("garbage", "a"), Err(MasterKeyError::Decrypt));
        assert_eq!(key.decrypt("v1.AAAA", "a"), Err(MasterKeyError::Decrypt));
    }

    #[test]
    fn key_round_trips_through_base64() {
        let key = MasterKey::generate().unwrap();
        let again = MasterKey::from_base64(&format!(" {}\n", key.to_base64())).unwrap();
        let check = key.check_value().unwrap();
        assert!(again.verify_check(&check));
        assert!(!MasterKey::generate().unwrap().verify_check(&check));
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert_eq!(MasterKey::from_base64("not base64!").unwrap_err(), MasterKeyError::Malformed);
        assert_eq!(MasterKey::from_base64(&STANDARD.encode([0u8; 16])).unwrap_err(), MasterKeyError::Malformed);
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = MasterKey::generate().unwrap();
        assert_eq!(format!("{key:?}"), "MasterKey(***)");
    }
}
