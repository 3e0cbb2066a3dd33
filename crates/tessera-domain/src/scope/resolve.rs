//! Which requested scopes an application is granted.
//!
//! Policy (as IdentityServer and Cotia ID): a request naming any scope that is unknown or
//! not allowed to the application is refused as a whole with `invalid_scope`
//! ([`resolve_requested`]); RFC 6749 §3.3 also lets a server grant less than asked, which
//! [`resolve_requested_lenient`] offers for callers that re-check a stored grant against a
//! changed configuration. Further rules:
//!
//! - `offline_access` is granted only when the application may issue refresh tokens
//!   ([`AllowedScopes::offline_access`]); otherwise it is refused like any disallowed scope.
//!   (OIDC Core §11 also asks the authorization endpoint to ignore it without
//!   `prompt=consent`; that is the endpoint's decision, not this one.)
//! - Identity scopes without `openid` are valid OAuth 2.0 scopes and are granted, but the
//!   request is not an OpenID Connect request: no ID token is issued and the userinfo
//!   endpoint refuses the resulting access token (OIDC Core §5.3: userinfo needs `openid`).
//! - `openid` itself is an identity scope: the application must be allowed it.

use std::collections::BTreeSet;
use std::fmt;

use super::catalog::{ScopeCatalog, ScopeKind};
use super::{OFFLINE_ACCESS, ScopeError, ScopeSet, ScopeToken};

/// What an application may be granted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedScopes {
    /// The identity scopes the application may request.
    pub identity: ScopeSet,
    /// The API scopes the application may request.
    pub api: ScopeSet,
    /// Whether the application may issue refresh tokens, and so be granted `offline_access`.
    pub offline_access: bool,
}

/// A granted identity scope with the claims it carries (OIDC Core §5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityGrant {
    /// The scope.
    pub scope: ScopeToken,
    /// The claim names it carries.
    pub claims: Vec<String>,
}

/// A granted API scope with its connection (the access token audience).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiGrant {
    /// The scope.
    pub scope: ScopeToken,
    /// The API connection it belongs to.
    pub connection: String,
}

/// Why a requested scope was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    /// No identity or API scope has this name.
    Unknown,
    /// The scope exists but the application is not allowed it.
    NotAllowedForApplication,
    /// `offline_access` asked by an application that may not issue refresh tokens.
    RefreshTokensDisabled,
    /// An identity scope in a grant without a user (client credentials).
    NeedsUser,
    /// RFC 6749 §4.4.3: `offline_access` in a client credentials grant.
    NoRefreshForClientCredentials,
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unknown => "does not exist",
            Self::NotAllowedForApplication => "is not allowed for this application",
            Self::RefreshTokensDisabled => "asks for a refresh token, which this application may not issue",
            Self::NeedsUser => "is an identity scope and needs a user; the client credentials grant has none",
            Self::NoRefreshForClientCredentials => {
                "asks for a refresh token, which the client credentials grant never issues"
            }
        })
    }
}

/// A requested scope that was not granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedScope {
    /// The scope.
    pub scope: ScopeToken,
    /// Why.
    pub reason: RefusalReason,
}

impl RefusedScope {
    fn into_error(self) -> ScopeError {
        ScopeError::NotAllowed { scope: self.scope.into_string(), reason: self.reason }
    }
}

/// The outcome of resolving a scope request, each list sorted by scope name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedScopes {
    /// Granted identity scopes with their claims.
    pub identity: Vec<IdentityGrant>,
    /// Granted API scopes with their connections.
    pub api: Vec<ApiGrant>,
    /// Whether `offline_access` was granted.
    pub offline_access: bool,
    /// Requested scopes not granted (always empty from the strict resolvers).
    pub refused: Vec<RefusedScope>,
}

impl ResolvedScopes {
    /// Every granted scope: identity, API and `offline_access`.
    pub fn granted(&self) -> ScopeSet {
        let mut set = self.identity_scopes();
        set.extend(self.api.iter().map(|g| g.scope.clone()));
        if self.offline_access {
            set.insert(ScopeToken::from_valid(OFFLINE_ACCESS));
        }
        set
    }

    /// The granted identity scopes.
    pub fn identity_scopes(&self) -> ScopeSet {
        self.identity.iter().map(|g| g.scope.clone()).collect()
    }

    /// The granted API scopes.
    pub fn api_scopes(&self) -> ScopeSet {
        self.api.iter().map(|g| g.scope.clone()).collect()
    }

    /// The distinct connections whose API scopes were granted, sorted.
    pub fn connections(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self.api.iter().map(|g| g.connection.as_str()).collect();
        set.into_iter().map(str::to_owned).collect()
    }

    /// OIDC Core §3.1.2.1: whether `openid` was granted (an ID token may be issued).
    pub fn has_openid(&self) -> bool {
        self.identity.iter().any(|g| g.scope.as_str() == super::OPENID)
    }

    /// Whether nothing at all was granted.
    pub fn is_empty(&self) -> bool {
        self.identity.is_empty() && self.api.is_empty() && !self.offline_access
    }
}

fn resolve_with(
    requested: &ScopeSet,
    catalog: &ScopeCatalog,
    allowed: &AllowedScopes,
    user_present: bool,
) -> ResolvedScopes {
    let mut out = ResolvedScopes::default();
    for token in requested {
        let refusal = match catalog.classify(token.as_str()) {
            None => Some(RefusalReason::Unknown),
            Some(ScopeKind::Identity) if !user_present => Some(RefusalReason::NeedsUser),
            Some(ScopeKind::Identity) => match catalog.identity_claims(token.as_str()) {
                Some(claims) if allowed.identity.contains(token.as_str()) => {
                    out.identity.push(IdentityGrant { scope: token.clone(), claims: claims.to_vec() });
                    None
                }
                _ => Some(RefusalReason::NotAllowedForApplication),
            },
            Some(ScopeKind::Api { connection }) => {
                if allowed.api.contains(token.as_str()) {
                    out.api.push(ApiGrant { scope: token.clone(), connection });
                    None
                } else {
                    Some(RefusalReason::NotAllowedForApplication)
                }
            }
            Some(ScopeKind::OfflineAccess) if !user_present => Some(RefusalReason::NoRefreshForClientCredentials),
            Some(ScopeKind::OfflineAccess) if allowed.offline_access => {
                out.offline_access = true;
                None
            }
            Some(ScopeKind::OfflineAccess) => Some(RefusalReason::RefreshTokensDisabled),
        };
        if let Some(reason) = refusal {
            out.refused.push(RefusedScope { scope: token.clone(), reason });
        }
    }
    out
}

fn strict(mut resolved: ResolvedScopes) -> Result<ResolvedScopes, ScopeError> {
    if resolved.refused.is_empty() { Ok(resolved) } else { Err(resolved.refused.swap_remove(0).into_error()) }
}

/// RFC 6749 §3.3 and §5.2: resolves a user-facing request (authorization code, password
/// grant). Any unknown or disallowed scope refuses the whole request with
/// [`ScopeError::NotAllowed`] naming the first such scope in sorted order.
pub fn resolve_requested(
    requested: &ScopeSet,
    catalog: &ScopeCatalog,
    allowed: &AllowedScopes,
) -> Result<ResolvedScopes, ScopeError> {
    strict(resolve_with(requested, catalog, allowed, true))
}

/// RFC 6749 §3.3 ("the authorization server MAY fully or partially ignore the scope
/// requested"): grants what may be granted and lists the rest in
/// [`ResolvedScopes::refused`]. Never fails.
pub fn resolve_requested_lenient(
    requested: &ScopeSet,
    catalog: &ScopeCatalog,
    allowed: &AllowedScopes,
) -> ResolvedScopes {
    resolve_with(requested, catalog, allowed, true)
}

/// RFC 6749 §4.4: client credentials carry no user, so only API scopes are granted;
/// identity scopes and `offline_access` refuse the request (§4.4.3: no refresh token).
/// An empty request means every allowed API scope that exists. Granting nothing at all is
/// [`ScopeError::NothingToGrant`]: a token with no audience is of no use.
pub fn resolve_for_client_credentials(
    requested: &ScopeSet,
    catalog: &ScopeCatalog,
    allowed: &AllowedScopes,
) -> Result<ResolvedScopes, ScopeError> {
    let resolved = if requested.is_empty() {
        let all: ScopeSet =
            allowed.api.iter().filter(|t| catalog.api_connection(t.as_str()).is_some()).cloned().collect();
        resolve_with(&all, catalog, allowed, false)
    } else {
        resolve_with(requested, catalog, allowed, false)
    };
    let resolved = strict(resolved)?;
    if resolved.api.is_empty() {
        return Err(ScopeError::NothingToGrant);
    }
    Ok(resolved)
}

/// RFC 6749 §6: a refresh request's scope "MUST NOT include any scope not originally
/// granted", and when omitted is "treated as equal to the scope originally granted".
pub fn narrow(granted: &ScopeSet, requested: &ScopeSet) -> Result<ScopeSet, ScopeError> {
    if requested.is_empty() {
        return Ok(granted.clone());
    }
    if let Some(extra) = requested.iter().find(|t| !granted.contains(t.as_str())) {
        return Err(ScopeError::NotGranted { scope: extra.as_str().to_owned() });
    }
    Ok(requested.clone())
}
