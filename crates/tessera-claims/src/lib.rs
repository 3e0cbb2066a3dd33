//! Custom claims for Tessera's access tokens.
//!
//! This crate is the engine that computes custom claims; it holds no database, serves no HTTP
//! and never signs anything. Today it has one part, [`script`]: the sandboxed JavaScript engine
//! that runs an admin's `getCustomJwtClaims` function at token issuance. Claim mappings (from
//! user metadata and the management API) and the precedence order between the sources will
//! live here too; the decision that custom claims never override registered claims is applied
//! by the caller that merges them into the token.
//!
//! Not for: storing scripts (`tessera-store`), the admin console's editor (`tessera-admin`),
//! minting tokens (`tessera-tokens`).

#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod context;
pub mod script;

pub use context::{
    ApplicationInfo, GrantInfo, OrganizationMembership, PROTECTED_CLAIMS, TokenKind, UserContext, UserProfile,
    protected_in, token_input,
};
pub use script::{
    AllowedHost, EngineStats, FetchPolicy, FetchPolicyError, Limits, MAX_SOURCE_BYTES, RunReport, ScriptEngine,
    ScriptError, ScriptFailure, ScriptInput,
};
