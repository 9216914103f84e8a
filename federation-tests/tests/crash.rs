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

#[tokio::test]
async fn two_processes_sharing_one_database_deliver_each_activity_once() {
    let origin = Node::start("Origine").await.expect("origin starts");
    let replica = origin.start_replica().await.expect("replica starts");
    let follower = Node::start("Abonne").await.expect("follower starts");
    let http = client();
    origin.create_user("orga", PASSWORD, true).unwrap();
    follower.create_user("lea", PASSWORD, false).unwrap();
    follower.create_user("noe", PASSWORD, false).unwrap();
    let orga = token(&http, &origin, "orga").await;
    let now = chrono::Utc::now();
    let response = http
        .post(format!("{}/api/v1/consultations", origin.url))
        .bearer_auth(&orga)
        .json(&json!({"slug": "voirie", "title": "Voirie", "body": "…",
                      "opens_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
                      "closes_at": (now + chrono::Duration::days(7)).to_rfc3339()}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let handle = format!("voirie@{}", origin.host());
    // Two accounts of the follower node follow: it still gets each activity once, at its
    // shared inbox.
    let mut follower_tokens = Vec::new();
    for user in ["lea", "noe"] {
        let t = token(&http, &follower, user).await;
        let response = http
            .post(format!("{}/api/v1/follows", follower.url))
            .bearer_auth(&t)
            .json(&json!({"target": handle}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        follower_tokens.push(t);
    }
    // Both follows accepted before posting: an Accept arriving mid-burst would backfill
    // proposals whose Announce is still on its way, and the count below would not wait for it.
    for t in &follower_tokens {
        let mut state = Value::Null;
        for _ in 0..100 {
            let follows: Value = http
                .get(format!("{}/api/v1/follows", follower.url))
                .bearer_auth(t)
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
    }
    // Posts go through both processes, as a load balancer would spread them.
    const POSTED: usize = 16;
    for i in 0..POSTED {
        let base = if i % 2 == 0 {
            &origin.url
        } else {
            &replica.url
        };
        let response = http
            .post(format!("{base}/api/v1/consultations/voirie/proposals"))
            .bearer_auth(&orga)
            .json(&json!({"title": format!("Rue {i}"), "body": "À refaire."}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    let mut count = 0;
    for _ in 0..200 {
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
        count = page["items"].as_array().unwrap().len();
        if count == POSTED {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count, POSTED);
    // Each Announce reached the follower's inbox exactly once, whichever process sent it.
    // Wait for all of them (a loaded machine may still be sending), then a little more for a
    // duplicate to show up if there were one.
    let announces = |log: &str| -> Vec<String> {
        log.lines()
            .filter_map(|line| line.split("Receiving activity ").nth(1))
            .map(|rest| rest.split_whitespace().next().unwrap_or_default())
            .filter(|id| id.contains("/activities/announce/"))
            .map(str::to_owned)
            .collect()
    };
    for _ in 0..300 {
        if announces(&follower.log()).len() >= POSTED {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut received = announces(&follower.log());
    let total = received.len();
    received.sort();
    received.dedup();
    assert_eq!(received.len(), POSTED, "one Announce per proposal");
    assert_eq!(
        total, POSTED,
        "no Announce was delivered twice, whether by two processes or to two followers"
    );
}
