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
