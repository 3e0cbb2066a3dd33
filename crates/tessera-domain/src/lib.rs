//! The pure rules of Tessera: scopes, claims, names, redirect URIs, application
//! settings and token lifetimes, as OAuth 2.0 (RFC 6749), OpenID Connect Core 1.0,
//! RFC 8252 and RFC 9700 state them.
//!
//! What this crate is for: types that can only exist when valid (`ScopeSet`,
//! `RedirectUri`, `ClaimName`, `Username`, …) and functions that decide (which
//! requested scopes are granted, which claims go into a token, whether an application's
//! settings are consistent). Every error names the field, claim or value it is about, so
//! callers can show it beside the offending input.
//!
//! What it is not for: no I/O, no database, no web framework, no cryptography, no clock
//! (functions that need the time take `now: i64` unix seconds) and no randomness (callers
//! pass in whatever was generated). Mapping errors to HTTP responses belongs to the web
//! crates; each error here offers the OAuth error code where the protocol defines one.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod application;
pub mod assembly;
pub mod assurance;
pub mod claim_value;
pub mod claims;
pub mod client_metadata;
pub mod connection;
pub mod date;
pub mod ids;
pub mod lifetime;
pub mod mapping;
pub mod names;
pub mod protected_resource;
pub mod redirect;
pub mod required;
pub mod scope;
pub mod standard;
mod text;
pub mod token_exchange;
pub mod utc;

pub use application::{
    ApplicationInput, ApplicationSettings, ApplicationSettingsError, ApplicationType, ClientAuthMethod, GrantType,
    MAX_DESCRIPTION_LEN, ParseEnumError, SettingsError, SigningAlgorithm, TokenFormat, check_client_id,
    check_description, check_jwks,
};
pub use assembly::{
    AccessTokenFacts, IdTokenFacts, IdentityClaims, TargetError, access_token_audience_and_scope, access_token_claims,
    claims_for_id_token, claims_for_userinfo, id_token_claims, introspection_answer,
};
pub use assurance::{Acr, Factor, Requirement, SignInPolicy, Step, within_reach};
pub use claim_value::ClaimValueType;
pub use claims::{
    ClaimError, ClaimName, CustomClaimKey, RESERVED_CLAIMS, check_custom_claims, check_not_reserved, has_value,
    is_reserved, validate_claim_input,
};
pub use connection::{
    ApiScopeBody, ApiScopeSettings, ApiScopeUpdate, ConnectionSettings, ConnectionUpdate, NewApiConnection,
    NewApiScope, NewConnectionInput, requirement_setting,
};
pub use date::{ClaimDate, DateError};
pub use ids::{ApplicationId, ClientId, ConnectionId, GrantId, UserId};
pub use lifetime::{LifetimeError, TokenLifetimes};
pub use mapping::{
    ClaimRule, ClaimRuleInput, Freshness, JsonPointer, MappingError, MappingSource, Output, Outputs, TokenSubject,
};
pub use names::{
    ConnectionName, DisplayName, Email, NameError, NameKind, OrganizationName, Password, PasswordError, RoleName,
    ScopeName, Username,
};
pub use protected_resource::{ResourceFacts, ResourceUri, ResourceUriError};
pub use redirect::{
    BackchannelLogoutUri, ClientUrl, PostLogoutRedirectUri, RedirectProblem, RedirectUri, RedirectUriError,
};
pub use required::missing_required_claims;
pub use scope::{
    AllowedScopes, ApiGrant, IdentityGrant, OFFLINE_ACCESS, OPENID, RefusalReason, RefusedScope, ResolvedScopes,
    ScopeCatalog, ScopeError, ScopeKind, ScopeSet, ScopeToken, allowed_scopes, classify, narrow,
    resolve_for_client_credentials, resolve_requested, resolve_requested_lenient,
};
pub use standard::{
    STANDARD_CLAIMS, STANDARD_IDENTITY_SCOPES, StandardClaim, StandardScope, VERIFIED_FLAGS, is_server_controlled,
    standard_claim, standard_scope, verified_flag_of,
};
pub use token_exchange::{
    ChainTooLong, ExchangeGrant, ExchangeRefusal, PolicyContext, TokenExchangePolicy, TokenExchangePolicyInput,
    TokenExchangeRule, TokenExchangeRuleInput,
};
