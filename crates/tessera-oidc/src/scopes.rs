//! The scope catalogue and an application's allowed scopes, read from the store, in the
//! domain's terms.

use tessera_domain::{AllowedScopes, GrantType, ScopeCatalog, ScopeSet, ScopeToken};
use tessera_store::applications::Application;
use tessera_store::scopes::{self, ScopeKind};
use tessera_store::{AnyConnection, StoreError, StoreResult};

/// Every identity scope with its claims and every API scope with its connection.
/// (`offline_access` is stored as a standard identity scope for display; the domain
/// knows it by name and grants it by the refresh-token rules.)
pub fn catalog(conn: &mut AnyConnection) -> StoreResult<ScopeCatalog> {
    let mut catalog = ScopeCatalog::new();
    for scope in scopes::list_scopes(conn, None)? {
        if scope.name == tessera_domain::OFFLINE_ACCESS {
            continue;
        }
        let added = match (scope.kind, &scope.connection) {
            (ScopeKind::Identity, _) => catalog.add_identity_scope(&scope.name, scope.claims.iter()),
            (ScopeKind::Api, Some((_, connection))) => catalog.add_api_scope(&scope.name, connection),
            (ScopeKind::Api, None) => continue,
        };
        added.map_err(|e| StoreError::Corrupt(format!("scope catalogue: {e}")))?;
    }
    Ok(catalog)
}

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
