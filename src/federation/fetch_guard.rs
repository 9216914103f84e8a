//! The HTTP client every fetch of the federation library goes through (actors, objects,
//! collections, WebFinger), given to it by [`super::config_with`].
//!
//! Its DNS resolver checks every address it hands to the connection: unless
//! `[federation] allow_local`, an answer holding a loopback, private, link-local, multicast or
//! otherwise non-public address is refused whole, in every build profile. The library's own
//! client checks at connection time only when the library is compiled without debug assertions
//! (release builds), skips the check for `localhost` and whenever the environment variable
//! `DANGER_FEDERATION_ALLOW_LOCAL_IP` is set; its check before each request resolves the name
//! separately from the connection, so a name that changes its answer in between (DNS
//! rebinding) got through. Here the addresses checked are the only ones reqwest may connect
//! to, and they carry no port of their own, so the URL's port is used.
//!
//! The client also follows no redirect itself (the library follows one, checking its target
//! like any URL), gives up after [`FETCH_TIMEOUT`], and ignores `HTTP(S)_PROXY`: through a
//! proxy, the address connected to would be the proxy's choice, not one checked here.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::signatures::SignedFetches;

/// How long one fetch may take, from connecting to the last byte of the body.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Which addresses fetches may reach, how names are resolved, and how long a fetch may take.
#[derive(Clone)]
pub struct FetchGuard {
    lookup: Arc<dyn Resolve>,
    refuse_non_public: bool,
    treated_as_public: Arc<[IpAddr]>,
    timeout: Duration,
}

impl FetchGuard {
    /// The system's resolver and [`FETCH_TIMEOUT`]; non-public addresses are refused unless
    /// `allow_local`.
    pub fn new(allow_local: bool) -> Self {
        Self {
            lookup: Arc::new(SystemLookup),
            refuse_non_public: !allow_local,
            treated_as_public: Arc::from(Vec::new()),
            timeout: FETCH_TIMEOUT,
        }
    }

    /// Resolves names with `lookup` instead of the system's resolver, whose answers are checked
    /// all the same. A node on a network with its own DNS needs it, and so does a test that
    /// plays a hostile name server (one that changes its answer between two lookups).
    pub fn with_lookup(mut self, lookup: Arc<dyn Resolve>) -> Self {
        self.lookup = lookup;
        self
    }

    /// Lets fetches reach these addresses although they are not public (a partner node on the
    /// same private network; in tests, loopback addresses standing for the internet). Every
    /// other non-public address stays refused.
    pub fn treating_as_public(mut self, addresses: impl IntoIterator<Item = IpAddr>) -> Self {
        self.treated_as_public = addresses.into_iter().collect();
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The client for the library: every connection it opens goes to an address this guard
    /// checked.
    pub fn client(&self) -> reqwest::Result<reqwest::Client> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .no_proxy()
            .dns_resolver(GuardedResolver(self.clone()))
            .build()
    }

    /// [`FetchGuard::client`] as the library takes it, refusing the answers that are not
    /// documents (see [`AnswerStatus`]), with `signing` knocking twice on refused signed GETs.
    pub fn fetch_client(
        &self,
        signing: SignedFetches,
    ) -> reqwest::Result<reqwest_middleware::ClientWithMiddleware> {
        Ok(reqwest_middleware::ClientBuilder::new(self.client()?)
            .with(AnswerStatus)
            .with(signing)
            .build())
    }

    /// The addresses `host` may be connected to, without their ports; an error if any of them
    /// is refused.
    fn check(&self, host: &str, addresses: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, Refused> {
        if addresses.is_empty() {
            return Err(Refused(format!("{host} has no address")));
        }
        let mut checked = Vec::with_capacity(addresses.len());
        for address in addresses {
            let ip = address.ip();
            if self.refuse_non_public
                && !self.treated_as_public.contains(&ip)
                && let Some(kind) = non_public(ip)
            {
                return Err(Refused(format!(
                    "{host} resolves to {ip}, which is not a public address ({kind}): this node \
                     does not connect to it (only `[federation] allow_local`, for tests, does)"
                )));
            }
            checked.push(SocketAddr::new(ip, 0));
        }
        Ok(checked)
    }
}

/// Fetches take only a 2xx answer as a document. The library reads any answer but 410 (gone)
/// as one: a 404 or a 500 page carrying ActivityPub JSON would be taken like a 200. Redirects
/// (3xx) go through to the library, which follows one itself.
struct AnswerStatus;

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for AnswerStatus {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut axum::http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let url = request.url().clone();
        let response = next.run(request, extensions).await?;
        let status = response.status();
        if status.is_client_error() && status != reqwest::StatusCode::GONE
            || status.is_server_error()
        {
            return Err(reqwest_middleware::Error::Middleware(
                NotADocument { url, status }.into(),
            ));
        }
        Ok(response)
    }
}

/// A fetch answered with an error status. A 404 says the object is not there, which is the
/// asker's problem (a 4xx it should not retry), not this node's failure to reach it (502).
#[derive(Debug, thiserror::Error)]
#[error("{url} answered {status}: not a document")]
pub struct NotADocument {
    pub url: url::Url,
    pub status: reqwest::StatusCode,
}

/// A name refused by the guard; reqwest reports it as the cause of the failed request.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(String);

struct GuardedResolver(FetchGuard);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let answer: Vec<SocketAddr> = guard.lookup.resolve(name).await?.collect();
            let addresses: Addrs = Box::new(guard.check(&host, answer)?.into_iter());
            Ok(addresses)
        })
    }
}

/// The system's resolver (`getaddrinfo`, as reqwest's default).
struct SystemLookup;

impl Resolve for SystemLookup {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let answer: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let addresses: Addrs = Box::new(answer.into_iter());
            Ok(addresses)
        })
    }
}

/// What kind of address `ip` is, when it is not one of the public internet's (IANA's
/// special-purpose registries). Such addresses reach the node's own machine, its network or
/// its cloud provider's services (169.254.169.254), never another fediverse server.
pub fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        // Connecting to 0.x.x.x reaches this machine on Linux.
        (0, _, _) => "\"this network\"",
        (127, _, _) => "loopback",
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => "private",
        (100, 64..=127, _) => "shared (carrier-grade NAT)",
        (169, 254, _) => "link-local",
        (192, 0, 0) => "IETF protocol",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (192, 88, 99) => "6to4 relay",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, _, _) => "multicast",
        // 240.0.0.0/4 and the broadcast address.
        (240..=255, _, _) => "reserved",
        _ => return None,
    })
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // Both reach the IPv4 address they carry: judge that one.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return non_public_v4(v4);
    }
    let s = ip.segments();
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return non_public_v4(Ipv4Addr::from(u32::from(s[6]) << 16 | u32::from(s[7])));
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    Some(match s[0] {
        0xff00..=0xffff => "multicast",
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "site-local",
        0xfc00..=0xfdff => "unique local (private)",
        // Only 2000::/3 is global unicast; the rest (IPv4-compatible, discard, local NAT64...)
        // is reserved.
        first if first & 0xe000 != 0x2000 => "reserved",
        // Teredo and the other protocol assignments of 2001::/23.
        0x2001 if s[1] < 0x0200 => "IETF protocol",
        0x2001 if s[1] == 0x0db8 => "documentation",
        0x3fff if s[1] < 0x1000 => "documentation",
        0x2002 => "6to4",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(ip: &str) -> Option<&'static str> {
        non_public(ip.parse().expect("an IP address"))
    }

    #[test]
    fn every_non_public_range_is_named() {
        for (ip, expected) in [
            ("0.1.2.3", "\"this network\""),
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("10.0.0.1", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("100.127.255.255", "shared (carrier-grade NAT)"),
            ("169.254.169.254", "link-local"),
            ("192.0.0.8", "IETF protocol"),
            ("192.0.2.1", "documentation"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("192.88.99.1", "6to4 relay"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "reserved"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.1.2.3", "private"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
            ("::7f00:1", "reserved"),
            ("64:ff9b:1::1", "reserved"),
            ("100::1", "reserved"),
            ("fc00::1", "unique local (private)"),
            ("fd12:3456::1", "unique local (private)"),
            ("fe80::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
            ("ff0e::1", "multicast"),
            ("2001::1", "IETF protocol"),
            ("2001:db8::1", "documentation"),
            ("3fff:123::1", "documentation"),
            ("2002:7f00:1::1", "6to4"),
        ] {
            assert_eq!(kind(ip), Some(expected), "{ip}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "1.1.1.1",
            "9.9.9.9",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.1.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.254",
            "::ffff:1.1.1.1",
            "64:ff9b::101:101",
            "2001:200::1",
            "2606:4700::1111",
            "2a01:4f8::1",
            "3fff:1000::1",
        ] {
            assert_eq!(kind(ip), None, "{ip}");
        }
    }

    #[test]
    fn one_refused_address_refuses_the_whole_answer_and_ports_are_dropped() {
        let strict = FetchGuard::new(false);
        let public: SocketAddr = "1.1.1.1:8443".parse().expect("address");
        let private: SocketAddr = "10.0.0.1:443".parse().expect("address");
        let refused = strict
            .check("mixed.example", vec![public, private])
            .expect_err("refused");
        assert!(
            refused
                .0
                .contains("10.0.0.1, which is not a public address (private)"),
            "{refused}"
        );
        let checked = strict
            .check("ok.example", vec![public])
            .expect("a public address passes");
        assert_eq!(checked, vec!["1.1.1.1:0".parse().expect("address")]);
        assert!(strict.check("none.example", Vec::new()).is_err());

        let local = FetchGuard::new(true);
        assert!(local.check("mixed.example", vec![public, private]).is_ok());
        let exempt = FetchGuard::new(false).treating_as_public(["10.0.0.1".parse().expect("ip")]);
        assert!(exempt.check("partner.example", vec![private]).is_ok());
        assert!(
            exempt
                .check(
                    "other.example",
                    vec!["10.0.0.2:0".parse().expect("address")]
                )
                .is_err()
        );
    }

    /// A listener that answers every request with an empty 200 and counts its connections.
    async fn counting_server() -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                seen.fetch_add(1, Ordering::SeqCst);
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            }
        });
        (address, count)
    }

    #[tokio::test]
    async fn fetches_ignore_the_proxy_variables() {
        use std::sync::atomic::Ordering;
        crate::install_crypto_provider();
        let (proxy, proxied) = counting_server().await;
        let (server, served) = counting_server().await;
        let proxy_url = format!("http://{proxy}");
        for name in [
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "ALL_PROXY",
        ] {
            // SAFETY: nextest runs each test in its own process, and nothing else here reads
            // the environment while it is set.
            unsafe { std::env::set_var(name, &proxy_url) };
        }
        let url = format!("http://{server}/group");

        // The variables are in force: an ordinary client goes through the proxy.
        reqwest::Client::new()
            .get(&url)
            .send()
            .await
            .expect("through the proxy");
        assert_eq!(proxied.load(Ordering::SeqCst), 1);
        assert_eq!(served.load(Ordering::SeqCst), 0);

        // The guarded client connects to the address it checked, not to the proxy.
        let client = FetchGuard::new(true).client().expect("client");
        let answer = client.get(&url).send().await.expect("direct");
        assert_eq!(answer.status(), reqwest::StatusCode::OK);
        assert_eq!(served.load(Ordering::SeqCst), 1);
        assert_eq!(proxied.load(Ordering::SeqCst), 1, "the proxy saw no more");
    }
}
