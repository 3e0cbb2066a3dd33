//! Redirect URIs: what may be registered (OIDC Core §3.1.2.1, RFC 8252 §7, RFC 9700 §2.1,
//! docs/security.md "Redirect URIs") and how a presented `redirect_uri` is matched (exact string,
//! RFC 9700 §4.1.3; only the port of a *native* application's loopback IP URI may vary,
//! RFC 8252 §7.3 — every other application type gets an exact match, loopback included).
//!
//! Registration rules, for every application type:
//! - an absolute URI, ASCII only, every character from RFC 3986 §2 (so no spaces, `\`,
//!   `"`, `<`, `>`…), `%` only as a valid percent-escape, at most 2000 characters;
//! - no fragment (RFC 6749 §3.1.2), no userinfo (`user@host`), no dot segments
//!   (`/../`, `/./`, `..;`, `%2e%2e`: they would not survive normalisation);
//! - `javascript:`, `data:`, `vbscript:`, `file:`, `about:`, `blob:`, `filesystem:` and
//!   `view-source:` refused in any letter case; `ftp`, `ws` and `wss` refused too;
//! - `https://host` allowed; plain `http` only to the loopback hosts `127.0.0.1`, `[::1]`
//!   and `localhost` exactly (`http://localhost.evil.test` is not loopback) — for every
//!   application type, as RFC 9700 §2.1 allows, to ease development;
//! - a private-use scheme (`com.example.app:/callback`, RFC 8252 §7.1) only for native
//!   applications. RFC 8252 asks apps for a reverse-DNS scheme; we accept any other scheme
//!   name too, since the exact-match rule already binds it to this client.
//!
//! The original string is kept exactly, for exact comparison.

use std::fmt;

use serde::{Serialize, Serializer};
use thiserror::Error;

use crate::application::ApplicationType;
use crate::text::preview;

/// Longest redirect URI accepted, in characters.
pub const MAX_REDIRECT_URI_LEN: usize = 2000;

/// Schemes that run code or read local data in a browser: never a redirect target.
const DANGEROUS_SCHEMES: &[&str] =
    &["javascript", "data", "vbscript", "file", "about", "blob", "filesystem", "view-source"];

/// URL-standard special schemes other than http(s): not application callbacks.
const UNSUPPORTED_SCHEMES: &[&str] = &["ftp", "ws", "wss"];

/// RFC 8252 §7.3 loopback hosts: IP literals (port may vary for native applications) and
/// `localhost` (exact match).
const LOOPBACK_IPS: &[&str] = &["127.0.0.1", "[::1]"];
const LOCALHOST: &str = "localhost";

/// What is wrong with a redirect URI.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RedirectProblem {
    /// Nothing given.
    #[error("is empty")]
    Empty,
    /// Longer than [`MAX_REDIRECT_URI_LEN`].
    #[error("is longer than {max} characters")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// RFC 3986 §3: no scheme, so not an absolute URI.
    #[error("is not an absolute URI (it needs a scheme such as https://)")]
    NotAbsolute,
    /// A character outside RFC 3986 §2, or a bad percent-escape.
    #[error("contains {ch:?}, which is not allowed in a URI")]
    InvalidCharacter {
        /// The first offending character.
        ch: char,
    },
    /// RFC 6749 §3.1.2: "The endpoint URI MUST NOT include a fragment component."
    #[error("must not contain a fragment (#)")]
    Fragment,
    /// RFC 9700 §4.1.1 / docs/security.md "Redirect URIs": `user@host` hides the real host.
    #[error("must not contain a user name (user@host)")]
    UserInfo,
    /// A scheme that runs code or reads local data.
    #[error("uses the {scheme}: scheme, which is never allowed")]
    DangerousScheme {
        /// The scheme, lowercased.
        scheme: String,
    },
    /// `ftp`, `ws`, `wss`.
    #[error("uses the {scheme}: scheme; use https")]
    UnsupportedScheme {
        /// The scheme, lowercased.
        scheme: String,
    },
    /// A path with `.` or `..` segments, plain or encoded.
    #[error("must not contain . or .. path segments")]
    DotSegment,
    /// `http(s)` without a host.
    #[error("has no host")]
    MissingHost,
    /// RFC 9700 §2.1: plain http only for loopback.
    #[error("uses http to {host:?}; use https (plain http is only for 127.0.0.1, [::1] and localhost)")]
    HttpNotLoopback {
        /// The host as written.
        host: String,
    },
    /// RFC 8252 §7.1: private-use schemes are for native apps.
    #[error("uses the private {scheme}: scheme, which only native applications may use")]
    CustomSchemeNotAllowed {
        /// The scheme as written.
        scheme: String,
        /// The application's type.
        app_type: ApplicationType,
    },
    /// Refused by the URL parser (bad port, bad IP literal…).
    #[error("is not a valid URL: {reason}")]
    Malformed {
        /// The parser's explanation.
        reason: String,
    },
}

/// A redirect URI that cannot be registered; names the URI and the problem.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("redirect URI {uri:?} {problem}")]
pub struct RedirectUriError {
    /// The URI as given (shortened if very long).
    pub uri: String,
    /// What is wrong.
    pub problem: RedirectProblem,
}

/// For loopback IP URIs: the text before the port and the text after it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct LoopbackParts {
    /// `http://127.0.0.1` or `http://[::1]`, as written.
    before_port: String,
    /// Path and query after the port, as written (may be empty).
    after_port: String,
}

/// A registered redirect URI, valid per the module rules, kept exactly as given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RedirectUri {
    raw: String,
    loopback: Option<LoopbackParts>,
    /// RFC 8252 §7.3 / RFC 9700 §4.1.3: a loopback IP URI of a native application, whose
    /// port may vary at request time.
    port_may_vary: bool,
}

fn is_uri_char(ch: char) -> bool {
    ch.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(ch)
}

/// RFC 3986 §3.1: `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn scheme_of(raw: &str) -> Option<&str> {
    let (scheme, _) = raw.split_once(':')?;
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    (first_ok && rest_ok).then_some(scheme)
}

fn check_characters(raw: &str) -> Result<(), RedirectProblem> {
    let bytes = raw.as_bytes();
    for (i, ch) in raw.char_indices() {
        if ch == '#' {
            return Err(RedirectProblem::Fragment);
        }
        if !is_uri_char(ch) {
            return Err(RedirectProblem::InvalidCharacter { ch });
        }
        if ch == '%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return Err(RedirectProblem::InvalidCharacter { ch });
            }
        }
    }
    Ok(())
}

/// A path segment that RFC 3986 §5.2.4 would remove, also when percent-encoded or
/// followed by `;parameters` (the `..;/` trick of some servlet containers).
fn is_dot_segment(segment: &str) -> bool {
    let name = segment.split(';').next().unwrap_or(segment);
    let decoded = name.to_ascii_lowercase().replace("%2e", ".");
    decoded == "." || decoded == ".."
}

/// Splits `//authority/path?query` into the authority and what follows it.
fn split_authority(after_scheme: &str) -> Option<(&str, &str)> {
    let rest = after_scheme.strip_prefix("//")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    Some(rest.split_at(end))
}

/// Splits `host[:port]`, the host keeping its brackets for IPv6 literals.
fn split_host_port(authority: &str) -> (&str, &str) {
    let host_end = if authority.starts_with('[') {
        authority.find(']').map_or(authority.len(), |i| i + 1)
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    authority.split_at(host_end)
}

/// RFC 8252 §7.3: a port is 1 to 5 digits without a leading zero, 1–65535.
fn is_valid_port(port: &str) -> bool {
    !port.is_empty()
        && port.len() <= 5
        && !port.starts_with('0')
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p))
}

fn check(raw: &str, app_type: ApplicationType) -> Result<Option<LoopbackParts>, RedirectProblem> {
    use RedirectProblem as P;
    if raw.is_empty() {
        return Err(P::Empty);
    }
    if raw.chars().count() > MAX_REDIRECT_URI_LEN {
        return Err(P::TooLong { max: MAX_REDIRECT_URI_LEN });
    }
    // The scheme first, so `JavaScript:alert("x")` is reported as what it is.
    if let Some(scheme) = scheme_of(raw) {
        let lower = scheme.to_ascii_lowercase();
        if DANGEROUS_SCHEMES.contains(&lower.as_str()) {
            return Err(P::DangerousScheme { scheme: lower });
        }
    }
    check_characters(raw)?;
    let scheme = scheme_of(raw).ok_or(P::NotAbsolute)?;
    let lower_scheme = scheme.to_ascii_lowercase();
    if UNSUPPORTED_SCHEMES.contains(&lower_scheme.as_str()) {
        return Err(P::UnsupportedScheme { scheme: lower_scheme });
    }
    let after_scheme = &raw[scheme.len() + 1..];
    let authority = split_authority(after_scheme);
    if authority.is_some_and(|(a, _)| a.contains('@')) {
        return Err(P::UserInfo);
    }
    let url = url::Url::parse(raw).map_err(|e| P::Malformed { reason: e.to_string() })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(P::UserInfo);
    }
    let path_and_query = authority.map_or(after_scheme, |(_, rest)| rest);
    let path = path_and_query.split('?').next().unwrap_or("");
    if path.split('/').any(is_dot_segment) {
        return Err(P::DotSegment);
    }

    let is_http = lower_scheme == "http";
    if !is_http && lower_scheme != "https" {
        if app_type != ApplicationType::Native {
            return Err(P::CustomSchemeNotAllowed { scheme: scheme.to_owned(), app_type });
        }
        return Ok(None);
    }
    // `https:/host` and `https:host` parse (the URL standard is lenient); we are not.
    let Some((authority, rest)) = authority else {
        return Err(P::MissingHost);
    };
    let (host, _port) = split_host_port(authority);
    if host.is_empty() || url.host_str().is_none_or(str::is_empty) {
        return Err(P::MissingHost);
    }
    if !is_http {
        return Ok(None);
    }
    let host_lower = host.to_ascii_lowercase();
    if LOOPBACK_IPS.contains(&host_lower.as_str()) {
        let before_port = &raw[..scheme.len() + 3 + host.len()];
        return Ok(Some(LoopbackParts { before_port: before_port.to_owned(), after_port: rest.to_owned() }));
    }
    if host_lower == LOCALHOST {
        return Ok(None);
    }
    Err(P::HttpNotLoopback { host: preview(host) })
}

impl RedirectUri {
    /// Checks a redirect URI for registration by an application of type `app_type`
    /// (rules in the module documentation).
    pub fn parse(raw: &str, app_type: ApplicationType) -> Result<Self, RedirectUriError> {
        match check(raw, app_type) {
            Ok(loopback) => {
                let port_may_vary = loopback.is_some() && app_type == ApplicationType::Native;
                Ok(Self { raw: raw.to_owned(), loopback, port_may_vary })
            }
            Err(problem) => Err(RedirectUriError { uri: preview(raw), problem }),
        }
    }

    /// The URI exactly as registered.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Whether this is a loopback IP URI (`http://127.0.0.1…`, `http://[::1]…`).
    pub fn is_loopback_ip(&self) -> bool {
        self.loopback.is_some()
    }

    /// Whether a presented URI may differ from this one in its port: only for a loopback
    /// IP URI of a native application (RFC 8252 §7.3, RFC 9700 §4.1.3).
    pub fn port_may_vary(&self) -> bool {
        self.port_may_vary
    }

    /// RFC 9700 §4.1.3 / OIDC Core §3.1.2.1: a presented `redirect_uri` matches only if it
    /// is exactly this string. RFC 8252 §7.3: for a native application's loopback IP URIs
    /// the port may differ (or be absent), nothing else; web, SPA and machine
    /// applications get the exact match for loopback URIs too (RFC 9700 §4.1.3 makes
    /// port variance an exception for native apps only). Trailing slashes, letter case,
    /// extra query parameters, encodings and other ports elsewhere never match.
    pub fn matches(&self, presented: &str) -> bool {
        if self.raw == presented {
            return true;
        }
        let Some(parts) = self.loopback.as_ref().filter(|_| self.port_may_vary) else {
            return false;
        };
        let Some(after_host) = presented.strip_prefix(parts.before_port.as_str()) else {
            return false;
        };
        let rest = match after_host.strip_prefix(':') {
            Some(with_port) => {
                let end = with_port.find(|c: char| !c.is_ascii_digit()).unwrap_or(with_port.len());
                let (port, rest) = with_port.split_at(end);
                if !is_valid_port(port) {
                    return false;
                }
                rest
            }
            None => after_host,
        };
        rest == parts.after_port
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl AsRef<str> for RedirectUri {
    fn as_ref(&self) -> &str {
        &self.raw
    }
}

impl Serialize for RedirectUri {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.raw)
    }
}

/// OIDC RP-Initiated Logout §2 / §3.1: a `post_logout_redirect_uri`, registered and
/// matched under the same rules as a redirect URI (for the same application type).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PostLogoutRedirectUri(RedirectUri);

impl PostLogoutRedirectUri {
    /// Checks a post-logout redirect URI for registration (same rules as [`RedirectUri`]).
    pub fn parse(raw: &str, app_type: ApplicationType) -> Result<Self, RedirectUriError> {
        RedirectUri::parse(raw, app_type).map(Self)
    }

    /// The URI exactly as registered.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Same matching as [`RedirectUri::matches`].
    pub fn matches(&self, presented: &str) -> bool {
        self.0.matches(presented)
    }
}

impl fmt::Display for PostLogoutRedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for PostLogoutRedirectUri {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// OIDC Back-Channel Logout 1.0 §2.2: a `backchannel_logout_uri`, "an absolute URI …
/// MUST NOT include a fragment component". Registered under the rules of a web
/// application's redirect URI (https, plain http only to loopback hosts for development,
/// no user name, no dot segments). Where a logout token may actually be delivered is the
/// outbound guard's decision at delivery time (public addresses, or hosts the operator
/// lists).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BackchannelLogoutUri(RedirectUri);

impl BackchannelLogoutUri {
    pub fn parse(raw: &str) -> Result<Self, RedirectUriError> {
        RedirectUri::parse(raw, ApplicationType::Web).map(Self)
    }

    /// The URI exactly as registered.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// A URL an application registers for Tessera to fetch from it: RFC 7591 §2 `jwks_uri`,
/// OIDC Dynamic Client Registration 1.0 §2 `request_uris` (RFC 9101 §5.2). Registered
/// under the rules of a web application's redirect URI (https, plain http only to
/// loopback hosts for development, no user name, no fragment, no dot segments); where a
/// request may actually go is the outbound guard's decision (public addresses, or hosts
/// the operator lists), checked again when it is saved and when it is fetched.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientUrl(RedirectUri);

impl ClientUrl {
    /// `what` names the setting in the error (`jwks_uri`).
    pub fn parse(raw: &str, what: &str) -> Result<Self, String> {
        RedirectUri::parse(raw, ApplicationType::Web).map(Self).map_err(|e| format!("{what} {:?} {}", e.uri, e.problem))
    }

    /// The URL exactly as registered.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

#[cfg(test)]
mod tests;
