//! A load test over loopback, bounded in time: a real `palabre serve` node, remote servers
//! whose actors deliver signed activities to its shared inbox, people reading its web pages,
//! API and ActivityStreams documents, and local accounts writing through the API, all at once
//! for a fixed duration. Afterwards: what the node answered 2xx to is read back through its
//! API (each argument, comment and vote exactly once), the answers are sorted by status
//! (429s counted apart: the rate limits at work, not failures), and the node's memory is read
//! from `/proc`.
//!
//! Settings come from the environment (docs/load.md): `PALABRE_LOAD_SECONDS` (10 by default,
//! the CI version), `PALABRE_LOAD_CLIENTS`, `PALABRE_LOAD_MAX_RSS_MIB`, `PALABRE_LOAD_REPORT`.
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::Node;
use crate::remote::RemoteServers;

mod clients;
pub mod stats;
pub mod verify;

use clients::Shared;
pub use stats::Report;
use stats::{ByClass, Class, Memory};
use verify::Ledger;

const PASSWORD: &str = "mot de passe solide";
const SLUG: &str = "charge";

/// How big and how long a run is.
#[derive(Debug, Clone)]
pub struct Settings {
    pub duration: Duration,
    /// Concurrent remote senders to the shared inbox; as many readers; a quarter as many
    /// writers (at least two).
    pub clients: usize,
    pub remote_servers: usize,
    pub actors_per_server: usize,
    /// Proposals there before the load starts.
    pub initial_proposals: usize,
    /// The node's resident memory must stay under this.
    pub max_rss_mib: u64,
}

/// A whole number from the environment variable `name` within `range`, or `default`.
fn env_number(
    name: &str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(raw) if !raw.trim().is_empty() => match raw.trim().parse::<u64>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => bail!(
                "{name} must be a whole number from {} to {}, not {raw:?}",
                range.start(),
                range.end()
            ),
        },
        _ => Ok(default),
    }
}

impl Settings {
    /// The CI version by default; `PALABRE_LOAD_SECONDS=300` and the like for a long run.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            duration: Duration::from_secs(env_number("PALABRE_LOAD_SECONDS", 10, 1..=86_400)?),
            clients: env_number("PALABRE_LOAD_CLIENTS", 8, 1..=1000)? as usize,
            remote_servers: 4,
            actors_per_server: 50,
            initial_proposals: 10,
            max_rss_mib: env_number("PALABRE_LOAD_MAX_RSS_MIB", 512, 1..=1_048_576)?,
        })
    }

    fn writers(&self) -> usize {
        (self.clients / 4).max(2)
    }
}

/// The environment of the node under load: rate limits high enough that the test measures the
/// node rather than its limiter (unless the `PALABRE_LIMITS__...` variables are set, to load a
/// node with its real limits), and the log level an operator runs with.
pub fn node_env() -> Vec<(String, String)> {
    let mut env = Vec::new();
    for (name, raised) in [
        ("PALABRE_LIMITS__INBOX__REQUESTS", "1000000"),
        ("PALABRE_LIMITS__POSTING__REQUESTS", "1000000"),
        ("PALABRE_LIMITS__LOGIN__REQUESTS", "1000"),
    ] {
        let value = std::env::var(name).unwrap_or_else(|_| raised.to_owned());
        env.push((name.to_owned(), value));
    }
    env.push(("RUST_LOG".to_owned(), "info".to_owned()));
    env
}

/// "SQLite" or "PostgreSQL", as the harness chooses for nodes.
pub fn database_label() -> &'static str {
    match std::env::var("PALABRE_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => "PostgreSQL",
        _ => "SQLite",
    }
}

/// A run's figures, and everything that went wrong (empty when all is well).
pub struct Outcome {
    pub report: Report,
    pub problems: Vec<String>,
}

impl Outcome {
    /// The figures, then what the checks found.
    pub fn markdown(&self) -> String {
        let mut out = self.report.markdown();
        if self.problems.is_empty() {
            out.push_str(
                "\nChecks passed: every accepted activity, proposal, argument and vote was found \
                 afterwards through the API exactly once, with the tallies matching; no 5xx, no \
                 unexpected 4xx, no unanswered request; memory under the ceiling.\n",
            );
        } else {
            out.push_str(&format!(
                "\n**Checks failed** ({} problems; the first ones):\n\n",
                self.problems.len()
            ));
            for problem in self.problems.iter().take(12) {
                out.push_str(&format!("- {}\n", problem.replace('\n', " ")));
            }
        }
        out
    }
}

async fn send(request: reqwest::RequestBuilder, what: &str) -> anyhow::Result<Value> {
    let response = request.send().await.with_context(|| what.to_owned())?;
    let status = response.status();
    let body = response.text().await?;
    if !status.is_success() {
        bail!("{what} answered {status}: {body}");
    }
    serde_json::from_str(&body).with_context(|| format!("{what}: not JSON: {body}"))
}

async fn token(http: &reqwest::Client, node: &Node, user: &str) -> anyhow::Result<String> {
    let body = send(
        http.post(format!("{}/api/v1/auth/token", node.url))
            .json(&json!({"username": user, "password": PASSWORD})),
        "POST /api/v1/auth/token",
    )
    .await?;
    Ok(body["token"].as_str().context("no token")?.to_owned())
}

/// An HTTP client for the load: plenty of idle connections, generous timeout (a request that
/// takes longer than this under load is reported as unanswered).
pub fn load_client() -> anyhow::Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(256)
        .build()?)
}

/// Sets the node up (accounts, an open consultation, a few proposals), loads it for
/// `settings.duration`, then checks what it kept.
pub async fn run(node: &Node, settings: &Settings) -> anyhow::Result<Outcome> {
    let pid = node.pid().context("the node is not running")?;
    let http = load_client()?;
    let remote = RemoteServers::start(settings.remote_servers, settings.actors_per_server).await?;

    node.create_user("orga", PASSWORD, true)?;
    let orga = token(&http, node, "orga").await?;
    let mut writer_tokens = Vec::new();
    for i in 0..settings.writers() {
        let name = format!("plume{i}");
        node.create_user(&name, PASSWORD, false)?;
        writer_tokens.push(token(&http, node, &name).await?);
    }
    let now = chrono::Utc::now();
    send(
        http.post(format!("{}/api/v1/consultations", node.url))
            .bearer_auth(&orga)
            .json(
                &json!({"slug": SLUG, "title": "Transports : charge", "body": "…",
                          "opens_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
                          "closes_at": (now + chrono::Duration::days(30)).to_rfc3339()}),
            ),
        "POST /api/v1/consultations",
    )
    .await?;
    let mut initial = Vec::new();
    for i in 0..settings.initial_proposals {
        let proposal = send(
            http.post(format!(
                "{}/api/v1/consultations/{SLUG}/proposals",
                node.url
            ))
            .bearer_auth(&orga)
            .json(&json!({"title": format!("Proposition de départ {i}"), "body": "…"})),
            "POST proposal",
        )
        .await?;
        initial.push(i32::try_from(
            proposal["id"].as_i64().context("proposal id")?,
        )?);
    }

    let mut memory = Memory {
        before_kib: stats::proc_status_kib(pid, "VmRSS").unwrap_or_default(),
        ..Memory::default()
    };
    let started = Instant::now();
    let shared = std::sync::Arc::new(Shared {
        node: node.url.clone(),
        slug: SLUG.to_owned(),
        deadline: started + settings.duration,
        remote,
        proposals: RwLock::new(initial.clone()),
        replies_to: Mutex::new(Vec::new()),
        counter: AtomicU64::new(0),
        vote_slots: AtomicU64::new(0),
    });

    let mut senders = tokio::task::JoinSet::new();
    for i in 0..settings.clients as u64 {
        let (shared, http) = (shared.clone(), http.clone());
        senders.spawn(async move { clients::inbox_sender(&shared, http, i).await });
    }
    let mut readers = tokio::task::JoinSet::new();
    for i in 0..settings.clients as u64 {
        let (shared, http) = (shared.clone(), http.clone());
        readers.spawn(async move { clients::reader(&shared, http, i).await });
    }
    let mut writers = tokio::task::JoinSet::new();
    for (i, token) in writer_tokens.into_iter().enumerate() {
        let (shared, http) = (shared.clone(), http.clone());
        writers.spawn(async move { clients::writer(&shared, http, token, i as u64).await });
    }
    let sampler = {
        let deadline = shared.deadline;
        tokio::spawn(async move {
            let mut timeline = Vec::new();
            while Instant::now() < deadline {
                if let Some(kib) = stats::proc_status_kib(pid, "VmRSS") {
                    timeline.push((started.elapsed().as_secs_f64(), kib));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            timeline
        })
    };

    let mut all = ByClass::default();
    let mut ledger = Ledger::default();
    while let Some(joined) = senders.join_next().await {
        let (stats, kept) = joined?;
        all.merge(stats);
        ledger.merge(kept);
    }
    while let Some(joined) = readers.join_next().await {
        all.merge(joined?);
    }
    while let Some(joined) = writers.join_next().await {
        let (stats, kept) = joined?;
        all.merge(stats);
        ledger.merge(kept);
    }
    let seconds = started.elapsed().as_secs_f64();
    memory.timeline = sampler.await?;
    memory.high_water_kib = stats::proc_status_kib(pid, "VmHWM").unwrap_or_default();
    memory.after_kib = stats::proc_status_kib(pid, "VmRSS").unwrap_or_default();
    memory.peak_sampled_kib = memory
        .timeline
        .iter()
        .map(|sample| sample.1)
        .chain([memory.after_kib])
        .max()
        .unwrap_or_default();

    let mut problems = verify::verify(&http, &node.url, SLUG, &initial, &ledger).await?;
    for class in Class::ALL {
        let stats = all.get(class);
        let name = class.name();
        if stats.server_errors > 0 {
            problems.push(format!("{name}: {} answers were 5xx", stats.server_errors));
        }
        if stats.client_errors > 0 {
            problems.push(format!("{name}: {} unexpected 4xx", stats.client_errors));
        }
        if stats.transport_errors > 0 {
            problems.push(format!(
                "{name}: {} requests got no answer",
                stats.transport_errors
            ));
        }
        if stats.ok == 0 {
            problems.push(format!("{name}: not one request succeeded"));
        }
        problems.extend(stats.samples.iter().map(|s| format!("{name}: {s}")));
    }
    if memory.high_water_kib == 0 {
        problems.push(format!("could not read the memory of process {pid}"));
    } else if memory.high_water_kib > settings.max_rss_mib * 1024 {
        problems.push(format!(
            "the node's resident memory reached {} MiB, over the {} MiB ceiling",
            memory.high_water_kib / 1024,
            settings.max_rss_mib
        ));
    }

    let outcome = Outcome {
        report: Report {
            database: database_label().to_owned(),
            seconds,
            clients: (settings.clients, settings.clients, settings.writers()),
            remote: (settings.remote_servers, settings.actors_per_server),
            accepted: ledger.accepted(),
            stats: all,
            memory,
        },
        problems,
    };
    if let Ok(path) = std::env::var("PALABRE_LOAD_REPORT")
        && !path.is_empty()
    {
        std::fs::write(&path, outcome.markdown())
            .with_context(|| format!("cannot write the report to {path}"))?;
    }
    Ok(outcome)
}
