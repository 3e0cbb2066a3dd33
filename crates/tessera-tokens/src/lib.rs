//! Tessera's cryptography, on material it is handed: it never touches the database.
//!
//! - [`master_key`]: the key that encrypts signing keys and secrets at rest (AES-256-GCM).
//! - [`secret`]: generated secrets, opaque tokens and codes (256 random bits), stored
//!   only as SHA-256 hashes and compared in constant time.
//! - [`password`]: argon2id hashing of user passwords, for sign-in only.
//! - [`signing`], [`jwt`], [`keyset`]: signing keys (ES256, EdDSA, RS256) parsed once,
//!   JWS signing and verification (no `alg: none`, no algorithm confusion), and the
//!   in-memory key set with its JWKS document.
//! - [`dpop`]: DPoP proofs (RFC 9449), JWK thumbprints (RFC 7638) and stateless server
//!   nonces.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod dpop;
pub mod jwt;
pub mod keyset;
pub mod master_key;
pub mod password;
pub mod secret;
pub mod signing;

pub use jwt::{JwtError, Verified, VerifyingKey};
pub use keyset::{KeySet, LoadedKey, SharedKeySet};
pub use master_key::{MasterKey, MasterKeyError};
pub use password::{PasswordError, PasswordHasher, PasswordParams};
pub use secret::{Secret, SecretHash, generate_client_id, generate_secret};
pub use signing::{GeneratedKey, KeyError, Signer};
