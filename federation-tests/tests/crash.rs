//! The delivery queue survives crashes: a node killed with SIGKILL while its follower is down
//! and deliveries are pending delivers everything, exactly once, after both come back.
use std::time::Duration;

use palabre_federation_tests::{Node, client};
use serde_json::{Value, json};

const PASSWORD: &str = "mot de passe solide";
// Short backoff and lease so that the test does not wait for production delays.
const FAST_RETRIES: &[(&str, &str)] = &[
    ("PALABRE_FEDERATION__RETRY_BASE_SECONDS", "1"),
    ("PALABRE_FEDERATION__DELIVERY_LEASE_SECONDS", "2"),
];

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

#[tokio::test]
async fn a_node_killed_with_pending_deliveries_delivers_everything_after_restart() {
    let (mut origin, mut follower) = tokio::try_join!(
        Node::start_with("Origine", FAST_RETRIES),
        Node::start_with("Abonne", FAST_RETRIES),
    )
    .expect("nodes start");
    let http = client();
    origin.create_user("orga", PASSWORD, true).unwrap();
    follower.create_user("lea", PASSWORD, false).unwrap();
    let orga = token(&http, &origin, "orga").await;
    let now = chrono::Utc::now();
    let response = http
        .post(format!("{}/api/v1/consultations", origin.url))
        .bearer_auth(&orga)
        .json(&json!({"slug": "budget", "title": "Budget", "body": "…",
                      "opens_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
                      "closes_at": (now + chrono::Duration::days(7)).to_rfc3339()}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let lea = token(&http, &follower, "lea").await;
    let handle = format!("budget@{}", origin.host());
    let response = http
        .post(format!("{}/api/v1/follows", follower.url))
        .bearer_auth(&lea)
        .json(&json!({"target": handle}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let mut accepted = false;
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
        if follows[0]["state"] == "accepted" {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(accepted, "follow accepted");

    // The follower goes down; the origin keeps posting, then crashes with its queue full.
    follower.kill();
    const POSTED: usize = 12;
    for i in 0..POSTED {
        let response = http
            .post(format!(
                "{}/api/v1/consultations/budget/proposals",
                origin.url
            ))
            .bearer_auth(&orga)
            .json(&json!({"title": format!("Projet {i}"), "body": "À financer."}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    origin.kill();

    follower.restart().await.expect("follower restarts");
    origin.restart().await.expect("origin restarts");
    let mut titles = Vec::new();
    for _ in 0..400 {
        let page: Value = http
            .get(format!(
                "{}/api/v1/consultations/{handle}/proposals?limit=100",
                follower.url
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        titles = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["title"].as_str().unwrap().to_owned())
            .collect();
        if titles.len() >= POSTED {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    titles.sort();
    let mut expected: Vec<String> = (0..POSTED).map(|i| format!("Projet {i}")).collect();
    expected.sort();
    assert_eq!(
        titles,
        expected,
        "every proposal arrives, exactly once\n{}",
        origin
            .log()
            .lines()
            .filter(|l| l.contains("deliver"))
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
}
