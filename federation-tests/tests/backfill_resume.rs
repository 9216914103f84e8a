//! The backfill of a followed consultation (its debate from before the follow) is owed durably:
//! a run that fails because the origin is down, or that dies with the follower's process, is
//! finished later, and one that keeps failing is given up after `max_attempts`.
//!
//! What fails is made deterministic with a front: the origin's public URL is a small proxy of
//! this test (`PALABRE_SERVER__PUBLIC_URL` points at it), which forwards everything to the
//! origin except the consultation's `context` collection, which it refuses (503), holds without
//! answering, or forwards, as the test says. Everything else is real: real processes, SIGKILL,
//! the follower's API. Retries are compressed (a 0.2 s base instead of 30 s, a 2 s lease
//! instead of 60 s).
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use palabre_federation_tests::{Node, client};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PASSWORD: &str = "mot de passe solide";
const FAST_RETRIES: &[(&str, &str)] = &[
    ("PALABRE_FEDERATION__RETRY_BASE_SECONDS", "0.2"),
    ("PALABRE_FEDERATION__DELIVERY_LEASE_SECONDS", "2"),
];

/// What the front does with a request for the `context` collection.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Context {
    Forward = 0,
    /// 503, as an origin that is overloaded or restarting.
    Refuse = 1,
    /// Never answered, as an origin that hangs; the connection is dropped once the mode changes.
    Hold = 2,
}

/// The origin's public address: a proxy in front of its real port.
struct Front {
    port: u16,
    upstream: Arc<AtomicU16>,
    mode: Arc<AtomicU8>,
    /// Requests for the `context` collection (and its pages) that reached the front.
    context_requests: Arc<AtomicUsize>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Front {
    async fn start(mode: Context) -> Front {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let front = Front {
            port: listener.local_addr().expect("addr").port(),
            upstream: Arc::new(AtomicU16::new(0)),
            mode: Arc::new(AtomicU8::new(mode as u8)),
            context_requests: Arc::new(AtomicUsize::new(0)),
            log: Arc::default(),
        };
        let (upstream, mode, count, log) = (
            front.upstream.clone(),
            front.mode.clone(),
            front.context_requests.clone(),
            front.log.clone(),
        );
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(proxy(
                    stream,
                    upstream.clone(),
                    mode.clone(),
                    count.clone(),
                    log.clone(),
                ));
            }
        });
        front
    }

    fn url(&self) -> String {
        format!("http://localhost:{}", self.port)
    }

    fn host(&self) -> String {
        format!("localhost:{}", self.port)
    }

    /// Forwards to `origin`'s real port from now on.
    fn point_at(&self, origin: &Node) {
        let port = origin
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the origin's port");
        self.upstream.store(port, Ordering::SeqCst);
    }

    fn set(&self, mode: Context) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    fn context_requests(&self) -> usize {
        self.context_requests.load(Ordering::SeqCst)
    }

    /// Waits until at least `count` requests for the collection reached the front.
    async fn wait_for_context_requests(&self, count: usize, follower: &Node) {
        for _ in 0..600 {
            if self.context_requests() >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{} requests for the collection, not {count}\nfront: {:?}\nfollower: {}",
            self.context_requests(),
            self.log.lock().expect("log"),
            follower.log()
        );
    }
}

const UNAVAILABLE: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

async fn proxy(
    mut client: TcpStream,
    upstream: Arc<AtomicU16>,
    mode: Arc<AtomicU8>,
    count: Arc<AtomicUsize>,
    log: Arc<Mutex<Vec<String>>>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if let Some(pos) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        if head.len() > 64 * 1024 {
            return;
        }
    };
    let text = String::from_utf8_lossy(&head[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let path = request_line.split(' ').nth(1).unwrap_or_default();
    if path.contains("/context") {
        count.fetch_add(1, Ordering::SeqCst);
        let now = mode.load(Ordering::SeqCst);
        log.lock()
            .expect("log")
            .push(format!("{request_line} -> mode {now}"));
        if now == Context::Refuse as u8 {
            let _ = client.write_all(UNAVAILABLE).await;
            return;
        }
        if now == Context::Hold as u8 {
            while mode.load(Ordering::SeqCst) == Context::Hold as u8 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            return;
        }
    }
    // One request per connection, so that every request is seen here (a kept-alive connection
    // would carry the next one past the check above).
    let mut forwarded = format!("{request_line}\r\n");
    for line in lines.filter(|l| !l.is_empty()) {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            forwarded.push_str(line);
            forwarded.push_str("\r\n");
        }
    }
    forwarded.push_str("connection: close\r\n\r\n");
    let port = upstream.load(Ordering::SeqCst);
    // The origin down: the connection is dropped, as a dead server's would be refused.
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", port)).await else {
        return;
    };
    if server.write_all(forwarded.as_bytes()).await.is_err()
        || server.write_all(&head[end..]).await.is_err()
    {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

async fn token(node: &Node, user: &str) -> String {
    let body: Value = client()
        .post(format!("{}/api/v1/auth/token", node.url))
        .json(&json!({"username": user, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["token"].as_str().expect("token").to_owned()
}

/// The debate on the origin before anyone follows: proposal title -> its arguments' bodies.
const DEBATE: &[(&str, &[&str])] = &[
    (
        "Rue A",
        &["Plus sûr pour les enfants.", "Moins de places de parking."],
    ),
    ("Rue B", &["Les commerces y gagnent."]),
    (
        "Rue C",
        &["Trop étroite.", "Déjà une piste à côté.", "Belle idée."],
    ),
];

/// An origin behind `front`, its consultation `velo` with [`DEBATE`], and a follower node with
/// `follower_env`; `orga` administers the origin, `lea` is on the follower.
async fn origin_and_follower(front: &Front, follower_env: &[(&str, &str)]) -> (Node, Node) {
    let public_url = front.url();
    let origin_env = [("PALABRE_SERVER__PUBLIC_URL", public_url.as_str())];
    let (origin, follower) = tokio::try_join!(
        Node::start_with("Origine", &origin_env),
        Node::start_with("Abonne", follower_env),
    )
    .expect("nodes start");
    front.point_at(&origin);
    origin.create_user("orga", PASSWORD, true).unwrap();
    follower.create_user("lea", PASSWORD, false).unwrap();
    follower.create_user("noe", PASSWORD, false).unwrap();
    let http = client();
    let orga = token(&origin, "orga").await;
    let now = chrono::Utc::now();
    let response = http
        .post(format!("{}/api/v1/consultations", origin.url))
        .bearer_auth(&orga)
        .json(&json!({"slug": "velo", "title": "Plan vélo", "body": "…",
                      "opens_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
                      "closes_at": (now + chrono::Duration::days(7)).to_rfc3339()}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    for (title, arguments) in DEBATE {
        let proposal: Value = http
            .post(format!(
                "{}/api/v1/consultations/velo/proposals",
                origin.url
            ))
            .bearer_auth(&orga)
            .json(&json!({"title": title, "body": "Une piste cyclable."}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = proposal["id"].as_i64().expect("proposal id");
        for (i, body) in arguments.iter().enumerate() {
            let stance = if i % 2 == 0 { "for" } else { "against" };
            let response = http
                .post(format!("{}/api/v1/proposals/{id}/arguments", origin.url))
                .bearer_auth(&orga)
                .json(&json!({"stance": stance, "body": body}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
        }
    }
    (origin, follower)
}

/// `user` on `follower` follows `velo` through the front, and the origin accepts.
async fn follow(follower: &Node, front: &Front, user: &str) {
    let http = client();
    let token = token(follower, user).await;
    let response = http
        .post(format!("{}/api/v1/follows", follower.url))
        .bearer_auth(&token)
        .json(&json!({"target": format!("velo@{}", front.host())}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", follower.log());
    for _ in 0..200 {
        let follows: Value = http
            .get(format!("{}/api/v1/follows", follower.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if follows[0]["state"] == "accepted" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the follow was never accepted: {}", follower.log());
}

/// What the follower shows of the debate, through its API: proposal title -> argument bodies,
/// both sorted, duplicates kept.
async fn shown(follower: &Node, front: &Front) -> Vec<(String, Vec<String>)> {
    let http = client();
    let page: Value = http
        .get(format!(
            "{}/api/v1/consultations/velo@{}/proposals?limit=100",
            follower.url,
            front.host()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut debate = Vec::new();
    for proposal in page["items"].as_array().cloned().unwrap_or_default() {
        let id = proposal["id"].as_i64().expect("id");
        let arguments: Value = http
            .get(format!("{}/api/v1/proposals/{id}/arguments", follower.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut bodies: Vec<String> = arguments
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|a| a["body"].as_str().map(str::to_owned))
            .collect();
        bodies.sort();
        debate.push((
            proposal["title"].as_str().unwrap_or_default().to_owned(),
            bodies,
        ));
    }
    debate.sort();
    debate
}

fn expected() -> Vec<(String, Vec<String>)> {
    let mut debate: Vec<(String, Vec<String>)> = DEBATE
        .iter()
        .map(|(title, arguments)| {
            let mut bodies: Vec<String> = arguments.iter().map(|b| b.to_string()).collect();
            bodies.sort();
            (title.to_string(), bodies)
        })
        .collect();
    debate.sort();
    debate
}

/// Waits until the follower shows the whole debate, then checks it shows it exactly once, and
/// still does a moment later (no second run adding anything).
async fn shows_the_whole_debate_once(follower: &Node, origin: &Node, front: &Front) {
    let mut seen = Vec::new();
    for _ in 0..600 {
        seen = shown(follower, front).await;
        let arguments: usize = seen.iter().map(|(_, a)| a.len()).sum();
        if seen.len() >= DEBATE.len() && arguments >= 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen,
        expected(),
        "the whole debate, exactly once\nfollower: {}\norigin: {}",
        follower.log(),
        origin.log()
    );
    let requests = front.context_requests();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(shown(follower, front).await, expected());
    assert_eq!(
        front.context_requests(),
        requests,
        "no backfill after one went through"
    );
}

fn count(log: &str, what: &str) -> usize {
    log.lines().filter(|l| l.contains(what)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_interrupted_by_the_origin_going_down_is_finished_later() {
    let front = Front::start(Context::Refuse).await;
    let (mut origin, follower) = origin_and_follower(&front, FAST_RETRIES).await;
    follow(&follower, &front, "lea").await;

    // The first run fails (503), and so does a retry.
    front.wait_for_context_requests(2, &follower).await;
    // Then the origin crashes: a retry meets no server at all.
    origin.kill();
    front.set(Context::Forward);
    front.wait_for_context_requests(3, &follower).await;
    assert!(
        shown(&follower, &front).await.is_empty(),
        "nothing backfilled while the origin is down"
    );
    origin.restart().await.expect("the origin comes back");

    shows_the_whole_debate_once(&follower, &origin, &front).await;
    let log = follower.log();
    assert!(
        count(&log, "backfill failed, will retry") >= 2,
        "the failed runs are logged: {log}"
    );
    assert_eq!(count(&log, "backfill done"), 1, "{log}");
    assert_eq!(count(&log, "backfill given up"), 0, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_killed_during_its_backfill_finishes_it_after_restart() {
    let front = Front::start(Context::Hold).await;
    let (origin, mut follower) = origin_and_follower(&front, FAST_RETRIES).await;
    follow(&follower, &front, "lea").await;

    // The backfill is under way, waiting for the collection: the follower dies.
    front.wait_for_context_requests(1, &follower).await;
    follower.kill();
    front.set(Context::Forward);
    assert_eq!(front.context_requests(), 1);

    follower.restart().await.expect("the follower comes back");
    shows_the_whole_debate_once(&follower, &origin, &front).await;
    assert_eq!(
        front.context_requests(),
        2,
        "one run before the crash, one after"
    );
    assert_eq!(count(&follower.log(), "backfill done"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_that_keeps_failing_is_given_up_and_a_new_follow_owes_it_again() {
    let mut env = FAST_RETRIES.to_vec();
    env.push(("PALABRE_FEDERATION__MAX_ATTEMPTS", "3"));
    let front = Front::start(Context::Refuse).await;
    let (origin, mut follower) = origin_and_follower(&front, &env).await;
    follow(&follower, &front, "lea").await;

    front.wait_for_context_requests(3, &follower).await;
    for _ in 0..100 {
        if count(&follower.log(), "backfill given up") > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = follower.log();
    assert_eq!(count(&log, "backfill given up"), 1, "{log}");
    assert_eq!(count(&log, "backfill failed, will retry"), 2, "{log}");
    // Given up for good: no more tries, however long one waits, restart or not.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    follower.kill();
    follower.restart().await.expect("the follower comes back");
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(front.context_requests(), 3, "max_attempts runs, then none");
    assert!(shown(&follower, &front).await.is_empty());

    // Admins see it given up, and why, on the API and the command line.
    follower.create_user("gardien", PASSWORD, true).unwrap();
    let admin = token(&follower, "gardien").await;
    let owed: Value = client()
        .get(format!("{}/api/v1/admin/backfills", follower.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        owed[0]["consultation"],
        format!("velo@{}", front.host()),
        "{owed}"
    );
    assert_eq!(owed[0]["status"], "failed", "{owed}");
    assert_eq!(owed[0]["attempts"], 3, "{owed}");
    assert!(owed[0]["last_error"].to_string().contains("503"), "{owed}");
    let lea = token(&follower, "lea").await;
    let refused = client()
        .get(format!("{}/api/v1/admin/backfills", follower.url))
        .bearer_auth(&lea)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403, "admins only");
    let shown_to_admins = follower.admin_output(&["backfills"]).unwrap();
    let text = String::from_utf8_lossy(&shown_to_admins.stdout);
    assert!(shown_to_admins.status.success(), "{text}");
    assert!(text.contains("given up") && text.contains("503"), "{text}");

    // Another account here follows: the debate is owed again, with fresh attempts.
    front.set(Context::Forward);
    follow(&follower, &front, "noe").await;
    shows_the_whole_debate_once(&follower, &origin, &front).await;
    assert_eq!(front.context_requests(), 4);
    let text = follower.admin_output(&["backfills"]).unwrap().stdout;
    assert!(
        String::from_utf8_lossy(&text).contains("no backfill owed"),
        "done: {}",
        String::from_utf8_lossy(&text)
    );
}
