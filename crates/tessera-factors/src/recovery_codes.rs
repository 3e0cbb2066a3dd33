//! Recovery codes: ten single-use codes a user keeps on paper, for when their other
//! factor is lost. Each is 12 characters of Crockford's base32 alphabet (no `i`, `l`,
//! `o`, `u`: nothing to misread), 60 random bits, shown as `xxxx-xxxx-xxxx`. Input is
//! normalised before it is hashed: case, spaces and dashes do not matter, and `o`, `i`,
//! `l` read as `0`, `1`, `1` (NIST SP 800-63B §5.1.2: a look-up secret of at least 20
//! bits when throttled; these have 60).
//!
//! Tessera keeps only their SHA-256 hashes (`tessera_tokens::SecretHash`): a code has
//! enough entropy that no stretching is needed. A code is spent by the store in one
//! conditional `UPDATE … WHERE used_at IS NULL`, so it works once.

use rand::Rng;
use tessera_tokens::SecretHash;

/// How many codes a user gets at a time.
pub const COUNT: usize = 10;
/// Characters of a code, dashes aside.
pub const LENGTH: usize = 12;
/// Crockford's base32 alphabet, lowercase.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A recovery code as shown to its owner, once. It never appears in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode(***)")
    }
}

impl RecoveryCode {
    /// The code as shown: `xxxx-xxxx-xxxx`.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps.
    pub fn hash(&self) -> SecretHash {
        // Generated codes are already in normal form, dashes aside.
        SecretHash::of(&self.0.replace('-', ""))
    }
}

/// Ten new codes from the operating system's CSPRNG, all different.
pub fn generate() -> Vec<RecoveryCode> {
    let mut rng = rand::rngs::OsRng;
    let mut codes: Vec<RecoveryCode> = Vec::with_capacity(COUNT);
    while codes.len() < COUNT {
        let raw: String = (0..LENGTH).map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())])).collect();
        let code = RecoveryCode(format!("{}-{}-{}", &raw[..4], &raw[4..8], &raw[8..]));
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    codes
}

/// The normal form of what a user typed: lowercase, without spaces and dashes, with the
/// letters Crockford's alphabet leaves out read as the digits they look like. `None` when
/// it cannot be a code (wrong length, a character outside the alphabet).
pub fn normalise(input: &str) -> Option<String> {
    let normal: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            other => other,
        })
        .collect();
    (normal.len() == LENGTH && normal.bytes().all(|b| ALPHABET.contains(&b))).then_some(normal)
}

/// The hash to look a typed code up by, or `None` when it cannot be a code.
pub fn hash_of_input(input: &str) -> Option<SecretHash> {
    normalise(input).map(|normal| SecretHash::of(&normal))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_distinct_codes_of_sixty_bits_in_groups_of_four() {
        let codes = generate();
        assert_eq!(codes.len(), COUNT);
        for code in &codes {
            let shown = code.expose();
            assert_eq!(shown.len(), 14, "{shown}");
            assert_eq!(shown.matches('-').count(), 2);
            assert!(shown.bytes().all(|b| b == b'-' || ALPHABET.contains(&b)));
        }
        let mut unique: Vec<&str> = codes.iter().map(RecoveryCode::expose).collect();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), COUNT);
        assert!((ALPHABET.len() as f64).log2() * LENGTH as f64 >= 50.0);
    }

    #[test]
    fn typed_codes_match_whatever_their_case_spacing_and_look_alikes() {
        let code = RecoveryCode("a1b0-cdef-gh23".into());
        let stored = code.hash();
        for typed in ["a1b0-cdef-gh23", "A1B0CDEFGH23", " a1b0 cdef gh23 ", "aLbO-cdef-gh23", "aib0cdefgh23"] {
            assert_eq!(hash_of_input(typed), Some(stored.clone()), "{typed:?}");
        }
        assert_ne!(hash_of_input("a1b0-cdef-gh24"), Some(stored));
    }

    #[test]
    fn what_cannot_be_a_code_has_no_hash() {
        for typed in ["", "a1b0-cdef-gh2", "a1b0-cdef-gh234", "a1b0-cdef-gh2u", "a1b0-cdef-gh2!", "ä1b0-cdef-gh23"] {
            assert_eq!(hash_of_input(typed), None, "{typed:?}");
        }
    }

    #[test]
    fn debug_never_shows_a_code() {
        let code = &generate()[0];
        assert!(!format!("{code:?}").contains(code.expose()));
    }
}
