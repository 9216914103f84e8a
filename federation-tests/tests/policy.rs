//! Federation policy and moderation under attack, between real nodes: a blocked server and a
//! blocked account are refused at the inbox (403) with nothing stored and what they wrote
//! hidden and uncounted; a followed Group cannot smuggle a blocked author's post in an
//! `Announce`; allow-list mode federates with partners only, both ways; a suspended account
//! loses its token and its content; the audit log says who did what.
use std::time::Duration;

use palabre_federation_tests::{Node, client};
use serde_json::{Value, json};

const PASSWORD: &str = "mot de passe solide";

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
        .unwrap_or_else(|| panic!("token for {user}: {body}"))
        .to_owned()
}

async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(http: &reqwest::Client, url: String, token: &str, body: Value) -> (u16, Value) {
    send(http, reqwest::Method::POST, url, Some(token), Some(body)).await
}

async fn put(http: &reqwest::Client, url: String, token: &str, body: Value) -> (u16, Value) {
    send(http, reqwest::Method::PUT, url, Some(token), Some(body)).await
}

async fn get(http: &reqwest::Client, url: String) -> (u16, Value) {
    send(http, reqwest::Method::GET, url, None, None).await
}

/// Posts a proposal titled `title` to the proposals URL `url`.
async fn propose(http: &reqwest::Client, url: &str, token: &str, title: &str) -> (u16, Value) {
    post(
        http,
        url.to_owned(),
        token,
        json!({"title": title, "body": "…"}),
    )
    .await
}

/// Polls `check` until it returns Some, for up to 20 seconds.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..200 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Runs `palabre admin ARGS` on `node`, which must succeed; returns what it printed.
fn admin(node: &Node, args: &[&str]) -> String {
    let output = node.admin_output(args).expect("run palabre admin");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "admin {args:?} failed: {}{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!stdout.trim().is_empty(), "admin {args:?} says what it did");
    stdout
}

/// Runs `palabre admin ARGS` on `node`, which must fail; returns its error message.
fn admin_fails(node: &Node, args: &[&str]) -> String {
    let output = node.admin_output(args).expect("run palabre admin");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "admin {args:?} should have failed: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(
        !stderr.trim().is_empty(),
        "admin {args:?} says why it failed"
    );
    stderr
}

/// An open consultation `slug` on `node`, created by its admin `orga`.
async fn consultation(http: &reqwest::Client, node: &Node, orga: &str, slug: &str) {
    let now = chrono::Utc::now();
    let (status, body) = post(
        http,
        format!("{}/api/v1/consultations", node.url),
        orga,
        json!({"slug": slug, "title": format!("Consultation {slug}"), "body": "…",
               "opens_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
               "closes_at": (now + chrono::Duration::days(30)).to_rfc3339()}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

/// `user` of `follower` follows `handle`; waits until the follow is accepted.
async fn follow_accepted(http: &reqwest::Client, follower: &Node, token: &str, handle: &str) {
    let (status, body) = post(
        http,
        format!("{}/api/v1/follows", follower.url),
        token,
        json!({"target": handle}),
    )
    .await;
    assert_eq!(status, 201, "{body}\n{}", follower.log());
    eventually("the follow to be accepted", || async {
        let (_, follows) = send(
            http,
            reqwest::Method::GET,
            format!("{}/api/v1/follows", follower.url),
            Some(token),
            None,
        )
        .await;
        follows
            .as_array()?
            .iter()
            .any(|f| f["consultation"] == handle && f["state"] == "accepted")
            .then_some(())
    })
    .await;
}

/// The titles of a consultation's proposals on `node`, as the public sees them.
async fn titles(http: &reqwest::Client, node: &Node, slug: &str) -> Vec<String> {
    let (status, page) = get(
        http,
        format!(
            "{}/api/v1/consultations/{slug}/proposals?limit=100",
            node.url
        ),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    page["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|p| p["title"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The id on `node` of the proposal titled `title` in `slug`, once it is there.
async fn proposal_id(http: &reqwest::Client, node: &Node, slug: &str, title: &str) -> Value {
    eventually(&format!("'{title}' on {}", node.name), || async {
        let (_, page) = get(
            http,
            format!(
                "{}/api/v1/consultations/{slug}/proposals?limit=100",
                node.url
            ),
        )
        .await;
        page["items"]
            .as_array()?
            .iter()
            .find(|p| p["title"] == title)
            .map(|p| p["id"].clone())
    })
    .await
}

async fn followers(http: &reqwest::Client, node: &Node, slug: &str) -> Value {
    http.get(format!("{}/consultations/{slug}/followers", node.url))
        .header("accept", "application/activity+json")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["totalItems"]
        .clone()
}

/// An unsigned activity from `actor` straight to `node`'s shared inbox: the policy answers
/// before the signature is even looked at.
async fn unsigned_follow(
    http: &reqwest::Client,
    node: &Node,
    actor: &str,
    slug: &str,
) -> (u16, Value) {
    let origin = actor.split("/users/").next().unwrap_or_default();
    let response = http
        .post(format!("{}/inbox", node.url))
        .header("content-type", "application/activity+json")
        .body(
            json!({
                "@context": "https://www.w3.org/ns/activitystreams",
                "type": "Follow",
                "id": format!("{origin}/activities/follow/unsigned"),
                "actor": actor,
                "object": format!("{}/consultations/{slug}", node.url),
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn occurrences(log: &str, needle: &str) -> usize {
    log.matches(needle).count()
}

#[tokio::test]
async fn a_blocked_server_is_refused_at_the_inbox_and_its_content_hidden_until_unblocked() {
    let (a, b) =
        tokio::try_join!(Node::start("Région"), Node::start("Bloquée")).expect("nodes start");
    let http = client();
    a.create_user("orga", PASSWORD, true).unwrap();
    a.create_user("agent", PASSWORD, false).unwrap();
    b.create_user("claire", PASSWORD, false).unwrap();
    b.create_user("yann", PASSWORD, false).unwrap();
    let orga = token(&http, &a, "orga").await;
    let agent = token(&http, &a, "agent").await;
    let claire = token(&http, &b, "claire").await;
    let yann = token(&http, &b, "yann").await;
    consultation(&http, &a, &orga, "budget").await;
    let (status, body) = post(
        &http,
        format!("{}/api/v1/consultations/budget/proposals", a.url),
        &agent,
        json!({"title": "Plus de bancs", "body": "Dans les parcs."}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let on_a = body["id"].clone();
    let handle = format!("budget@{}", a.host());
    follow_accepted(&http, &b, &claire, &handle).await;

    // Before the block, B's resident takes part like anyone.
    let (status, body) = post(
        &http,
        format!("{}/api/v1/consultations/{handle}/proposals", b.url),
        &claire,
        json!({"title": "Proposition de B", "body": "Venue de B."}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["origin_state"], "accepted", "{}", a.log());
    let on_b = proposal_id(&http, &b, &handle, "Plus de bancs").await;
    let (status, body) = post(
        &http,
        format!("{}/api/v1/proposals/{on_b}/arguments", b.url),
        &claire,
        json!({"stance": "for", "body": "On s'assoit enfin."}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = put(
        &http,
        format!("{}/api/v1/proposals/{on_b}/vote", b.url),
        &claire,
        json!({"value": "agree"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    eventually("B's vote and argument counted on A", || async {
        let (_, d) = get(&http, format!("{}/api/v1/proposals/{on_a}", a.url)).await;
        (d["votes"]["agree"] == 1 && d["counts"]["arguments_for"] == 1).then_some(())
    })
    .await;
    let from_b_on_a = proposal_id(&http, &a, "budget", "Proposition de B").await;
    assert_eq!(followers(&http, &a, "budget").await, 1);

    // The admin blocks B's server from the command line.
    let said = admin(&a, &["block-domain", &b.host(), "--reason", "spam"]);
    assert!(said.contains(&b.host()), "{said}");

    // What B wrote is hidden at once, and no longer counted.
    assert_eq!(titles(&http, &a, "budget").await, vec!["Plus de bancs"]);
    let (status, _) = get(&http, format!("{}/api/v1/proposals/{from_b_on_a}", a.url)).await;
    assert_eq!(status, 404, "a blocked server's proposal is hidden");
    let (_, detail) = get(&http, format!("{}/api/v1/proposals/{on_a}", a.url)).await;
    assert_eq!(
        detail["votes"],
        json!({"agree": 0, "mixed": 0, "disagree": 0})
    );
    assert_eq!(detail["counts"]["arguments_for"], 0);
    assert_eq!(detail["arguments_for"], json!([]));
    let (_, listed) = get(&http, format!("{}/api/v1/consultations/budget", a.url)).await;
    assert_eq!(listed["proposal_count"], 1);

    // The inbox refuses B outright, with a message, before looking at any signature.
    let (status, body) =
        unsigned_follow(&http, &a, &format!("{}/users/claire", b.url), "budget").await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("blocked"),
        "{body}"
    );

    // B's follow, contribution, vote and report: all refused (403), nothing stored.
    let (status, body) = post(
        &http,
        format!("{}/api/v1/follows", b.url),
        &yann,
        json!({"target": handle}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = post(
        &http,
        format!("{}/api/v1/consultations/{handle}/proposals", b.url),
        &claire,
        json!({"title": "Pendant le blocage", "body": "Refusée."}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["origin_state"], "pending", "no verdict from A");
    let (status, body) = put(
        &http,
        format!("{}/api/v1/proposals/{on_b}/vote", b.url),
        &claire,
        json!({"value": "disagree"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(
        &http,
        format!("{}/api/v1/reports", b.url),
        &claire,
        json!({"kind": "proposal", "id": on_b, "reason": "Signalement depuis B"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["forwarded"], true);
    // Follow, Create, Undo and Dislike (the changed vote), Flag: each answered 403 by A.
    let refusal = format!("does not federate with {}", b.host());
    eventually("B's deliveries refused by A", || async {
        (occurrences(&b.log(), &refusal) >= 5).then_some(())
    })
    .await;
    assert!(
        b.log().contains("403"),
        "the refusals are 403s:\n{}",
        b.log()
    );
    assert_eq!(followers(&http, &a, "budget").await, 1);
    let (_, queue) = send(
        &http,
        reqwest::Method::GET,
        format!("{}/api/v1/reports", a.url),
        Some(&orga),
        None,
    )
    .await;
    assert_eq!(queue, json!([]), "B's report was dropped");

    // Nothing is delivered to B meanwhile: A's new proposal is given up with a note. The
    // recount at the block already gave up two rows for B (the tallies' `Update(Page)` and
    // `Update(Question)`); the new proposal's `Announce` and poll make two more.
    let not_sent = "delivery not sent";
    eventually("the recount's deliveries to B given up", || async {
        (occurrences(&a.log(), not_sent) >= 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = occurrences(&a.log(), not_sent);
    let (status, _) = post(
        &http,
        format!("{}/api/v1/consultations/budget/proposals", a.url),
        &agent,
        json!({"title": "Pendant le blocage, sur A", "body": "Jamais envoyée à B."}),
    )
    .await;
    assert_eq!(status, 201);
    eventually(
        "A's deliveries of the new proposal to B given up",
        || async { (occurrences(&a.log(), not_sent) >= before + 2).then_some(()) },
    )
    .await;

    // Unblocked: B's earlier content is back, but nothing sent during the block was stored.
    let said = admin(&a, &["unblock-domain", &b.host()]);
    assert!(said.contains(&b.host()), "{said}");
    let mut shown = titles(&http, &a, "budget").await;
    shown.sort();
    assert_eq!(
        shown,
        vec![
            "Pendant le blocage, sur A",
            "Plus de bancs",
            "Proposition de B"
        ]
    );
    let (_, detail) = get(&http, format!("{}/api/v1/proposals/{on_a}", a.url)).await;
    assert_eq!(
        detail["votes"],
        json!({"agree": 1, "mixed": 0, "disagree": 0}),
        "the vote from before the block counts again; the change sent during it never arrived"
    );
    assert_eq!(detail["counts"]["arguments_for"], 1);
    assert_eq!(followers(&http, &a, "budget").await, 1);
    let (_, queue) = send(
        &http,
        reqwest::Method::GET,
        format!("{}/api/v1/reports", a.url),
        Some(&orga),
        None,
    )
    .await;
    assert_eq!(queue, json!([]));
    // Federation resumes: a new proposal reaches B, the one given up during the block never.
    let (status, _) = post(
        &http,
        format!("{}/api/v1/consultations/budget/proposals", a.url),
        &agent,
        json!({"title": "Après le blocage", "body": "Envoyée à B."}),
    )
    .await;
    assert_eq!(status, 201);
    proposal_id(&http, &b, &handle, "Après le blocage").await;
    assert!(
        !titles(&http, &b, &handle)
            .await
            .contains(&"Pendant le blocage, sur A".to_owned())
    );
}

#[tokio::test]
async fn blocking_one_remote_account_refuses_it_and_no_one_else_from_its_server() {
    let (a, b) =
        tokio::try_join!(Node::start("Région"), Node::start("Commune")).expect("nodes start");
    let http = client();
    a.create_user("orga", PASSWORD, true).unwrap();
    for user in ["claire", "yann", "zoe"] {
        b.create_user(user, PASSWORD, false).unwrap();
    }
    let orga = token(&http, &a, "orga").await;
    let claire = token(&http, &b, "claire").await;
    let yann = token(&http, &b, "yann").await;
    let zoe = token(&http, &b, "zoe").await;
    consultation(&http, &a, &orga, "mobilite").await;
    let handle = format!("mobilite@{}", a.host());
    follow_accepted(&http, &b, &claire, &handle).await;
    let proposals = format!("{}/api/v1/consultations/{handle}/proposals", b.url);
    let (status, body) = propose(&http, &proposals, &claire, "Avant le blocage").await;
    assert_eq!(
        (status, &body["origin_state"]),
        (201, &json!("accepted")),
        "{body}"
    );

    // claire is blocked by her name here; zoe, never seen by A, by her actor URL.
    admin(&a, &["block-account", &format!("claire@{}", b.host())]);
    let said = admin(
        &a,
        &[
            "block-account",
            &format!("{}/users/zoe", b.url),
            "--reason",
            "prévenu",
        ],
    );
    assert!(said.contains("zoe"), "{said}");
    let listed = admin(&a, &["policies"]);
    assert!(
        listed.contains(&format!("claire@{}", b.host())) && listed.contains("zoe"),
        "{listed}"
    );
    assert!(
        titles(&http, &a, "mobilite").await.is_empty(),
        "claire's proposal is hidden"
    );

    let (status, body) = propose(&http, &proposals, &claire, "Bloquée").await;
    assert_eq!(
        (status, &body["origin_state"]),
        (201, &json!("pending")),
        "{body}"
    );
    let (status, body) = propose(&http, &proposals, &zoe, "Bloquée aussi").await;
    assert_eq!(
        (status, &body["origin_state"]),
        (201, &json!("pending")),
        "{body}"
    );
    let (status, body) = propose(&http, &proposals, &yann, "Acceptée").await;
    assert_eq!(
        (status, &body["origin_state"]),
        (201, &json!("accepted")),
        "another account of the same server is accepted: {body}\n{}",
        a.log()
    );
    assert_eq!(titles(&http, &a, "mobilite").await, vec!["Acceptée"]);
    let (status, body) =
        unsigned_follow(&http, &a, &format!("{}/users/claire", b.url), "mobilite").await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("is blocked"),
        "{body}"
    );
    let (status, body) =
        unsigned_follow(&http, &a, &format!("{}/users/yann", b.url), "mobilite").await;
    assert_ne!(
        status, 403,
        "yann is not blocked; only his missing signature is: {body}"
    );
    assert!(matches!(status, 400 | 401), "{status} {body}");

    // Unblocked, zoe (a placeholder until now) is fetched for real and accepted.
    admin(&a, &["unblock-account", &format!("{}/users/zoe", b.url)]);
    let (status, body) = propose(&http, &proposals, &zoe, "Zoé, débloquée").await;
    assert_eq!(
        (status, &body["origin_state"]),
        (201, &json!("accepted")),
        "{body}\n{}",
        a.log()
    );
    let mut shown = titles(&http, &a, "mobilite").await;
    shown.sort();
    assert_eq!(shown, vec!["Acceptée", "Zoé, débloquée"]);
}

#[tokio::test]
async fn a_followed_group_cannot_relay_a_blocked_authors_post_nor_make_us_fetch_it() {
    let (origin, a, b) = tokio::try_join!(
        Node::start("Ministère"),
        Node::start("Région"),
        Node::start("Bloquée")
    )
    .expect("nodes start");
    let http = client();
    origin.create_user("orga", PASSWORD, true).unwrap();
    a.create_user("lea", PASSWORD, false).unwrap();
    b.create_user("claire", PASSWORD, false).unwrap();
    let orga = token(&http, &origin, "orga").await;
    let lea = token(&http, &a, "lea").await;
    let claire = token(&http, &b, "claire").await;
    consultation(&http, &origin, &orga, "energie").await;
    let handle = format!("energie@{}", origin.host());
    let on_origin = format!("{}/api/v1/consultations/energie/proposals", origin.url);
    let on_b = format!("{}/api/v1/consultations/{handle}/proposals", b.url);
    follow_accepted(&http, &b, &claire, &handle).await;
    let (status, body) = propose(&http, &on_b, &claire, "Écrite avant").await;
    assert_eq!(
        (status, &body["origin_state"]),
        (201, &json!("accepted")),
        "{body}"
    );
    let (status, _) = propose(&http, &on_origin, &orga, "Du ministère, d'abord").await;
    assert_eq!(status, 201);

    // A blocks B, then follows the ministry's consultation: the backfill lists B's proposal
    // under its id on B, which A does not fetch.
    admin(&a, &["block-domain", &b.host()]);
    follow_accepted(&http, &a, &lea, &handle).await;
    proposal_id(&http, &a, &handle, "Du ministère, d'abord").await;
    eventually("the fetch from B refused by A's policy", || async {
        a.log().contains("not fetched nor sent").then_some(())
    })
    .await;

    // The ministry does not block B: it accepts and announces B's next proposal to A.
    let (status, body) = propose(&http, &on_b, &claire, "Relayée par le ministère").await;
    assert_eq!(
        (status, &body["origin_state"]),
        (201, &json!("accepted")),
        "{body}"
    );
    let (status, _) = propose(&http, &on_origin, &orga, "Du ministère").await;
    assert_eq!(status, 201);
    // The ministry's own proposal comes after B's on the same inbox: once it is there, the
    // Announce of B's was answered already.
    proposal_id(&http, &a, &handle, "Du ministère").await;
    let refusal = format!("does not federate with {}", b.host());
    eventually("the ministry's Announce refused by A", || async {
        origin.log().contains(&refusal).then_some(())
    })
    .await;
    let expected = vec!["Du ministère", "Du ministère, d'abord"];
    assert_eq!(titles(&http, &a, &handle).await, expected);

    // Nothing was stored: unblocking B brings neither post back.
    admin(&a, &["unblock-domain", &b.host()]);
    assert_eq!(titles(&http, &a, &handle).await, expected);
}

#[tokio::test]
async fn in_allow_list_mode_only_partner_servers_federate_both_ways() {
    let (a, partner, other) = tokio::try_join!(
        Node::start("Région"),
        Node::start("Partenaire"),
        Node::start("Inconnue")
    )
    .expect("nodes start");
    let http = client();
    for node in [&a, &partner, &other] {
        node.create_user("orga", PASSWORD, true).unwrap();
    }
    a.create_user("member", PASSWORD, false).unwrap();
    let orga = token(&http, &a, "orga").await;
    let member = token(&http, &a, "member").await;
    let partner_orga = token(&http, &partner, "orga").await;
    let other_orga = token(&http, &other, "orga").await;
    consultation(&http, &a, &orga, "eau").await;
    consultation(&http, &partner, &partner_orga, "voisins").await;
    consultation(&http, &other, &other_orga, "ailleurs").await;

    admin(&a, &["allow-domain", &partner.host()]);
    let said = admin(&a, &["federation-mode", "allowlist"]);
    assert!(said.contains("allowlist"), "{said}");

    // The partner follows and is accepted; the other server is refused.
    let handle = format!("eau@{}", a.host());
    follow_accepted(&http, &partner, &partner_orga, &handle).await;
    let (status, body) = post(
        &http,
        format!("{}/api/v1/follows", other.url),
        &other_orga,
        json!({"target": handle}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let refusal = "federates only with its partner servers";
    eventually("the other server's Follow refused", || async {
        other.log().contains(refusal).then_some(())
    })
    .await;
    assert_eq!(followers(&http, &a, "eau").await, 1);
    let (status, body) =
        unsigned_follow(&http, &a, &format!("{}/users/orga", other.url), "eau").await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains(refusal),
        "{body}"
    );

    // And the other way: A follows the partner's consultation, not the other one.
    follow_accepted(&http, &a, &member, &format!("voisins@{}", partner.host())).await;
    for target in [
        format!("ailleurs@{}", other.host()),
        format!("{}/consultations/ailleurs", other.url),
    ] {
        let (status, body) = post(
            &http,
            format!("{}/api/v1/follows", a.url),
            &member,
            json!({"target": target}),
        )
        .await;
        assert_eq!(status, 403, "{target}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap_or_default()
                .contains(refusal),
            "{body}"
        );
    }
    assert_eq!(followers(&http, &other, "ailleurs").await, 0);

    // Only admins change the mode; back to open, the other server is welcome.
    let (status, _) = put(
        &http,
        format!("{}/api/v1/admin/federation/mode", a.url),
        &member,
        json!({"mode": "open"}),
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = put(
        &http,
        format!("{}/api/v1/admin/federation/mode", a.url),
        &orga,
        json!({"mode": "open"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mode"], "open");
    follow_accepted(&http, &a, &member, &format!("ailleurs@{}", other.host())).await;

    // Back in allow-list mode, the mirror of the other server's consultation is hidden too.
    let (status, _) = put(
        &http,
        format!("{}/api/v1/admin/federation/mode", a.url),
        &orga,
        json!({"mode": "allowlist"}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, listed) = get(&http, format!("{}/api/v1/consultations", a.url)).await;
    let mut slugs: Vec<&str> = listed
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|c| c["slug"].as_str())
        .collect();
    slugs.sort();
    assert_eq!(slugs, vec!["eau", &format!("voisins@{}", partner.host())]);
    let (status, _) = get(
        &http,
        format!("{}/api/v1/consultations/ailleurs@{}", a.url, other.host()),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_suspended_account_loses_its_token_and_its_content_and_the_audit_log_says_who() {
    let a = Node::start("Commune").await.expect("node starts");
    let http = client();
    a.create_user("orga", PASSWORD, true).unwrap();
    a.create_user_with("modo", PASSWORD, &["--moderator"])
        .unwrap();
    for user in ["nadia", "mathis"] {
        a.create_user(user, PASSWORD, false).unwrap();
    }
    let orga = token(&http, &a, "orga").await;
    let modo = token(&http, &a, "modo").await;
    let nadia = token(&http, &a, "nadia").await;
    let mathis = token(&http, &a, "mathis").await;
    consultation(&http, &a, &orga, "parcs").await;
    let proposals = format!("{}/api/v1/consultations/parcs/proposals", a.url);
    let (status, body) = propose(&http, &proposals, &orga, "Des arbres").await;
    assert_eq!(status, 201, "{body}");
    let trees = body["id"].clone();
    let (status, body) = propose(&http, &proposals, &nadia, "De Nadia").await;
    assert_eq!(status, 201, "{body}");
    let hers = body["id"].clone();
    let (status, _) = post(
        &http,
        format!("{}/api/v1/proposals/{trees}/arguments", a.url),
        &nadia,
        json!({"stance": "against", "body": "Trop d'ombre."}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = put(
        &http,
        format!("{}/api/v1/proposals/{trees}/vote", a.url),
        &nadia,
        json!({"value": "disagree"}),
    )
    .await;
    assert_eq!(status, 200);

    // Bad input is refused with a message and a failing exit code.
    for (args, says) in [
        (vec!["block-domain", "not a host!"], "not a server name"),
        (vec!["federation-mode", "sideways"], "open"),
        (vec!["suspend", "nobody"], "nobody"),
        (vec!["unblock-domain", "never.example"], "not blocked"),
        (vec!["block-account", "nadia"], "suspend"),
    ] {
        let error = admin_fails(&a, &args);
        assert!(error.contains(says), "{args:?}: {error}");
    }

    let said = admin(&a, &["suspend", "nadia", "--reason", "insultes"]);
    assert!(said.contains("nadia"), "{said}");
    let (status, body) = post(
        &http,
        format!("{}/api/v1/consultations/parcs/proposals", a.url),
        &nadia,
        json!({"title": "Encore", "body": "…"}),
    )
    .await;
    assert!(
        matches!(status, 401 | 403),
        "the token is refused: {status} {body}"
    );
    assert_eq!(titles(&http, &a, "parcs").await, vec!["Des arbres"]);
    let (status, _) = get(&http, format!("{}/api/v1/proposals/{hers}", a.url)).await;
    assert_eq!(status, 404);
    let (_, detail) = get(&http, format!("{}/api/v1/proposals/{trees}", a.url)).await;
    assert_eq!(detail["votes"]["disagree"], 0, "{detail}");
    assert_eq!(detail["counts"]["arguments_against"], 0, "{detail}");

    // Moderators suspend members and hide content, but neither block servers nor suspend
    // admins; members do none of it.
    let (status, body) = put(
        &http,
        format!("{}/api/v1/admin/accounts/mathis/suspension", a.url),
        &modo,
        json!({"suspended": true, "reason": "spam"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["suspended_at"].is_string(), "{body}");
    let (status, _) = put(
        &http,
        format!("{}/api/v1/admin/accounts/orga/suspension", a.url),
        &modo,
        json!({"suspended": true}),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = put(
        &http,
        format!("{}/api/v1/admin/domains/spam.example", a.url),
        &modo,
        json!({"policy": "block"}),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = send(
        &http,
        reqwest::Method::GET,
        format!("{}/api/v1/admin/audit", a.url),
        Some(&mathis),
        None,
    )
    .await;
    assert!(
        matches!(status, 401 | 403),
        "a suspended member reads no audit log"
    );
    for hidden in [true, false] {
        let (status, body) = put(
            &http,
            format!("{}/api/v1/proposals/{trees}/hidden", a.url),
            &modo,
            json!({"hidden": hidden}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = put(
        &http,
        format!("{}/api/v1/admin/domains/spam.example", a.url),
        &orga,
        json!({"policy": "block", "reason": "spam"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, overview) = send(
        &http,
        reqwest::Method::GET,
        format!("{}/api/v1/admin/federation", a.url),
        Some(&modo),
        None,
    )
    .await;
    assert_eq!(status, 200, "{overview}");
    assert_eq!(overview["mode"], "open");
    assert_eq!(overview["domains"][0]["domain"], "spam.example");
    assert_eq!(
        overview["suspended_accounts"].as_array().map(Vec::len),
        Some(2)
    );

    // The audit log lists each action, newest first, with who did it (null: the CLI).
    let (status, log) = send(
        &http,
        reqwest::Method::GET,
        format!("{}/api/v1/admin/audit", a.url),
        Some(&modo),
        None,
    )
    .await;
    assert_eq!(status, 200, "{log}");
    let entries: Vec<(String, Value, String)> = log
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["actor"].clone(),
                e["target"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let trees_url = format!("{}/proposals/{trees}", a.url);
    assert_eq!(
        entries,
        vec![
            ("block_domain".into(), json!("orga"), "spam.example".into()),
            ("unhide".into(), json!("modo"), trees_url.clone()),
            ("hide".into(), json!("modo"), trees_url),
            ("suspend".into(), json!("modo"), "mathis".into()),
            ("suspend".into(), Value::Null, "nadia".into()),
        ]
    );
    assert_eq!(log[4]["detail"], "insultes");

    // Reinstated, nadia's token works again and what she wrote is back.
    admin(&a, &["unsuspend", "nadia"]);
    let (status, body) = propose(&http, &proposals, &nadia, "De retour").await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = get(&http, format!("{}/api/v1/proposals/{hers}", a.url)).await;
    assert_eq!(status, 200);
    let (_, detail) = get(&http, format!("{}/api/v1/proposals/{trees}", a.url)).await;
    assert_eq!(detail["votes"]["disagree"], 1, "{detail}");
    let (_, log) = send(
        &http,
        reqwest::Method::GET,
        format!("{}/api/v1/admin/audit?limit=1", a.url),
        Some(&orga),
        None,
    )
    .await;
    assert_eq!(log[0]["action"], "unsuspend");
    assert_eq!(log[0]["target"], "nadia");

    // Verification badges are changes of trust: logged too.
    a.admin(&["verify", "mathis", "Association des parcs"])
        .unwrap();
    let (_, log) = send(
        &http,
        reqwest::Method::GET,
        format!("{}/api/v1/admin/audit?limit=1", a.url),
        Some(&modo),
        None,
    )
    .await;
    assert_eq!(
        (&log[0]["action"], &log[0]["target"], &log[0]["detail"]),
        (
            &json!("verify"),
            &json!("mathis"),
            &json!("Association des parcs")
        )
    );
}
