//! Resource servers as RFC 8707 and RFC 9728 see them: an API connection's resource
//! identifier ([`ResourceUri`]), and the protected-resource metadata document Tessera
//! writes for it ([`metadata`]), which the resource server publishes at its
//! `/.well-known/oauth-protected-resource` URL ([`ResourceUri::metadata_url`]).

use serde_json::{Value, json};

use crate::application::ApplicationType;
use crate::redirect::RedirectUri;

/// Why a resource URI cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceUriError {
    #[error("{0}")]
    Uri(String),
    /// RFC 9728 §1.2: the identifier SHOULD NOT carry a query; Tessera refuses one, so
    /// that the metadata URL (§3.1) and the value clients send are unambiguous.
    #[error("the resource URI {0:?} has a query: give the URI without one")]
    Query(String),
}

/// RFC 8707 §2 / RFC 9728 §1.2: a protected resource's identifier, an absolute `https`
/// URL (plain `http` only to a loopback host, for development) without a fragment, user
/// information, dot segments or query. Compared as an exact string, as clients send it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceUri(String);

impl ResourceUri {
    pub fn parse(raw: &str) -> Result<ResourceUri, ResourceUriError> {
        let uri = RedirectUri::parse(raw, ApplicationType::Web)
            .map_err(|e| ResourceUriError::Uri(format!("resource URI {:?} {}", e.uri, e.problem)))?;
        if uri.as_str().contains('?') {
            return Err(ResourceUriError::Query(raw.chars().take(100).collect()));
        }
        Ok(ResourceUri(uri.as_str().to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// RFC 9728 §3.1: the metadata URL, `/.well-known/oauth-protected-resource` inserted
    /// between the host and the path (`https://api.example.com/orders` →
    /// `https://api.example.com/.well-known/oauth-protected-resource/orders`); a
    /// terminating slash of the path is removed first.
    pub fn metadata_url(&self) -> String {
        let (scheme, rest) = self.0.split_once("://").unwrap_or(("https", &self.0));
        let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
        format!("{scheme}://{authority}{WELL_KNOWN}{}", path.trim_end_matches('/'))
    }
}

/// RFC 9728 §3: the well-known URI suffix.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// What Tessera knows of a resource server for its metadata document.
#[derive(Debug, Clone)]
pub struct ResourceFacts<'a> {
    pub resource: &'a ResourceUri,
    /// The connection's display name.
    pub name: &'a str,
    /// Tessera's issuer identifier.
    pub issuer: &'a str,
    /// The connection's API scopes.
    pub scopes: &'a [String],
    /// The algorithms of DPoP proofs (RFC 9449) the resource server accepts.
    pub dpop_algorithms: &'a [&'a str],
}

/// RFC 9728 §2: the metadata of a resource server whose tokens Tessera issues: `resource`,
/// `authorization_servers` (this issuer), `scopes_supported` (its API scopes),
/// `bearer_methods_supported` (the `Authorization` header only, RFC 6750 §2.1),
/// `resource_name`, and `dpop_signing_alg_values_supported`. No `jwks_uri`: that would
/// be the resource server's own keys, which Tessera does not know.
pub fn metadata(facts: &ResourceFacts<'_>) -> Value {
    json!({
        "resource": facts.resource.as_str(),
        "authorization_servers": [facts.issuer],
        "scopes_supported": facts.scopes,
        "bearer_methods_supported": ["header"],
        "resource_name": facts.name,
        "dpop_signing_alg_values_supported": facts.dpop_algorithms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_uri_is_an_absolute_https_url_without_fragment_or_query() {
        for ok in ["https://api.example.com", "https://api.example.com/orders", "http://127.0.0.1:9000"] {
            assert_eq!(ResourceUri::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "orders-api",
            "/orders",
            "http://api.example.com",
            "https://api.example.com/#x",
            "https://api.example.com/?tenant=a",
            "https://user@api.example.com",
            "https://api.example.com/a/../b",
            "javascript:alert(1)",
        ] {
            assert!(ResourceUri::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_metadata_url_inserts_the_well_known_suffix_before_the_path() {
        let url = |raw: &str| ResourceUri::parse(raw).unwrap().metadata_url();
        assert_eq!(url("https://api.example.com"), "https://api.example.com/.well-known/oauth-protected-resource");
        assert_eq!(url("https://api.example.com/"), "https://api.example.com/.well-known/oauth-protected-resource");
        assert_eq!(
            url("https://api.example.com:8443/orders/"),
            "https://api.example.com:8443/.well-known/oauth-protected-resource/orders"
        );
    }

    #[test]
    fn the_metadata_names_the_issuer_and_the_scopes() {
        let resource = ResourceUri::parse("https://api.example.com/orders").unwrap();
        let scopes = vec!["orders-api".to_owned(), "orders.read".to_owned()];
        let document = metadata(&ResourceFacts {
            resource: &resource,
            name: "Orders",
            issuer: "https://id.example.com",
            scopes: &scopes,
            dpop_algorithms: &["ES256"],
        });
        assert_eq!(
            document,
            json!({
                "resource": "https://api.example.com/orders",
                "authorization_servers": ["https://id.example.com"],
                "scopes_supported": ["orders-api", "orders.read"],
                "bearer_methods_supported": ["header"],
                "resource_name": "Orders",
                "dpop_signing_alg_values_supported": ["ES256"],
            })
        );
    }
}
