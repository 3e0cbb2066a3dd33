//! Claims assembly: which user claims go into the ID token and the userinfo response
//! (OIDC Core §5.4, §5.3.2), and the audience and scope of an access token (RFC 9068 §2.2,
//! RFC 8707).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use thiserror::Error;

use crate::claims::{has_value, is_reserved};
use crate::scope::{IdentityGrant, OFFLINE_ACCESS, ResolvedScopes, ScopeSet, ScopeToken};
use crate::text::preview;

/// What the claim selection reads: the subject, the user's claim values and the granted
/// identity scopes with their claims (e.g. `ResolvedScopes::identity`).
#[derive(Debug, Clone, Copy)]
pub struct IdentityClaims<'a> {
    /// OIDC Core §2 `sub`: always emitted, taken from here only.
    pub sub: &'a str,
    /// The user's values, by claim name.
    pub user_values: &'a BTreeMap<String, Value>,
    /// The granted identity scopes.
    pub scopes: &'a [IdentityGrant],
}

/// OIDC Core §5.4: each granted identity scope asks for its claims; claims the user has
/// no value for are omitted, never `null` (§5.3.2). `sub` always comes from
/// [`IdentityClaims::sub`]; registered claims (`iss`, `aud`…) are never taken from the
/// user's values, even if a scope lists them.
fn select(input: &IdentityClaims<'_>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("sub".to_owned(), Value::String(input.sub.to_owned()));
    for claim in input.scopes.iter().flat_map(|g| g.claims.iter()) {
        if is_reserved(claim) {
            continue;
        }
        if let Some(value) = input.user_values.get(claim).filter(|v| has_value(Some(v))) {
            out.insert(claim.clone(), value.clone());
        }
    }
    out
}

/// OIDC Core §5.3.2: the userinfo response — `sub` plus every claim carried by a granted
/// identity scope for which the user has a value.
pub fn claims_for_userinfo(input: &IdentityClaims<'_>) -> Map<String, Value> {
    select(input)
}

/// The user claims of the ID token. Like Cotia ID (and unlike OIDC Core §5.4's default
/// when an access token is issued), Tessera puts the granted identity scopes' claims in
/// the ID token too; a separate function so the policy can diverge from userinfo.
/// The caller adds `iss aud exp iat auth_time nonce sid amr azp`.
pub fn claims_for_id_token(input: &IdentityClaims<'_>) -> Map<String, Value> {
    select(input)
}

/// RFC 8707 §2: a `resource` that names no connection of the grant.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TargetError {
    /// The resource is not an API connection whose scopes were granted.
    #[error("resource {resource:?} is not an API connection granted to this request")]
    NotGranted {
        /// The offending resource value (shortened).
        resource: String,
    },
}

impl TargetError {
    /// RFC 8707 §2 error code.
    pub fn oauth_error_code(&self) -> &'static str {
        "invalid_target"
    }
}

/// RFC 9068 §2.2 `aud` and `scope` of an access token.
///
/// `aud` is the distinct API connections whose scopes were granted, sorted (empty when only
/// identity scopes were granted: the caller may then use the issuer or client id, as
/// Cotia ID does). `scope` is every granted scope: identity, API and `offline_access`.
///
/// With RFC 8707 `resource` values (naming connections), only those connections stay in
/// `aud` and only their API scopes in `scope`; identity scopes and `offline_access` stay.
/// A resource naming no granted connection is [`TargetError::NotGranted`] (`invalid_target`).
/// An empty filter is the same as none.
pub fn access_token_audience_and_scope(
    granted: &ResolvedScopes,
    resource_filter: Option<&[String]>,
) -> Result<(Vec<String>, ScopeSet), TargetError> {
    let connections = granted.connections();
    let Some(resources) = resource_filter.filter(|r| !r.is_empty()) else {
        return Ok((connections, granted.granted()));
    };
    let mut kept: BTreeSet<&str> = BTreeSet::new();
    for resource in resources {
        if !connections.iter().any(|c| c == resource) {
            return Err(TargetError::NotGranted { resource: preview(resource) });
        }
        kept.insert(resource);
    }
    let mut scope = granted.identity_scopes();
    scope.extend(granted.api.iter().filter(|g| kept.contains(g.connection.as_str())).map(|g| g.scope.clone()));
    if granted.offline_access {
        scope.insert(ScopeToken::from_valid(OFFLINE_ACCESS));
    }
    Ok((kept.into_iter().map(str::to_owned).collect(), scope))
}

#[cfg(test)]
mod tests;
