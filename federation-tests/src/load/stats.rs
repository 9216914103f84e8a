//! What the load test measures: for each class of request, how many were made, how fast and
//! how they were answered; and how much memory the node's process used.
use std::fmt::Write as _;
use std::time::Duration;

/// The classes of requests the figures are given for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Signed deliveries of remote actors to the node's shared inbox.
    Inbox,
    /// Web pages (home, consultation, proposal).
    Web,
    /// Reads of the JSON API.
    ApiRead,
    /// ActivityStreams documents (the consultation's `Group`, a proposal's `Page`).
    ApRead,
    /// Writes of the JSON API by local accounts (proposals, arguments, votes).
    ApiWrite,
}

impl Class {
    pub const ALL: [Class; 5] = [
        Class::Inbox,
        Class::Web,
        Class::ApiRead,
        Class::ApRead,
        Class::ApiWrite,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Class::Inbox => "inbox (signed deliveries)",
            Class::Web => "web pages",
            Class::ApiRead => "API reads",
            Class::ApRead => "ActivityStreams reads",
            Class::ApiWrite => "API writes",
        }
    }
}

/// How the requests of one class went, as the clients saw them.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// The time to the whole answer of each answered request, in microseconds.
    latencies: Vec<u32>,
    /// 2xx and 3xx.
    pub ok: u64,
    /// 429 Too Many Requests: the rate limits at work, not a failure.
    pub too_many: u64,
    /// Other 4xx: the test sends nothing the node should refuse.
    pub client_errors: u64,
    /// 5xx (and anything that is not a valid HTTP status class).
    pub server_errors: u64,
    /// No answer: connection refused or reset, timeout.
    pub transport_errors: u64,
    /// The first unexpected answers, for the failure message.
    pub samples: Vec<String>,
}

const SAMPLES: usize = 5;

impl Stats {
    /// Records an answer with `status` and `body` to the request described by `what`.
    pub fn record(&mut self, what: &str, elapsed: Duration, status: u16, body: &[u8]) {
        self.latencies
            .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
        match status {
            200..=399 => self.ok += 1,
            429 => self.too_many += 1,
            400..=499 => {
                self.client_errors += 1;
                self.sample(what, status, body);
            }
            _ => {
                self.server_errors += 1;
                self.sample(what, status, body);
            }
        }
    }

    /// Records a request that got no answer.
    pub fn failed(&mut self, what: &str, error: &dyn std::fmt::Display) {
        self.transport_errors += 1;
        if self.samples.len() < SAMPLES {
            self.samples.push(format!("{what}: no answer: {error}"));
        }
    }

    fn sample(&mut self, what: &str, status: u16, body: &[u8]) {
        if self.samples.len() < SAMPLES {
            let text: String = String::from_utf8_lossy(body).chars().take(300).collect();
            self.samples.push(format!("{what}: {status} {text}"));
        }
    }

    pub fn merge(&mut self, other: Stats) {
        self.latencies.extend(other.latencies);
        self.ok += other.ok;
        self.too_many += other.too_many;
        self.client_errors += other.client_errors;
        self.server_errors += other.server_errors;
        self.transport_errors += other.transport_errors;
        for sample in other.samples {
            if self.samples.len() < SAMPLES {
                self.samples.push(sample);
            }
        }
    }

    pub fn requests(&self) -> u64 {
        self.ok + self.too_many + self.client_errors + self.server_errors + self.transport_errors
    }

    /// The `p`-th percentile of the latencies (0 < p ≤ 100), nearest-rank; zero when none.
    pub fn percentile(&mut self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        self.latencies.sort_unstable();
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        let index = rank.clamp(1, self.latencies.len()) - 1;
        Duration::from_micros(u64::from(self.latencies[index]))
    }
}

/// One `Stats` per class.
#[derive(Debug, Default, Clone)]
pub struct ByClass([Stats; 5]);

impl ByClass {
    pub fn get_mut(&mut self, class: Class) -> &mut Stats {
        &mut self.0[class as usize]
    }

    pub fn get(&self, class: Class) -> &Stats {
        &self.0[class as usize]
    }

    pub fn merge(&mut self, other: ByClass) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            mine.merge(theirs);
        }
    }
}

/// What the node stored, as counted by the clients from the answers they got.
#[derive(Debug, Default, Clone, Copy)]
pub struct Accepted {
    pub remote_arguments: u64,
    pub remote_comments: u64,
    pub remote_votes: u64,
    pub local_proposals: u64,
    pub local_arguments: u64,
    pub local_votes: u64,
}

/// The node's memory, from `/proc/<pid>/status`, in KiB.
#[derive(Debug, Default, Clone)]
pub struct Memory {
    /// Resident memory once the node was set up, before the load.
    pub before_kib: u64,
    /// The highest resident memory sampled during the run.
    pub peak_sampled_kib: u64,
    /// The kernel's high-water mark of resident memory (`VmHWM`) at the end.
    pub high_water_kib: u64,
    /// Resident memory at the end of the run.
    pub after_kib: u64,
    /// Resident memory every 200 ms during the load: (seconds since the start, KiB). A leak
    /// shows as growth that goes on; a warm-up as growth that levels off.
    pub timeline: Vec<(f64, u64)>,
}

impl Memory {
    /// About `points` samples of the timeline, evenly spaced, the last one included.
    pub fn timeline_points(&self, points: usize) -> Vec<(f64, u64)> {
        let len = self.timeline.len();
        if len == 0 || points == 0 {
            return Vec::new();
        }
        let step = len.div_ceil(points).max(1);
        let mut picked: Vec<(f64, u64)> = self
            .timeline
            .iter()
            .skip(step - 1)
            .step_by(step)
            .copied()
            .collect();
        if let Some(last) = self.timeline.last()
            && picked.last() != Some(last)
        {
            picked.push(*last);
        }
        picked
    }
}

/// One `VmRSS`/`VmHWM`-style field of a process's status, in KiB.
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// The figures of one run.
#[derive(Debug, Clone)]
pub struct Report {
    pub database: String,
    /// How long the load lasted, measured.
    pub seconds: f64,
    /// Concurrent clients: inbox senders, readers, writers.
    pub clients: (usize, usize, usize),
    /// Remote servers and actors on them.
    pub remote: (usize, usize),
    pub stats: ByClass,
    pub accepted: Accepted,
    pub memory: Memory,
}

fn ms(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1000.0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

impl Report {
    /// The figures as Markdown (a heading, a paragraph, a table), readable as plain text too.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let (senders, readers, writers) = self.clients;
        let _ = writeln!(
            out,
            "#### {}, {:.0} s of load\n",
            self.database, self.seconds
        );
        let _ = writeln!(
            out,
            "{senders} inbox senders ({} actors on {} remote servers), {readers} readers, \
             {writers} writers, all concurrent, each sending its next request as soon as the \
             previous one is answered. Latency is measured by the clients, to the end of the \
             answer.\n",
            self.remote.1 * self.remote.0,
            self.remote.0
        );
        let _ = writeln!(
            out,
            "| class | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | 2xx | 429 | other 4xx | 5xx | no answer |"
        );
        let _ = writeln!(
            out,
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        let mut total = Stats::default();
        for class in Class::ALL {
            let mut stats = self.stats.get(class).clone();
            self.row(&mut out, class.name(), &mut stats);
            total.merge(stats);
        }
        self.row(&mut out, "**all**", &mut total);
        let a = self.accepted;
        let _ = writeln!(
            out,
            "\nAccepted (2xx) from remote actors: {} arguments, {} comments, {} votes ({} \
             activities); posted by local accounts: {} proposals, {} arguments, {} votes.\n",
            a.remote_arguments,
            a.remote_comments,
            a.remote_votes,
            a.remote_arguments + a.remote_comments + a.remote_votes,
            a.local_proposals,
            a.local_arguments,
            a.local_votes
        );
        let m = &self.memory;
        let timeline: Vec<String> = m
            .timeline_points(8)
            .into_iter()
            .map(|(at, kib)| format!("{at:.0} s: {}", mib(kib)))
            .collect();
        let _ = writeln!(
            out,
            "Node memory (resident): {} before the load, {} at most while sampled, {} high-water \
             mark (VmHWM), {} at the end. During the load: {}.",
            mib(m.before_kib),
            mib(m.peak_sampled_kib),
            mib(m.high_water_kib),
            mib(m.after_kib),
            timeline.join(", ")
        );
        out
    }

    fn row(&self, out: &mut String, name: &str, stats: &mut Stats) {
        let requests = stats.requests();
        let _ = writeln!(
            out,
            "| {name} | {requests} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            requests as f64 / self.seconds.max(0.001),
            ms(stats.percentile(50.0)),
            ms(stats.percentile(95.0)),
            ms(stats.percentile(99.0)),
            ms(stats.percentile(100.0)),
            stats.ok,
            stats.too_many,
            stats.client_errors,
            stats.server_errors,
            stats.transport_errors
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_and_answers_are_sorted_by_status() {
        let mut stats = Stats::default();
        for (i, status) in [(1, 200), (2, 202), (3, 429), (4, 404), (5, 503)] {
            stats.record("GET /", Duration::from_millis(i), status, b"nope");
        }
        stats.failed("GET /", &"connection reset");
        assert_eq!(stats.percentile(50.0), Duration::from_millis(3));
        assert_eq!(stats.percentile(99.0), Duration::from_millis(5));
        assert_eq!(
            (
                stats.ok,
                stats.too_many,
                stats.client_errors,
                stats.server_errors
            ),
            (2, 1, 1, 1)
        );
        assert_eq!(stats.transport_errors, 1);
        assert_eq!(stats.requests(), 6);
        assert_eq!(stats.samples.len(), 3, "{:?}", stats.samples);
    }

    #[test]
    fn the_memory_timeline_is_thinned_evenly_and_keeps_the_last_sample() {
        let memory = Memory {
            timeline: (1..=10).map(|i| (f64::from(i), i as u64)).collect(),
            ..Memory::default()
        };
        let kib: Vec<u64> = memory.timeline_points(4).iter().map(|p| p.1).collect();
        assert_eq!(kib, [3, 6, 9, 10]);
        assert!(Memory::default().timeline_points(4).is_empty());
    }

    #[test]
    fn reads_resident_memory_of_a_live_process() {
        let kib = proc_status_kib(std::process::id(), "VmRSS").expect("VmRSS");
        assert!(kib > 0);
        assert_eq!(proc_status_kib(std::process::id(), "NoSuchField"), None);
    }
}
