//! Which IP addresses an outbound request may reach through a DNS name.
//!
//! A DNS name may only lead to globally routable unicast addresses: otherwise a name an admin
//! or a client registered (or a DNS answer an attacker controls, "DNS rebinding") could point
//! a claims script's `fetch` or a back-channel delivery at the identity provider's own
//! network. The ranges follow the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC
//! 6890 and its updates). An operator who really wants an internal service reached lists it
//! (the scripts' fetch allow list takes its IP literal; outbound deliveries take
//! `outbound_private_hosts`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// True when `ip` is a globally routable unicast address (IANA special-purpose registries:
/// not loopback, private, shared, link-local, unspecified, documentation, benchmarking,
/// multicast, reserved or broadcast).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = a == 0 // "this network", RFC 791
        || a == 10 // private, RFC 1918
        || a == 127 // loopback, RFC 1122
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT), RFC 6598
        || (a == 169 && b == 254) // link-local, RFC 3927
        || (a == 172 && (16..32).contains(&b)) // private, RFC 1918
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments, RFC 6890
        || (a == 192 && b == 0 && c == 2) // documentation TEST-NET-1, RFC 5737
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast, RFC 7526
        || (a == 192 && b == 168) // private, RFC 1918
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, RFC 2544
        || (a == 198 && b == 51 && c == 100) // documentation TEST-NET-2, RFC 5737
        || (a == 203 && b == 0 && c == 113) // documentation TEST-NET-3, RFC 5737
        || a >= 224; // multicast (RFC 5771), reserved (RFC 1112) and broadcast
    !special
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    // Addresses that embed an IPv4 address are judged by that address (RFC 4291 §2.5.5).
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    // Only global unicast (2000::/3, RFC 4291 §2.4) can be public; that excludes ::, ::1,
    // fc00::/7 (unique local, RFC 4193), fe80::/10 (link-local), ff00::/8 (multicast) and
    // 100::/64 (discard, RFC 6666).
    if s[0] & 0xe000 != 0x2000 {
        return false;
    }
    // 2001::/23: IETF protocol assignments incl. Teredo (RFC 2928); 2001:db8::/32:
    // documentation (RFC 3849).
    let special = (s[0] == 0x2001 && (s[1] < 0x0200 || s[1] == 0x0db8))
        || s[0] == 0x2002 // 6to4 tunnels to arbitrary IPv4 hosts, RFC 3056
        || (s[0] == 0x3fff && s[1] < 0x1000); // documentation, RFC 9637
    !special
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`)
/// or NAT64 (`64:ff9b::a.b.c.d`, RFC 6052) IPv6 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(tail),
        [0, 0, 0, 0, 0, 0, _, _] if u32::from(tail) > 1 => Some(tail),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(s: &str) -> bool {
        is_public(s.parse().unwrap_or_else(|e| panic!("{s}: {e}")))
    }

    #[test]
    fn global_unicast_addresses_are_public() {
        for ip in ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"] {
            assert!(public(ip), "{ip} should be public");
        }
    }

    #[test]
    fn loopback_private_link_local_and_other_special_addresses_are_not_public() {
        let refused = [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.5",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "192.0.2.10",
            "198.18.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
            "2001::1",
            "2002:7f00:1::1",
        ];
        for ip in refused {
            assert!(!public(ip), "{ip} should not be public");
        }
    }

    #[test]
    fn ipv4_mapped_public_addresses_are_public() {
        assert!(public("::ffff:93.184.216.34"));
    }
}
