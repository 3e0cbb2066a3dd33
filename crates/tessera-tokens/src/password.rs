//! User passwords: argon2id (RFC 9106) with OWASP's parameters by default, as PHC
//! strings. Only sign-in and password changes pay for it.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl PasswordParams {
    /// OWASP Password Storage Cheat Sheet: argon2id, m = 19 MiB, t = 2, p = 1.
    pub const OWASP: PasswordParams = PasswordParams { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 };
    /// Cheap parameters for test suites only.
    pub const TESTING: PasswordParams = PasswordParams { memory_kib: 64, iterations: 1, parallelism: 1 };
}

impl Default for PasswordParams {
    fn default() -> Self {
        PasswordParams::OWASP
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("invalid argon2 parameters: {0}")]
    Params(String),
    #[error("hashing failed: {0}")]
    Hash(String),
}

/// Hashes and verifies passwords with fixed parameters.
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    /// A hash of a random password, verified against when the account does not exist,
    /// so an unknown user costs the same time as a wrong password.
    dummy_hash: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher").finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// Checks that argon2 accepts the parameters (memory at least 8 KiB per lane, at
    /// least one iteration and one lane).
    pub fn check_params(params: PasswordParams) -> Result<(), PasswordError> {
        Params::new(params.memory_kib, params.iterations, params.parallelism, None)
            .map(|_| ())
            .map_err(|e| PasswordError::Params(e.to_string()))
    }

    pub fn new(params: PasswordParams) -> Result<PasswordHasher, PasswordError> {
        let params = Params::new(params.memory_kib, params.iterations, params.parallelism, None)
            .map_err(|e| PasswordError::Params(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut hasher = PasswordHasher { argon2, dummy_hash: String::new() };
        hasher.dummy_hash = hasher.hash(crate::generate_secret().expose())?;
        Ok(hasher)
    }

    /// The PHC string of `password` with a fresh random salt. The whole password is
    /// hashed, however long: nothing is truncated.
    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon2
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| PasswordError::Hash(e.to_string()))
    }

    /// Whether `password` matches `stored`. With no stored hash (unknown user, or an
    /// account without a password) a dummy hash is verified so the answer takes the
    /// same time, and the result is `false`.
    pub fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let target = stored.unwrap_or(&self.dummy_hash);
        let matched = match PasswordHash::new(target) {
            Ok(parsed) => self.argon2.verify_password(password.as_bytes(), &parsed).is_ok(),
            Err(_) => {
                // A corrupt stored hash still costs one hash, then fails.
                let _ = self.hash(password);
                false
            }
        };
        matched && stored.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> PasswordHasher {
        PasswordHasher::new(PasswordParams::TESTING).unwrap()
    }

    #[test]
    fn hash_is_argon2id_and_verifies() {
        let h = hasher();
        let stored = h.hash("correct horse battery staple").unwrap();
        assert!(stored.starts_with("$argon2id$v=19$"));
        assert!(h.verify("correct horse battery staple", Some(&stored)));
        assert!(!h.verify("correct horse battery stapl", Some(&stored)));
    }

    #[test]
    fn long_passwords_are_not_truncated() {
        let h = hasher();
        let long = "x".repeat(200);
        let stored = h.hash(&long).unwrap();
        assert!(h.verify(&long, Some(&stored)));
        assert!(!h.verify(&"x".repeat(199), Some(&stored)));
        assert!(!h.verify(&format!("{long}y"), Some(&stored)));
    }

    #[test]
    fn unknown_user_and_corrupt_hash_never_verify() {
        let h = hasher();
        assert!(!h.verify("anything", None));
        assert!(!h.verify("anything", Some("not a phc string")));
    }

    #[test]
    fn same_password_gets_distinct_salts() {
        let h = hasher();
        assert_ne!(h.hash("pw12345678").unwrap(), h.hash("pw12345678").unwrap());
    }

    #[test]
    fn owasp_parameters_are_the_default() {
        assert_eq!(PasswordParams::default(), PasswordParams { memory_kib: 19456, iterations: 2, parallelism: 1 });
    }
}
