//! What the tests of `remote_fetch.rs` play: hostile servers written by hand on raw sockets (so
//! they can count connections, lie about sizes, stall or trickle), a name server that says
//! what the test wants (`Script`), and the node under attack (`Node`).
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use activitypub_federation::http_signatures::generate_actor_keypair;
use palabre::domain::Role;
use palabre::federation::actors::InstanceActor;
use palabre::federation::fetch_guard::FetchGuard;
use palabre::store::{consultation, delivery, follow};
use reqwest::StatusCode;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::{TestApp, send_signed};

pub const AP: &str = "application/activity+json";

/// One request as a hostile server read it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The Host header.
    pub host: String,
}

impl Request {
    /// The URL the client asked for, as the client wrote it.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.host, self.path)
    }
}

/// A server that answers each connection's one request with whatever `answer` writes, then
/// closes it, so that every request needs a connection of its own (and a DNS lookup).
pub struct Raw {
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Raw {
    pub async fn start<F, Fut>(bind: SocketAddr, answer: F) -> Raw
    where
        F: Fn(Request, TcpStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind(bind)
            .await
            .expect("bind a hostile server");
        Self::serve(listener, answer)
    }

    pub fn serve<F, Fut>(listener: TcpListener, answer: F) -> Raw
    where
        F: Fn(Request, TcpStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let addr = listener.local_addr().expect("address");
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(answer);
        let (count, log) = (connections.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let (answer, log) = (answer.clone(), log.clone());
                tokio::spawn(async move {
                    if let Some(request) = read_request(&mut stream).await {
                        log.lock().expect("log").push(request.clone());
                        answer(request, stream).await;
                    }
                });
            }
        });
        Raw {
            addr,
            connections,
            requests,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// How many GETs of exactly `path`.
    pub fn gets(&self, path: &str) -> usize {
        self.requests
            .lock()
            .expect("log")
            .iter()
            .filter(|r| r.method == "GET" && r.path == path)
            .count()
    }

    /// How many GETs of paths starting with `prefix`.
    pub fn gets_under(&self, prefix: &str) -> usize {
        self.requests
            .lock()
            .expect("log")
            .iter()
            .filter(|r| r.method == "GET" && r.path.starts_with(prefix))
            .count()
    }

    pub fn total(&self) -> usize {
        self.requests.lock().expect("log").len()
    }

    /// Waits until no request has come for a second and a half (a background task is done).
    pub async fn quiet(&self) {
        let (mut last, mut still) = (usize::MAX, 0);
        for _ in 0..300 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let now = self.total();
            still = if now == last { still + 1 } else { 0 };
            last = now;
            if still >= 5 {
                return;
            }
        }
        panic!("the node never stopped fetching: {last} requests so far");
    }
}

async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 64 * 1024 || stream.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.lines();
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_owned(), first.next()?.to_owned());
    let header = |name: &str| {
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
    };
    let length: usize = header("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length.min(1024 * 1024)];
    stream.read_exact(&mut body).await.ok()?;
    Some(Request {
        method,
        path,
        host: header("host").unwrap_or_default(),
    })
}

/// Writes a whole answer and closes the connection.
pub async fn reply(mut stream: TcpStream, status: &str, headers: &[(&str, &str)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let _ = stream.shutdown().await;
}

pub async fn document(stream: TcpStream, content_type: &str, document: &Value) {
    let headers: &[(&str, &str)] = if content_type.is_empty() {
        &[]
    } else {
        &[("Content-Type", content_type)]
    };
    reply(stream, "200 OK", headers, document.to_string().as_bytes()).await;
}

pub async fn redirect(stream: TcpStream, location: &str) {
    reply(stream, "302 Found", &[("Location", location)], b"").await;
}

pub async fn not_found(stream: TcpStream) {
    reply(stream, "404 Not Found", &[], b"").await;
}

/// Deliveries the node sends to the hostile server's inboxes are taken and dropped.
pub async fn accepted(stream: TcpStream) {
    reply(stream, "202 Accepted", &[], b"").await;
}

/// One key for every hostile actor of a test process (key generation is slow).
pub fn keys() -> &'static (String, String) {
    static KEYS: OnceLock<(String, String)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let keys = generate_actor_keypair().expect("keys");
        (keys.public_key, keys.private_key)
    })
}

/// What signs for a hostile actor whose document carries [`keys`].
pub fn signer(actor: &str) -> InstanceActor {
    InstanceActor {
        ap_id: actor.parse().expect("actor URL"),
        public_key: keys().0.clone(),
        private_key: keys().1.clone(),
        name: String::new(),
    }
}

/// A consultation (`Group`) as another node would serve it, at `id`, named after the end of
/// its path (a node keeps one consultation per handle `name@host`). It gives its period: a
/// Group without one is stored open from the first to the last date chrono knows, which
/// PostgreSQL cannot hold (500, a fault outside what these tests are about).
pub fn group(id: &str, name: &str) -> Value {
    let handle = id
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("velo");
    json!({
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "type": "Group",
        "id": id,
        "preferredUsername": handle,
        "name": name,
        "summary": "<p>Plus de pistes cyclables ?</p>",
        "inbox": format!("{id}/inbox"),
        "opensAt": "2026-01-01T00:00:00Z",
        "closesAt": "2099-01-01T00:00:00Z",
        "publicKey": {"id": format!("{id}#main-key"), "owner": id, "publicKeyPem": keys().0},
    })
}

/// A server that answers every GET with a valid consultation at the URL asked for: if the node
/// ever connects to it, following succeeds.
pub async fn willing(bind: SocketAddr) -> Raw {
    Raw::start(bind, |request, stream| async move {
        match request.method.as_str() {
            "GET" => document(stream, AP, &group(&request.url(), "Plan vélo")).await,
            _ => accepted(stream).await,
        }
    })
    .await
}

pub fn addr(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().expect("IP"), port)
}

/// A name server that answers what each test says: per name, a list of answers given in turn,
/// the last one again and again. Unknown names do not resolve.
#[derive(Default)]
pub struct Script {
    names: Mutex<HashMap<String, Answers>>,
}

/// The answers for one name, and how many lookups it had.
type Answers = (Vec<Vec<IpAddr>>, usize);

impl Script {
    pub fn answer(&self, name: &str, answers: &[&[&str]]) {
        let answers = answers
            .iter()
            .map(|a| a.iter().map(|ip| ip.parse().expect("IP")).collect())
            .collect();
        self.names
            .lock()
            .expect("names")
            .insert(name.to_owned(), (answers, 0));
    }

    pub fn lookups(&self, name: &str) -> usize {
        self.names
            .lock()
            .expect("names")
            .get(name)
            .map_or(0, |(_, n)| *n)
    }
}

impl Resolve for Script {
    fn resolve(&self, name: Name) -> Resolving {
        let answer = self
            .names
            .lock()
            .expect("names")
            .get_mut(name.as_str())
            .and_then(|(answers, n)| {
                *n += 1;
                answers
                    .get((*n - 1).min(answers.len().saturating_sub(1)))
                    .cloned()
            });
        Box::pin(async move {
            let ips = answer.ok_or("no such name in the script")?;
            let addrs: Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The node under attack, and an account on it that follows what the tests name.
pub struct Node {
    pub app: TestApp,
    /// Where to send API requests: the app itself, or a second server of the same node that
    /// fetches through another guard.
    pub base: String,
    token: String,
}

impl Node {
    /// A node as the other tests start it (`allow_local`).
    pub async fn plain() -> Node {
        let app = TestApp::spawn_federating().await;
        let token = app.user_token("ana", Role::Member).await;
        Node {
            base: app.url.clone(),
            app,
            token,
        }
    }

    /// A node whose fetches go through `guard`. `allow_local` stays on for the library (plain
    /// http and explicit ports, so that loopback servers can play the internet); `guard` alone
    /// decides which addresses are reached.
    pub async fn guarded(guard: FetchGuard) -> Node {
        let mut node = Node::plain().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        node.base = format!(
            "http://localhost:{}",
            listener.local_addr().expect("addr").port()
        );
        let config = palabre::federation::config_with(node.app.state.clone(), guard)
            .await
            .expect("federation config");
        tokio::spawn(palabre::app::serve_with(
            listener,
            node.app.state.clone(),
            config,
        ));
        node
    }

    /// `POST /api/v1/follows`: the status and the error message, if any.
    pub async fn follow(&self, target: &str) -> (StatusCode, String) {
        let response = self
            .app
            .client
            .post(format!("{}/api/v1/follows", self.base))
            .bearer_auth(&self.token)
            .json(&json!({ "target": target }))
            .send()
            .await
            .expect("follow request");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let message = body["message"].as_str().unwrap_or_default().to_owned();
        (status, message)
    }

    /// The mirrored consultation stored with this id, by title.
    pub async fn mirror(&self, ap_id: &str) -> Option<String> {
        consultation::Entity::find()
            .filter(consultation::Column::ApId.eq(ap_id))
            .one(&self.app.state.db)
            .await
            .expect("query")
            .map(|c| c.title)
    }

    pub async fn mirrors(&self) -> usize {
        consultation::Entity::find()
            .filter(consultation::Column::ApId.is_not_null())
            .all(&self.app.state.db)
            .await
            .expect("query")
            .len()
    }
}

/// 127.0.0.2 stands for the public internet; every other non-public address stays refused.
pub fn strict(script: &Arc<Script>) -> FetchGuard {
    let public: IpAddr = "127.0.0.2".parse().expect("IP");
    FetchGuard::new(false)
        .with_lookup(script.clone())
        .treating_as_public([public])
}

/// Two listeners on one port, at two addresses.
pub async fn same_port_on(
    first: &str,
    second: &str,
) -> (tokio::net::TcpListener, tokio::net::TcpListener) {
    for _ in 0..20 {
        let a = tokio::net::TcpListener::bind(addr(first, 0))
            .await
            .expect("bind");
        let port = a.local_addr().expect("addr").port();
        if let Ok(b) = tokio::net::TcpListener::bind(addr(second, port)).await {
            return (a, b);
        }
    }
    panic!("no port free on both {first} and {second}");
}

/// Follows a hostile consultation whose `context` collection pages forever, with
/// `items_per_page` unknown arguments on each page; the hostile consultation accepts; returns
/// the server once the node's backfill is over.
pub async fn backfill_from_a_collection_that_never_ends(items_per_page: usize) -> Raw {
    let node = Node::plain().await;
    let remote = Raw::start(addr("127.0.0.1", 0), move |request, stream| async move {
        let group_id = format!("http://{}/group", request.host);
        let page = match request.path.as_str() {
            "/group" => return document(stream, AP, &group(&group_id, "Sans fin")).await,
            "/group/context" => 0,
            path => match path.strip_prefix("/group/context/page/") {
                Some(n) => n.parse::<usize>().unwrap_or(0),
                None if request.method == "GET" => return not_found(stream).await,
                None => return accepted(stream).await,
            },
        };
        let items: Vec<String> = (0..items_per_page)
            .map(|i| format!("{group_id}/arguments/{page}-{i}"))
            .collect();
        let next = format!("{group_id}/context/page/{}", page + 1);
        let body = json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "type": "OrderedCollectionPage",
            "id": request.url(),
            "orderedItems": items,
            "next": next,
        });
        document(stream, AP, &body).await;
    })
    .await;
    let group_id = format!("http://localhost:{}/group", remote.port());
    follow_accepted(&node, &group_id).await;
    remote.quiet().await;
    remote
}

/// `node` follows the consultation `group_id` of a hostile server, which accepts: the backfill
/// starts.
pub async fn follow_accepted(node: &Node, group_id: &str) {
    let (status, message) = node.follow(group_id).await;
    assert_eq!(status, StatusCode::CREATED, "{message}");

    // The consultation accepts the Follow the node queued for it.
    let db = &node.app.state.db;
    let row = follow::Entity::find()
        .one(db)
        .await
        .expect("query")
        .expect("a follow");
    let sent = delivery::Entity::find()
        .all(db)
        .await
        .expect("query")
        .into_iter()
        .find(|d| d.activity_id == row.activity_id)
        .expect("the Follow is queued");
    let mut follow_activity: Value = serde_json::from_str(&sent.payload).expect("JSON");
    follow_activity
        .as_object_mut()
        .expect("an object")
        .remove("@context");
    let accept = json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "type": "Accept",
        "id": format!("{group_id}/accepts/1"),
        "actor": group_id,
        "object": follow_activity,
    });
    let inbox = format!("{}/inbox", node.app.url);
    let status = send_signed(&node.app, &signer(group_id), &inbox, &accept, None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let state = follow::Entity::find_by_id(row.id)
        .one(db)
        .await
        .expect("query")
        .expect("the follow");
    assert_eq!(state.state, "accepted");
}
