//! Other servers go down: one for an hour, one for good. The retry schedule is compressed (a
//! 50 ms base instead of 30 s, so 7 failed tries stand for 30 s × (2⁷ − 1) ≈ 63 minutes of
//! production backoff); everything else is the real thing: real processes, a real follower
//! stopped with SIGKILL, the admin API and the `palabre admin` commands.
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
    body["token"].as_str().expect("token").to_owned()
}

/// An open consultation `slug` on `origin`, followed by `lea` on `follower`; returns the
/// organiser's token.
async fn followed_consultation(origin: &Node, follower: &Node, slug: &str) -> String {
    let http = client();
    origin.create_user("orga", PASSWORD, true).unwrap();
    follower.create_user("lea", PASSWORD, false).unwrap();
    let orga = token(&http, origin, "orga").await;
    let now = chrono::Utc::now();
    let response = http
        .post(format!("{}/api/v1/consultations", origin.url))
        .bearer_auth(&orga)
        .json(&json!({"slug": slug, "title": "Mobilités", "body": "…",
                      "opens_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
                      "closes_at": (now + chrono::Duration::days(7)).to_rfc3339()}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let lea = token(&http, follower, "lea").await;
    let response = http
        .post(format!("{}/api/v1/follows", follower.url))
        .bearer_auth(&lea)
        .json(&json!({"target": format!("{slug}@{}", origin.host())}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let mut state = Value::Null;
    for _ in 0..100 {
        let follows: Value = http
            .get(format!("{}/api/v1/follows", follower.url))
            .bearer_auth(&lea)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        state = follows[0]["state"].clone();
        if state == "accepted" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(state, "accepted");
    orga
}

async fn post_proposals(origin: &Node, orga: &str, slug: &str, titles: &[&str]) {
    let http = client();
    for title in titles {
        let response = http
            .post(format!(
                "{}/api/v1/consultations/{slug}/proposals",
                origin.url
            ))
            .bearer_auth(orga)
            .json(&json!({"title": title, "body": "Avec des pistes cyclables."}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
}

/// What the origin's admins see for `server` in `GET /api/v1/admin/deliveries`.
async fn peer(origin: &Node, orga: &str, server: &str) -> Value {
    let peers: Value = client()
        .get(format!("{}/api/v1/admin/deliveries", origin.url))
        .bearer_auth(orga)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    peers
        .as_array()
        .expect("a list of servers")
        .iter()
        .find(|p| p["server"] == server)
        .cloned()
        .unwrap_or(Value::Null)
}

/// Waits until `check` holds for the origin's view of `server`; returns that view.
async fn wait_for_peer(
    origin: &Node,
    orga: &str,
    server: &str,
    seconds: u64,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let mut seen = Value::Null;
    for _ in 0..seconds * 10 {
        seen = peer(origin, orga, server).await;
        if check(&seen) {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the admin view of {server} never got there: {seen}");
}

/// The titles of the proposals `follower` shows for `slug@origin`, once `count` are there.
async fn mirrored_titles(follower: &Node, origin: &Node, slug: &str, count: usize) -> Vec<String> {
    let mut titles = Vec::new();
    for _ in 0..300 {
        let page: Value = client()
            .get(format!(
                "{}/api/v1/consultations/{slug}@{}/proposals?limit=100",
                follower.url,
                origin.host()
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        titles = page["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|p| p["title"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if titles.len() >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    titles.sort();
    titles
}

#[tokio::test]
async fn a_server_down_for_an_hour_gets_everything_once_it_is_back() {
    let retries: &[(&str, &str)] = &[
        ("PALABRE_FEDERATION__RETRY_BASE_SECONDS", "0.05"),
        ("PALABRE_FEDERATION__DELIVERY_LEASE_SECONDS", "2"),
    ];
    let (origin, mut follower) =
        tokio::try_join!(Node::start_with("Origine", retries), Node::start("Abonne"),)
            .expect("nodes start");
    let orga = followed_consultation(&origin, &follower, "velo").await;
    let server = follower.host();

    follower.kill();
    post_proposals(&origin, &orga, "velo", &["Rue A", "Rue B", "Rue C"]).await;
    // The admins see the server failing, its deliveries kept and retried.
    let down = wait_for_peer(&origin, &orga, &server, 60, |p| {
        p["most_attempts"].as_i64().unwrap_or(0) >= 7
    })
    .await;
    assert_eq!(down["unreachable"], true, "{down}");
    assert_eq!(
        down["failed"], 0,
        "nothing given up within the limit: {down}"
    );
    assert!(down["pending"].as_u64().unwrap_or(0) >= 3, "{down}");
    assert!(
        down["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{down}"
    );

    follower.restart().await.expect("follower comes back");
    let titles = mirrored_titles(&follower, &origin, "velo", 3).await;
    assert_eq!(
        titles,
        ["Rue A", "Rue B", "Rue C"],
        "everything, exactly once"
    );
    let back = wait_for_peer(&origin, &orga, &server, 30, |p| p["pending"] == 0).await;
    assert_eq!(back["failed"], 0, "{back}");
    // Still exactly once a moment later: no retry of what was delivered.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        mirrored_titles(&follower, &origin, "velo", 3).await.len(),
        3
    );
}

#[tokio::test]
async fn a_server_gone_for_good_is_given_up_after_max_attempts_and_admins_see_it() {
    let retries: &[(&str, &str)] = &[
        ("PALABRE_FEDERATION__RETRY_BASE_SECONDS", "0.05"),
        ("PALABRE_FEDERATION__MAX_ATTEMPTS", "4"),
        ("PALABRE_FEDERATION__DELIVERY_LEASE_SECONDS", "2"),
    ];
    let (origin, mut follower) =
        tokio::try_join!(Node::start_with("Origine", retries), Node::start("Abonne"),)
            .expect("nodes start");
    let orga = followed_consultation(&origin, &follower, "tram").await;
    let server = follower.host();

    follower.kill();
    post_proposals(&origin, &orga, "tram", &["Ligne 2"]).await;
    let gone = wait_for_peer(&origin, &orga, &server, 30, |p| {
        p["failed"].as_u64().unwrap_or(0) >= 1 && p["pending"] == 0
    })
    .await;
    assert_eq!(gone["unreachable"], true, "{gone}");
    assert!(
        gone["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{gone}"
    );
    // Given up for good: no more tries, however long one waits.
    let tries = |log: &str| {
        log.lines()
            .filter(|l| l.contains("delivery failed") && l.contains(&server))
            .count()
    };
    // (The proposal's Announce, and its poll for microblogs: each tried 4 times.)
    let after_giving_up = tries(&origin.log());
    assert_eq!(
        after_giving_up as u64,
        4 * gone["failed"].as_u64().unwrap_or(0),
        "max_attempts tries of each delivery, then none"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(tries(&origin.log()), after_giving_up);

    // The command line says the same, for admins without the API.
    let output = origin.admin_output(&["deliveries"]).unwrap();
    assert!(output.status.success());
    let listing = String::from_utf8_lossy(&output.stdout);
    let line = listing
        .lines()
        .find(|l| l.starts_with(&server))
        .unwrap_or_else(|| panic!("{server} listed: {listing}"));
    assert!(line.contains("given up"), "{line}");

    // It comes back after all: an admin sends again what it missed.
    follower.restart().await.expect("follower comes back");
    let output = origin.admin_output(&["retry-deliveries", &server]).unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("queued again"));
    assert_eq!(
        mirrored_titles(&follower, &origin, "tram", 1).await,
        ["Ligne 2"]
    );
    // A server with nothing given up: a clear error and a non-zero exit code.
    let output = origin
        .admin_output(&["retry-deliveries", "jamais-vu.example"])
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no failed deliveries"));
}
