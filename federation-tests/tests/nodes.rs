//! Several real nodes side by side, as separate processes: each keeps its own data and builds
//! every public URL on its own origin, which federation will rely on.
use palabre_federation_tests::Node;
use serde_json::{Value, json};

async fn token(client: &reqwest::Client, node: &Node, user: &str) -> String {
    let body: Value = client
        .post(format!("{}/api/v1/auth/token", node.url))
        .json(&json!({"username": user, "password": "mot de passe solide"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["token"].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn three_nodes_run_side_by_side_with_their_own_data_and_origins() {
    let (ministry, commune, second) = tokio::try_join!(
        Node::start("Ministère"),
        Node::start("Ville de Brest"),
        Node::start("Ville de Rennes"),
    )
    .expect("three nodes start");
    let client = palabre_federation_tests::client();
    for node in [&ministry, &commune, &second] {
        node.create_user("orga", "mot de passe solide", true)
            .unwrap();
    }
    // The same slug on two nodes: handles are per node (`brest@host`).
    for node in [&ministry, &commune] {
        let token = token(&client, node, "orga").await;
        let now = open_period();
        let response = client
            .post(format!("{}/api/v1/consultations", node.url))
            .bearer_auth(&token)
            .json(
                &json!({"slug": "numerique", "title": format!("Consultation de {}", node.name),
                          "body": "…", "opens_at": now.0, "closes_at": now.1}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{}", node.log());
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["url"], format!("{}/consultations/numerique", node.url));
    }
    let listed: Value = client
        .get(format!("{}/api/v1/consultations", second.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed,
        json!([]),
        "the third node has nothing of the others yet"
    );
    let listed: Value = client
        .get(format!("{}/api/v1/consultations", commune.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["title"], "Consultation de Ville de Brest");
}

/// An opening an hour ago and a closing in a month, in RFC 3339.
fn open_period() -> (String, String) {
    let now = chrono::Utc::now();
    (
        (now - chrono::Duration::hours(1)).to_rfc3339(),
        (now + chrono::Duration::days(30)).to_rfc3339(),
    )
}

#[tokio::test]
async fn without_the_local_testing_switch_a_node_refuses_http_and_loopback() {
    let strict = Node::start_with("Strict", &[("PALABRE_FEDERATION__ALLOW_LOCAL", "false")])
        .await
        .expect("node starts");
    let other = Node::start("Autre").await.expect("node starts");
    let client = palabre_federation_tests::client();
    strict
        .create_user("orga", "mot de passe solide", true)
        .unwrap();
    other
        .create_user("orga", "mot de passe solide", true)
        .unwrap();
    let other_token = token(&client, &other, "orga").await;
    let (opens, closes) = open_period();
    let response = client
        .post(format!("{}/api/v1/consultations", other.url))
        .bearer_auth(&other_token)
        .json(&json!({"slug": "cible", "title": "Cible", "body": "…", "opens_at": opens, "closes_at": closes}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let strict_token = token(&client, &strict, "orga").await;
    for target in [
        format!("{}/consultations/cible", other.url),
        format!("cible@{}", other.url.trim_start_matches("http://")),
        "https://127.0.0.1/consultations/cible".to_owned(),
    ] {
        let response = client
            .post(format!("{}/api/v1/follows", strict.url))
            .bearer_auth(&strict_token)
            .json(&json!({"target": target}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(
            status.is_client_error() || status == 502,
            "{target}: {status} {body}"
        );
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    let listed: Value = client
        .get(format!("{}/api/v1/consultations", strict.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed, json!([]), "nothing was fetched or stored");
}
