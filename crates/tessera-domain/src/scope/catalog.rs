//! The scopes that exist: identity scopes (which carry claims) and API scopes (which
//! belong to an API connection, the audience of the access token).

use std::collections::BTreeMap;

use super::{OFFLINE_ACCESS, ScopeError, ScopeToken};
use crate::standard::STANDARD_IDENTITY_SCOPES;

/// What a scope is, as the catalog knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeKind {
    /// OIDC Core §5.4: an identity scope, asking for a set of claims about the user.
    Identity,
    /// A scope of an API connection; the connection name becomes the token's `aud`.
    Api {
        /// The connection the scope belongs to.
        connection: String,
    },
    /// OIDC Core §11: `offline_access`, asking for a refresh token.
    OfflineAccess,
}

/// The identity and API scopes that exist in this installation.
///
/// A name is unique across both kinds, and `offline_access` is never defined here: it is
/// always known and always classified as [`ScopeKind::OfflineAccess`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeCatalog {
    identity: BTreeMap<ScopeToken, Vec<String>>,
    api: BTreeMap<ScopeToken, String>,
}

impl ScopeCatalog {
    /// An empty catalog (only `offline_access` is known).
    pub fn new() -> Self {
        Self::default()
    }

    /// A catalog with the standard identity scopes of OIDC Core §5.4 (and Cotia's `name`).
    pub fn standard() -> Self {
        let mut catalog = Self::new();
        for scope in STANDARD_IDENTITY_SCOPES {
            if scope.name == OFFLINE_ACCESS {
                continue;
            }
            // The standard names are valid and distinct; a failure here would be a bug in
            // the table, which the tests of `standard` rule out.
            let _ = catalog.add_identity_scope(scope.name, scope.claims.iter().copied());
        }
        catalog
    }

    fn check_free(&self, name: &str) -> Result<ScopeToken, ScopeError> {
        let token = ScopeToken::parse(name)?;
        if name == OFFLINE_ACCESS || self.identity.contains_key(name) || self.api.contains_key(name) {
            return Err(ScopeError::DuplicateInCatalog { scope: name.to_owned() });
        }
        Ok(token)
    }

    /// Defines an identity scope carrying these claims (OIDC Core §5.4).
    pub fn add_identity_scope<I, S>(&mut self, name: &str, claims: I) -> Result<(), ScopeError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let token = self.check_free(name)?;
        let mut unique: Vec<String> = Vec::new();
        for claim in claims.into_iter().map(Into::into) {
            if !unique.contains(&claim) {
                unique.push(claim);
            }
        }
        self.identity.insert(token, unique);
        Ok(())
    }

    /// Defines an API scope belonging to `connection`.
    pub fn add_api_scope(&mut self, name: &str, connection: &str) -> Result<(), ScopeError> {
        let token = self.check_free(name)?;
        self.api.insert(token, connection.to_owned());
        Ok(())
    }

    /// Builder form of [`Self::add_identity_scope`].
    pub fn with_identity_scope<I, S>(mut self, name: &str, claims: I) -> Result<Self, ScopeError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.add_identity_scope(name, claims)?;
        Ok(self)
    }

    /// Builder form of [`Self::add_api_scope`].
    pub fn with_api_scope(mut self, name: &str, connection: &str) -> Result<Self, ScopeError> {
        self.add_api_scope(name, connection)?;
        Ok(self)
    }

    /// The claims an identity scope carries, or `None` if it is not an identity scope.
    pub fn identity_claims(&self, scope: &str) -> Option<&[String]> {
        self.identity.get(scope).map(Vec::as_slice)
    }

    /// The connection of an API scope, or `None` if it is not an API scope.
    pub fn api_connection(&self, scope: &str) -> Option<&str> {
        self.api.get(scope).map(String::as_str)
    }

    /// The identity scopes, sorted, with their claims.
    pub fn identity_scopes(&self) -> impl Iterator<Item = (&ScopeToken, &[String])> + '_ {
        self.identity.iter().map(|(k, v)| (k, v.as_slice()))
    }

    /// The API scopes, sorted, with their connection.
    pub fn api_scopes(&self) -> impl Iterator<Item = (&ScopeToken, &str)> + '_ {
        self.api.iter().map(|(k, v)| (k, v.as_str()))
    }

    /// What this scope is, or `None` if no such scope exists.
    pub fn classify(&self, scope: &str) -> Option<ScopeKind> {
        if scope == OFFLINE_ACCESS {
            return Some(ScopeKind::OfflineAccess);
        }
        if self.identity.contains_key(scope) {
            return Some(ScopeKind::Identity);
        }
        self.api_connection(scope).map(|connection| ScopeKind::Api { connection: connection.to_owned() })
    }
}

/// What `token` is in `catalog`; `None` means the scope is unknown.
pub fn classify(catalog: &ScopeCatalog, token: &ScopeToken) -> Option<ScopeKind> {
    catalog.classify(token.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> ScopeCatalog {
        ScopeCatalog::standard()
            .with_identity_scope("roles", ["roles"])
            .unwrap()
            .with_api_scope("library-api", "library-api")
            .unwrap()
            .with_api_scope("library-api-checked-books", "library-api")
            .unwrap()
    }

    fn token(s: &str) -> ScopeToken {
        ScopeToken::parse(s).unwrap()
    }

    #[test]
    fn standard_catalog_knows_openid_profile_and_name() {
        let c = ScopeCatalog::standard();
        assert_eq!(c.identity_claims("openid"), Some(&["sub".to_owned()][..]));
        assert_eq!(c.identity_claims("name"), Some(&["name".to_owned()][..]));
        assert!(c.identity_claims("profile").unwrap().contains(&"birthdate".to_owned()));
        assert_eq!(c.identity_claims("offline_access"), None);
    }

    #[test]
    fn scopes_are_classified_by_kind() {
        let c = catalog();
        assert_eq!(classify(&c, &token("openid")), Some(ScopeKind::Identity));
        assert_eq!(classify(&c, &token("roles")), Some(ScopeKind::Identity));
        assert_eq!(
            classify(&c, &token("library-api-checked-books")),
            Some(ScopeKind::Api { connection: "library-api".into() })
        );
        assert_eq!(classify(&c, &token("offline_access")), Some(ScopeKind::OfflineAccess));
    }

    #[test]
    fn unknown_scopes_classify_as_none() {
        assert_eq!(classify(&catalog(), &token("admin")), None);
        assert_eq!(classify(&ScopeCatalog::new(), &token("openid")), None);
    }

    #[test]
    fn offline_access_is_known_even_in_an_empty_catalog() {
        assert_eq!(ScopeCatalog::new().classify("offline_access"), Some(ScopeKind::OfflineAccess));
    }

    #[test]
    fn a_name_cannot_be_both_an_identity_and_an_api_scope() {
        let err = catalog().with_api_scope("roles", "x").unwrap_err();
        assert_eq!(err, ScopeError::DuplicateInCatalog { scope: "roles".into() });
        let err = catalog().with_identity_scope("library-api", ["x"]).unwrap_err();
        assert_eq!(err.scope(), Some("library-api"));
    }

    #[test]
    fn offline_access_cannot_be_redefined() {
        let err = ScopeCatalog::new().with_identity_scope("offline_access", ["sub"]).unwrap_err();
        assert!(matches!(err, ScopeError::DuplicateInCatalog { .. }));
    }

    #[test]
    fn catalog_scope_names_must_be_valid_tokens() {
        let err = ScopeCatalog::new().with_api_scope("bad scope", "c").unwrap_err();
        assert!(matches!(err, ScopeError::InvalidCharacter { ch: ' ', .. }));
    }

    #[test]
    fn catalog_lists_scopes_in_sorted_order() {
        let c = catalog();
        let api: Vec<_> = c.api_scopes().map(|(s, c)| (s.as_str(), c)).collect();
        assert_eq!(api, vec![("library-api", "library-api"), ("library-api-checked-books", "library-api")]);
        assert!(c.identity_scopes().any(|(s, _)| s.as_str() == "email"));
    }
}
