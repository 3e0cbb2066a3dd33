//! What an application may be granted, from its settings and the scope catalogue.

use super::catalog::ScopeCatalog;
use super::resolve::AllowedScopes;
use super::{ScopeSet, ScopeToken};
use crate::GrantType;

/// What an application may be granted: of the scopes its settings allow
/// (`allowed_scopes`), the identity and API scopes that exist in `catalog`, and
/// `offline_access` when its grant types include refresh tokens (OIDC Core §11). The
/// token endpoint, authorize and the console's preview all ask here.
pub fn allowed_scopes(allowed_scopes: &[String], grant_types: &[GrantType], catalog: &ScopeCatalog) -> AllowedScopes {
    let mut identity = ScopeSet::new();
    let mut api = ScopeSet::new();
    for name in allowed_scopes {
        let Ok(token) = ScopeToken::parse(name) else { continue };
        if catalog.api_connection(name).is_some() {
            api.insert(token);
        } else if catalog.identity_claims(name).is_some() {
            identity.insert(token);
        }
    }
    let offline_access = grant_types.contains(&GrantType::RefreshToken);
    AllowedScopes { identity, api, offline_access }
}
