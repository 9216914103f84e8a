//! Who the client is: its address, believed from `X-Forwarded-For` only behind our own proxies
//! (`server.trusted_proxies`), and the counter key of that address.
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::http::HeaderMap;

use super::Limiter;

impl Limiter {
    /// The client's address: the TCP peer, or, when the peer is one of our trusted proxies,
    /// the address those proxies recorded in `X-Forwarded-For`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        client_ip(peer, headers, &self.trusted_proxies)
    }
}

/// Each proxy appends the address it received the request from, so `X-Forwarded-For` reads
/// "what the client claimed, ..., what our proxies saw". Only the entries our own proxies
/// wrote can be believed: walking from the right, the first address that is not a trusted
/// proxy is the client. Anything further left was written by the client and is ignored.
fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpRange]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|range| range.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        // A malformed entry ends what can be believed; the last trusted hop stands.
        let Some(ip) = parse_hop(hop.trim()) else {
            break;
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`[v6]:port`, `v4:port`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// The counter key of a client address. An IPv6 host usually holds a whole /64, so that is
/// what one client is; otherwise it could take a fresh address for every request.
pub fn ip_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & (u128::MAX << 64);
            format!("ip:{}/64", std::net::Ipv6Addr::from(prefix))
        }
    }
}

/// An address or a CIDR range from `server.trusted_proxies`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    base: IpAddr,
    prefix: u8,
}

impl FromStr for IpRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let base = address
            .trim()
            .parse::<IpAddr>()
            .map_err(|_| format!("not an IP address or range: {text:?}"))?
            .to_canonical();
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("bad prefix length in {text:?}"))?,
            None => max,
        };
        Ok(Self { base, prefix })
    }
}

impl IpRange {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.base, ip.to_canonical()) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(base) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(base), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(base) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

pub fn parse_ranges(entries: &[String]) -> anyhow::Result<Vec<IpRange>> {
    entries
        .iter()
        .map(|entry| {
            entry
                .parse::<IpRange>()
                .map_err(|err| anyhow::anyhow!("server.trusted_proxies: {err}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;
    use crate::ratelimit::tests::limiter;

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let limiter = limiter(1, 60);
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 203.0.113.9, 10.1.2.3"),
        );
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // From an untrusted peer the header is ignored.
        assert_eq!(
            limiter.client_ip(ip("198.51.100.1"), &headers),
            ip("198.51.100.1")
        );
        // From our proxy: the right-most address that is not one of ours, never what the
        // client wrote before it.
        assert_eq!(
            limiter.client_ip(ip("10.0.0.1"), &headers),
            ip("203.0.113.9")
        );
        assert_eq!(limiter.client_ip(ip("::1"), &headers), ip("203.0.113.9"));
        // IPv4-mapped peers are their IPv4 address.
        assert_eq!(
            limiter.client_ip(ip("::ffff:10.0.0.1"), &headers),
            ip("203.0.113.9")
        );
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("garbage, 10.9.9.9"),
        );
        assert_eq!(limiter.client_ip(ip("10.0.0.1"), &headers), ip("10.9.9.9"));
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("[2001:db8::1]:4711"),
        );
        assert_eq!(
            limiter.client_ip(ip("10.0.0.1"), &headers),
            ip("2001:db8::1")
        );
        headers.remove("x-forwarded-for");
        assert_eq!(limiter.client_ip(ip("10.0.0.1"), &headers), ip("10.0.0.1"));
    }

    #[test]
    fn ranges_and_keys() {
        assert!(
            "10.0.0.0/8"
                .parse::<IpRange>()
                .unwrap()
                .contains("10.200.0.1".parse().unwrap())
        );
        assert!(
            !"10.0.0.0/8"
                .parse::<IpRange>()
                .unwrap()
                .contains("11.0.0.1".parse().unwrap())
        );
        assert!(
            "0.0.0.0/0"
                .parse::<IpRange>()
                .unwrap()
                .contains("1.2.3.4".parse().unwrap())
        );
        assert!(
            "fd00::/8"
                .parse::<IpRange>()
                .unwrap()
                .contains("fd12::1".parse().unwrap())
        );
        assert!("10.0.0.0/33".parse::<IpRange>().is_err());
        assert!("proxy.local".parse::<IpRange>().is_err());
        assert_eq!(
            ip_key("2001:db8:1:2:3:4:5:6".parse().unwrap()),
            "ip:2001:db8:1:2::/64"
        );
        assert_eq!(ip_key("::ffff:192.0.2.1".parse().unwrap()), "ip:192.0.2.1");
    }
}
