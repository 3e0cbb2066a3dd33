//! The client's address behind reverse proxies. Tessera reads the address a request came
//! from for its sign-in throttles, its rate limits, the audit log and the request log.
//! Behind a reverse proxy that address is the proxy's, so every client would share one
//! budget. `trusted_proxies` names the proxies (addresses or CIDR ranges); only for a
//! request whose direct peer is one of them is `X-Forwarded-For` read, from the right:
//! each proxy appends the address it received from, so the rightmost address that is not
//! a trusted proxy is the client (the leftmost entries are whatever the client sent, and
//! a client can send anything). A request from any other peer keeps its peer address,
//! whatever headers it carries. With no trusted proxies (the default) the headers are
//! never read.
//!
//! The middleware replaces the request's peer address, so every reader downstream
//! (`HttpRequest::peer_addr`) sees the client, in one place.

use std::net::{IpAddr, SocketAddr};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

/// An address range: a network address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `192.0.2.7`, `10.0.0.0/8`, `::1` or `fd00::/8`. The address must be the
    /// network's first (`10.0.0.1/8` is refused: it is probably a typing error).
    pub fn parse(raw: &str) -> Result<Cidr, String> {
        let (address, prefix) = match raw.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (raw, None),
        };
        let network: IpAddr =
            address.trim().parse().map_err(|_| format!("{raw:?} is not an IP address or CIDR range"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{raw:?}: the prefix length must be between 0 and {max}"))?,
            None => max,
        };
        let cidr = Cidr { network, prefix };
        if !cidr.contains(network) || mask(network, prefix) != bits(network) {
            return Err(format!("{raw:?}: the address has bits set beyond the prefix length"));
        }
        Ok(cidr)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        ip.is_ipv4() == self.network.is_ipv4() && mask(ip, self.prefix) == bits(self.network)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// An IPv4 address written as IPv6 (`::ffff:192.0.2.7`, as a dual-stack socket reports
/// it) is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn mask(ip: IpAddr, prefix: u8) -> u128 {
    let width: u32 = if ip.is_ipv4() { 32 } else { 128 };
    let host_bits = width - u32::from(prefix);
    if host_bits >= 128 { 0 } else { (bits(ip) >> host_bits) << host_bits }
}

/// The reverse proxies whose `X-Forwarded-For` Tessera believes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    pub fn parse(entries: &[String]) -> Result<TrustedProxies, String> {
        entries.iter().map(|entry| Cidr::parse(entry)).collect::<Result<Vec<_>, _>>().map(TrustedProxies)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|cidr| cidr.contains(ip))
    }

    /// The client's address for a request from `peer` carrying these `X-Forwarded-For`
    /// values (in the order received): the rightmost forwarded address that is not a
    /// trusted proxy; the leftmost when every one is; `peer` itself when `peer` is not
    /// trusted, or when an entry the trusted chain added is not an address (a proxy that
    /// writes something else is misconfigured, and guessing would let a client choose).
    pub fn client(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        for entry in forwarded_for.iter().rev().flat_map(|value| value.rsplit(',')) {
            let Some(ip) = parse_forwarded_address(entry) else {
                return client;
            };
            client = canonical(ip);
            if !self.trusts(client) {
                return client;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`192.0.2.7:5000`,
/// `[2001:db8::1]:5000`), as proxies write them.
fn parse_forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip);
    }
    entry.parse::<SocketAddr>().ok().map(|socket| socket.ip())
}

/// The middleware (`from_fn(proxy::client_address)`, with [`TrustedProxies`] as app
/// data): outermost, so the request log and every handler see the client's address.
pub async fn client_address(
    mut request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let trusted = request.app_data::<web::Data<TrustedProxies>>().cloned();
    if let (Some(trusted), Some(peer)) = (trusted, request.head().peer_addr)
        && !trusted.is_empty()
    {
        let forwarded: Vec<&str> =
            request.headers().get_all("x-forwarded-for").filter_map(|value| value.to_str().ok()).collect();
        let client = trusted.client(peer.ip(), &forwarded);
        if client != peer.ip() {
            // The client's port is not known; 0 says so.
            request.head_mut().peer_addr = Some(SocketAddr::new(client, 0));
        }
    }
    next.call(request).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(entries: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&entries.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn ranges_parse_and_match() {
        let private = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(private.contains(ip("10.1.2.3")));
        assert!(!private.contains(ip("11.0.0.1")));
        assert!(private.contains(ip("::ffff:10.9.9.9")), "an IPv4-mapped address is its IPv4 address");
        assert!(Cidr::parse("192.0.2.7").unwrap().contains(ip("192.0.2.7")));
        assert!(!Cidr::parse("192.0.2.7").unwrap().contains(ip("192.0.2.8")));
        assert!(Cidr::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(!Cidr::parse("fd00::/8").unwrap().contains(ip("10.0.0.1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("203.0.113.9")));
        for bad in ["10.0.0.1/8", "10.0.0.0/33", "fd00::/129", "proxy.example", "10.0.0.0/", "10.0.0.0/x", ""] {
            assert!(Cidr::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        let none = TrustedProxies::default();
        assert_eq!(none.client(ip("10.0.0.2"), &["203.0.113.9"]), ip("10.0.0.2"));
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = proxies(&["10.0.0.0/8"]);
        assert_eq!(trusted.client(ip("198.51.100.4"), &["203.0.113.9"]), ip("198.51.100.4"));
    }

    #[test]
    fn the_rightmost_untrusted_address_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8"]);
        // The client forged the first entry; the proxy appended the address it saw.
        assert_eq!(trusted.client(ip("10.0.0.2"), &["1.2.3.4, 203.0.113.9"]), ip("203.0.113.9"));
        // Two proxies: the second saw the first.
        assert_eq!(trusted.client(ip("10.0.0.2"), &["1.2.3.4, 203.0.113.9, 10.0.0.3"]), ip("203.0.113.9"));
        // Several headers count as one list, in order.
        assert_eq!(trusted.client(ip("10.0.0.2"), &["1.2.3.4", "203.0.113.9:4711"]), ip("203.0.113.9"));
        assert_eq!(trusted.client(ip("10.0.0.2"), &["[2001:db8::7]:443"]), ip("2001:db8::7"));
    }

    #[test]
    fn a_chain_of_trusted_addresses_ends_at_the_leftmost_and_garbage_stops_the_walk() {
        let trusted = proxies(&["10.0.0.0/8"]);
        assert_eq!(trusted.client(ip("10.0.0.2"), &["10.0.0.9, 10.0.0.3"]), ip("10.0.0.9"));
        assert_eq!(trusted.client(ip("10.0.0.2"), &[]), ip("10.0.0.2"));
        assert_eq!(trusted.client(ip("10.0.0.2"), &["203.0.113.9, unknown"]), ip("10.0.0.2"));
        assert_eq!(trusted.client(ip("10.0.0.2"), &["unknown, 10.0.0.3"]), ip("10.0.0.3"));
    }
}
