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
//!
//! The parts: the counters are here; `addresses` says who the client is (its address behind
//! our proxies, its /64); `layer` is the middleware; `inbox` reads which server a delivery
//! comes from, so that one server counts as one client.
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::config::{Limit, Settings};

mod addresses;
mod inbox;
mod layer;

pub use addresses::{IpRange, ip_key, parse_ranges};
pub(crate) use inbox::key_id_host;
pub use layer::{LimitLayer, Limited, context, limit};

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
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn limiter(requests: u32, seconds: u64) -> Limiter {
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
}
