//! The example's settings, read from environment variables and checked once at start.

use std::time::Duration;

use openidconnect::IssuerUrl;

/// Where Tessera is when `ISSUER` is not set.
pub const DEFAULT_ISSUER: &str = "http://localhost:8080";
/// The loopback port of the redirect URI when `REDIRECT_PORT` is not set.
pub const DEFAULT_REDIRECT_PORT: u16 = 8765;
/// The scopes asked for when `SCOPES` is not set.
pub const DEFAULT_SCOPES: &str = "openid profile email";
/// How long to wait for the browser to come back to the redirect URI.
pub const DEFAULT_CALLBACK_TIMEOUT: Duration = Duration::from_secs(300);

/// What the relying party needs to know.
#[derive(Clone)]
pub struct Config {
    /// The issuer identifier; discovery is `{issuer}/.well-known/openid-configuration`.
    pub issuer: IssuerUrl,
    pub client_id: String,
    /// `None` for a public client (SPA, native), which proves itself with PKCE only.
    pub client_secret: Option<String>,
    /// The port of the redirect URI `http://127.0.0.1:{port}/callback`; 0 picks a free one.
    pub redirect_port: u16,
    /// Scopes to ask for; `openid` is always asked for.
    pub scopes: Vec<String>,
    pub callback_timeout: Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("issuer", &self.issuer.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "<hidden>"))
            .field("redirect_port", &self.redirect_port)
            .field("scopes", &self.scopes)
            .field("callback_timeout", &self.callback_timeout)
            .finish()
    }
}

/// A setting that is missing or wrong, named as its environment variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required (see examples/relying-party/README.md)")]
    Missing(&'static str),
    #[error("ISSUER: {0:?} is not an http(s) URL")]
    Issuer(String),
    #[error("REDIRECT_PORT: {0:?} is not a port number")]
    RedirectPort(String),
    /// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
    #[error("SCOPES: {0:?} is not a space-separated list of scopes")]
    Scopes(String),
}

impl Config {
    /// Reads `ISSUER`, `CLIENT_ID`, `CLIENT_SECRET`, `REDIRECT_PORT` and `SCOPES` from the
    /// process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the settings from any source of variables (an empty value counts as unset).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.is_empty());
        let client_id = get("CLIENT_ID").ok_or(ConfigError::Missing("CLIENT_ID"))?;
        let raw_issuer = get("ISSUER").unwrap_or_else(|| DEFAULT_ISSUER.to_owned());
        let issuer = url::Url::parse(&raw_issuer)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
            .and_then(|_| IssuerUrl::new(raw_issuer.clone()).ok())
            .ok_or(ConfigError::Issuer(raw_issuer))?;
        let redirect_port = match get("REDIRECT_PORT") {
            Some(raw) => raw.parse().map_err(|_| ConfigError::RedirectPort(raw))?,
            None => DEFAULT_REDIRECT_PORT,
        };
        let raw_scopes = get("SCOPES").unwrap_or_else(|| DEFAULT_SCOPES.to_owned());
        let scopes: Vec<String> = raw_scopes.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect();
        if scopes.is_empty() || !scopes.iter().all(|scope| is_scope_token(scope)) {
            return Err(ConfigError::Scopes(raw_scopes));
        }
        Ok(Config {
            issuer,
            client_id,
            client_secret: get("CLIENT_SECRET"),
            redirect_port,
            scopes,
            callback_timeout: DEFAULT_CALLBACK_TIMEOUT,
        })
    }
}

/// RFC 6749 §3.3 scope-token.
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
    fn defaults_apply_and_the_secret_is_optional() {
        let c = config(&[("CLIENT_ID", "quickstart")]).unwrap();
        assert_eq!(c.issuer.as_str(), "http://localhost:8080");
        assert_eq!(c.client_secret, None);
        assert_eq!(c.redirect_port, 8765);
        assert_eq!(c.scopes, ["openid", "profile", "email"]);
        let c = config(&[("CLIENT_ID", "quickstart"), ("CLIENT_SECRET", "s"), ("SCOPES", "openid  email")]).unwrap();
        assert_eq!(c.client_secret.as_deref(), Some("s"));
        assert_eq!(c.scopes, ["openid", "email"]);
    }

    #[test]
    fn a_missing_client_id_is_named() {
        let e = config(&[("CLIENT_SECRET", "s")]).unwrap_err();
        assert_eq!(e.to_string(), "CLIENT_ID is required (see examples/relying-party/README.md)");
    }

    #[test]
    fn bad_values_are_refused() {
        let with = |extra: (&'static str, &'static str)| config(&[("CLIENT_ID", "c"), extra]).unwrap_err();
        assert!(matches!(with(("ISSUER", "ftp://x")), ConfigError::Issuer(_)));
        assert!(matches!(with(("ISSUER", "localhost:8080")), ConfigError::Issuer(_)));
        assert!(matches!(with(("REDIRECT_PORT", "70000")), ConfigError::RedirectPort(_)));
        assert!(matches!(with(("SCOPES", " ")), ConfigError::Scopes(_)));
        assert!(matches!(with(("SCOPES", "openid \"x\"")), ConfigError::Scopes(_)));
    }

    #[test]
    fn the_secret_is_not_printed_by_debug() {
        let c = config(&[("CLIENT_ID", "c"), ("CLIENT_SECRET", "hunter2")]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
