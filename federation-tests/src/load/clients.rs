//! The three kinds of clients of the load test. Each loops until the deadline, sending its next
//! request as soon as the previous one is answered, and keeps its own figures and ledger (merged
//! at the end, so that counting costs no lock on the way).
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::Instant;

use serde_json::{Value, json};

use super::stats::{ByClass, Class};
use super::verify::{Ledger, VOTE_VALUES, marker, undecided};
use crate::remote::RemoteServers;

const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";
/// At most this many accepted remote arguments are kept as targets for replies.
const REPLY_TARGETS: usize = 1000;

/// What the clients share while the load lasts.
pub struct Shared {
    pub node: String,
    pub slug: String,
    pub deadline: Instant,
    pub remote: RemoteServers,
    /// Every proposal known to exist: the initial ones, then each one posted (201).
    pub proposals: RwLock<Vec<i32>>,
    /// Recently accepted remote arguments (ActivityPub id, proposal): comments answer them.
    pub replies_to: Mutex<Vec<(String, i32)>>,
    /// Numbers for unique ids and markers.
    pub counter: AtomicU64,
    /// Remote votes: slot `s` is the vote of actor `s % actors` on the `s / actors`-th
    /// proposal, so that nobody votes twice on one proposal (a second vote would replace the
    /// first, and the expected tallies would depend on which arrived last).
    pub vote_slots: AtomicU64,
}

impl Shared {
    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// The `n`-th known proposal, wrapping around.
    fn proposal(&self, n: u64) -> i32 {
        let proposals = self
            .proposals
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        proposals[(n % proposals.len().max(1) as u64) as usize]
    }

    fn proposal_url(&self, id: i32) -> String {
        format!("{}/proposals/{id}", self.node)
    }

    fn group(&self) -> String {
        format!("{}/consultations/{}", self.node, self.slug)
    }
}

/// What a delivery does if the node accepts it.
enum Effect {
    Argument {
        word: String,
        note: String,
        proposal: i32,
        stance: &'static str,
    },
    Comment {
        note: String,
        proposal: i32,
    },
    Vote {
        proposal: i32,
        value: usize,
    },
}

/// A reply to `in_reply_to`, with the `#pour`/`#contre` hashtag when it takes a side, in
/// Mastodon's shape.
fn create_note(
    shared: &Shared,
    actor: &str,
    n: u64,
    in_reply_to: &str,
    side: Option<&str>,
) -> Value {
    let note = format!("{actor}/statuses/{n}");
    let now = chrono::Utc::now().to_rfc3339();
    let cc = json!([format!("{actor}/followers"), shared.group()]);
    let (text, tag) = match side {
        Some(tag) => (
            format!(
                "<p>Argument {} : la ligne de bus doit passer plus souvent. \
                 <a href=\"{actor}/tags/{tag}\" class=\"mention hashtag\" rel=\"tag\">#<span>{tag}</span></a></p>",
                marker(n)
            ),
            json!([{"type": "Hashtag", "href": format!("{actor}/tags/{tag}"), "name": format!("#{tag}")}]),
        ),
        None => (
            format!("<p>Commentaire {n} : et le dimanche ?</p>"),
            json!([]),
        ),
    };
    json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": format!("{note}/activity"),
        "type": "Create",
        "actor": actor,
        "published": now,
        "to": [PUBLIC],
        "cc": cc,
        "object": {
            "id": note,
            "type": "Note",
            "inReplyTo": in_reply_to,
            "published": now,
            "attributedTo": actor,
            "to": [PUBLIC],
            "cc": cc,
            "content": text,
            "tag": tag,
        },
    })
}

fn argument(shared: &Shared, n: u64) -> (String, Value, Effect) {
    let actor = shared.remote.actor(n as usize);
    let proposal = shared.proposal(n / 2);
    let (tag, stance) = if n.is_multiple_of(2) {
        ("pour", "for")
    } else {
        ("contre", "against")
    };
    let activity = create_note(shared, &actor, n, &shared.proposal_url(proposal), Some(tag));
    let effect = Effect::Argument {
        word: marker(n),
        note: format!("{actor}/statuses/{n}"),
        proposal,
        stance,
    };
    (actor, activity, effect)
}

/// The next delivery of a remote actor: arguments, comments (on a proposal, or answering an
/// accepted argument) and votes (`Like`, Palabre's `Vote` "mixed", `Dislike`).
fn delivery(shared: &Shared, k: u64) -> (String, Value, Effect) {
    let n = shared.next();
    match k % 10 {
        0..=3 => argument(shared, n),
        4 | 5 => {
            let actor = shared.remote.actor(n as usize);
            let target = (k % 10 == 5)
                .then(|| {
                    let targets = shared
                        .replies_to
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    targets.get(n as usize % targets.len().max(1)).cloned()
                })
                .flatten();
            let (in_reply_to, proposal) = target.unwrap_or_else(|| {
                let proposal = shared.proposal(n);
                (shared.proposal_url(proposal), proposal)
            });
            let activity = create_note(shared, &actor, n, &in_reply_to, None);
            let note = format!("{actor}/statuses/{n}");
            (actor, activity, Effect::Comment { note, proposal })
        }
        _ => {
            let actors = shared.remote.actor_count().max(1) as u64;
            let slot = shared.vote_slots.fetch_add(1, Ordering::Relaxed);
            let (who, index) = (slot % actors, slot / actors);
            let proposal = {
                let proposals = shared
                    .proposals
                    .read()
                    .unwrap_or_else(PoisonError::into_inner);
                proposals.get(index as usize).copied()
            };
            // Every actor voted on every proposal there is so far: argue instead.
            let Some(proposal) = proposal else {
                return argument(shared, n);
            };
            let actor = shared.remote.actor(who as usize);
            let value = ((who + index) % 3) as usize;
            let kind = ["Like", "Vote", "Dislike"][value];
            let mut activity = json!({
                "@context": "https://www.w3.org/ns/activitystreams",
                "id": format!("{actor}#votes/{slot}"),
                "type": kind,
                "actor": actor,
                "object": shared.proposal_url(proposal),
            });
            if value == 1 {
                activity["value"] = json!("mixed");
            }
            (actor, activity, Effect::Vote { proposal, value })
        }
    }
}

/// A remote actor's server delivering to the node's shared inbox, one activity after another.
pub async fn inbox_sender(shared: &Shared, http: reqwest::Client, first: u64) -> (ByClass, Ledger) {
    let mut stats = ByClass::default();
    let mut ledger = Ledger::default();
    let inbox = format!("{}/inbox", shared.node);
    let mut k = first;
    while Instant::now() < shared.deadline {
        let (actor, activity, effect) = delivery(shared, k);
        k += 1;
        let what = format!("POST /inbox {}", activity["type"]);
        let body = serde_json::to_vec(&activity).unwrap_or_default();
        let request = match shared.remote.signed_post(&http, &actor, &inbox, body).await {
            Ok(request) => request,
            Err(e) => {
                stats
                    .get_mut(Class::Inbox)
                    .failed(&format!("signing {what}"), &e);
                continue;
            }
        };
        let started = Instant::now();
        let status = match http.execute(request).await {
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.bytes().await.unwrap_or_default();
                stats
                    .get_mut(Class::Inbox)
                    .record(&what, started.elapsed(), status, &body);
                Some(status)
            }
            Err(e) => {
                stats.get_mut(Class::Inbox).failed(&what, &e);
                None
            }
        };
        if !status.is_some_and(|s| (200..300).contains(&s)) {
            if undecided(status) {
                match effect {
                    Effect::Argument { word, .. } => {
                        ledger.maybe.arguments.insert(word);
                    }
                    Effect::Comment { note, .. } => {
                        ledger.maybe.comments.insert(note);
                    }
                    Effect::Vote { proposal, value } => {
                        ledger.maybe.votes.entry(proposal).or_default()[value] += 1;
                    }
                }
            }
            continue;
        }
        match effect {
            Effect::Argument {
                word,
                note,
                proposal,
                stance,
            } => {
                ledger.arguments.insert(word, (proposal, stance, true));
                let mut targets = shared
                    .replies_to
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if targets.len() >= REPLY_TARGETS {
                    targets.swap_remove((k as usize) % REPLY_TARGETS);
                }
                targets.push((note, proposal));
            }
            Effect::Comment { note, proposal } => {
                ledger.comments.insert(note, proposal);
            }
            Effect::Vote { proposal, value } => ledger.vote(proposal, value, true),
        }
    }
    (stats, ledger)
}

/// Someone reading: web pages, the API, ActivityStreams documents, in turn.
pub async fn reader(shared: &Shared, http: reqwest::Client, first: u64) -> ByClass {
    let mut stats = ByClass::default();
    let mut k = first;
    while Instant::now() < shared.deadline {
        let proposal = shared.proposal(k / 8);
        let slug = &shared.slug;
        let (class, path, accept) = match k % 8 {
            0 => (Class::Web, "/".to_owned(), "text/html"),
            1 => (Class::Web, format!("/consultations/{slug}"), "text/html"),
            2 => (Class::Web, format!("/proposals/{proposal}"), "text/html"),
            3 => (
                Class::ApiRead,
                "/api/v1/consultations".to_owned(),
                "application/json",
            ),
            4 => (
                Class::ApiRead,
                format!("/api/v1/consultations/{slug}/proposals?limit=20"),
                "application/json",
            ),
            5 => (
                Class::ApiRead,
                format!("/api/v1/proposals/{proposal}"),
                "application/json",
            ),
            6 => (
                Class::ApRead,
                format!("/consultations/{slug}"),
                "application/activity+json",
            ),
            _ => (
                Class::ApRead,
                format!("/proposals/{proposal}"),
                "application/activity+json",
            ),
        };
        k += 1;
        let what = format!("GET {path} ({accept})");
        let started = Instant::now();
        match http
            .get(format!("{}{path}", shared.node))
            .header("accept", accept)
            .send()
            .await
        {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Ok(body) => {
                        stats
                            .get_mut(class)
                            .record(&what, started.elapsed(), status, &body)
                    }
                    Err(e) => stats.get_mut(class).failed(&what, &e),
                }
            }
            Err(e) => stats.get_mut(class).failed(&what, &e),
        }
    }
    stats
}

/// What a local write does if the node accepts it.
enum Write {
    Proposal,
    Argument {
        word: String,
        proposal: i32,
        stance: &'static str,
    },
    Vote {
        proposal: i32,
        value: usize,
    },
}

/// A local account writing through the API with its token: proposals, arguments, votes.
pub async fn writer(
    shared: &Shared,
    http: reqwest::Client,
    token: String,
    index: u64,
) -> (ByClass, Ledger) {
    let mut stats = ByClass::default();
    let mut ledger = Ledger::default();
    let mut voted: HashSet<i32> = HashSet::new();
    let mut k = index;
    while Instant::now() < shared.deadline {
        let n = shared.next();
        let step = k % 5;
        k += 1;
        let (request, write) = match step {
            0 => (
                http.post(format!(
                    "{}/api/v1/consultations/{}/proposals",
                    shared.node, shared.slug
                ))
                .json(&json!({"title": format!("Proposition {n}"),
                              "body": "Ouvrir la médiathèque le dimanche."})),
                Write::Proposal,
            ),
            1..=3 => {
                let proposal = shared.proposal(n);
                let stance = if n.is_multiple_of(2) {
                    "for"
                } else {
                    "against"
                };
                let word = marker(n);
                (
                    http.post(format!(
                        "{}/api/v1/proposals/{proposal}/arguments",
                        shared.node
                    ))
                    .json(&json!({"stance": stance,
                                      "body": format!("Argument {word} : c'est utile.")})),
                    Write::Argument {
                        word,
                        proposal,
                        stance,
                    },
                )
            }
            _ => {
                // One vote per account and proposal, as for remote actors.
                let target = shared
                    .proposals
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                    .copied()
                    .find(|p| !voted.contains(p));
                let Some(proposal) = target else {
                    continue;
                };
                let value = (index as usize + proposal as usize) % 3;
                (
                    http.put(format!("{}/api/v1/proposals/{proposal}/vote", shared.node))
                        .json(&json!({"value": VOTE_VALUES[value]})),
                    Write::Vote { proposal, value },
                )
            }
        };
        let what = match &write {
            Write::Proposal => "POST proposal".to_owned(),
            Write::Argument { proposal, .. } => format!("POST argument on {proposal}"),
            Write::Vote { proposal, .. } => format!("PUT vote on {proposal}"),
        };
        let started = Instant::now();
        let (status, body) = match request.bearer_auth(&token).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.bytes().await.unwrap_or_default();
                stats
                    .get_mut(Class::ApiWrite)
                    .record(&what, started.elapsed(), status, &body);
                (Some(status), body)
            }
            Err(e) => {
                stats.get_mut(Class::ApiWrite).failed(&what, &e);
                (None, Default::default())
            }
        };
        if !status.is_some_and(|s| (200..300).contains(&s)) {
            if undecided(status) {
                match write {
                    Write::Proposal => {}
                    Write::Argument { word, .. } => {
                        ledger.maybe.arguments.insert(word);
                    }
                    Write::Vote { proposal, value } => {
                        voted.insert(proposal);
                        ledger.maybe.votes.entry(proposal).or_default()[value] += 1;
                    }
                }
            }
            continue;
        }
        match write {
            Write::Proposal => {
                let answer: Value = serde_json::from_slice(&body).unwrap_or_default();
                if let Some(id) = answer["id"].as_i64().and_then(|id| i32::try_from(id).ok()) {
                    ledger.proposals.push(id);
                    shared
                        .proposals
                        .write()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(id);
                }
            }
            Write::Argument {
                word,
                proposal,
                stance,
            } => {
                ledger.arguments.insert(word, (proposal, stance, false));
            }
            Write::Vote { proposal, value } => {
                voted.insert(proposal);
                ledger.vote(proposal, value, false);
            }
        }
    }
    (stats, ledger)
}
