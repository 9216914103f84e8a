//! Issue 5: a node killed with SIGKILL in the middle of a burst of incoming and outgoing
//! activities, then restarted on the same database. Node A hosts a consultation that node B
//! follows. Remote actors (served over HTTP by the test, signing in draft-cavage as Mastodon
//! does) deliver arguments, comments and votes to A's shared inbox while a local account posts
//! proposals on A through the API, each of which A announces to B. A is killed mid-burst, with
//! proposals it answered 201 for not yet on B; the senders keep going while it is down, then it
//! comes back. Like a real server, a remote sender sends again what got no answer (some of it
//! stored by the killed process before it could answer), and some of what was accepted, as if
//! the answer had been lost.
//!
//! Afterwards: every inbox delivery A answered 2xx to is stored on A exactly once (and nothing
//! it refused); every proposal A answered 201 for is on A once; every proposal A has (those
//! whose request got no answer too: A stores a proposal and queues its Announce in one
//! transaction) is on B exactly once, those that were queued when A was killed included.
//!
//! A also announces to B the remote arguments and comments it accepts, but B cannot take them
//! here: it fetches each from its author's server, and the test's remote servers serve their
//! actors only, not their posts. Those relays are left unchecked.
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use palabre_federation_tests::Node;
use palabre_federation_tests::load::load_client;
use palabre_federation_tests::load::verify::{self, Ledger, marker, undecided};
use palabre_federation_tests::remote::RemoteServers;
use serde_json::{Value, json};

const PASSWORD: &str = "mot de passe solide";
const SLUG: &str = "crue";
const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";
/// Concurrent remote senders to A's shared inbox.
const SENDERS: u64 = 6;
/// Proposals on A before the burst: the targets of remote arguments, comments and votes.
const INITIAL: usize = 3;

/// A short delivery lease, so that what the killed process had claimed is taken over soon
/// after the restart; rate limits out of the way (the test measures crash safety, not the
/// limiter). The retry backoff is 10 s: B never fails, except on the relayed remote posts it
/// cannot fetch (see above), which would otherwise crowd A's queue with retries.
const ENV: &[(&str, &str)] = &[
    ("PALABRE_FEDERATION__RETRY_BASE_SECONDS", "10"),
    ("PALABRE_FEDERATION__DELIVERY_LEASE_SECONDS", "2"),
    ("PALABRE_LIMITS__INBOX__REQUESTS", "1000000"),
    ("PALABRE_LIMITS__POSTING__REQUESTS", "1000000"),
    ("PALABRE_LIMITS__LOGIN__REQUESTS", "1000"),
];

/// What an inbox delivery does if A accepts it.
#[derive(Clone, Debug)]
enum Effect {
    Argument {
        word: String,
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

#[derive(Clone, Debug)]
struct Delivery {
    actor: String,
    activity: Value,
    effect: Effect,
}

/// A delivery and its answers, in order (`None`: no answer).
struct Sent {
    delivery: Delivery,
    answers: Vec<(Option<u16>, String)>,
}

impl Sent {
    fn last(&self) -> Option<u16> {
        self.answers.last().and_then(|a| a.0)
    }
}

/// What the burst's tasks share.
struct Burst {
    node: String,
    remote: RemoteServers,
    /// The initial proposals' ids.
    proposals: Vec<i32>,
    stop: AtomicBool,
    counter: AtomicU64,
    vote_slots: AtomicU64,
    accepted_inbox: AtomicUsize,
    /// The titles of the proposals A answered 201 for.
    accepted_titles: Mutex<Vec<String>>,
    unanswered: AtomicUsize,
    /// Accepted remote arguments (note id, proposal), which comments answer.
    replies_to: Mutex<Vec<(String, i32)>>,
}

impl Burst {
    fn proposal_url(&self, id: i32) -> String {
        format!("{}/proposals/{id}", self.node)
    }

    /// A `Create(Note)` answering `in_reply_to`, in Mastodon's shape, with the `#pour` or
    /// `#contre` hashtag when it is an argument.
    fn create_note(&self, actor: &str, n: u64, in_reply_to: &str, tag: Option<&str>) -> Value {
        let note = format!("{actor}/statuses/{n}");
        let now = chrono::Utc::now().to_rfc3339();
        let cc = json!([
            format!("{actor}/followers"),
            format!("{}/consultations/{SLUG}", self.node)
        ]);
        let (content, tags) = match tag {
            Some(tag) => (
                format!(
                    "<p>Argument {} : la digue doit être rehaussée. <a href=\"{actor}/tags/{tag}\" \
                     class=\"mention hashtag\" rel=\"tag\">#<span>{tag}</span></a></p>",
                    marker(n)
                ),
                json!([{"type": "Hashtag", "href": format!("{actor}/tags/{tag}"),
                        "name": format!("#{tag}")}]),
            ),
            None => (format!("<p>Commentaire {n} : et en aval ?</p>"), json!([])),
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
                "id": note, "type": "Note", "inReplyTo": in_reply_to, "published": now,
                "attributedTo": actor, "to": [PUBLIC], "cc": cc, "content": content, "tag": tags,
            },
        })
    }

    fn argument(&self, n: u64) -> Delivery {
        let actor = self.remote.actor(n as usize);
        let proposal = self.proposals[(n / 2) as usize % self.proposals.len()];
        let (tag, stance) = if n.is_multiple_of(2) {
            ("pour", "for")
        } else {
            ("contre", "against")
        };
        let activity = self.create_note(&actor, n, &self.proposal_url(proposal), Some(tag));
        let effect = Effect::Argument {
            word: marker(n),
            proposal,
            stance,
        };
        Delivery {
            actor,
            activity,
            effect,
        }
    }

    /// A sender's `k`-th delivery: arguments, comments (on a proposal, or answering an
    /// accepted argument), votes (`Like`, `Vote` "mixed", `Dislike`: one per actor and
    /// proposal, so that the expected tallies do not depend on the order of arrival).
    fn delivery(&self, k: u64) -> Delivery {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        match k % 6 {
            0..=2 => self.argument(n),
            3 | 4 => {
                let actor = self.remote.actor(n as usize);
                let answered = (k % 6 == 4)
                    .then(|| {
                        let targets = self
                            .replies_to
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner);
                        targets.get(n as usize % targets.len().max(1)).cloned()
                    })
                    .flatten();
                let (in_reply_to, proposal) = answered.unwrap_or_else(|| {
                    let proposal = self.proposals[n as usize % self.proposals.len()];
                    (self.proposal_url(proposal), proposal)
                });
                let activity = self.create_note(&actor, n, &in_reply_to, None);
                let note = format!("{actor}/statuses/{n}");
                Delivery {
                    actor,
                    activity,
                    effect: Effect::Comment { note, proposal },
                }
            }
            _ => {
                let actors = self.remote.actor_count() as u64;
                let slot = self.vote_slots.fetch_add(1, Ordering::Relaxed);
                let (who, index) = (slot % actors, (slot / actors) as usize);
                let Some(&proposal) = self.proposals.get(index) else {
                    return self.argument(n);
                };
                let actor = self.remote.actor(who as usize);
                let value = (who as usize + index) % 3;
                let kind = ["Like", "Vote", "Dislike"][value];
                let mut activity = json!({
                    "@context": "https://www.w3.org/ns/activitystreams",
                    "id": format!("{actor}#votes/{slot}"),
                    "type": kind,
                    "actor": actor,
                    "object": self.proposal_url(proposal),
                });
                if value == 1 {
                    activity["value"] = json!("mixed");
                }
                Delivery {
                    actor,
                    activity,
                    effect: Effect::Vote { proposal, value },
                }
            }
        }
    }

    /// Delivers once, signed by the remote actor; returns A's status and body, or `None`.
    async fn send(&self, http: &reqwest::Client, delivery: &Delivery) -> (Option<u16>, String) {
        let body = serde_json::to_vec(&delivery.activity).expect("JSON");
        let inbox = format!("{}/inbox", self.node);
        let request = self
            .remote
            .signed_post(http, &delivery.actor, &inbox, body)
            .await
            .expect("the remote actor signs");
        match http.execute(request).await {
            Ok(response) => {
                let status = response.status().as_u16();
                (Some(status), response.text().await.unwrap_or_default())
            }
            Err(_) => (None, String::new()),
        }
    }
}

/// A remote server delivering to A's shared inbox, one activity after another, until told to
/// stop. While A is down its requests fail at once: it pauses a little between them.
async fn inbox_sender(burst: Arc<Burst>, http: reqwest::Client, first: u64) -> Vec<Sent> {
    let mut sent = Vec::new();
    let mut k = first;
    while !burst.stop.load(Ordering::Relaxed) {
        let delivery = burst.delivery(k);
        k += SENDERS;
        let answer = burst.send(&http, &delivery).await;
        match answer.0 {
            Some(200..=299) => {
                burst.accepted_inbox.fetch_add(1, Ordering::Relaxed);
                if let (Effect::Argument { proposal, .. }, Some(note)) =
                    (&delivery.effect, delivery.activity["object"]["id"].as_str())
                {
                    burst
                        .replies_to
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((note.to_owned(), *proposal));
                }
            }
            None => {
                burst.unanswered.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Some(_) => {}
        }
        sent.push(Sent {
            delivery,
            answers: vec![answer],
        });
    }
    sent
}

/// A local account posting proposals on A through the API, until told to stop. Returns each
/// title with A's answer and, on 201, the new proposal's id.
async fn poster(
    burst: Arc<Burst>,
    http: reqwest::Client,
    token: String,
) -> Vec<(String, Option<u16>, Option<i32>)> {
    let mut posted = Vec::new();
    let mut i = 0;
    while !burst.stop.load(Ordering::Relaxed) {
        let title = format!("Projet {i}");
        i += 1;
        let response = http
            .post(format!(
                "{}/api/v1/consultations/{SLUG}/proposals",
                burst.node
            ))
            .bearer_auth(&token)
            .json(&json!({"title": title, "body": "Rehausser la digue du port."}))
            .send()
            .await;
        let (status, id) = match response {
            Ok(response) => {
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or_default();
                let id = body["id"].as_i64().and_then(|id| i32::try_from(id).ok());
                (Some(status), id)
            }
            Err(_) => (None, None),
        };
        match status {
            Some(201) => burst
                .accepted_titles
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(title.clone()),
            None => tokio::time::sleep(Duration::from_millis(50)).await,
            Some(_) => {}
        }
        posted.push((title, status, id));
    }
    posted
}

async fn token(http: &reqwest::Client, node: &Node, user: &str) -> String {
    let body: Value = http
        .post(format!("{}/api/v1/auth/token", node.url))
        .json(&json!({"username": user, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token for {user} on {}: {body}", node.name))
        .to_owned()
}

async fn get_json(http: &reqwest::Client, url: &str) -> Value {
    let response = http
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    assert!(status.is_success(), "GET {url} answered {status}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("GET {url}: not JSON: {body}"))
}

/// Every proposal `node` lists for the consultation `handle`, page after page.
async fn proposals(http: &reqwest::Client, node: &str, handle: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url =
            url::Url::parse(&format!("{node}/api/v1/consultations/{handle}/proposals")).unwrap();
        url.query_pairs_mut().append_pair("limit", "100");
        if let Some(cursor) = &cursor {
            url.query_pairs_mut().append_pair("cursor", cursor);
        }
        let page = get_json(http, url.as_str()).await;
        let batch = page["items"].as_array().cloned().unwrap_or_default();
        let empty = batch.is_empty();
        items.extend(batch);
        match page["next_cursor"].as_str() {
            Some(next) if !empty => cursor = Some(next.to_owned()),
            _ => return items,
        }
    }
}

/// The titles of the proposals `node` lists for the consultation `handle`, each as many times
/// as it is listed, sorted.
async fn titles(http: &reqwest::Client, node: &str, handle: &str) -> Vec<String> {
    let mut titles: Vec<String> = proposals(http, node, handle)
        .await
        .iter()
        .map(|item| item["title"].as_str().unwrap_or_default().to_owned())
        .collect();
    titles.sort();
    titles
}

/// The ids of the remote arguments and comments A shows under the proposals `ids`.
async fn stored_notes(http: &reqwest::Client, node: &str, ids: &[i32]) -> HashSet<String> {
    let mut notes = HashSet::new();
    for id in ids {
        let detail = get_json(http, &format!("{node}/api/v1/proposals/{id}")).await;
        for key in ["arguments_for", "arguments_against", "comments"] {
            for item in detail[key]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                notes.extend(item["url"].as_str().map(str::to_owned));
            }
        }
    }
    notes
}

/// Polls `check` every 100 ms until it holds or `seconds` have passed; returns whether it held.
async fn wait_until(seconds: u64, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    check()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_during_a_burst_of_incoming_and_outgoing_activities_loses_and_doubles_nothing()
 {
    let started = Instant::now();
    let (mut a, b) = tokio::try_join!(
        Node::start_with("Origine", ENV),
        Node::start_with("Abonne", ENV)
    )
    .expect("nodes start");
    let http = load_client().expect("client");
    a.create_user("orga", PASSWORD, true).unwrap();
    b.create_user("lea", PASSWORD, false).unwrap();
    let orga = token(&http, &a, "orga").await;
    let now = chrono::Utc::now();
    let response = http
        .post(format!("{}/api/v1/consultations", a.url))
        .bearer_auth(&orga)
        .json(&json!({"slug": SLUG, "title": "Digue du port", "body": "…",
                      "opens_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
                      "closes_at": (now + chrono::Duration::days(7)).to_rfc3339()}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let handle = format!("{SLUG}@{}", a.host());
    let lea = token(&http, &b, "lea").await;
    let response = http
        .post(format!("{}/api/v1/follows", b.url))
        .bearer_auth(&lea)
        .json(&json!({"target": handle}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let follows: Value = http
            .get(format!("{}/api/v1/follows", b.url))
            .bearer_auth(&lea)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if follows[0]["state"] == "accepted" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "follow never accepted: {follows}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The proposals the remote actors answer, on both nodes before the burst (B takes a reply
    // only to a proposal it knows).
    let mut initial = Vec::new();
    for i in 0..INITIAL {
        let response = http
            .post(format!("{}/api/v1/consultations/{SLUG}/proposals", a.url))
            .bearer_auth(&orga)
            .json(&json!({"title": format!("Départ {i}"), "body": "…"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        initial.push(i32::try_from(body["id"].as_i64().expect("id")).unwrap());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while proposals(&http, &b.url, &handle).await.len() < INITIAL {
        assert!(
            Instant::now() < deadline,
            "B never got the initial proposals"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let burst = Arc::new(Burst {
        node: a.url.clone(),
        remote: RemoteServers::start(2, 20).await.expect("remote servers"),
        proposals: initial.clone(),
        stop: AtomicBool::new(false),
        counter: AtomicU64::new(0),
        vote_slots: AtomicU64::new(0),
        accepted_inbox: AtomicUsize::new(0),
        accepted_titles: Mutex::new(Vec::new()),
        unanswered: AtomicUsize::new(0),
        replies_to: Mutex::new(Vec::new()),
    });
    let setup = started.elapsed();
    let mut senders = tokio::task::JoinSet::new();
    for i in 0..SENDERS {
        senders.spawn(inbox_sender(burst.clone(), http.clone(), i));
    }
    let posting = tokio::spawn(poster(burst.clone(), http.clone(), orga.clone()));
    let counts = |burst: &Burst| {
        (
            burst.accepted_inbox.load(Ordering::Relaxed),
            burst
                .accepted_titles
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len(),
            burst.unanswered.load(Ordering::Relaxed),
        )
    };

    // Mid-burst: enough accepted both ways, and B behind A (a proposal A answered 201 for not
    // on B yet: its Announce is queued or on its way).
    assert!(
        wait_until(120, || {
            let (inbox, posted, _) = counts(&burst);
            inbox >= 40 && posted >= 5
        })
        .await,
        "the burst did not get going: {:?} (inbox and proposals accepted, unanswered)\n{}",
        counts(&burst),
        tail(&a.log(), 30)
    );
    let accepted_titles = |burst: &Burst| {
        burst
            .accepted_titles
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    };
    let not_on = |accepted: Vec<String>, shown: &[String]| -> Vec<String> {
        accepted
            .into_iter()
            .filter(|t| !shown.contains(t))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let accepted = accepted_titles(&burst);
        let on_b = titles(&http, &b.url, &handle).await;
        if !not_on(accepted, &on_b).is_empty() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.kill();
    let at_kill = counts(&burst);
    // With A dead, nothing more reaches B: what A answered 201 for and B lacks now was queued
    // (or being sent, unacknowledged) when A was killed.
    let queued_at_kill = not_on(
        accepted_titles(&burst),
        &titles(&http, &b.url, &handle).await,
    );
    assert!(
        !queued_at_kill.is_empty(),
        "B had caught up with A when it was killed: nothing was queued"
    );

    // The senders keep going against a dead node for a moment: refused connections.
    assert!(
        wait_until(30, || counts(&burst).2 >= at_kill.2 + SENDERS as usize).await,
        "the senders never noticed the node was down"
    );
    a.restart().await.expect("A restarts");
    let at_restart = counts(&burst);
    assert!(
        wait_until(120, || {
            let (inbox, posted, _) = counts(&burst);
            inbox >= at_restart.0 + 30 && posted >= at_restart.1 + 3
        })
        .await,
        "the burst did not resume after the restart: {at_restart:?} then {:?}\n{}",
        counts(&burst),
        tail(&a.log(), 30)
    );
    burst.stop.store(true, Ordering::Relaxed);
    let mut sent: Vec<Sent> = Vec::new();
    while let Some(joined) = senders.join_next().await {
        sent.extend(joined.expect("a sender"));
    }
    let posted = posting.await.expect("the poster");
    let burst_time = started.elapsed() - setup;

    // A remote server sends again what got no answer (or a 408, 429, 5xx), until it gets one.
    let retried = sent.iter().filter(|s| undecided(s.last())).count();
    // (For the figures: those the killed process had stored without answering.)
    let stored = stored_notes(&http, &a.url, &initial).await;
    let stored_unanswered_inbox = sent
        .iter()
        .filter(|s| undecided(s.last()))
        .filter_map(|s| s.delivery.activity["object"]["id"].as_str())
        .filter(|note| stored.contains(*note))
        .count();
    let deadline = Instant::now() + Duration::from_secs(90);
    for s in sent.iter_mut().filter(|s| undecided(s.last())) {
        loop {
            let answer = burst.send(&http, &s.delivery).await;
            s.answers.push(answer);
            if !undecided(s.last()) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "A never answered {}: {:?}",
                s.delivery.activity["id"],
                s.answers
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // A sender that lost A's answer sends again what A had accepted: once more for every
    // fourth accepted delivery (before the crash or after it). Taken again, stored once.
    let mut duplicates = 0;
    for s in sent.iter_mut().step_by(4) {
        if s.last().is_some_and(|status| (200..300).contains(&status)) {
            let answer = burst.send(&http, &s.delivery).await;
            s.answers.push(answer);
            duplicates += 1;
        }
    }

    // What A said it accepted, for the check on A.
    let mut ledger = Ledger::default();
    let mut refused = Vec::new();
    for s in &sent {
        match (s.last(), &s.delivery.effect) {
            (
                Some(200..=299),
                Effect::Argument {
                    word,
                    proposal,
                    stance,
                },
            ) => {
                ledger
                    .arguments
                    .insert(word.clone(), (*proposal, *stance, true));
            }
            (Some(200..=299), Effect::Comment { note, proposal }) => {
                ledger.comments.insert(note.clone(), *proposal);
            }
            (Some(200..=299), Effect::Vote { proposal, value }) => {
                ledger.vote(*proposal, *value, true);
            }
            _ => refused.push(format!("{}: {:?}", s.delivery.activity["id"], s.answers)),
        }
    }
    // Any refusal is a failure: nothing sent was invalid, and a retry of what A stored before
    // dying must be taken as already there, not refused.
    assert!(
        refused.is_empty(),
        "A refused deliveries:\n{}",
        refused.join("\n")
    );
    let mut accepted_titles = Vec::new();
    for (title, status, id) in &posted {
        if *status == Some(201) {
            ledger
                .proposals
                .push(id.expect("a 201 has the new proposal's id"));
            accepted_titles.push(title.clone());
        }
    }
    let problems = verify::verify(&http, &a.url, SLUG, &initial, &ledger)
        .await
        .expect("A's API reads back");
    assert!(
        problems.is_empty(),
        "A kept what it accepted wrongly ({} problems):\n{}\n\nA's log (end):\n{}",
        problems.len(),
        problems.join("\n"),
        tail(&a.log(), 40)
    );

    // Every proposal A has reaches B exactly once: those announced before the crash, those
    // queued when A was killed, those posted after. (Redelivery of what the killed process had
    // sent but not yet marked delivered is expected: B must store it once.)
    let checked_a = started.elapsed();
    let on_a = titles(&http, &a.url, SLUG).await;
    for title in &accepted_titles {
        assert_eq!(
            on_a.iter().filter(|t| *t == title).count(),
            1,
            "{title} (201) is on A once"
        );
    }
    let mut on_b = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    while Instant::now() < deadline {
        on_b = titles(&http, &b.url, &handle).await;
        if on_a.iter().all(|t| on_b.contains(t)) {
            // A moment more for a duplicate to show up, were there one.
            tokio::time::sleep(Duration::from_secs(1)).await;
            on_b = titles(&http, &b.url, &handle).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let caught_up = started.elapsed();
    assert_eq!(
        on_b,
        on_a,
        "B shows every proposal of A exactly once (queued at the kill: {queued_at_kill:?})\n\n\
         A's log (deliveries, end):\n{}",
        tail(
            &a.log()
                .lines()
                .filter(|l| l.contains("deliver"))
                .collect::<Vec<_>>()
                .join("\n"),
            20
        )
    );

    let stored_unanswered = posted
        .iter()
        .filter(|(title, status, _)| *status != Some(201) && on_a.contains(title))
        .count();
    let by_kind = sent.iter().fold(HashMap::new(), |mut m, s| {
        let kind = match s.delivery.effect {
            Effect::Argument { .. } => "arguments",
            Effect::Comment { .. } => "comments",
            Effect::Vote { .. } => "votes",
        };
        *m.entry(kind).or_insert(0usize) += 1;
        m
    });
    println!(
        "{} database; setup {:.1}s, burst {:.1}s, A checked at {:.1}s, B caught up at {:.1}s, \
         total {:.1}s. Inbox: {} deliveries \
         {by_kind:?}, {} accepted, {retried} got no answer at first and were sent again \
         ({stored_unanswered_inbox} of them stored already), {duplicates} sent twice. \
         Proposals: {} posted, {} with 201, {} unanswered but stored. At the kill: {at_kill:?} \
         (inbox and proposals accepted, unanswered), {} proposals queued for B. B shows {} \
         proposals, once each.",
        palabre_federation_tests::load::database_label(),
        setup.as_secs_f64(),
        burst_time.as_secs_f64(),
        checked_a.as_secs_f64(),
        caught_up.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        sent.len(),
        ledger.accepted().remote_arguments
            + ledger.accepted().remote_comments
            + ledger.accepted().remote_votes,
        posted.len(),
        accepted_titles.len(),
        stored_unanswered,
        queued_at_kill.len(),
        on_b.len(),
    );
}
