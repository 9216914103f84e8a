//! What the clients were told the node accepted, and the check, once the load is over, that
//! the node kept each of it exactly once, read back through its public API as anyone would.
use std::collections::{HashMap, HashSet};

use anyhow::{Context, bail};
use serde_json::Value;

use super::stats::Accepted;

/// The word that tags each argument's text (`charge123z`), to find it again whatever the node
/// did to the markup around it.
pub fn marker(n: u64) -> String {
    format!("charge{n}z")
}

/// The markers found in a text.
fn markers_in(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| {
            word.strip_prefix("charge")
                .and_then(|rest| rest.strip_suffix('z'))
                .is_some_and(|digits| {
                    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
                })
        })
}

/// A vote's value, as an index into the API's `[agree, mixed, disagree]`.
pub const VOTE_VALUES: [&str; 3] = ["agree", "mixed", "disagree"];

/// What was accepted (2xx), by whom, and where it must be.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Arguments by marker: their proposal, `for` or `against`, and whether a remote actor
    /// sent it.
    pub arguments: HashMap<String, (i32, &'static str, bool)>,
    /// Remote comments by their ActivityPub id, with their proposal.
    pub comments: HashMap<String, i32>,
    /// Votes accepted per proposal, `[agree, mixed, disagree]`.
    pub votes: HashMap<i32, [u64; 3]>,
    pub remote_votes: u64,
    pub local_votes: u64,
    /// Proposals posted during the load.
    pub proposals: Vec<i32>,
    /// What was sent but answered in a way that leaves its fate open (no answer, 408, 429,
    /// 5xx: a sender retries those): it may be stored or not; either is right.
    pub maybe: Maybe,
}

#[derive(Debug, Default)]
pub struct Maybe {
    pub arguments: HashSet<String>,
    pub comments: HashSet<String>,
    pub votes: HashMap<i32, [u64; 3]>,
}

/// Whether an answer (`None`: no answer) leaves the request's effect open. Any other refusal
/// is final: nothing of it may be stored.
pub fn undecided(status: Option<u16>) -> bool {
    status.is_none_or(|s| s == 408 || s == 429 || s >= 500)
}

impl Ledger {
    pub fn vote(&mut self, proposal: i32, value: usize, remote: bool) {
        self.votes.entry(proposal).or_default()[value] += 1;
        if remote {
            self.remote_votes += 1;
        } else {
            self.local_votes += 1;
        }
    }

    pub fn merge(&mut self, other: Ledger) {
        self.arguments.extend(other.arguments);
        self.comments.extend(other.comments);
        for (proposal, counts) in other.votes {
            let mine = self.votes.entry(proposal).or_default();
            for (m, o) in mine.iter_mut().zip(counts) {
                *m += o;
            }
        }
        self.remote_votes += other.remote_votes;
        self.local_votes += other.local_votes;
        self.proposals.extend(other.proposals);
        self.maybe.arguments.extend(other.maybe.arguments);
        self.maybe.comments.extend(other.maybe.comments);
        for (proposal, counts) in other.maybe.votes {
            let mine = self.maybe.votes.entry(proposal).or_default();
            for (m, o) in mine.iter_mut().zip(counts) {
                *m += o;
            }
        }
    }

    pub fn accepted(&self) -> Accepted {
        let remote_arguments = self.arguments.values().filter(|a| a.2).count() as u64;
        Accepted {
            remote_arguments,
            remote_comments: self.comments.len() as u64,
            remote_votes: self.remote_votes,
            local_proposals: self.proposals.len() as u64,
            local_arguments: self.arguments.len() as u64 - remote_arguments,
            local_votes: self.local_votes,
        }
    }
}

async fn get_json(http: &reqwest::Client, url: &str) -> anyhow::Result<Value> {
    let response = http.get(url).send().await?;
    let status = response.status();
    let body = response.text().await?;
    if !status.is_success() {
        bail!("GET {url} answered {status}: {body}");
    }
    serde_json::from_str(&body).with_context(|| format!("GET {url}: not JSON"))
}

/// The ids of every proposal of the consultation `slug`, page after page.
async fn listed_proposals(
    http: &reqwest::Client,
    node: &str,
    slug: &str,
) -> anyhow::Result<Vec<i32>> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = url::Url::parse(&format!("{node}/api/v1/consultations/{slug}/proposals"))?;
        url.query_pairs_mut().append_pair("limit", "100");
        if let Some(cursor) = &cursor {
            url.query_pairs_mut().append_pair("cursor", cursor);
        }
        let page = get_json(http, url.as_str()).await?;
        let items = page["items"].as_array().context("no items in the page")?;
        for item in items {
            let id = item["id"].as_i64().context("a proposal without id")?;
            ids.push(i32::try_from(id)?);
        }
        match page["next_cursor"].as_str() {
            Some(next) if !items.is_empty() => cursor = Some(next.to_owned()),
            _ => return Ok(ids),
        }
    }
}

/// Reads every proposal back and compares with `ledger`; returns what does not match, one
/// sentence each (empty when everything accepted is there exactly once, and nothing else).
pub async fn verify(
    http: &reqwest::Client,
    node: &str,
    slug: &str,
    initial: &[i32],
    ledger: &Ledger,
) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    let listed = listed_proposals(http, node, slug).await?;
    let mut times_listed: HashMap<i32, usize> = HashMap::new();
    for id in &listed {
        *times_listed.entry(*id).or_default() += 1;
    }
    for id in initial.iter().chain(&ledger.proposals) {
        match times_listed.get(id) {
            Some(1) => {}
            Some(n) => problems.push(format!("proposal {id} is listed {n} times")),
            None => problems.push(format!("proposal {id} (posted, 201) is not listed")),
        }
    }

    let mut details = Vec::with_capacity(listed.len());
    // A few at a time: the check should not take as long as the load did.
    for chunk in listed.chunks(8) {
        let mut set = tokio::task::JoinSet::new();
        for id in chunk {
            let (http, url, id) = (http.clone(), format!("{node}/api/v1/proposals/{id}"), *id);
            set.spawn(async move { (id, get_json(&http, &url).await) });
        }
        while let Some(joined) = set.join_next().await {
            let (id, detail) = joined?;
            details.push((id, detail?));
        }
    }

    let mut found_arguments: HashMap<String, Vec<(i32, &'static str)>> = HashMap::new();
    let mut found_comments: HashMap<String, Vec<i32>> = HashMap::new();
    for (id, detail) in &details {
        for (key, stance) in [("arguments_for", "for"), ("arguments_against", "against")] {
            let arguments = detail[key]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            let counted = detail["counts"][key].as_u64().unwrap_or(u64::MAX);
            if counted != arguments.len() as u64 {
                problems.push(format!(
                    "proposal {id}: counts.{key} is {counted} but {} are listed",
                    arguments.len()
                ));
            }
            for argument in arguments {
                let body = argument["body"].as_str().unwrap_or_default();
                for word in markers_in(body) {
                    found_arguments
                        .entry(word.to_owned())
                        .or_default()
                        .push((*id, stance));
                }
            }
        }
        for comment in detail["comments"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let url = comment["url"].as_str().unwrap_or_default().to_owned();
            found_comments.entry(url).or_default().push(*id);
        }
        let expected = ledger.votes.get(id).copied().unwrap_or_default();
        let maybe = ledger.maybe.votes.get(id).copied().unwrap_or_default();
        let actual = VOTE_VALUES.map(|value| detail["votes"][value].as_u64().unwrap_or(u64::MAX));
        if (0..3).any(|i| actual[i] < expected[i] || actual[i] > expected[i] + maybe[i]) {
            problems.push(format!(
                "proposal {id}: votes (agree, mixed, disagree) are {actual:?}, {expected:?} were \
                 accepted (and {maybe:?} more had no clear answer)"
            ));
        }
    }

    for (word, (proposal, stance, remote)) in &ledger.arguments {
        let from = if *remote { "remote" } else { "local" };
        match found_arguments.get(word).map(Vec::as_slice) {
            Some([(p, s)]) if p == proposal && s == stance => {}
            Some([(p, s)]) => problems.push(format!(
                "{from} argument {word} ({stance} proposal {proposal}) is under proposal {p}, {s}"
            )),
            Some(many) => problems.push(format!(
                "{from} argument {word} is there {} times: {many:?}",
                many.len()
            )),
            None => problems.push(format!(
                "{from} argument {word} ({stance} proposal {proposal}) was accepted but is missing"
            )),
        }
    }
    for word in found_arguments.keys() {
        if !ledger.arguments.contains_key(word) && !ledger.maybe.arguments.contains(word) {
            problems.push(format!("argument {word} is stored but was refused"));
        }
    }
    for (id, proposal) in &ledger.comments {
        match found_comments.get(id).map(Vec::as_slice) {
            Some([p]) if p == proposal => {}
            Some([p]) => problems.push(format!(
                "comment {id} (proposal {proposal}) is under proposal {p}"
            )),
            Some(many) => problems.push(format!("comment {id} is there {} times", many.len())),
            None => problems.push(format!(
                "comment {id} (proposal {proposal}) was accepted but is missing"
            )),
        }
    }
    for id in found_comments.keys() {
        if !ledger.comments.contains_key(id) && !ledger.maybe.comments.contains(id) {
            problems.push(format!("comment {id} is stored but was refused"));
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_found_whole_in_any_markup() {
        let text = format!(
            "<p>Argument {} : oui. #pour</p> charge12 charge12zz xcharge3z {}",
            marker(41),
            marker(7)
        );
        assert_eq!(
            markers_in(&text).collect::<Vec<_>>(),
            ["charge41z", "charge7z"]
        );
    }

    #[test]
    fn only_timeouts_limits_server_errors_and_silence_leave_a_request_undecided() {
        for status in [None, Some(408), Some(429), Some(500), Some(503)] {
            assert!(undecided(status), "{status:?}");
        }
        for status in [
            Some(200),
            Some(202),
            Some(400),
            Some(401),
            Some(403),
            Some(409),
        ] {
            assert!(!undecided(status), "{status:?}");
        }
    }

    #[test]
    fn ledgers_add_up() {
        let mut a = Ledger::default();
        a.vote(3, 0, true);
        a.arguments.insert(marker(1), (3, "for", true));
        let mut b = Ledger::default();
        b.vote(3, 2, false);
        b.vote(3, 0, true);
        b.arguments.insert(marker(2), (3, "against", false));
        b.proposals.push(4);
        a.merge(b);
        assert_eq!(a.votes[&3], [2, 0, 1]);
        let accepted = a.accepted();
        assert_eq!(
            (
                accepted.remote_arguments,
                accepted.local_arguments,
                accepted.remote_votes,
                accepted.local_votes,
                accepted.local_proposals
            ),
            (1, 1, 2, 1, 1)
        );
    }
}
