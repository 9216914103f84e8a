//! Rate limits: how many requests of one class (sign-up, login, posting, inbox deliveries) one
//! client may make per window, counted in this process before any expensive work (password
//! hashing, signature checks, database writes).
//!
//! Counters are fixed windows: a client's window opens with its first request and lasts the
//! class's `seconds`; within it the first `requests` pass and the rest get 429 with
//! `Retry-After` (the seconds until the window ends). Web and API requests of one class share
//! one counter. Clients are keyed by IP address (an IPv6 client by its /64, which one host
//! usually holds whole), inbox deliveries by the remote server's host (with its port).
//!
//! Wiring: `context` runs around the whole router (it knows the state and the peer address);
//! `LimitLayer` sits on the limited routes and counts.
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tower::{Layer, Service};

use crate::app::AppState;
use crate::config::{Limit, Settings};
use crate::error::AppError;

/// What is counted. Each class has its own limit in `[limits]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Signup,
    Login,
    /// Proposals, arguments, sources, votes and reports.
    Posting,
    /// Deliveries to the inboxes, per remote server.
    Inbox,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::Signup => "signup",
            Class::Login => "login",
            Class::Posting => "posting",
            Class::Inbox => "inbox",
        }
    }
}

/// Beyond this many tracked clients, new ones share one counter per class (`OVERFLOW`): memory
/// stays bounded (about 100 bytes an entry) whatever the number of addresses or hosts, and a
/// flood from very many addresses is throttled as one while known clients keep their own count.
const MAX_TRACKED: usize = 100_000;
const OVERFLOW: &str = "*";
/// Expired windows are dropped at most this often (and whenever the table is full), so that
/// the table holds only clients seen within their class's window.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// The same bound as the router's `RequestBodyLimitLayer`, for inbox bodies read here.
const BODY_LIMIT: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    count: u32,
    /// Whether a refusal in this window was already logged: a flood logs one line, not one a
    /// request.
    logged: bool,
}

struct Table {
    windows: HashMap<(Class, String), Window>,
    pruned: Instant,
}

/// A refused request: how long until its window ends, and whether it is the window's first
/// refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub retry_after: u64,
    pub first: bool,
}

pub struct Limiter {
    signup: Limit,
    login: Limit,
    posting: Limit,
    inbox: Limit,
    trusted_proxies: Vec<IpRange>,
    table: Mutex<Table>,
}

impl Limiter {
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let limits = &settings.limits;
        Ok(Self {
            signup: limits.signup,
            login: limits.login,
            posting: limits.posting,
            inbox: limits.inbox,
            trusted_proxies: parse_ranges(&settings.server.trusted_proxies)?,
            table: Mutex::new(Table {
                windows: HashMap::new(),
                pruned: Instant::now(),
            }),
        })
    }

    fn limit(&self, class: Class) -> Limit {
        match class {
            Class::Signup => self.signup,
            Class::Login => self.login,
            Class::Posting => self.posting,
            Class::Inbox => self.inbox,
        }
    }

    /// Counts one request of `key` in `class` at `now`.
    pub fn hit(&self, class: Class, key: &str, now: Instant) -> Result<(), Refused> {
        let limit = self.limit(class);
        if limit.requests == 0 {
            return Ok(());
        }
        let period = Duration::from_secs(limit.seconds);
        // Counters stay consistent even if a thread panicked while holding the lock: each
        // update is a single assignment.
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if now.saturating_duration_since(table.pruned) >= PRUNE_EVERY
            || table.windows.len() >= MAX_TRACKED
        {
            table.windows.retain(|(class, _), w| {
                now.saturating_duration_since(w.start) < self.period(*class)
            });
            table.pruned = now;
        }
        let mut entry = (class, key.to_owned());
        if table.windows.len() >= MAX_TRACKED && !table.windows.contains_key(&entry) {
            entry.1 = OVERFLOW.to_owned();
        }
        let window = table.windows.entry(entry).or_insert(Window {
            start: now,
            count: 0,
            logged: false,
        });
        let elapsed = now.saturating_duration_since(window.start);
        if elapsed >= period {
            *window = Window {
                start: now,
                count: 0,
                logged: false,
            };
        }
        if window.count < limit.requests {
            window.count += 1;
            return Ok(());
        }
        let left = period.saturating_sub(now.saturating_duration_since(window.start));
        let retry_after = (left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(1);
        let first = !window.logged;
        window.logged = true;
        Err(Refused { retry_after, first })
    }

    fn period(&self, class: Class) -> Duration {
        Duration::from_secs(self.limit(class).seconds)
    }

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

/// What `context` leaves in the request for the `LimitLayer`s.
#[derive(Clone)]
struct RequestLimits {
    limiter: Arc<Limiter>,
    client: Option<IpAddr>,
    /// Set by a refusal; `context` turns it into the `Retry-After` header on the way out. Web
    /// error pages are rebuilt by the web middleware, which would drop a header set earlier.
    retry_after: Arc<OnceLock<u64>>,
}

/// Middleware around the whole router: finds the client's address and gives the limited
/// routes the counters; on the way out, adds `Retry-After` to a refusal.
pub async fn context(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let client = peer.map(|peer| state.limiter.client_ip(peer, req.headers()));
    let slot = Arc::new(OnceLock::new());
    req.extensions_mut().insert(RequestLimits {
        limiter: state.limiter.clone(),
        client,
        retry_after: slot.clone(),
    });
    let mut response = next.run(req).await;
    if let Some(seconds) = slot.get() {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(*seconds));
    }
    response
}

/// Counts the requests of one class on the routes it is layered on. Only requests that change
/// something count: GET, HEAD and OPTIONS on the same route pass untouched.
#[derive(Clone, Copy)]
pub struct LimitLayer {
    class: Class,
    refuse: fn(AppError) -> Response,
}

/// A limit whose refusals are the API's JSON error (`too_many_requests`).
pub fn limit(class: Class) -> LimitLayer {
    LimitLayer {
        class,
        refuse: <AppError as IntoResponse>::into_response,
    }
}

impl LimitLayer {
    /// The same limit, refused in another form (the web's error page).
    pub fn refusing_with(self, refuse: fn(AppError) -> Response) -> Self {
        Self { refuse, ..self }
    }
}

impl<S> Layer<S> for LimitLayer {
    type Service = Limited<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Limited {
            inner,
            layer: *self,
        }
    }
}

#[derive(Clone)]
pub struct Limited<S> {
    inner: S,
    layer: LimitLayer,
}

impl<S> Service<Request> for Limited<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The service that was polled ready is the one to call; a fresh clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer;
        Box::pin(async move {
            match admit(layer, req).await {
                Ok(req) => inner.call(req).await,
                Err(refusal) => Ok(refusal),
            }
        })
    }
}

async fn admit(layer: LimitLayer, req: Request) -> Result<Request, Response> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(req);
    }
    let Some(limits) = req.extensions().get::<RequestLimits>().cloned() else {
        // Serving limited routes without `context` would silently drop every limit.
        return Err((layer.refuse)(AppError::Internal(anyhow::anyhow!(
            "rate-limit context middleware missing"
        ))));
    };
    let client = limits.client.map(ip_key);
    let (key, req) = match layer.class {
        Class::Inbox => match remote_host(req).await {
            Ok((Some(host), req)) => (Some(format!("host:{host}")), req),
            // Nothing names a server: the sender's address is what can be counted.
            Ok((None, req)) => (client, req),
            Err(err) => return Err((layer.refuse)(err)),
        },
        _ => (client, req),
    };
    // Without a peer address (a server not started by `app::serve_on`) every such client
    // shares one counter rather than escaping the limit.
    let key = key.unwrap_or_else(|| "unknown".to_owned());
    match limits.limiter.hit(layer.class, &key, Instant::now()) {
        Ok(()) => Ok(req),
        Err(refused) => {
            if refused.first {
                tracing::warn!(class = layer.class.name(), client = %key, retry_after = refused.retry_after, "rate limit reached");
            }
            let _ = limits.retry_after.set(refused.retry_after);
            Err((layer.refuse)(AppError::TooManyRequests {
                retry_after: refused.retry_after,
            }))
        }
    }
}

/// The server an inbox delivery comes from, as cheaply as possible: the host of the signature's
/// key id (draft-cavage `Signature` or RFC 9421 `Signature-Input`), else of the activity's
/// `actor`. Nothing is verified here; this only decides which counter the request goes to.
async fn remote_host(req: Request) -> Result<(Option<String>, Request), AppError> {
    let from_signature = ["signature-input", "signature"]
        .iter()
        .flat_map(|name| req.headers().get_all(*name).iter())
        .filter_map(|value| value.to_str().ok())
        .find_map(key_id_host);
    if from_signature.is_some() {
        return Ok((from_signature, req));
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| AppError::BadInput("the body is too large or unreadable".into()))?;
    let host = serde_json::from_slice::<ActorOnly>(&bytes)
        .ok()
        .and_then(|activity| activity.actor)
        .and_then(|actor| match actor {
            serde_json::Value::String(id) => Some(id),
            serde_json::Value::Object(mut object) => match object.remove("id") {
                Some(serde_json::Value::String(id)) => Some(id),
                _ => None,
            },
            _ => None,
        })
        .and_then(|id| url_host(&id));
    Ok((
        host,
        Request::from_parts(parts, axum::body::Body::from(bytes)),
    ))
}

#[derive(Deserialize)]
struct ActorOnly {
    actor: Option<serde_json::Value>,
}

/// The host of `keyId="..."` (draft-cavage) or `keyid="..."` (RFC 9421) in a header value.
fn key_id_host(header: &str) -> Option<String> {
    // ASCII lowercasing keeps byte offsets, so positions found in the copy hold in the original.
    let start = header.to_ascii_lowercase().find("keyid=\"")? + "keyid=\"".len();
    let end = header[start..].find('"')?;
    url_host(&header[start..start + end])
}

/// A URL's host with its port when it has a non-default one, as servers are told apart
/// elsewhere (`Settings::domain`).
fn url_host(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(requests: u32, seconds: u64) -> Limiter {
        let mut settings = Settings::load(None).unwrap();
        let limit = Limit { requests, seconds };
        settings.limits.signup = limit;
        settings.limits.login = limit;
        settings.limits.posting = Limit {
            requests: 0,
            seconds: 60,
        };
        settings.server.trusted_proxies = vec!["10.0.0.0/8".into(), "::1".into()];
        Limiter::new(&settings).unwrap()
    }

    #[test]
    fn a_window_admits_its_requests_then_refuses_until_it_ends() {
        let limiter = limiter(3, 60);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.hit(Class::Login, "a", t0), Ok(()));
        }
        let refused = limiter
            .hit(Class::Login, "a", t0 + Duration::from_millis(500))
            .unwrap_err();
        assert_eq!(refused.retry_after, 60);
        assert!(refused.first);
        let again = limiter
            .hit(Class::Login, "a", t0 + Duration::from_secs(59))
            .unwrap_err();
        assert_eq!(
            again,
            Refused {
                retry_after: 1,
                first: false
            }
        );
        // Other clients and other classes have their own counters.
        assert_eq!(limiter.hit(Class::Login, "b", t0), Ok(()));
        assert_eq!(limiter.hit(Class::Signup, "a", t0), Ok(()));
        // A new window starts once the old one is over.
        assert_eq!(
            limiter.hit(Class::Login, "a", t0 + Duration::from_secs(60)),
            Ok(())
        );
    }

    #[test]
    fn zero_means_no_limit() {
        let limiter = limiter(3, 60);
        let now = Instant::now();
        for _ in 0..1000 {
            assert_eq!(limiter.hit(Class::Posting, "a", now), Ok(()));
        }
    }

    #[test]
    fn expired_windows_are_pruned() {
        let limiter = limiter(1, 10);
        let t0 = Instant::now();
        for i in 0..100 {
            limiter.hit(Class::Login, &i.to_string(), t0).unwrap();
        }
        limiter.hit(Class::Login, "late", t0 + PRUNE_EVERY).unwrap();
        let table = limiter.table.lock().unwrap();
        assert_eq!(table.windows.len(), 1);
    }

    #[test]
    fn beyond_the_cap_new_clients_share_one_counter() {
        let limiter = limiter(1, 3600);
        let now = Instant::now();
        for i in 0..MAX_TRACKED {
            limiter.hit(Class::Login, &i.to_string(), now).unwrap();
        }
        assert_eq!(limiter.hit(Class::Login, "new-1", now), Ok(()));
        assert!(limiter.hit(Class::Login, "new-2", now).is_err());
        // Known clients keep their own counter.
        assert!(limiter.hit(Class::Login, "7", now).is_err());
        assert!(limiter.table.lock().unwrap().windows.len() <= MAX_TRACKED + 1);
    }

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

    #[test]
    fn the_remote_host_comes_from_the_key_id() {
        assert_eq!(
            key_id_host(
                r#"keyId="https://Mastodon.Example/users/a#main-key",algorithm="rsa-sha256""#
            ),
            Some("mastodon.example".into())
        );
        assert_eq!(
            key_id_host(
                r#"sig1=("@method");created=1;keyid="https://node.example:8443/actor#key""#
            ),
            Some("node.example:8443".into())
        );
        assert_eq!(key_id_host(r#"keyid="not a url""#), None);
        assert_eq!(key_id_host("nothing"), None);
    }
}
