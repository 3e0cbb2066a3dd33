//! Custom claims for Tessera's access tokens.
//!
//! This crate is the engine that computes custom claims; it holds no database, serves no HTTP
//! and never signs anything. Its parts:
//! - [`script`]: the sandboxed JavaScript engine that runs an admin's `getCustomJwtClaims`
//!   function at token issuance;
//! - [`mapping`]: the values claim mappings read from a user's data or an application's
//!   metadata;
//! - [`compose`]: the one order of the sources (mappings, script, custom attributes), the
//!   outputs each claim goes to and its freshness, as [`IssuedClaims`];
//! - [`issuance`]: the claims of one token computed from all of them, for the token
//!   endpoint and the console's preview alike.
//!
//! Not for: storing scripts (`tessera-store`), the admin console's editor (`tessera-admin`),
//! minting tokens (`tessera-tokens`).

#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod compose;
pub mod context;
pub mod issuance;
pub mod mapping;
pub mod script;

pub use compose::{ClaimSource, Composer, IssuedClaim, IssuedClaims, Rule};
pub use context::{
    ApplicationInfo, DEFAULT_SOURCE, GrantInfo, OrganizationMembership, PROTECTED_CLAIMS, TokenKind, UserContext,
    UserProfile, outline, protected_in, refuse_registered, token_input,
};
pub use mapping::{MappingData, value_of};
pub use script::{
    AllowedHost, EngineStats, FetchPolicy, FetchPolicyError, Limits, MAX_SOURCE_BYTES, Redactor, RunReport,
    ScriptEngine, ScriptError, ScriptFailure, ScriptInput, without_url_secrets,
};
