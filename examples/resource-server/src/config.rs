//! The example's settings, read from environment variables and checked once at start.

use std::net::SocketAddr;

/// Where Tessera is when `TESSERA_URL` is not set.
pub const DEFAULT_TESSERA_URL: &str = "http://localhost:8080";
/// The address served when `BIND` is not set.
pub const DEFAULT_BIND: &str = "127.0.0.1:9000";

/// What the resource server needs to know.
#[derive(Clone)]
pub struct Config {
    /// Tessera's base URL; introspection is `{tessera_url}/connect/introspect`.
    pub tessera_url: url::Url,
    /// The API connection's name: the audience of the tokens this API accepts.
    pub connection_name: String,
    /// The API connection's secret, sent only to Tessera.
    pub connection_secret: String,
    pub bind: SocketAddr,
    /// The scope `GET /protected` requires.
    pub required_scope: String,
    /// The URL clients reach this API at, without a trailing slash: DPoP proofs name
    /// `{public_url}/protected` as their `htu` (RFC 9449 §4.3).
    pub public_url: String,
    /// RFC 9728: the protected-resource metadata document Tessera generated for this
    /// API's connection, served at its well-known URL and named in 401 answers.
    pub resource_metadata: Option<ResourceMetadata>,
    /// RFC 9470: the authentication level and recency each route needs (`STEP_UP`).
    pub step_up: Vec<(String, crate::step_up::Rule)>,
}

/// RFC 9728 §2: the metadata document (as Tessera's management API, console or
/// `tessera connection metadata` gave it) and where it is served.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceMetadata {
    /// The document as read.
    pub document: serde_json::Value,
    /// Its path on this server: `/.well-known/oauth-protected-resource` followed by the
    /// path of its `resource` (RFC 9728 §3.1).
    pub path: String,
    /// Its absolute URL, named as `resource_metadata` in `WWW-Authenticate` (§5.1).
    pub url: String,
}

/// RFC 9728 §3: the well-known URI suffix.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

impl ResourceMetadata {
    /// Reads the document: a JSON object whose `resource` is an absolute http(s) URL
    /// without query or fragment.
    pub fn parse(text: &str) -> Result<ResourceMetadata, String> {
        let document: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let resource = document
            .get("resource")
            .and_then(serde_json::Value::as_str)
            .ok_or("the document has no resource (RFC 9728 §2)")?;
        let url = url::Url::parse(resource)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .filter(|u| u.query().is_none() && u.fragment().is_none())
            .ok_or_else(|| format!("resource {resource:?} is not an http(s) URL without query or fragment"))?;
        let origin = url.origin().ascii_serialization();
        let path = format!("{WELL_KNOWN}{}", url.path().trim_end_matches('/'));
        Ok(ResourceMetadata { url: format!("{origin}{path}"), path, document })
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("tessera_url", &self.tessera_url.as_str())
            .field("connection_name", &self.connection_name)
            .field("connection_secret", &"<hidden>")
            .field("bind", &self.bind)
            .field("required_scope", &self.required_scope)
            .field("public_url", &self.public_url)
            .field("resource_metadata", &self.resource_metadata.as_ref().map(|m| &m.url))
            .field("step_up", &self.step_up)
            .finish()
    }
}

/// A setting that is missing or wrong, named as its environment variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required (see examples/resource-server/README.md)")]
    Missing(&'static str),
    #[error("TESSERA_URL: {0:?} is not an http(s) URL")]
    TesseraUrl(String),
    #[error("BIND: {0:?} is not an address like 127.0.0.1:9000")]
    Bind(String),
    /// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
    #[error("PUBLIC_URL: {0:?} is not an http(s) URL")]
    PublicUrl(String),
    #[error("REQUIRED_SCOPE: {0:?} is not a scope (printable ASCII without spaces, '\"' or '\\')")]
    RequiredScope(String),
    #[error("RESOURCE_METADATA: {0}")]
    ResourceMetadata(String),
    #[error("STEP_UP: {0} (expected PATH=LEVEL[:MAX_AGE],… such as /protected=phr:300)")]
    StepUp(String),
}

impl Config {
    /// Reads `TESSERA_URL`, `CONNECTION_NAME`, `CONNECTION_SECRET`, `BIND`,
    /// `REQUIRED_SCOPE`, `PUBLIC_URL`, `RESOURCE_METADATA` and `STEP_UP` from the process
    /// environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the settings from any source of variables (an empty value counts as unset).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.is_empty());
        let connection_name = get("CONNECTION_NAME").ok_or(ConfigError::Missing("CONNECTION_NAME"))?;
        let connection_secret = get("CONNECTION_SECRET").ok_or(ConfigError::Missing("CONNECTION_SECRET"))?;
        let raw_url = get("TESSERA_URL").unwrap_or_else(|| DEFAULT_TESSERA_URL.to_owned());
        let tessera_url = url::Url::parse(&raw_url)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
            .ok_or(ConfigError::TesseraUrl(raw_url))?;
        let raw_bind = get("BIND").unwrap_or_else(|| DEFAULT_BIND.to_owned());
        let bind = raw_bind.parse().map_err(|_| ConfigError::Bind(raw_bind))?;
        let required_scope = get("REQUIRED_SCOPE").unwrap_or_else(|| connection_name.clone());
        if !is_scope_token(&required_scope) {
            return Err(ConfigError::RequiredScope(required_scope));
        }
        let raw_public = get("PUBLIC_URL").unwrap_or_else(|| format!("http://{bind}"));
        let public_url = url::Url::parse(&raw_public)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
            .map(|url| url.as_str().trim_end_matches('/').to_owned())
            .ok_or(ConfigError::PublicUrl(raw_public))?;
        let resource_metadata = match get("RESOURCE_METADATA") {
            None => None,
            Some(file) => {
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| ConfigError::ResourceMetadata(format!("cannot read {file}: {e}")))?;
                let metadata = ResourceMetadata::parse(&text)
                    .map_err(|e| ConfigError::ResourceMetadata(format!("{file}: {e}")))?;
                // RFC 9728 §3.3: clients check that the document names the resource they
                // called, so it must be this API's.
                let public = url::Url::parse(&public_url).map_err(|_| ConfigError::PublicUrl(public_url.clone()))?;
                if !metadata.url.starts_with(&public.origin().ascii_serialization()) {
                    return Err(ConfigError::ResourceMetadata(format!(
                        "{file}: its resource is not on PUBLIC_URL {public_url}"
                    )));
                }
                Some(metadata)
            }
        };
        let step_up = crate::step_up::parse(&get("STEP_UP").unwrap_or_default()).map_err(ConfigError::StepUp)?;
        Ok(Config {
            step_up,
            tessera_url,
            connection_name,
            connection_secret,
            bind,
            required_scope,
            public_url,
            resource_metadata,
        })
    }

    /// The introspection endpoint under Tessera's base URL (a path prefix is kept).
    pub fn introspection_endpoint(&self) -> String {
        format!("{}/connect/introspect", self.tessera_url.as_str().trim_end_matches('/'))
    }
}

/// RFC 6749 §3.3 scope-token: it can then be quoted in `WWW-Authenticate` as is.
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty() && scope.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn defaults_apply_and_the_required_scope_is_the_connection_name() {
        let c = config(&[("CONNECTION_NAME", "orders-api"), ("CONNECTION_SECRET", "s")]).unwrap();
        assert_eq!(c.tessera_url.as_str(), "http://localhost:8080/");
        assert_eq!(c.introspection_endpoint(), "http://localhost:8080/connect/introspect");
        assert_eq!(c.bind.to_string(), "127.0.0.1:9000");
        assert_eq!(c.required_scope, "orders-api");
        assert_eq!(c.public_url, "http://127.0.0.1:9000");
    }

    #[test]
    fn missing_credentials_are_named() {
        let e = config(&[("CONNECTION_NAME", "orders-api")]).unwrap_err();
        assert_eq!(e.to_string(), "CONNECTION_SECRET is required (see examples/resource-server/README.md)");
        let e = config(&[("CONNECTION_NAME", ""), ("CONNECTION_SECRET", "s")]).unwrap_err();
        assert!(matches!(e, ConfigError::Missing("CONNECTION_NAME")));
    }

    #[test]
    fn bad_values_are_refused() {
        let base = [("CONNECTION_NAME", "orders-api"), ("CONNECTION_SECRET", "s")];
        let with = |extra: (&'static str, &'static str)| {
            let mut vars = base.to_vec();
            vars.push(extra);
            config(&vars).unwrap_err()
        };
        assert!(matches!(with(("TESSERA_URL", "ftp://x")), ConfigError::TesseraUrl(_)));
        assert!(matches!(with(("BIND", "localhost")), ConfigError::Bind(_)));
        assert!(matches!(with(("PUBLIC_URL", "api.example.com")), ConfigError::PublicUrl(_)));
        assert!(matches!(with(("REQUIRED_SCOPE", "a b")), ConfigError::RequiredScope(_)));
        assert!(matches!(with(("REQUIRED_SCOPE", "a\"b")), ConfigError::RequiredScope(_)));
        assert!(matches!(with(("RESOURCE_METADATA", "/nonexistent/metadata.json")), ConfigError::ResourceMetadata(_)));
        assert!(matches!(with(("STEP_UP", "/protected=gold")), ConfigError::StepUp(_)));
    }

    #[test]
    fn the_metadata_is_served_under_the_well_known_path_of_its_resource() {
        let root = ResourceMetadata::parse(r#"{"resource": "https://api.example.com"}"#).unwrap();
        assert_eq!(root.path, "/.well-known/oauth-protected-resource");
        assert_eq!(root.url, "https://api.example.com/.well-known/oauth-protected-resource");
        let nested = ResourceMetadata::parse(r#"{"resource": "https://api.example.com:8443/orders/"}"#).unwrap();
        assert_eq!(nested.path, "/.well-known/oauth-protected-resource/orders");
        assert_eq!(nested.url, "https://api.example.com:8443/.well-known/oauth-protected-resource/orders");
        for bad in ["[]", "{}", r#"{"resource": "orders-api"}"#, r#"{"resource": "https://a.example/?x=1"}"#] {
            assert!(ResourceMetadata::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_secret_is_not_printed_by_debug() {
        let c = config(&[("CONNECTION_NAME", "orders-api"), ("CONNECTION_SECRET", "hunter2")]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
