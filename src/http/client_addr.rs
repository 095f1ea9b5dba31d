//! Who the client of a request is: the TCP peer, or behind a trusted proxy
//! (`--trusted-proxies`) the client its `X-Forwarded-For` names, and the key
//! per-address limits count it under.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::{
    extract::ConnectInfo,
    http::{HeaderMap, request::Parts},
};
use ipnet::IpNet;

/// The TCP peer of a request, when the server put it in the request's
/// extensions (`ConnectInfo<SocketAddr>`, as every connection of
/// [`crate::server`] does).
pub fn peer(parts: &Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0)
}

/// The client address of a request from `peer`. When `peer` is a trusted
/// proxy: the rightmost `X-Forwarded-For` address that is not a trusted proxy
/// itself (each proxy appends the address it got the request from, so what is
/// left of the first untrusted one could be anything the client wrote); the
/// leftmost one when all of them are trusted; `peer` without the header or at
/// an unreadable entry. Otherwise `peer`, whatever the headers say.
pub fn client_ip(parts: &Parts, peer: IpAddr, trusted: &[IpNet]) -> IpAddr {
    let client = peer.to_canonical();
    if !is_trusted(client, trusted) {
        return client;
    }
    forwarded_client(&parts.headers, client, trusted)
}

/// The client of a request from the trusted proxy `peer`: the rightmost
/// `X-Forwarded-For` address that is not a trusted proxy itself (each proxy
/// appends the address it got the request from, so addresses left of the
/// first untrusted one could be anything the client wrote). Without the
/// header, or when every address is trusted, the leftmost trusted hop it
/// reaches; at an unreadable entry, the last hop read.
pub fn forwarded_client(headers: &HeaderMap, peer: IpAddr, trusted: &[IpNet]) -> IpAddr {
    let mut client = peer;
    let values: Vec<_> = headers.get_all("x-forwarded-for").iter().collect();
    for value in values.into_iter().rev() {
        let Ok(value) = value.to_str() else {
            return client;
        };
        for hop in value.rsplit(',') {
            let Some(ip) = parse_hop(hop) else {
                return client;
            };
            client = ip;
            if !is_trusted(ip, trusted) {
                return ip;
            }
        }
    }
    client
}

/// Is `ip` one of the `trusted` proxies?
pub fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = ip.to_canonical();
    trusted.iter().any(|net| net.contains(&ip))
}

/// What a client address counts under in per-address limits: an IPv4 address
/// (or an IPv4-mapped IPv6 one) itself, an IPv6 address its /64 (one host
/// usually has a whole /64).
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

/// One `X-Forwarded-For` entry: an address, optionally with a port
/// (`1.2.3.4:5678`, `[2001:db8::1]:443`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .map(|ip| ip.to_canonical())
}

/// `X-Forwarded-For` headers and the client they name, reaching the server
/// through a proxy trusted as part of `10.0.0.0/8` (also the cases of the
/// accept loop's caps, [`crate::server`]).
#[cfg(test)]
pub(crate) const FORWARDED: &[(&[&str], &str)] = &[
    (&["6.6.6.6, 203.0.113.7"], "203.0.113.7"),
    (&["203.0.113.7, 10.1.1.1"], "203.0.113.7"),
    (&["6.6.6.6", "203.0.113.7:4000, 10.1.1.1"], "203.0.113.7"),
    (&["[2001:db8::1]:443"], "2001:db8::1"),
    (&["::ffff:198.51.100.1"], "198.51.100.1"),
    (&["10.9.9.9, 10.1.1.1"], "10.9.9.9"),
    (&["garbage, 10.1.1.1"], "10.1.1.1"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn request(forwarded: &[&str]) -> Parts {
        let mut request = axum::http::Request::builder();
        for value in forwarded {
            request = request.header("x-forwarded-for", *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_peer_is_the_client_unless_it_is_a_trusted_proxy() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let spoofed = request(&["203.0.113.7"]);
        assert_eq!(
            client_ip(&spoofed, ip("198.51.100.1"), &trusted),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_ip(&spoofed, ip("198.51.100.1"), &[]),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_ip(&spoofed, ip("10.1.1.1"), &trusted),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy = ip("10.0.0.2");
        assert_eq!(client_ip(&request(&[]), proxy, &trusted), proxy);
        for &(headers, client) in FORWARDED {
            assert_eq!(
                client_ip(&request(headers), proxy, &trusted),
                ip(client),
                "{headers:?}"
            );
        }
    }

    #[test]
    fn ipv6_counts_per_64() {
        assert_eq!(
            address_key(ip("2001:db8:1:2:aaaa::1")),
            address_key(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            address_key(ip("2001:db8:1:2::1")),
            address_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(address_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }
}
