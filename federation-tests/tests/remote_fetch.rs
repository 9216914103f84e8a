//! The bounds of what a node fetches from other servers, tested through what a user does:
//! following a consultation by URL or handle (`POST /api/v1/follows`), the backfill that follows
//! an `Accept`, a reply arriving at the inbox. The other servers are hostile ones written here
//! on loopback (`remote_fetch/hostile.rs`); each test checks what the user sees (a 502 saying
//! why, nothing stored) and what the hostile server saw (how many requests, or no connection).
//!
//! Checks of the documents and their number (content type, `id`, redirects, size, 50 fetches
//! per request, backfill pages and items) run on a node set up as the other tests set it up
//! (`allow_local`, for plain http on loopback ports). Checks of addresses run on a node whose
//! fetches go through a strict `FetchGuard`: a scripted name server, 127.0.0.2 standing for the
//! public internet, and every other loopback, private, link-local or multicast address refused.
// The in-process test app of the main crate: one real node on a random port, as its tests use.
#[path = "remote_fetch/backfill.rs"]
mod backfill;
#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "remote_fetch/hostile.rs"]
mod hostile;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::send_signed;
use hostile::{
    AP, Node, Raw, Script, accepted, addr, backfill_from_a_collection_that_never_ends, document,
    group, not_found, redirect, reply, same_port_on, signer, strict, willing,
};
use palabre::domain::Role;
use palabre::federation::fetch_guard::FetchGuard;
use palabre::store::{argument, comment};
use reqwest::StatusCode;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

const BAD_GATEWAY: StatusCode = StatusCode::BAD_GATEWAY;

/// What the library accepts: exactly these three forms, in any case. Anything else is refused,
/// even `application/activity+json;charset=utf-8` without the space.
const CONTENT_TYPES: [(&str, bool); 10] = [
    ("application/activity+json", true),
    ("application/activity+json; charset=utf-8", true),
    (
        "application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\"",
        true,
    ),
    ("Application/Activity+JSON", true),
    ("application/json", false),
    ("application/ld+json", false),
    ("text/html; charset=utf-8", false),
    ("text/plain", false),
    ("application/activity+json;charset=utf-8", false),
    ("", false),
];

#[tokio::test]
async fn fetched_documents_need_an_activitypub_content_type() {
    let node = Node::plain().await;
    let remote = Raw::start(addr("127.0.0.1", 0), |request, stream| async move {
        let n: usize = request
            .path
            .trim_start_matches("/groups/")
            .parse()
            .unwrap_or(usize::MAX);
        match CONTENT_TYPES.get(n) {
            Some((content_type, _)) if request.method == "GET" => {
                document(stream, content_type, &group(&request.url(), "Plan vélo")).await;
            }
            _ => accepted(stream).await,
        }
    })
    .await;
    for (n, (content_type, ok)) in CONTENT_TYPES.iter().enumerate() {
        let id = format!("http://localhost:{}/groups/{n}", remote.port());
        let (status, message) = node.follow(&id).await;
        if *ok {
            assert_eq!(status, StatusCode::CREATED, "{content_type:?}: {message}");
            assert!(node.mirror(&id).await.is_some(), "{content_type:?}");
        } else {
            assert_eq!(status, BAD_GATEWAY, "{content_type:?} accepted");
            assert!(message.contains("Content-Type"), "{message}");
            assert!(node.mirror(&id).await.is_none(), "{content_type:?} stored");
        }
        assert_eq!(remote.gets(&format!("/groups/{n}")), 1, "{content_type:?}");
    }
}

#[tokio::test]
async fn only_a_2xx_answer_is_read_as_a_document() {
    let node = Node::plain().await;
    // Each path answers its status with a valid consultation, as an error page could.
    let remote = Raw::start(addr("127.0.0.1", 0), |request, stream| async move {
        let status = match request.path.rsplit('/').next() {
            Some("404") => "404 Not Found",
            Some("403") => "403 Forbidden",
            Some("500") => "500 Internal Server Error",
            _ => "200 OK",
        };
        match request.method.as_str() {
            "GET" => {
                let body = group(&request.url(), "Plan vélo").to_string();
                reply(stream, status, &[("Content-Type", AP)], body.as_bytes()).await;
            }
            _ => accepted(stream).await,
        }
    })
    .await;
    // Not there is the asker's 404; any other failure is this node's 502.
    for (status, expected) in [
        ("404", StatusCode::NOT_FOUND),
        ("403", BAD_GATEWAY),
        ("500", BAD_GATEWAY),
    ] {
        let id = format!("http://localhost:{}/groups/{status}", remote.port());
        let (answer, message) = node.follow(&id).await;
        assert_eq!(answer, expected, "{status}: {message}");
        assert!(message.contains(&format!("answered {status}")), "{message}");
        assert!(node.mirror(&id).await.is_none(), "{status} stored");
    }
    let id = format!("http://localhost:{}/groups/200", remote.port());
    let (answer, message) = node.follow(&id).await;
    assert_eq!(answer, StatusCode::CREATED, "{message}");
}

#[tokio::test]
async fn a_document_must_carry_the_id_of_the_url_it_came_from() {
    let node = Node::plain().await;
    // A real consultation on another node, which an attacker claims to serve.
    let real = common::TestApp::spawn_federating().await;
    let admin = real.user_token("orga", Role::Admin).await;
    real.consultation(&admin, "budget", 30).await;
    let real_id = format!("{}/consultations/budget", real.url);
    let claimed = real_id.clone();
    let remote = Raw::start(addr("127.0.0.1", 0), move |request, stream| {
        let claimed = claimed.clone();
        async move {
            let here = format!("http://{}", request.host);
            match request.path.as_str() {
                // An uploaded file, say, claiming to be another server's consultation.
                "/uploads/evil.json" => {
                    let forged = group("http://victim.example/consultations/budget", "Forged");
                    document(stream, AP, &forged).await;
                }
                "/go" => redirect(stream, &format!("{here}/uploads/evil.json")).await,
                "/go-fine" => redirect(stream, &format!("{here}/groups/fine")).await,
                "/groups/fine" => document(stream, AP, &group(&request.url(), "Fine")).await,
                "/claims-real" => document(stream, AP, &group(&claimed, "Forged")).await,
                _ => accepted(stream).await,
            }
        }
    })
    .await;
    let at = |path: &str| format!("http://localhost:{}{path}", remote.port());

    for path in ["/uploads/evil.json", "/go"] {
        let (status, message) = node.follow(&at(path)).await;
        assert_eq!(status, BAD_GATEWAY, "{path}: {message}");
        assert!(message.contains("id field doesn't match"), "{message}");
    }
    assert_eq!(remote.gets("/go"), 1);
    assert_eq!(remote.gets("/uploads/evil.json"), 2);
    assert!(
        node.mirror("http://victim.example/consultations/budget")
            .await
            .is_none()
    );
    assert_eq!(node.mirrors().await, 0);

    // Redirected to a document that is where it says it is: stored under its final URL.
    let (status, message) = node.follow(&at("/go-fine")).await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    assert_eq!(
        node.mirror(&at("/groups/fine")).await.as_deref(),
        Some("Fine")
    );

    // A claim to an id on another port of the same host: the library believes the id's own
    // server only, so what is stored is the real consultation, never the claim.
    let (status, message) = node.follow(&at("/claims-real")).await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    assert_eq!(
        node.mirror(&real_id).await.as_deref(),
        Some("Consultation budget")
    );
    assert!(node.mirror(&at("/claims-real")).await.is_none());
}

#[tokio::test]
async fn one_redirect_is_followed_and_never_a_second() {
    let node = Node::plain().await;
    let remote = Raw::start(addr("127.0.0.1", 0), |request, stream| async move {
        let here = format!("http://{}", request.host);
        match request.path.as_str() {
            "/one" => redirect(stream, &format!("{here}/groups/target")).await,
            "/two" => redirect(stream, &format!("{here}/one")).await,
            "/loop" => redirect(stream, &format!("{here}/loop")).await,
            "/groups/target" => document(stream, AP, &group(&request.url(), "Cible")).await,
            _ => accepted(stream).await,
        }
    })
    .await;
    let at = |path: &str| format!("http://localhost:{}{path}", remote.port());

    let (status, message) = node.follow(&at("/two")).await;
    assert_eq!(status, BAD_GATEWAY, "{message}");
    let (status, message) = node.follow(&at("/loop")).await;
    assert_eq!(status, BAD_GATEWAY, "{message}");
    assert_eq!(remote.gets("/two"), 1);
    assert_eq!(remote.gets("/one"), 1);
    assert_eq!(
        remote.gets("/loop"),
        2,
        "one redirect followed, then no more"
    );
    assert_eq!(remote.gets("/groups/target"), 0);
    assert_eq!(node.mirrors().await, 0);

    let (status, message) = node.follow(&at("/one")).await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    assert_eq!(remote.gets("/groups/target"), 1);
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_refused_without_being_read_whole() {
    const ANNOUNCED: usize = 128 * 1024 * 1024;
    let node = Node::plain().await;
    let written = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let (count, finished) = (written.clone(), done.clone());
    let remote = Raw::start(addr("127.0.0.1", 0), move |request, mut stream| {
        let (count, finished) = (count.clone(), finished.clone());
        async move {
            if request.path == "/groups/fits" {
                // Just under the limit, with its headers: accepted.
                let mut fits = group(&request.url(), "Juste assez");
                fits["summary"] = json!("a".repeat(1024 * 1024 - 1024));
                return document(stream, AP, &fits).await;
            }
            if request.path != "/groups/huge" {
                return accepted(stream).await;
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {AP}\r\nContent-Length: {ANNOUNCED}\r\n\r\n\
                 {{\"type\":\"Group\",\"summary\":\""
            );
            let mut sent = stream.write_all(head.as_bytes()).await.map(|_| head.len());
            let chunk = vec![b'a'; 64 * 1024];
            while let Ok(n) = sent {
                count.store(n, Ordering::SeqCst);
                if n >= ANNOUNCED {
                    break;
                }
                sent = stream.write_all(&chunk).await.map(|_| n + chunk.len());
            }
            finished.store(true, Ordering::SeqCst);
        }
    })
    .await;
    let at = |path: &str| format!("http://localhost:{}{path}", remote.port());

    let (status, message) = node.follow(&at("/groups/huge")).await;
    assert_eq!(status, BAD_GATEWAY, "{message}");
    assert!(message.contains("body limit"), "{message}");
    for _ in 0..50 {
        if done.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        done.load(Ordering::SeqCst),
        "the node kept the connection open"
    );
    let sent = written.load(Ordering::SeqCst);
    assert!(
        sent < 16 * 1024 * 1024,
        "the node read {sent} bytes of {ANNOUNCED}"
    );
    assert_eq!(node.mirrors().await, 0);

    let (status, message) = node.follow(&at("/groups/fits")).await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
}

#[tokio::test]
async fn a_server_that_stalls_or_trickles_is_given_up_after_the_time_limit() {
    const LIMIT: Duration = Duration::from_secs(2);
    let node = Node::guarded(FetchGuard::new(true).with_timeout(LIMIT)).await;
    let remote = Raw::start(addr("127.0.0.1", 0), |request, mut stream| async move {
        match request.path.as_str() {
            "/groups/silent" => tokio::time::sleep(Duration::from_secs(60)).await,
            "/groups/trickle" => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {AP}\r\nContent-Length: 100000\r\n\r\n"
                );
                let _ = stream.write_all(head.as_bytes()).await;
                while stream.write_all(b" ").await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            _ => accepted(stream).await,
        }
    })
    .await;
    for path in ["/groups/silent", "/groups/trickle"] {
        let started = Instant::now();
        let (status, message) = node
            .follow(&format!("http://localhost:{}{path}", remote.port()))
            .await;
        let took = started.elapsed();
        assert_eq!(status, BAD_GATEWAY, "{path}: {message}");
        assert!(message.contains("timed out"), "{path}: {message}");
        assert!(
            took >= LIMIT && took < LIMIT * 3,
            "{path}: given up after {took:?}"
        );
        assert_eq!(remote.gets(path), 1);
    }
    assert_eq!(node.mirrors().await, 0);
}

#[tokio::test]
async fn one_request_makes_the_node_fetch_at_most_fifty_documents() {
    let node = Node::plain().await;
    let remote = Raw::start(addr("127.0.0.1", 0), |request, stream| async move {
        let here = format!("http://{}", request.host);
        if let Some(n) = request.path.strip_prefix("/chain/") {
            // Each document says it is the next one, on the same server: fetched again there.
            let next = n.parse::<u32>().unwrap_or(0) + 1;
            document(
                stream,
                AP,
                &group(&format!("{here}/chain/{next}"), "Chaîne"),
            )
            .await;
        } else if request.path.starts_with("/.well-known/webfinger") {
            let resource = request.path.split("resource=").nth(1).unwrap_or_default();
            let links: Vec<Value> = (0..200)
                .map(|i| json!({"rel": "self", "type": AP, "href": format!("{here}/people/{i}")}))
                .collect();
            let jrd = json!({"subject": resource, "links": links});
            document(stream, "application/jrd+json", &jrd).await;
        } else if request.path.starts_with("/people/") {
            not_found(stream).await;
        } else {
            accepted(stream).await;
        }
    })
    .await;

    let (status, message) = node
        .follow(&format!("http://localhost:{}/chain/0", remote.port()))
        .await;
    assert_eq!(status, BAD_GATEWAY, "{message}");
    assert!(message.contains("Request limit"), "{message}");
    assert_eq!(remote.gets_under("/chain/"), 50);

    // A WebFinger answer with 200 links: they share the same 50.
    let (status, message) = node
        .follow(&format!("many@localhost:{}", remote.port()))
        .await;
    assert_eq!(status, BAD_GATEWAY, "{message}");
    assert_eq!(remote.gets_under("/.well-known/webfinger"), 1);
    assert_eq!(remote.gets_under("/people/"), 49);
    assert_eq!(node.mirrors().await, 0);
}

#[tokio::test]
async fn backfill_stops_after_ten_pages_of_a_collection_that_never_ends() {
    let remote = backfill_from_a_collection_that_never_ends(1).await;
    assert_eq!(remote.gets_under("/group/context"), 10);
    assert_eq!(remote.gets_under("/group/arguments/"), 10);
}

#[tokio::test]
async fn backfill_takes_at_most_three_hundred_items() {
    let remote = backfill_from_a_collection_that_never_ends(200).await;
    assert_eq!(remote.gets_under("/group/context"), 2);
    assert_eq!(remote.gets_under("/group/arguments/"), 300);
}

#[tokio::test]
async fn an_unknown_parent_is_never_fetched_on_a_reply_s_word() {
    let node = Node::plain().await;
    let admin = node.app.user_token("orga", Role::Admin).await;
    node.app.consultation(&admin, "velo", 30).await;
    let remote = Raw::start(addr("127.0.0.1", 0), |request, stream| async move {
        let here = format!("http://{}", request.host);
        let mallory = format!("{here}/users/mallory");
        if request.path == "/users/mallory" {
            let mut person = group(&mallory, "Mallory");
            person["type"] = json!("Person");
            person["preferredUsername"] = json!("mallory");
            document(stream, AP, &person).await;
        } else if let Some(n) = request.path.strip_prefix("/notes/") {
            // Each note answers the one before: a chain as long as anyone cares to fetch.
            let n: u32 = n.parse().unwrap_or(1);
            let note = json!({
                "type": "Note", "id": request.url(), "attributedTo": mallory,
                "inReplyTo": format!("{here}/notes/{}", n.saturating_sub(1)),
                "content": "<p>Et encore</p>", "to": ["https://www.w3.org/ns/activitystreams#Public"],
            });
            document(stream, AP, &note).await;
        } else {
            accepted(stream).await;
        }
    })
    .await;
    let here = format!("http://localhost:{}", remote.port());
    let mallory = format!("{here}/users/mallory");
    let group_id = format!("{}/consultations/velo", node.app.url);
    let public = "https://www.w3.org/ns/activitystreams#Public";
    let create = |n: u32, in_reply_to: &str| {
        json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "type": "Create",
            "id": format!("{here}/notes/{n}/activity"),
            "actor": mallory,
            "to": [public],
            "cc": [group_id],
            "object": {
                "type": "Note",
                "id": format!("{here}/notes/{n}"),
                "attributedTo": mallory,
                "inReplyTo": in_reply_to,
                "content": "<p>Je réponds</p>",
                "to": [public],
                "cc": [group_id],
            },
        })
    };
    let inbox = format!("{}/inbox", node.app.url);
    let replies = || async {
        let db = &node.app.state.db;
        argument::Entity::find().count(db).await.expect("count")
            + comment::Entity::find().count(db).await.expect("count")
    };

    let unknown = create(1000, &format!("{here}/notes/999"));
    let status = send_signed(&node.app, &signer(&mallory), &inbox, &unknown, None).await;
    assert!(status.is_client_error(), "{status}");
    assert!(remote.gets("/users/mallory") >= 1, "the sender was fetched");
    assert_eq!(remote.gets_under("/notes/"), 0, "no parent fetched");
    assert_eq!(replies().await, 0);

    // The same reply to a proposal known here is taken: only the parent made the difference.
    let (status, body) = node
        .app
        .api(
            reqwest::Method::POST,
            "/api/v1/consultations/velo/proposals",
            Some(&admin),
            Some(json!({"title": "Pistes", "body": "Plus de pistes"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let proposal = body["id"].as_i64().expect("proposal id") as i32;
    let known = create(2000, &node.app.state.proposal_url(proposal));
    let status = send_signed(&node.app, &signer(&mallory), &inbox, &known, None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(replies().await, 1);
    assert_eq!(remote.gets_under("/notes/"), 0);
}

#[tokio::test]
async fn names_that_resolve_to_non_public_addresses_are_never_connected_to() {
    let script = Arc::new(Script::default());
    let node = Node::guarded(strict(&script)).await;
    let public = willing(addr("127.0.0.2", 0)).await;
    let private = willing(addr("127.0.0.1", 0)).await;
    let private6 = willing(addr("::1", 0)).await;
    script.answer("public.test", &[&["127.0.0.2"]]);
    let cases: [(&str, &[&str], &str, u16); 7] = [
        // The system's resolver says the same of `localhost`: a guard that fell back to it
        // would connect.
        ("localhost", &["127.0.0.1"], "127.0.0.1", private.port()),
        ("ten.test", &["10.0.0.1"], "10.0.0.1", private.port()),
        ("metadata.test", &["169.254.169.254"], "169.254.169.254", 80),
        ("six.test", &["::1"], "::1", private6.port()),
        (
            "multicast.test",
            &["224.0.0.1"],
            "224.0.0.1",
            private.port(),
        ),
        (
            "mapped.test",
            &["::ffff:127.0.0.1"],
            "127.0.0.1",
            private.port(),
        ),
        // One public address does not make the others acceptable.
        (
            "mixed.test",
            &["127.0.0.2", "127.0.0.1"],
            "127.0.0.1",
            private.port(),
        ),
    ];
    for (name, answer, refused, port) in cases {
        script.answer(name, &[answer]);
        let (status, message) = node.follow(&format!("http://{name}:{port}/groups/x")).await;
        assert_eq!(status, BAD_GATEWAY, "{name}: {message}");
        assert!(
            message.contains(&format!("{refused}, which is not a public address")),
            "{name}: {message}"
        );
    }
    assert_eq!(private.connections(), 0);
    assert_eq!(private6.connections(), 0);
    assert_eq!(node.mirrors().await, 0);

    // The same node reaches an address it may reach.
    let open = format!("http://public.test:{}/groups/open", public.port());
    let (status, message) = node.follow(&open).await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    assert_eq!(node.mirrors().await, 1);
}

#[tokio::test]
async fn a_redirect_cannot_lead_to_a_non_public_address() {
    let script = Arc::new(Script::default());
    let node = Node::guarded(strict(&script)).await;
    let private = willing(addr("127.0.0.1", 0)).await;
    let private6 = willing(addr("::1", 0)).await;
    let (p4, p6) = (private.port(), private6.port());
    let public = Raw::start(addr("127.0.0.2", 0), move |request, stream| async move {
        match request.path.as_str() {
            "/to-name" => redirect(stream, &format!("http://localhost:{p4}/groups/x")).await,
            "/to-ip" => redirect(stream, &format!("http://127.0.0.1:{p4}/groups/x")).await,
            "/to-ipv6" => redirect(stream, &format!("http://[::1]:{p6}/groups/x")).await,
            _ => accepted(stream).await,
        }
    })
    .await;
    script.answer("public.test", &[&["127.0.0.2"]]);
    script.answer("localhost", &[&["127.0.0.1"]]);
    // An address written as such is refused by the library before any connection (400).
    for (path, expected, why) in [
        (
            "/to-name",
            BAD_GATEWAY,
            "127.0.0.1, which is not a public address",
        ),
        ("/to-ip", StatusCode::BAD_REQUEST, "Url must have a domain"),
        (
            "/to-ipv6",
            StatusCode::BAD_REQUEST,
            "Url must have a domain",
        ),
    ] {
        let (status, message) = node
            .follow(&format!("http://public.test:{}{path}", public.port()))
            .await;
        assert_eq!(status, expected, "{path}: {message}");
        assert!(message.contains(why), "{path}: {message}");
        assert_eq!(public.gets(path), 1);
    }
    assert_eq!(private.connections(), 0);
    assert_eq!(private6.connections(), 0);
    assert_eq!(node.mirrors().await, 0);
}

#[tokio::test]
async fn dns_rebinding_cannot_reach_a_private_address() {
    let script = Arc::new(Script::default());
    let node = Node::guarded(strict(&script)).await;
    // The same port on a "public" and a private address: only the name server tells them
    // apart, and it changes its mind after the first answer.
    let (public_listener, private_listener) = same_port_on("127.0.0.2", "127.0.0.1").await;
    let port = public_listener.local_addr().expect("addr").port();
    let public = Raw::serve(public_listener, move |request, stream| async move {
        match request.path.as_str() {
            "/groups/x" => redirect(stream, &format!("http://localhost:{port}/groups/y")).await,
            _ => accepted(stream).await,
        }
    });
    let private = Raw::serve(private_listener, |request, stream| async move {
        document(stream, AP, &group(&request.url(), "Interne")).await;
    });
    script.answer("localhost", &[&["127.0.0.2"], &["127.0.0.1"]]);

    let (status, message) = node
        .follow(&format!("http://localhost:{port}/groups/x"))
        .await;
    assert_eq!(status, BAD_GATEWAY, "{message}");
    assert!(
        message.contains("127.0.0.1, which is not a public address"),
        "{message}"
    );
    assert_eq!(public.gets("/groups/x"), 1);
    assert_eq!(script.lookups("localhost"), 2, "one lookup per connection");
    assert_eq!(private.connections(), 0);
    assert_eq!(node.mirrors().await, 0);
}

#[tokio::test]
async fn a_second_group_under_a_name_already_known_from_its_server_is_refused_with_409() {
    let node = Node::plain().await;
    // Two Groups of one server named `budget` (one moved, say): handles are `name@host` here.
    let remote = Raw::start(addr("127.0.0.1", 0), |request, stream| async move {
        match request.method.as_str() {
            "GET" => document(stream, AP, &group(&request.url(), "Budget")).await,
            _ => accepted(stream).await,
        }
    })
    .await;
    let first = format!("http://localhost:{}/a/budget", remote.port());
    let second = format!("http://localhost:{}/b/budget", remote.port());
    let (status, message) = node.follow(&first).await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    let (status, message) = node.follow(&second).await;
    assert_eq!(status, StatusCode::CONFLICT, "{message}");
    assert!(message.contains("already the handle"), "{message}");
    assert!(node.mirror(&first).await.is_some());
    assert!(node.mirror(&second).await.is_none());
}
