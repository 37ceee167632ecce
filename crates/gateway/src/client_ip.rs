//! The client's IP address, decided once per request. Behind a load balancer the socket peer is
//! the balancer, so from a peer in `trusted_proxies` the address comes from `Forwarded`
//! (RFC 7239) or, without it, `X-Forwarded-For`: the right-most hop that is not itself a
//! trusted proxy. From any other peer those headers are ignored (anyone can send them). A
//! malformed chain falls back to the peer. The per-IP rate limit, audit entries, sessions and
//! sign-ins all read the one [`ClientIp`] this middleware stores.

use poem::http::HeaderMap;
use poem::{Endpoint, Middleware, Request};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The client address of the request being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The address the middleware decided; the socket peer where it did not run.
    pub fn of(req: &Request) -> Option<IpAddr> {
        req.data::<ClientIp>().map(|c| c.0).or_else(|| {
            req.remote_addr()
                .as_socket_addr()
                .map(|a| a.ip().to_canonical())
        })
    }
}

/// One `address/prefix-length` range (a bare address is a range of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("`{text}` is not an IP address or CIDR range"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}`: the prefix length must be 0 to {max}"))?,
        };
        Ok(Self {
            network: network.to_canonical(),
            prefix,
        })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
            if prefix == 0 {
                0
            } else {
                bits >> (width - prefix)
            }
        }
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net).into(), self.prefix, 32)
                    == masked(u32::from(ip).into(), self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), self.prefix, 128)
                    == masked(u128::from(ip), self.prefix, 128)
            }
            _ => false,
        }
    }
}

/// The configured proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// Every range, or one message per entry that is not one.
    pub fn parse(entries: &[String]) -> Result<Self, Vec<String>> {
        let (ranges, errors): (Vec<_>, Vec<_>) = entries
            .iter()
            .map(|e| Cidr::parse(e))
            .partition(Result::is_ok);
        if errors.is_empty() {
            Ok(Self(ranges.into_iter().filter_map(Result::ok).collect()))
        } else {
            Err(errors.into_iter().filter_map(Result::err).collect())
        }
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|range| range.contains(ip))
    }

    /// The client address of a request that arrived from `peer` with these headers.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let Some(hops) = forwarded_hops(headers) else {
            return peer;
        };
        // Right to left: the nearest hop that is not one of our proxies is the client; hops
        // further left were written by that client and prove nothing.
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) if self.trusts(*ip) => client = *ip,
                Some(ip) => return *ip,
                // `unknown`, an obfuscated name or garbage: nothing to its left can be
                // believed, and the hop itself names no address.
                None => return peer,
            }
        }
        client
    }
}

/// The hops of `Forwarded` (preferred) or `X-Forwarded-For`, left to right; `None` for a hop
/// that names no address. `None` overall when neither header is there or one is unreadable.
fn forwarded_hops(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let joined = |name: &str| -> Option<Option<String>> {
        let values: Vec<_> = headers.get_all(name).iter().collect();
        if values.is_empty() {
            return None;
        }
        let texts: Option<Vec<&str>> = values.iter().map(|v| v.to_str().ok()).collect();
        Some(texts.map(|t| t.join(",")))
    };
    if let Some(forwarded) = joined("forwarded") {
        let forwarded = forwarded?;
        let hops = split_outside_quotes(&forwarded, ',')
            .into_iter()
            .map(|element| {
                // An element without `for` (or not `key=value`) is a malformed chain.
                let mut address = None;
                for pair in split_outside_quotes(element, ';') {
                    let (key, value) = pair.split_once('=')?;
                    if key.trim().eq_ignore_ascii_case("for") {
                        address = node_address(value.trim().trim_matches('"'));
                    }
                }
                address
            })
            .collect();
        return Some(hops);
    }
    let forwarded_for = joined("x-forwarded-for")??;
    Some(
        forwarded_for
            .split(',')
            .map(|hop| node_address(hop.trim()))
            .collect(),
    )
}

/// A node as RFC 7239 writes it: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`,
/// `[2001:db8::1]:4711` (and, in `X-Forwarded-For`, a bare IPv6 address).
fn node_address(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(socket) = node.parse::<SocketAddr>() {
        return Some(socket.ip().to_canonical());
    }
    let bracketed = node.strip_prefix('[')?.strip_suffix(']')?;
    bracketed
        .parse::<std::net::Ipv6Addr>()
        .ok()
        .map(|ip| IpAddr::V6(ip).to_canonical())
}

/// Splits on `separator` except inside double quotes (RFC 7230 quoted strings).
fn split_outside_quotes(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(text[start..i].trim());
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(text[start..].trim());
    parts
}

/// Decides the [`ClientIp`] of every request, before anything that needs it.
pub struct ResolveClientIp(pub Arc<TrustedProxies>);

impl<E: Endpoint> Middleware<E> for ResolveClientIp {
    type Output = ResolveClientIpEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        ResolveClientIpEndpoint {
            ep,
            trusted: self.0.clone(),
        }
    }
}

pub struct ResolveClientIpEndpoint<E> {
    ep: E,
    trusted: Arc<TrustedProxies>,
}

impl<E: Endpoint> Endpoint for ResolveClientIpEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        if let Some(peer) = req.remote_addr().as_socket_addr().map(|a| a.ip()) {
            let client = self.trusted.client_ip(peer, req.headers());
            req.set_data(ClientIp(client));
        }
        self.ep.call(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(ranges: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&ranges.iter().map(|r| r.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                poem::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ranges_parse_and_match_and_bad_ones_are_named() {
        let range = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(range.contains(ip("10.200.1.1")));
        assert!(!range.contains(ip("11.0.0.1")));
        assert!(!range.contains(ip("::1")));
        assert!(Cidr::parse("::/0").unwrap().contains(ip("2001:db8::1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("192.0.2.1")));
        assert!(
            Cidr::parse("127.0.0.1")
                .unwrap()
                .contains(ip("::ffff:127.0.0.1"))
        );
        let errors =
            TrustedProxies::parse(&["10.0.0.0/33".into(), "proxy".into(), "::1/64".into()])
                .unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
    }

    #[test]
    fn an_untrusted_peer_cannot_choose_its_address() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let spoofed = headers(&[
            ("x-forwarded-for", "203.0.113.7"),
            ("forwarded", "for=198.51.100.9"),
        ]);
        assert_eq!(
            trusted.client_ip(ip("192.0.2.50"), &spoofed),
            ip("192.0.2.50")
        );
        assert_eq!(
            TrustedProxies::default().client_ip(ip("10.0.0.1"), &spoofed),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn a_trusted_chain_yields_the_right_most_untrusted_hop() {
        let trusted = proxies(&["10.0.0.0/8", "2001:db8:ffff::/48"]);
        let peer = ip("10.0.0.2");
        let xff = headers(&[("x-forwarded-for", "198.51.100.1, 203.0.113.7, 10.0.0.9")]);
        assert_eq!(trusted.client_ip(peer, &xff), ip("203.0.113.7"));
        // Several header lines are one list.
        let split = headers(&[
            ("x-forwarded-for", "198.51.100.1"),
            ("x-forwarded-for", "203.0.113.7"),
        ]);
        assert_eq!(trusted.client_ip(peer, &split), ip("203.0.113.7"));
        let forwarded = headers(&[
            (
                "forwarded",
                "for=198.51.100.1;proto=https, for=\"[2001:db8:cafe::17]:4711\";by=x",
            ),
            ("forwarded", "for=\"[2001:db8:ffff::1]\""),
            ("x-forwarded-for", "192.0.2.99"),
        ]);
        assert_eq!(trusted.client_ip(peer, &forwarded), ip("2001:db8:cafe::17"));
        // Only proxies in the chain: the furthest one is all that is known.
        let all_trusted = headers(&[("x-forwarded-for", "10.1.1.1, 10.2.2.2")]);
        assert_eq!(trusted.client_ip(peer, &all_trusted), ip("10.1.1.1"));
        assert_eq!(trusted.client_ip(peer, &HeaderMap::new()), peer);
    }

    #[test]
    fn malformed_chains_fall_back_to_the_peer() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.2");
        for bad in [
            ("x-forwarded-for", "not-an-ip"),
            ("x-forwarded-for", "203.0.113.7, garbage"),
            ("x-forwarded-for", ""),
            ("forwarded", "for=unknown"),
            ("forwarded", "for=_hidden, for=10.0.0.3"),
            ("forwarded", "proto=https"),
            ("forwarded", "for"),
        ] {
            assert_eq!(trusted.client_ip(peer, &headers(&[bad])), peer, "{bad:?}");
        }
        // Garbage left of the real client does not matter.
        let left_garbage = headers(&[("x-forwarded-for", "junk, 203.0.113.7")]);
        assert_eq!(trusted.client_ip(peer, &left_garbage), ip("203.0.113.7"));
    }
}
