//! Claims assembly: which user claims go into the ID token and the userinfo response
//! (OIDC Core §5.4, §5.3.2), the audience and scope of an access token (RFC 9068 §2.2,
//! RFC 8707), and the registered claims of access and ID tokens. The token endpoint and
//! the console's preview both build payloads here, so they cannot drift apart.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use thiserror::Error;

use crate::assurance::Acr;
use crate::claims::{has_value, is_reserved};
use crate::ids::{ClientId, GrantId};
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

/// What an access token states besides its custom claims.
#[derive(Debug, Clone)]
pub struct AccessTokenFacts<'a> {
    pub issuer: &'a str,
    /// The user's id, or the client id of a machine token.
    pub subject: &'a str,
    /// The API connections the token is for; none means the issuer.
    pub audience: &'a [String],
    pub client_id: &'a ClientId,
    pub scope: &'a ScopeSet,
    pub issued_at: i64,
    pub expires_at: i64,
    pub jti: &'a str,
    pub auth_time: Option<i64>,
    pub amr: &'a [String],
    pub sid: Option<&'a str>,
    /// The grant of a user's token: lets introspection and userinfo refuse the token once
    /// the grant is revoked.
    pub grant_id: Option<&'a GrantId>,
    /// A machine-to-machine token (`gty: client_credentials`).
    pub machine: bool,
}

/// RFC 9068 §2.2: `iss sub aud client_id scope iat nbf exp jti`, with `auth_time acr amr
/// sid` when known (RFC 9068 §2.2.1: `acr` is derived from `amr`, [`Acr::of`]), Tessera's `grant_id` for a user's grant and `gty` for a machine token.
pub fn access_token_claims(facts: &AccessTokenFacts<'_>) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("iss".into(), Value::String(facts.issuer.to_owned()));
    claims.insert("sub".into(), Value::String(facts.subject.to_owned()));
    claims.insert(
        "aud".into(),
        match facts.audience {
            [] if facts.machine => Value::Array(Vec::new()),
            [] => Value::String(facts.issuer.to_owned()),
            [one] => Value::String(one.clone()),
            many => Value::Array(many.iter().cloned().map(Value::String).collect()),
        },
    );
    claims.insert("client_id".into(), Value::String(facts.client_id.to_string()));
    claims.insert("scope".into(), Value::String(facts.scope.to_string()));
    claims.insert("iat".into(), Value::from(facts.issued_at));
    claims.insert("nbf".into(), Value::from(facts.issued_at));
    claims.insert("exp".into(), Value::from(facts.expires_at));
    claims.insert("jti".into(), Value::String(facts.jti.to_owned()));
    if let Some(auth_time) = facts.auth_time {
        claims.insert("auth_time".into(), Value::from(auth_time));
    }
    insert_acr_and_amr(&mut claims, facts.amr);
    if let Some(sid) = facts.sid {
        claims.insert("sid".into(), Value::String(sid.to_owned()));
    }
    if let Some(grant_id) = facts.grant_id {
        claims.insert("grant_id".into(), Value::String(grant_id.to_string()));
    }
    if facts.machine {
        claims.insert("gty".into(), Value::String("client_credentials".into()));
    }
    claims
}

/// What an ID token states about an authentication.
#[derive(Debug, Clone)]
pub struct IdTokenFacts<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    pub client_id: &'a ClientId,
    pub issued_at: i64,
    pub expires_at: i64,
    pub auth_time: Option<i64>,
    pub nonce: Option<&'a str>,
    pub sid: Option<&'a str>,
    pub amr: &'a [String],
}

/// OIDC Core §2: `iss sub aud azp iat exp`, and `auth_time nonce sid acr amr` when known
/// (`acr` derived from `amr`, [`Acr::of`]),
/// over `claims` (the identity scopes' claims and any custom ones), which cannot replace
/// them. The caller adds `at_hash`, which needs the access token.
pub fn id_token_claims(facts: &IdTokenFacts<'_>, mut claims: Map<String, Value>) -> Map<String, Value> {
    claims.insert("iss".into(), Value::String(facts.issuer.to_owned()));
    claims.insert("sub".into(), Value::String(facts.subject.to_owned()));
    claims.insert("aud".into(), Value::String(facts.client_id.to_string()));
    claims.insert("azp".into(), Value::String(facts.client_id.to_string()));
    claims.insert("iat".into(), Value::from(facts.issued_at));
    claims.insert("exp".into(), Value::from(facts.expires_at));
    for name in ["auth_time", "nonce", "sid", "acr", "amr"] {
        claims.remove(name);
    }
    if let Some(auth_time) = facts.auth_time {
        claims.insert("auth_time".into(), Value::from(auth_time));
    }
    if let Some(nonce) = facts.nonce {
        claims.insert("nonce".into(), Value::String(nonce.to_owned()));
    }
    if let Some(sid) = facts.sid {
        claims.insert("sid".into(), Value::String(sid.to_owned()));
    }
    insert_acr_and_amr(&mut claims, facts.amr);
    claims
}

/// OIDC Core §2 `acr` and RFC 8176 `amr`: both absent without an authentication (a client
/// acting for itself), `acr` always the level the `amr` values reach, so the two cannot
/// disagree in any token.
fn insert_acr_and_amr(claims: &mut Map<String, Value>, amr: &[String]) {
    if let Some(acr) = Acr::of(amr) {
        claims.insert("acr".into(), Value::String(acr.as_str().to_owned()));
    }
    if !amr.is_empty() {
        claims.insert("amr".into(), Value::from(amr.to_vec()));
    }
}

/// RFC 7662 §2.2: an active token's answer: `active`, the caller's `scope` (the token's
/// scopes that belong to it), `token_type` and the token's other claims.
pub fn introspection_answer(mut claims: Map<String, Value>, visible_scope: &str) -> Map<String, Value> {
    claims.insert("active".into(), Value::Bool(true));
    claims.insert("scope".into(), Value::String(visible_scope.to_owned()));
    claims.insert("token_type".into(), Value::String("Bearer".into()));
    claims
}

#[cfg(test)]
mod tests;
