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
}

impl Config {
    /// Reads `TESSERA_URL`, `CONNECTION_NAME`, `CONNECTION_SECRET`, `BIND`,
    /// `REQUIRED_SCOPE` and `PUBLIC_URL` from the process environment.
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
        Ok(Config { tessera_url, connection_name, connection_secret, bind, required_scope, public_url })
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
    }

    #[test]
    fn the_secret_is_not_printed_by_debug() {
        let c = config(&[("CONNECTION_NAME", "orders-api"), ("CONNECTION_SECRET", "hunter2")]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
