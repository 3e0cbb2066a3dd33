//! The grants of the token endpoint, one module each.

pub mod client_credentials;
