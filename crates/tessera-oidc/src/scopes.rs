//! An application's allowed scopes, in the domain's terms (the scope catalogue itself is
//! part of the in-memory configuration, `tessera_store::config`).

use tessera_domain::{AllowedScopes, GrantType, ScopeCatalog, ScopeSet, ScopeToken};
use tessera_store::applications::Application;

/// What the application may be granted: its allowed identity and API scopes, and
/// `offline_access` when it may hold refresh tokens.
pub fn allowed(app: &Application, catalog: &ScopeCatalog) -> AllowedScopes {
    let mut identity = ScopeSet::new();
    let mut api = ScopeSet::new();
    for name in &app.settings.allowed_scopes {
        let Ok(token) = ScopeToken::parse(name) else { continue };
        if catalog.api_connection(name).is_some() {
            api.insert(token);
        } else if catalog.identity_claims(name).is_some() {
            identity.insert(token);
        }
    }
    let offline_access = app.settings.grant_types.contains(&GrantType::RefreshToken);
    AllowedScopes { identity, api, offline_access }
}
