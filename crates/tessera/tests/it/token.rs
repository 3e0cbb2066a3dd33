//! The token endpoint (RFC 6749 §3.2): its grants, client authentication and the
//! security rules of the tokens it issues.

mod client_credentials;
mod jwks_uri;
mod private_key_jwt;
mod refresh;
mod refresh_rotation;
mod security;
