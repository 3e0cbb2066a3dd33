//! Time-based one-time passwords: RFC 6238 over RFC 4226 (HOTP), with the parameters
//! every authenticator app understands: HMAC-SHA1, six digits, 30-second steps, a
//! 160-bit secret (RFC 4226 §4 R6 recommends 160 bits).
//!
//! A code is accepted for the current step and one step either side (RFC 6238 §5.2: at
//! most one step of network delay and clock drift). [`TotpSecret::verify`] returns the
//! step it matched, and only considers steps later than the last one used: the store
//! records that step in one conditional `UPDATE`, so a code is accepted once (§5.2: "the
//! verifier MUST NOT accept the second attempt of the same OTP").

use aws_lc_rs::hmac;
use rand::RngCore;
use tessera_tokens::{MasterKey, MasterKeyError};

/// Seconds per step (RFC 6238 §4.1 X, the default).
pub const STEP_SECONDS: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Bytes of a secret (160 bits).
pub const SECRET_BYTES: usize = 20;
/// Steps accepted either side of the current one.
const WINDOW: i64 = 1;

/// What went wrong with a TOTP secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TotpError {
    #[error("a TOTP secret must be {SECRET_BYTES} bytes")]
    Length,
    #[error("the stored TOTP secret does not decrypt with this master key: {0}")]
    Sealed(#[from] MasterKeyError),
}

/// A TOTP secret. Its bytes never appear in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret([u8; SECRET_BYTES]);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(***)")
    }
}

/// The step `now` (unix seconds) falls in (RFC 6238 §4.2: T = floor((now - T0) / X), T0 = 0).
pub fn step_at(now: i64) -> i64 {
    now.div_euclid(STEP_SECONDS)
}

/// RFC 4226 §5.3: HOTP(K, C) truncated to `digits` decimal digits, zero-padded.
fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    let mac = hmac::sign(&key, &counter.to_be_bytes());
    let mac = mac.as_ref();
    // Dynamic truncation: the low nibble of the last byte is the offset.
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = (u32::from(mac[offset] & 0x7f) << 24)
        | (u32::from(mac[offset + 1]) << 16)
        | (u32::from(mac[offset + 2]) << 8)
        | u32::from(mac[offset + 3]);
    let code = binary % 10u32.pow(digits);
    format!("{code:0width$}", width = digits as usize)
}

/// Constant-time equality of two short ASCII strings of the same length.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl TotpSecret {
    /// A new secret from the operating system's CSPRNG.
    pub fn generate() -> TotpSecret {
        let mut bytes = [0u8; SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        TotpSecret(bytes)
    }

    /// A secret from its bytes (the caller's randomness, or a test vector).
    pub fn from_bytes(bytes: &[u8]) -> Result<TotpSecret, TotpError> {
        Ok(TotpSecret(bytes.try_into().map_err(|_| TotpError::Length)?))
    }

    /// The secret in base32 (RFC 4648 §6, no padding): what a user types into an
    /// authenticator app that cannot scan the QR code.
    pub fn base32(&self) -> String {
        base32(&self.0)
    }

    /// A secret from its base32 text (as [`TotpSecret::base32`] or
    /// [`TotpSecret::base32_grouped`] write it; case and spaces ignored).
    pub fn from_base32(text: &str) -> Result<TotpSecret, TotpError> {
        TotpSecret::from_bytes(&from_base32(text).ok_or(TotpError::Length)?)
    }

    /// The secret in groups of four characters, easier to copy by hand.
    pub fn base32_grouped(&self) -> String {
        let plain = self.base32();
        let chunks: Vec<&str> =
            plain.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap_or_default()).collect();
        chunks.join(" ")
    }

    /// The Key URI Format authenticator apps scan: `otpauth://totp/Issuer:account?secret=…
    /// &issuer=Issuer&algorithm=SHA1&digits=6&period=30`.
    pub fn uri(&self, issuer: &str, account: &str) -> String {
        let label = format!("{issuer}:{account}");
        let Ok(mut uri) = url::Url::parse("otpauth://totp/") else { return String::new() };
        if let Ok(mut path) = uri.path_segments_mut() {
            path.clear().push(&label);
        }
        uri.query_pairs_mut()
            .append_pair("secret", &self.base32())
            .append_pair("issuer", issuer)
            .append_pair("algorithm", "SHA1")
            .append_pair("digits", &DIGITS.to_string())
            .append_pair("period", &STEP_SECONDS.to_string());
        uri.to_string()
    }

    /// The code of `step`.
    pub fn code_at_step(&self, step: i64) -> String {
        hotp(&self.0, u64::try_from(step).unwrap_or(0), DIGITS)
    }

    /// The code at `now` (unix seconds): what an authenticator app shows.
    pub fn code_at(&self, now: i64) -> String {
        self.code_at_step(step_at(now))
    }

    /// The step `code` is valid for at `now`, among the current step and one either side,
    /// considering only steps after `last_used` (a step already used is a replay). `None`
    /// for a wrong, stale or replayed code. Spaces in `code` are ignored.
    pub fn verify(&self, code: &str, now: i64, last_used: Option<i64>) -> Option<i64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = step_at(now);
        let mut matched = None;
        // Every candidate is computed and compared, whichever matches.
        for step in (current - WINDOW)..=(current + WINDOW) {
            let fresh = last_used.is_none_or(|used| step > used);
            if same(&self.code_at_step(step), &code) && fresh && matched.is_none() {
                matched = Some(step);
            }
        }
        matched
    }

    /// The secret encrypted under the master key, bound to `user_id` (a sealed secret
    /// moved to another user's row does not open): what the store keeps.
    pub fn seal(&self, key: &MasterKey, user_id: &str) -> Result<String, TotpError> {
        Ok(key.encrypt(&self.0, &context(user_id))?)
    }

    /// A secret sealed by [`TotpSecret::seal`] for `user_id`.
    pub fn open(sealed: &str, key: &MasterKey, user_id: &str) -> Result<TotpSecret, TotpError> {
        TotpSecret::from_bytes(&key.decrypt(sealed, &context(user_id))?)
    }
}

/// The associated data of a sealed secret.
fn context(user_id: &str) -> String {
    format!("totp:{user_id}")
}

/// RFC 4648 §6 base32, without padding (authenticator apps accept it so).
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 0x1f) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 0x1f) as usize]));
    }
    out
}

/// RFC 4648 §6 base32 back to bytes (padding, spaces and case ignored); `None` for a
/// character outside the alphabet.
fn from_base32(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|b| !b.is_ascii_whitespace() && *b != b'=') {
        let value = ALPHABET.iter().position(|a| *a == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | u32::try_from(value).ok()?;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B: the SHA-1 seed, "12345678901234567890" in ASCII.
    const RFC_SEED: &[u8; 20] = b"12345678901234567890";

    #[test]
    fn rfc_6238_appendix_b_sha1_vectors() {
        let vectors: [(i64, &str); 6] = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (time, expected) in vectors {
            let step = u64::try_from(step_at(time)).unwrap();
            assert_eq!(hotp(RFC_SEED, step, 8), expected, "T = {time}");
        }
        // Six digits are the last six of the eight.
        let secret = TotpSecret::from_bytes(RFC_SEED).unwrap();
        assert_eq!(secret.code_at(59), "287082");
        assert_eq!(secret.code_at(1_111_111_109), "081804");
    }

    #[test]
    fn rfc_4226_appendix_d_hotp_vectors() {
        let expected =
            ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(RFC_SEED, counter as u64, 6), *code);
        }
    }

    #[test]
    fn a_code_is_valid_one_step_either_side_and_names_its_step() {
        let secret = TotpSecret::generate();
        let now = 1_700_000_015;
        let current = step_at(now);
        assert_eq!(secret.verify(&secret.code_at(now), now, None), Some(current));
        assert_eq!(secret.verify(&secret.code_at(now - 30), now, None), Some(current - 1));
        assert_eq!(secret.verify(&secret.code_at(now + 30), now, None), Some(current + 1));
        assert_eq!(secret.verify(&secret.code_at(now - 60), now, None).filter(|s| *s == current - 2), None);
        let spaced = format!("{} {}", &secret.code_at(now)[..3], &secret.code_at(now)[3..]);
        assert_eq!(secret.verify(&spaced, now, None), Some(current));
    }

    #[test]
    fn a_used_step_or_an_earlier_one_is_refused() {
        let secret = TotpSecret::generate();
        let now = 1_700_000_015;
        let current = step_at(now);
        let code = secret.code_at(now);
        assert_eq!(secret.verify(&code, now, Some(current)), None, "replay");
        assert_eq!(secret.verify(&secret.code_at(now - 30), now, Some(current)), None, "older than the last");
        assert_eq!(secret.verify(&secret.code_at(now + 30), now, Some(current)), Some(current + 1));
    }

    #[test]
    fn malformed_codes_are_refused() {
        let secret = TotpSecret::from_bytes(RFC_SEED).unwrap();
        for code in ["", "28708", "2870822", "28708a", "-287082", "２８７０８２"] {
            assert_eq!(secret.verify(code, 59, None), None, "{code:?}");
        }
    }

    #[test]
    fn base32_follows_rfc_4648() {
        // RFC 4648 §10 test vectors (padding dropped).
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"fo"), "MZXQ");
        assert_eq!(base32(b"foo"), "MZXW6");
        assert_eq!(base32(b"foob"), "MZXW6YQ");
        assert_eq!(base32(b"fooba"), "MZXW6YTB");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        let secret = TotpSecret::from_bytes(RFC_SEED).unwrap();
        assert_eq!(secret.base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(secret.base32_grouped(), "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ");
        assert_eq!(TotpSecret::from_base32(&secret.base32_grouped().to_lowercase()).unwrap(), secret);
        assert_eq!(from_base32("MZXW6YTBOI======").unwrap(), b"foobar");
        assert_eq!(from_base32("MZ1"), None);
    }

    #[test]
    fn the_uri_names_issuer_account_and_parameters() {
        let secret = TotpSecret::from_bytes(RFC_SEED).unwrap();
        let uri = secret.uri("Acme ID", "ada@example.com");
        assert!(uri.starts_with("otpauth://totp/Acme%20ID:ada@example.com?"), "{uri}");
        let parsed = url::Url::parse(&uri).unwrap();
        let query: std::collections::BTreeMap<_, _> = parsed.query_pairs().into_owned().collect();
        assert_eq!(query["secret"], "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(query["issuer"], "Acme ID");
        assert_eq!(query["digits"], "6");
        assert_eq!(query["period"], "30");
        assert_eq!(query["algorithm"], "SHA1");
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_user_and_key() {
        let key = MasterKey::generate().unwrap();
        let secret = TotpSecret::generate();
        let sealed = secret.seal(&key, "u1").unwrap();
        assert!(!sealed.contains(&secret.base32()));
        assert_eq!(TotpSecret::open(&sealed, &key, "u1").unwrap(), secret);
        assert!(TotpSecret::open(&sealed, &key, "u2").is_err());
        assert!(TotpSecret::open(&sealed, &MasterKey::generate().unwrap(), "u1").is_err());
    }

    #[test]
    fn generated_secrets_are_160_bits_distinct_and_hidden_from_debug() {
        let a = TotpSecret::generate();
        assert_ne!(a, TotpSecret::generate());
        assert_eq!(a.base32().len(), 32);
        assert_eq!(format!("{a:?}"), "TotpSecret(***)");
        assert_eq!(TotpSecret::from_bytes(&[0; 16]), Err(TotpError::Length));
    }
}
