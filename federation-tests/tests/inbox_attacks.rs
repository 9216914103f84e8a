//! Attacks on the inbox, sent by hostile servers (`inbox_attacks/hostile.rs`) to a real node:
//! JSON bombs and oversized bodies, objects on someone else's server, a mirror lied to by an
//! author's server or by a Group, replies to parents the node does not know, overlong replies,
//! and draft-cavage signatures over `(created)`. Each test checks what an admin would see:
//! the status, that nothing was stored (through the API), and that the node still answers.
//! Timings are printed (`--no-capture`) and asserted generously.
// The in-process test app of the main crate: one real node on a random port, as its tests use.
#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "inbox_attacks/hostile.rs"]
mod hostile;
#[path = "inbox_attacks/mirrors.rs"]
mod mirrors;
#[path = "inbox_attacks/replies.rs"]
mod replies;

use std::time::{Duration, Instant};

use common::TestApp;
use hostile::{Hostile, deliver, deliver_json, signed_request};
use palabre::domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";
/// Far above what any of these requests takes in a debug build (4 s at worst, for 1 MiB of
/// JSON filler on a loaded 2-core machine), far below what a request whose work blows up takes
/// (900 KB of nested `<div>` kept a thread busy for over 20 minutes before it was bounded).
const BOUNDED: Duration = Duration::from_secs(10);

/// A node hosting the consultation `budget`, with one proposal posted on it.
struct Node {
    app: TestApp,
    group: String,
    inbox: String,
    proposal: i64,
    proposal_url: String,
}

async fn node_with_a_proposal() -> Node {
    let app = TestApp::spawn_federating().await;
    let orga = app.user_token("orga", Role::Admin).await;
    let autrice = app.user_token("autrice", Role::Member).await;
    app.consultation(&orga, "budget", 30).await;
    let (status, proposal) = app
        .api(
            Method::POST,
            "/api/v1/consultations/budget/proposals",
            Some(&autrice),
            Some(json!({"title": "Un budget participatif", "body": "Pour les quartiers."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{proposal}");
    let group = format!("{}/consultations/budget", app.url);
    Node {
        inbox: format!("{group}/inbox"),
        group,
        proposal: proposal["id"].as_i64().unwrap(),
        proposal_url: proposal["url"].as_str().unwrap().to_owned(),
        app,
    }
}

/// A node whose member follows `group`, a consultation hosted on a hostile server: the node
/// mirrors it under the returned slug.
async fn mirror_of(group: &str) -> (TestApp, String) {
    let app = TestApp::spawn_federating().await;
    let token = app.user_token("lecteur", Role::Member).await;
    let (status, follow) = app
        .api(
            Method::POST,
            "/api/v1/follows",
            Some(&token),
            Some(json!({"target": group})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{follow}");
    let slug = follow["consultation"].as_str().unwrap().to_owned();
    (app, slug)
}

async fn proposals(app: &TestApp, slug: &str) -> Vec<Value> {
    let path = format!("/api/v1/consultations/{slug}/proposals");
    let (status, list) = app.api(Method::GET, &path, None, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["items"].as_array().unwrap().clone()
}

async fn arguments(app: &TestApp, proposal: i64) -> Vec<Value> {
    let path = format!("/api/v1/proposals/{proposal}/arguments");
    let (status, list) = app.api(Method::GET, &path, None, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list.as_array().unwrap().clone()
}

/// The node still serves a reader at once.
async fn still_answers(app: &TestApp) {
    let started = Instant::now();
    let (status, _) = app
        .api(Method::GET, "/api/v1/consultations", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        started.elapsed() < BOUNDED,
        "{}",
        seconds(started.elapsed())
    );
}

fn create(actor: &str, n: &str, object: Value) -> Value {
    json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "type": "Create",
        "id": format!("{actor}/activities/create/{n}"),
        "actor": actor,
        "object": object,
    })
}

fn announce(group: &str, n: &str, object: Value) -> Value {
    json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "type": "Announce",
        "id": format!("{group}/activities/announce/{n}"),
        "actor": group,
        "object": object,
        "to": [PUBLIC],
    })
}

fn page(id: &str, author: &str, group: &str, title: &str, content: &str) -> Value {
    json!({
        "type": "Page",
        "id": id,
        "attributedTo": author,
        "name": title,
        "content": content,
        "audience": group,
        "to": [PUBLIC, group],
    })
}

/// An argument for `parent`.
fn argument(id: &str, author: &str, parent: &str, group: &str, content: &str) -> Value {
    json!({
        "type": "Note",
        "id": id,
        "attributedTo": author,
        "inReplyTo": parent,
        "content": content,
        "stance": "for",
        "audience": group,
        "to": [PUBLIC, group],
    })
}

fn seconds(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

// ---- 1. JSON bombs and oversized bodies ----

#[tokio::test]
async fn a_body_nested_ten_thousand_levels_deep_is_refused_at_once_and_the_node_keeps_working() {
    let node = node_with_a_proposal().await;
    let hostile = Hostile::start().await;
    let mallory = hostile.person("mallory");
    let signer = hostile.signer(&mallory);
    let arrays = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let objects = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
    for (what, nested) in [("arrays", arrays), ("objects", objects)] {
        let body = format!(
            r#"{{"@context":"https://www.w3.org/ns/activitystreams","type":"Create","id":"{mallory}/activities/create/deep","actor":"{mallory}","object":{nested}}}"#
        );
        let signed = deliver(&node.app, &signer, &node.inbox, body.clone().into_bytes()).await;
        println!(
            "10 000 nested {what}, signed: {} in {}",
            signed.status,
            seconds(signed.took)
        );
        assert_eq!(signed.status, StatusCode::BAD_REQUEST, "{}", signed.body);
        assert!(signed.took < BOUNDED);
        let started = Instant::now();
        let unsigned = node
            .app
            .client
            .post(&node.inbox)
            .header("content-type", "application/activity+json")
            .body(body)
            .send()
            .await
            .unwrap();
        println!(
            "10 000 nested {what}, unsigned: {} in {}",
            unsigned.status(),
            seconds(started.elapsed())
        );
        assert!(unsigned.status().is_client_error());
        assert!(started.elapsed() < BOUNDED);
    }
    still_answers(&node.app).await;
    assert_eq!(proposals(&node.app, "budget").await.len(), 1);
    // And the inbox itself still works: an ordinary argument right after is stored.
    let ordinary = create(
        &mallory,
        "ordinary",
        argument(
            &format!("{}/notes/1", hostile.base),
            &mallory,
            &node.proposal_url,
            &node.group,
            "<p>Bonne idée.</p>",
        ),
    );
    let answer = deliver_json(&node.app, &signer, &node.inbox, &ordinary).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    assert_eq!(arguments(&node.app, node.proposal).await.len(), 1);
}

/// Posts `body` with `Transfer-Encoding: chunked` (no `Content-Length` to refuse it early) and
/// the headers of `signed` when given; returns the status the node answers.
async fn post_chunked(url: &str, signed: Option<&reqwest::Request>, body: &[u8]) -> u16 {
    let url = url::Url::parse(url).unwrap();
    let authority = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let mut head = format!(
        "POST {} HTTP/1.1\r\nhost: {authority}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n",
        url.path()
    );
    match signed {
        Some(request) => {
            for (name, value) in request.headers() {
                if name != "content-length" && name != "host" {
                    head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
                }
            }
        }
        None => head.push_str("content-type: application/activity+json\r\n"),
    }
    head.push_str("\r\n");
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", url.port().unwrap()))
        .await
        .unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(64 * 1024) {
        let framed = [
            format!("{:x}\r\n", chunk.len()).as_bytes(),
            chunk,
            b"\r\n".as_slice(),
        ]
        .concat();
        // The node may answer and stop reading before the end: that is the point.
        if stream.write_all(&framed).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"))
}

/// An argument `Create` whose text pads the JSON to exactly `size` bytes.
fn padded_argument(node: &Node, actor: &str, n: &str, size: usize) -> Vec<u8> {
    let activity = |text: &str| {
        create(
            actor,
            n,
            argument(
                &format!("{actor}/notes/{n}"),
                actor,
                &node.proposal_url,
                &node.group,
                text,
            ),
        )
    };
    let bare = serde_json::to_vec(&activity("")).unwrap().len();
    let body = serde_json::to_vec(&activity(&"x".repeat(size - bare))).unwrap();
    assert_eq!(body.len(), size);
    body
}

#[tokio::test]
async fn an_inbox_body_over_one_mebibyte_is_refused_with_413_whether_its_length_is_announced_or_not()
 {
    let node = node_with_a_proposal().await;
    let hostile = Hostile::start().await;
    let mallory = hostile.person("mallory");
    let signer = hostile.signer(&mallory);
    let mib = 1024 * 1024;

    // Announced with Content-Length, signed: refused before the body is read.
    for (n, size) in [("over", mib + 1), ("two", 2 * mib)] {
        let body = padded_argument(&node, &mallory, n, size);
        let answer = deliver(&node.app, &signer, &node.inbox, body).await;
        println!("{size} bytes with Content-Length: {}", answer.status);
        assert_eq!(
            answer.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{}",
            answer.body
        );
    }
    // Streamed without a length, signed or not: refused once 1 MiB has been read.
    let body = padded_argument(&node, &mallory, "chunked", 2 * mib);
    let signed = signed_request(&node.app, &signer, &node.inbox, body.clone()).await;
    assert_eq!(post_chunked(&node.inbox, Some(&signed), &body).await, 413);
    // Unsigned, the rate limiter reads the body first (to find the sender's server): 413 too.
    assert_eq!(post_chunked(&node.inbox, None, &body).await, 413);

    // Just under the limit, the body is read and judged on its content: here a reply over the
    // 64 KiB text cap, so 400, not 413.
    let body = padded_argument(&node, &mallory, "under", mib - 1);
    let answer = deliver(&node.app, &signer, &node.inbox, body).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);

    assert_eq!(
        arguments(&node.app, node.proposal).await,
        Vec::<Value>::new()
    );
    still_answers(&node.app).await;
}

#[tokio::test]
async fn huge_arrays_and_deep_objects_under_the_limit_are_answered_in_bounded_time() {
    let node = node_with_a_proposal().await;
    let hostile = Hostile::start().await;
    let mallory = hostile.person("mallory");
    let signer = hostile.signer(&mallory);
    let envelope = |n: &str, field: &str, filler: &str| {
        // Keys in the order that makes the parser work hardest: the heavy part first, so that
        // every variant tried reads it before finding that `type` does not fit.
        format!(
            r#"{{"object":{{"{field}":{filler},"type":"Note","id":"{mallory}/notes/{n}","attributedTo":"{mallory}","inReplyTo":"{}","content":"<p>Un argument.</p>","stance":"for","audience":"{}","to":["{PUBLIC}","{}"]}},"@context":"https://www.w3.org/ns/activitystreams","type":"Create","id":"{mallory}/activities/create/{n}","actor":"{mallory}"}}"#,
            node.proposal_url, node.group, node.group
        )
    };
    // 500 000 small items in `tag`.
    let items = format!("[{}0]", "0,".repeat(499_999));
    // 1 350 objects 120 levels deep in `attachment` (123 levels in all, under the parser's 128).
    let deep = format!("{}1{}", r#"{"a":"#.repeat(120), "}".repeat(120));
    let deep = format!("[{}]", vec![deep; 1_350].join(","));
    let mut accepted = 0;
    for (n, field, filler) in [("1", "tag", items), ("2", "attachment", deep)] {
        let body = envelope(n, field, &filler);
        assert!(body.len() < 1024 * 1024, "{} bytes", body.len());
        let answer = deliver(&node.app, &signer, &node.inbox, body.clone().into_bytes()).await;
        println!(
            "{field} ({} bytes): {} in {}",
            body.len(),
            answer.status,
            seconds(answer.took)
        );
        assert!(answer.took < BOUNDED, "{field}: {}", seconds(answer.took));
        // Refused, or taken as the ordinary argument it carries, the filler dropped.
        match answer.status {
            StatusCode::ACCEPTED => accepted += 1,
            status => assert!(status.is_client_error(), "{status}: {}", answer.body),
        }
        still_answers(&node.app).await;
    }
    let stored = arguments(&node.app, node.proposal).await;
    assert_eq!(stored.len(), accepted);
    for argument in stored {
        assert_eq!(argument["body"], "Un argument.");
    }
}

#[tokio::test]
async fn deeply_nested_html_in_a_proposal_or_a_reply_is_read_in_bounded_time() {
    let node = node_with_a_proposal().await;
    let hostile = Hostile::start().await;
    let mallory = hostile.person("mallory");
    let signer = hostile.signer(&mallory);
    // Tags the HTML parser never closes by itself: its work grows with the square of the depth.
    let nested = |bytes: usize, tag: &str| -> String {
        let mut html = String::from("<p>Une idée.</p>");
        for i in 0.. {
            let next = tag.replace("{i}", &i.to_string());
            if html.len() + next.len() > bytes {
                break;
            }
            html.push_str(&next);
        }
        html
    };
    let tags = ["<div>", "<b id={i}>x", "<ul><li>"];
    // A proposal's HTML has no cap of its own below the 1 MiB body.
    for (n, tag) in tags.iter().enumerate() {
        let object = page(
            &format!("{}/pages/{n}", hostile.base),
            &mallory,
            &node.group,
            &format!("Imbrication {n}"),
            &nested(900_000, tag),
        );
        let activity = create(&mallory, &format!("p{n}"), object);
        let answer = deliver_json(&node.app, &signer, &node.inbox, &activity).await;
        println!(
            "900 KB of {tag} in a proposal: {} in {}",
            answer.status,
            seconds(answer.took)
        );
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
        assert!(answer.took < BOUNDED, "{tag}: {}", seconds(answer.took));
        still_answers(&node.app).await;
    }
    // A reply is read three times (its side, whether it is a vote, its text), up to 64 KiB.
    for (n, tag) in tags.iter().enumerate() {
        let object = argument(
            &format!("{}/notes/{n}", hostile.base),
            &mallory,
            &node.proposal_url,
            &node.group,
            &nested(60_000, tag),
        );
        let activity = create(&mallory, &format!("n{n}"), object);
        let answer = deliver_json(&node.app, &signer, &node.inbox, &activity).await;
        println!(
            "60 KB of {tag} in a reply: {} in {}",
            answer.status,
            seconds(answer.took)
        );
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
        assert!(answer.took < BOUNDED, "{tag}: {}", seconds(answer.took));
    }
    // What readers get: the text, once, at once.
    let listed = proposals(&node.app, "budget").await;
    assert_eq!(listed.len(), 4);
    let nested_ones: Vec<&Value> = listed
        .iter()
        .filter(|p| p["title"].as_str().unwrap().starts_with("Imbrication"))
        .collect();
    assert_eq!(nested_ones.len(), 3);
    for proposal in nested_ones {
        let body = proposal["body"].as_str().unwrap();
        assert!(
            body.starts_with("Une idée."),
            "{}",
            &body[..body.len().min(80)]
        );
    }
    for argument in arguments(&node.app, node.proposal).await {
        assert!(
            argument["body"].as_str().unwrap().starts_with("Une idée."),
            "{argument}"
        );
    }
    still_answers(&node.app).await;
}

#[tokio::test]
async fn absurd_numbers_and_overlong_ids_get_a_clear_400_and_store_nothing() {
    let node = node_with_a_proposal().await;
    let hostile = Hostile::start().await;
    let mallory = hostile.person("mallory");
    let signer = hostile.signer(&mallory);
    let proposal = |id: &str| page(id, &mallory, &node.group, "Une proposition", "<p>Texte</p>");

    let body = format!(
        r#"{{"type":"Create","id":"{mallory}/activities/create/n","actor":"{mallory}","object":{{"type":"Page","id":"{mallory}/pages/n","attributedTo":"{mallory}","name":"Nombre","content":"x","number":1e999999,"audience":"{g}","to":["{PUBLIC}","{g}"]}}}}"#,
        g = node.group
    );
    let answer = deliver(&node.app, &signer, &node.inbox, body.into_bytes()).await;
    println!("1e999999: {} {}", answer.status, answer.body);
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.body.contains("number out of range"),
        "{}",
        answer.body
    );

    // Random text (it does not compress, as an index entry would) makes ids of 100 000 bytes.
    let long: String = std::iter::repeat_with(palabre::services::accounts::random_token)
        .take(2_300)
        .collect();
    let long_object = format!("{}/pages/{long}", hostile.base);
    let mut long_activity = create(&mallory, "long", proposal(&format!("{mallory}/pages/l")));
    long_activity["id"] = json!(format!("{mallory}/activities/{long}"));
    for (what, activity) in [
        (
            "object id",
            create(&mallory, "long-object", proposal(&long_object)),
        ),
        ("activity id", long_activity),
    ] {
        let answer = deliver_json(&node.app, &signer, &node.inbox, &activity).await;
        println!("an overlong {what}: {} {}", answer.status, answer.body);
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{what}");
        assert!(answer.body.contains("too long"), "{what}: {}", answer.body);
    }
    assert_eq!(proposals(&node.app, "budget").await.len(), 1);
    still_answers(&node.app).await;
}

// ---- 2. A created object is on its author's server ----

#[tokio::test]
async fn a_created_object_must_be_on_its_actor_s_server_and_attributed_to_it() {
    let node = node_with_a_proposal().await;
    let hostile = Hostile::start().await;
    let elsewhere = Hostile::start().await;
    let mallory = hostile.person("mallory");
    let bob = hostile.person("bob");
    elsewhere.person("victime");
    let signer = hostile.signer(&mallory);
    let on_b = format!("{}/pages/1", elsewhere.base);
    let cases = [
        (
            "a Page on another server",
            page(&on_b, &mallory, &node.group, "Pas à moi", "<p>x</p>"),
            StatusCode::FORBIDDEN,
        ),
        (
            "a Page with the node's own proposal's id",
            page(
                &node.proposal_url,
                &mallory,
                &node.group,
                "Réécrite",
                "<p>x</p>",
            ),
            StatusCode::FORBIDDEN,
        ),
        (
            "an argument on another server",
            argument(
                &format!("{}/notes/1", elsewhere.base),
                &mallory,
                &node.proposal_url,
                &node.group,
                "<p>x</p>",
            ),
            StatusCode::FORBIDDEN,
        ),
        (
            "a Page attributed to someone else",
            page(
                &format!("{}/pages/2", hostile.base),
                &bob,
                &node.group,
                "Au nom de Bob",
                "<p>x</p>",
            ),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (n, (what, object, expected)) in cases.into_iter().enumerate() {
        let activity = create(&mallory, &n.to_string(), object);
        let answer = deliver_json(&node.app, &signer, &node.inbox, &activity).await;
        assert_eq!(answer.status, expected, "{what}: {}", answer.body);
    }
    let stored = proposals(&node.app, "budget").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["title"], "Un budget participatif");
    assert_eq!(
        arguments(&node.app, node.proposal).await,
        Vec::<Value>::new()
    );
    assert_eq!(
        elsewhere.requests(),
        Vec::<String>::new(),
        "B was never asked"
    );
    // The same Page on mallory's own server, by mallory: accepted (the refusals were not a
    // broken setup).
    let own = page(
        &format!("{}/pages/3", hostile.base),
        &mallory,
        &node.group,
        "La mienne",
        "<p>x</p>",
    );
    let answer = deliver_json(
        &node.app,
        &signer,
        &node.inbox,
        &create(&mallory, "ok", own),
    )
    .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    assert_eq!(proposals(&node.app, "budget").await.len(), 2);
}
