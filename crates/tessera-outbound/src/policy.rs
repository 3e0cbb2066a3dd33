//! Which URLs an outbound request may be sent to: `https` to hosts that resolve to public
//! addresses, unless the operator lists the host in `outbound_private_hosts`.
//!
//! The URLs come from outside the operator's hands (a client's registered
//! `backchannel_logout_uri` today; `jwks_uri`, `request_uri` and client metadata documents
//! later), so the identity provider must not become a way into its own network (OWASP
//! SSRF Prevention: allow the scheme, refuse private destinations, resolve once and connect
//! to what was checked). The address check of DNS names happens in the resolver
//! ([`crate::client`]); IP literals and schemes are checked here, before any connection.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use url::{Host, Url};

use crate::address;

/// Hosts the operator allows although they are private, loopback or otherwise not public:
/// DNS names (which may then resolve to any address) and IP literals. A listed host may
/// also be reached over plain `http` (a receiver on the same machine or network).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrivateHosts(Arc<[Listed]>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Listed {
    Name(String),
    Ip(IpAddr),
}

/// A `outbound_private_hosts` entry that is neither a host name nor an IP literal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("outbound private host {entry:?}: {reason}")]
pub struct PrivateHostsError {
    pub entry: String,
    pub reason: &'static str,
}

impl PrivateHosts {
    /// Parses entries: a lowercase DNS name (`idp-hooks.internal`), an IPv4 literal
    /// (`127.0.0.1`) or an IPv6 literal with or without brackets (`::1`, `[::1]`). No ports,
    /// schemes or paths: an entry admits the host on every port.
    pub fn parse(entries: &[String]) -> Result<PrivateHosts, PrivateHostsError> {
        let listed = entries.iter().map(|entry| parse_entry(entry)).collect::<Result<Vec<_>, _>>()?;
        Ok(PrivateHosts(listed.into()))
    }

    /// No host besides public ones.
    pub fn none() -> PrivateHosts {
        PrivateHosts::default()
    }

    /// Whether the DNS name `name` is listed.
    pub fn lists_name(&self, name: &str) -> bool {
        self.0.iter().any(|listed| matches!(listed, Listed::Name(n) if n.eq_ignore_ascii_case(name)))
    }

    /// Whether the IP literal `ip` is listed.
    pub fn lists_ip(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|listed| matches!(listed, Listed::Ip(l) if *l == ip))
    }

    /// The entries as given back, for the start-up log and `tessera config`.
    pub fn entries(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|listed| match listed {
                Listed::Name(name) => name.clone(),
                Listed::Ip(ip) => ip.to_string(),
            })
            .collect()
    }

    /// Whether a request may be sent to `url`: `https` (or `http` to a listed host), no
    /// user name or password in it, and an IP literal host only when public or listed. A DNS
    /// name passes here; its addresses are checked when it is resolved.
    pub fn admit(&self, url: &Url) -> Result<(), String> {
        let host = url.host().ok_or_else(|| "the URL has no host".to_owned())?;
        let listed = match &host {
            Host::Domain(name) => self.lists_name(name),
            Host::Ipv4(ip) => self.lists_ip(IpAddr::V4(*ip)),
            Host::Ipv6(ip) => self.lists_ip(IpAddr::V6(*ip)),
        };
        match url.scheme() {
            "https" => {}
            "http" if listed => {}
            "http" => return Err(format!("{host} is reached only over https")),
            other => return Err(format!("only https URLs may be called, not {other}:")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("the URL carries credentials".to_owned());
        }
        let literal = match host {
            Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            Host::Domain(_) => None,
        };
        match literal {
            Some(ip) if !listed && !address::is_public(ip) => {
                Err(format!("{ip} is not a public address (an operator may list it in outbound_private_hosts)"))
            }
            _ => Ok(()),
        }
    }
}

fn parse_entry(raw: &str) -> Result<Listed, PrivateHostsError> {
    let entry = raw.trim();
    let fail = |reason| PrivateHostsError { entry: raw.to_owned(), reason };
    if entry.is_empty() {
        return Err(fail("empty entry"));
    }
    if entry.contains('/') {
        return Err(fail("give a host name or an IP address, not a URL"));
    }
    let unbracketed = entry.strip_prefix('[').and_then(|rest| rest.strip_suffix(']'));
    if let Some(ip) = unbracketed {
        return ip.parse::<Ipv6Addr>().map(|ip| Listed::Ip(IpAddr::V6(ip))).map_err(|_| fail("not an IPv6 address"));
    }
    if let Ok(ip) = entry.parse::<Ipv6Addr>() {
        return Ok(Listed::Ip(IpAddr::V6(ip)));
    }
    if let Ok(ip) = entry.parse::<Ipv4Addr>() {
        return Ok(Listed::Ip(IpAddr::V4(ip)));
    }
    if entry.contains(':') {
        return Err(fail("no port: an entry admits every port of its host"));
    }
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if entry.len() > 253 || !entry.split('.').all(valid_label) {
        return Err(fail("not a lowercase host name"));
    }
    if entry.rsplit('.').next().is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit())) {
        return Err(fail("the last label of a host name cannot be numeric"));
    }
    Ok(Listed::Name(entry.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entries: &[&str]) -> PrivateHosts {
        PrivateHosts::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn admit(hosts: &PrivateHosts, url: &str) -> Result<(), String> {
        hosts.admit(&Url::parse(url).unwrap())
    }

    #[test]
    fn https_to_public_hosts_is_admitted() {
        let none = PrivateHosts::none();
        assert_eq!(admit(&none, "https://rp.example.com/logout"), Ok(()));
        assert_eq!(admit(&none, "https://93.184.216.34:8443/logout"), Ok(()));
        assert_eq!(admit(&none, "https://[2606:4700:4700::1111]/logout"), Ok(()));
    }

    #[test]
    fn plain_http_other_schemes_and_credentials_are_refused() {
        let none = PrivateHosts::none();
        assert!(admit(&none, "http://rp.example.com/logout").unwrap_err().contains("only over https"));
        assert!(admit(&none, "ftp://rp.example.com/x").unwrap_err().contains("not ftp:"));
        assert!(admit(&none, "file:///etc/passwd").is_err());
        assert!(admit(&none, "https://user:pw@rp.example.com/").unwrap_err().contains("credentials"));
    }

    #[test]
    fn private_ip_literals_are_refused_unless_listed() {
        let none = PrivateHosts::none();
        for url in [
            "https://127.0.0.1/",
            "https://10.1.2.3/",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/",
            "https://[::ffff:192.168.0.1]/",
            "https://0.0.0.0/",
        ] {
            assert!(admit(&none, url).unwrap_err().contains("not a public address"), "{url}");
        }
        let listed = hosts(&["127.0.0.1", "[::1]"]);
        assert_eq!(admit(&listed, "http://127.0.0.1:9000/logout"), Ok(()));
        assert_eq!(admit(&listed, "https://[::1]:9000/logout"), Ok(()));
        assert!(admit(&listed, "http://127.0.0.2/").is_err(), "only the listed address");
    }

    #[test]
    fn a_listed_name_may_use_http() {
        let listed = hosts(&["hooks.internal"]);
        assert_eq!(admit(&listed, "http://hooks.internal:8080/bcl"), Ok(()));
        assert!(admit(&listed, "http://other.internal/").is_err());
        assert!(listed.lists_name("HOOKS.internal"));
    }

    #[test]
    fn entries_are_host_names_or_ip_literals() {
        assert_eq!(hosts(&["127.0.0.1", "::1", "[fd00::1]", "a-b.example"]).entries().len(), 4);
        for bad in ["", "http://x", "127.0.0.1:80", "Upper.example", "a..b", "x.123", "[nope]"] {
            assert!(PrivateHosts::parse(&[bad.to_string()]).is_err(), "{bad:?}");
        }
    }
}
