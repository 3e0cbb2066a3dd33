//! Authentication factors beyond the password, as pure functions over what they are
//! handed (docs/authentication.md):
//!
//! - [`totp`]: time-based one-time passwords (RFC 6238 over RFC 4226: HMAC-SHA1, six
//!   digits, 30-second steps), their `otpauth://` enrolment URI, and verification within
//!   one step either side that names the step matched, so the caller can refuse a replay;
//!   the secret is sealed under the master key for storage;
//! - [`recovery_codes`]: ten single-use codes shown once and kept as SHA-256 hashes;
//! - [`passkeys`]: WebAuthn ceremonies (registration, authentication as a second factor,
//!   and discoverable sign-in by passkey alone) through `webauthn-rs`, with the relying
//!   party derived from the issuer;
//! - [`qr`]: the enrolment URI drawn as an SVG QR code, locally.
//!
//! What it is not for: no SQL (`tessera-store` keeps the records, and spends what is
//! single use atomically), no HTTP (the web crates render the ceremonies), no policy of
//! which factor a sign-in needs (`tessera_domain::assurance`). The facts each factor
//! yields are what `tessera_domain::assurance::Factor` needs.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod passkeys;
pub mod qr;
pub mod recovery_codes;
pub mod totp;

pub use passkeys::{
    Ceremony, DiscoveredPasskey, PasskeyError, PasskeyUse, PasskeyUser, RegisteredPasskey, RelyingParty,
    RelyingPartyError,
};
pub use recovery_codes::RecoveryCode;
pub use totp::{TotpError, TotpSecret};
