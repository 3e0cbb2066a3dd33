//! The fetch allow list: which hosts a claims script may call.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use url::{Host, Url};

/// The hosts a script's `fetch` may reach. Empty means `fetch` is disabled: it exists but
/// every call rejects.
///
/// Each entry is `host` or `host:port`, where `host` is a lowercase DNS name or an IP literal
/// (IPv6 in brackets when a port follows: `[::1]:8080`). An entry without a port admits every
/// port of that host. A DNS name only ever leads to public addresses (see `tessera_outbound::address`); to
/// reach a loopback or private service the admin lists its IP literal, e.g. `127.0.0.1:8081`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchPolicy {
    hosts: Arc<[AllowedHost]>,
}

/// One allow-list entry, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    host: AllowedName,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum AllowedName {
    Dns(String),
    Ip(IpAddr),
}

/// An allow-list entry that is not `host` or `host:port`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fetch allow-list entry {entry:?}: {reason}")]
pub struct FetchPolicyError {
    /// The entry as given.
    pub entry: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl FetchPolicy {
    /// Parses allow-list entries (`host` or `host:port`, see [`FetchPolicy`]). Surrounding
    /// whitespace is ignored; duplicates are kept (they are harmless).
    pub fn parse(entries: &[String]) -> Result<FetchPolicy, FetchPolicyError> {
        let hosts = entries.iter().map(|entry| AllowedHost::parse(entry)).collect::<Result<Vec<_>, _>>()?;
        Ok(FetchPolicy { hosts: hosts.into() })
    }

    /// The policy that allows no host: `fetch` rejects every call.
    pub fn disabled() -> Self {
        FetchPolicy::default()
    }

    /// Whether any host is allowed.
    pub fn is_enabled(&self) -> bool {
        !self.hosts.is_empty()
    }

    /// The parsed entries, in the order given.
    pub fn hosts(&self) -> &[AllowedHost] {
        &self.hosts
    }

    /// Decides whether a script may send a request to `url`: http or https, and a host (and
    /// port, when the entry names one) on the list. Address checks for DNS names happen at
    /// resolution time, in the HTTP client's resolver.
    pub(crate) fn admit(&self, url: &Url) -> Result<(), String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("only http and https URLs may be fetched, not {}:", url.scheme()));
        }
        let (name, shown) = match url.host() {
            Some(Host::Domain(domain)) => (AllowedName::Dns(domain.to_owned()), domain.to_owned()),
            Some(Host::Ipv4(ip)) => (AllowedName::Ip(IpAddr::V4(ip)), ip.to_string()),
            Some(Host::Ipv6(ip)) => (AllowedName::Ip(IpAddr::V6(ip)), format!("[{ip}]")),
            None => return Err("the URL has no host".to_owned()),
        };
        let port = url.port_or_known_default();
        let listed =
            self.hosts.iter().any(|allowed| allowed.host == name && allowed.port.is_none_or(|p| Some(p) == port));
        if listed {
            Ok(())
        } else {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            Err(format!("{shown}{port} is not in the fetch allow list"))
        }
    }
}

impl AllowedHost {
    fn parse(raw: &str) -> Result<AllowedHost, FetchPolicyError> {
        let entry = raw.trim();
        let fail = |reason| FetchPolicyError { entry: raw.to_owned(), reason };
        if entry.is_empty() {
            return Err(fail("empty entry"));
        }
        if entry.contains("://") || entry.contains('/') {
            return Err(fail("give a host or host:port, not a URL"));
        }
        // `[v6]` or `[v6]:port`
        if let Some(rest) = entry.strip_prefix('[') {
            let (ip, after) = rest.split_once(']').ok_or_else(|| fail("unclosed '['"))?;
            let ip: Ipv6Addr = ip.parse().map_err(|_| fail("not an IPv6 address inside brackets"))?;
            let port = match after {
                "" => None,
                _ => Some(
                    parse_port(after.strip_prefix(':').ok_or_else(|| fail("expected ':port' after ']'"))?)
                        .ok_or_else(|| fail("invalid port"))?,
                ),
            };
            return Ok(AllowedHost { host: AllowedName::Ip(IpAddr::V6(ip)), port });
        }
        // a bare IPv6 literal has several colons and no port
        if let Ok(ip) = entry.parse::<Ipv6Addr>() {
            return Ok(AllowedHost { host: AllowedName::Ip(IpAddr::V6(ip)), port: None });
        }
        let (host, port) = match entry.rsplit_once(':') {
            Some((host, port)) => (host, Some(parse_port(port).ok_or_else(|| fail("invalid port"))?)),
            None => (entry, None),
        };
        if let Ok(ip) = host.parse::<Ipv4Addr>() {
            return Ok(AllowedHost { host: AllowedName::Ip(IpAddr::V4(ip)), port });
        }
        check_dns_name(host).map_err(fail)?;
        Ok(AllowedHost { host: AllowedName::Dns(host.to_owned()), port })
    }

    /// True when the entry is an IP literal (which may be private or loopback).
    pub fn is_ip_literal(&self) -> bool {
        matches!(self.host, AllowedName::Ip(_))
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.host, self.port) {
            (AllowedName::Dns(name), None) => f.write_str(name),
            (AllowedName::Dns(name), Some(port)) => write!(f, "{name}:{port}"),
            (AllowedName::Ip(IpAddr::V6(ip)), Some(port)) => write!(f, "[{ip}]:{port}"),
            (AllowedName::Ip(ip), None) => write!(f, "{ip}"),
            (AllowedName::Ip(ip), Some(port)) => write!(f, "{ip}:{port}"),
        }
    }
}

fn parse_port(port: &str) -> Option<u16> {
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    port.parse::<u16>().ok().filter(|p| *p != 0)
}

/// RFC 1123 §2.1 host names, lowercase (entries are compared with the URL's host, which the
/// URL parser lowercases). The last label must not be numeric: the WHATWG URL parser reads such
/// a host as an IPv4 address.
fn check_dns_name(host: &str) -> Result<(), &'static str> {
    if host.len() > 253 {
        return Err("host name longer than 253 characters");
    }
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("host names must be lowercase");
    }
    if host.contains('*') {
        return Err("wildcards are not supported; list each host");
    }
    let mut labels = host.split('.').peekable();
    while let Some(label) = labels.next() {
        let valid = !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !valid {
            return Err("not a host name: labels are 1 to 63 of a-z, 0-9 and inner '-'");
        }
        if labels.peek().is_none() && label.bytes().all(|b| b.is_ascii_digit()) {
            return Err("the last label of a host name cannot be numeric");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(entries: &[&str]) -> Result<FetchPolicy, FetchPolicyError> {
        FetchPolicy::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>())
    }

    fn admits(policy: &FetchPolicy, url: &str) -> bool {
        policy.admit(&Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))).is_ok()
    }

    #[test]
    fn entries_are_hosts_or_host_ports_or_ip_literals() {
        let policy = parse(&["api.example.com", "hooks.example.com:8443", "127.0.0.1:8081", "[::1]:9000", "::1"])
            .unwrap_or_else(|e| panic!("{e}"));
        let shown: Vec<String> = policy.hosts().iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["api.example.com", "hooks.example.com:8443", "127.0.0.1:8081", "[::1]:9000", "::1"]);
        assert!(policy.hosts()[2].is_ip_literal());
        assert!(!policy.hosts()[0].is_ip_literal());
    }

    #[test]
    fn malformed_entries_are_refused_with_a_reason() {
        for bad in [
            "",
            "https://api.example.com",
            "API.example.com",
            "*.example.com",
            "api.example.com:0",
            "api.example.com:99999",
            "api.example.com:x",
            "-api.example.com",
            "api..example.com",
            "example.123",
            "[::1",
            "[::1]8080",
            "[nope]:80",
            "exa mple.com",
        ] {
            assert!(parse(&[bad]).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn empty_policy_is_disabled() {
        assert!(!FetchPolicy::disabled().is_enabled());
        assert!(parse(&[]).is_ok_and(|p| !p.is_enabled()));
        assert!(!admits(&FetchPolicy::disabled(), "https://api.example.com/"));
    }

    #[test]
    fn only_listed_hosts_and_ports_are_admitted() {
        let policy =
            parse(&["api.example.com", "hooks.example.com:8443", "127.0.0.1:8081"]).unwrap_or_else(|e| panic!("{e}"));
        assert!(admits(&policy, "https://api.example.com/v1/users"));
        assert!(admits(&policy, "http://api.example.com:8080/any-port"));
        assert!(admits(&policy, "https://HOOKS.example.com:8443/"));
        assert!(!admits(&policy, "https://hooks.example.com/"), "default port 443 is not 8443");
        assert!(admits(&policy, "http://127.0.0.1:8081/"));
        assert!(!admits(&policy, "http://127.0.0.1:8082/"));
        assert!(!admits(&policy, "https://evil.example.com/"));
        assert!(!admits(&policy, "https://api.example.com.evil.net/"));
        assert!(!admits(&policy, "https://api.example.com@evil.net/"));
        assert!(!admits(&policy, "ftp://api.example.com/"));
        assert!(!admits(&policy, "file:///etc/passwd"));
    }
}
