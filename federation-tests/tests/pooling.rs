//! Real nodes as separate processes pooling a debate over ActivityPub: discovery, following a
//! consultation across nodes, its proposals and arguments mirrored on the followers, and
//! unsigned activities refused.
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

async fn post(http: &reqwest::Client, url: String, token: &str, body: Value) -> (u16, Value) {
    let response = http
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(http: &reqwest::Client, url: String) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
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

#[tokio::test]
async fn communes_follow_a_ministry_consultation_and_mirror_its_debate() {
    let (ministry, brest, rennes) = tokio::try_join!(
        Node::start("Ministère"),
        Node::start("Ville de Brest"),
        Node::start("Ville de Rennes"),
    )
    .expect("three nodes start");
    let http = client();
    ministry.create_user("orga", PASSWORD, true).unwrap();
    ministry.create_user("agent", PASSWORD, false).unwrap();
    brest.create_user("claire", PASSWORD, false).unwrap();
    rennes.create_user("yann", PASSWORD, false).unwrap();
    let orga = token(&http, &ministry, "orga").await;
    let now = chrono::Utc::now();
    let (status, consultation) = post(
        &http,
        format!("{}/api/v1/consultations", ministry.url),
        &orga,
        json!({
            "slug": "numerique", "title": "Stratégie numérique de l'État",
            "body": "Quelle feuille de route ?", "themes": ["Numérique"],
            "opens_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
            "closes_at": (now + chrono::Duration::days(30)).to_rfc3339(),
        }),
    )
    .await;
    assert_eq!(status, 201, "{consultation}");

    // Discovery: WebFinger names the Group; the same URL serves JSON or HTML.
    let handle = format!("numerique@{}", ministry.host());
    let finger = get(
        &http,
        format!(
            "{}/.well-known/webfinger?resource=acct:{handle}",
            ministry.url
        ),
    )
    .await;
    let group_url = finger["links"][0]["href"]
        .as_str()
        .expect("webfinger link")
        .to_owned();
    assert_eq!(
        group_url,
        format!("{}/consultations/numerique", ministry.url)
    );
    let group: Value = http
        .get(&group_url)
        .header("accept", "application/activity+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(group["type"], "Group");
    assert_eq!(group["preferredUsername"], "numerique");
    assert!(
        group["publicKey"]["publicKeyPem"]
            .as_str()
            .unwrap()
            .contains("PUBLIC KEY")
    );
    assert_eq!(
        group["endpoints"]["sharedInbox"],
        format!("{}/inbox", ministry.url)
    );
    assert_eq!(group["participation"], "open");
    let html = http
        .get(&group_url)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Stratégie numérique") && html.contains("<html"),
        "{html}"
    );
    let same_with_ld: Value = http
        .get(&group_url)
        .header(
            "accept",
            "application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\"",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(same_with_ld["id"], group["id"]);
    let person = get(
        &http,
        format!(
            "{}/.well-known/webfinger?resource=acct:agent@{}",
            ministry.url,
            ministry.host()
        ),
    )
    .await;
    assert_eq!(
        person["links"][0]["href"],
        format!("{}/users/agent", ministry.url)
    );
    let node_actor = get(
        &http,
        format!(
            "{}/.well-known/webfinger?resource=acct:localhost@{}",
            ministry.url,
            ministry.host()
        ),
    )
    .await;
    assert_eq!(
        node_actor["links"][0]["href"],
        format!("{}/actor", ministry.url)
    );
    let application: Value = http
        .get(format!("{}/actor", ministry.url))
        .header("accept", "application/activity+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(application["type"], "Application");
    assert!(
        application["publicKey"]["publicKeyPem"]
            .as_str()
            .unwrap()
            .contains("PUBLIC KEY")
    );
    let nodeinfo = get(&http, format!("{}/nodeinfo/2.1", ministry.url)).await;
    assert_eq!(nodeinfo["software"]["name"], "palabre");
    assert_eq!(nodeinfo["protocols"], json!(["activitypub"]));

    // Brest follows by handle, Rennes by URL; the ministry accepts both.
    let claire = token(&http, &brest, "claire").await;
    let yann = token(&http, &rennes, "yann").await;
    let (status, follow) = post(
        &http,
        format!("{}/api/v1/follows", brest.url),
        &claire,
        json!({"target": handle}),
    )
    .await;
    assert_eq!(status, 201, "{follow}\n{}", brest.log());
    assert_eq!(follow["consultation"], handle);
    let (status, _) = post(
        &http,
        format!("{}/api/v1/follows", rennes.url),
        &yann,
        json!({"target": group_url}),
    )
    .await;
    assert_eq!(status, 201, "{}", rennes.log());
    for (node, token) in [(&brest, &claire), (&rennes, &yann)] {
        eventually("the follow to be accepted", || async {
            let follows: Value = http
                .get(format!("{}/api/v1/follows", node.url))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (follows[0]["state"] == "accepted").then_some(())
        })
        .await;
    }
    let listed = get(&http, format!("{}/api/v1/consultations", brest.url)).await;
    let mirror = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["slug"] == handle)
        .expect("mirrored consultation");
    assert_eq!(mirror["origin"], ministry.host());
    assert_eq!(mirror["state"], "open");

    // An agent of the ministry posts; both communes show the debate with its origin.
    let agent = token(&http, &ministry, "agent").await;
    let (status, proposal) = post(&http, format!("{}/api/v1/consultations/numerique/proposals", ministry.url), &agent,
        json!({"title": "Mutualiser les briques logicielles", "body": "Entre **ministères** et collectivités."})).await;
    assert_eq!(status, 201);
    let id = proposal["id"].as_i64().unwrap();
    for (stance, text) in [
        ("for", "Moins de dépenses en double."),
        ("against", "Chaque territoire a ses besoins."),
    ] {
        let (status, body) = post(
            &http,
            format!("{}/api/v1/proposals/{id}/arguments", ministry.url),
            &orga,
            json!({"stance": stance, "body": text}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    for node in [&brest, &rennes] {
        let mirrored = eventually("the proposal and its arguments on the mirror", || async {
            let page = get(
                &http,
                format!("{}/api/v1/consultations/{handle}/proposals", node.url),
            )
            .await;
            let item = page["items"].get(0)?.clone();
            let detail = get(
                &http,
                format!("{}/api/v1/proposals/{}", node.url, item["id"]),
            )
            .await;
            (detail["counts"]["arguments_for"] == 1 && detail["counts"]["arguments_against"] == 1)
                .then_some(detail)
        })
        .await;
        assert_eq!(
            mirrored["title"], "Mutualiser les briques logicielles",
            "{}",
            node.name
        );
        assert_eq!(
            mirrored["number"], proposal["number"],
            "the origin's number is kept"
        );
        assert_eq!(mirrored["origin"], ministry.host());
        assert!(
            mirrored["body_html"]
                .as_str()
                .unwrap()
                .contains("<strong>ministères</strong>")
        );
        assert_eq!(
            mirrored["author"]["username"],
            format!("agent@{}", ministry.host())
        );
        assert_eq!(
            mirrored["arguments_against"][0]["body"],
            "Chaque territoire a ses besoins."
        );
    }

    // A Brest resident contributes from Brest: the ministry checks, stores and announces it, and
    // Brest's answer carries the ministry's verdict.
    let (status, from_brest) = post(
        &http,
        format!("{}/api/v1/consultations/{handle}/proposals", brest.url),
        &claire,
        json!({"title": "Un socle commun pour les communes", "body": "Hébergé par la région."}),
    )
    .await;
    assert_eq!(
        status,
        201,
        "{from_brest}\n{}\n{}",
        brest.log(),
        ministry.log()
    );
    assert_eq!(from_brest["origin_state"], "accepted");
    let on_ministry = eventually("the Brest proposal on the ministry", || async {
        let page = get(
            &http,
            format!("{}/api/v1/consultations/numerique/proposals", ministry.url),
        )
        .await;
        page["items"]
            .as_array()?
            .iter()
            .find(|p| p["title"] == "Un socle commun pour les communes")
            .cloned()
    })
    .await;
    assert_eq!(
        on_ministry["author"]["username"],
        format!("claire@{}", brest.host())
    );
    assert_eq!(on_ministry["origin"], brest.host());
    // Rennes gets it through the ministry's Announce, and argues against it from Rennes.
    let on_rennes = eventually("the Brest proposal on Rennes", || async {
        let page = get(
            &http,
            format!("{}/api/v1/consultations/{handle}/proposals", rennes.url),
        )
        .await;
        page["items"]
            .as_array()?
            .iter()
            .find(|p| p["title"] == "Un socle commun pour les communes")
            .cloned()
    })
    .await;
    let (status, argued) = post(
        &http,
        format!(
            "{}/api/v1/proposals/{}/arguments",
            rennes.url, on_rennes["id"]
        ),
        &yann,
        json!({"stance": "against", "body": "La région n'a pas les moyens."}),
    )
    .await;
    assert_eq!(status, 201, "{argued}\n{}", rennes.log());
    let (status, argued) = post(
        &http,
        format!(
            "{}/api/v1/proposals/{}/arguments",
            rennes.url, on_rennes["id"]
        ),
        &yann,
        json!({"stance": "for", "body": "Mais elle mutualise déjà l'hébergement."}),
    )
    .await;
    assert_eq!(status, 201, "{argued}");
    for (node, id) in [
        (&ministry, on_ministry["id"].clone()),
        (&brest, from_brest["id"].clone()),
        (&rennes, on_rennes["id"].clone()),
    ] {
        eventually("the Rennes argument everywhere", || async {
            let detail = get(&http, format!("{}/api/v1/proposals/{id}", node.url)).await;
            (detail["counts"]["arguments_against"] == 1
                && detail["counts"]["arguments_for"] == 1
                && detail["arguments_against"][0]["body"] == "La région n'a pas les moyens.")
                .then_some(())
        })
        .await;
    }

    // Authors on the communes edit and withdraw their own contributions; the ministry applies
    // and relays, and every node follows.
    let response = http
        .patch(format!(
            "{}/api/v1/proposals/{}",
            brest.url, from_brest["id"]
        ))
        .bearer_auth(&claire)
        .json(&json!({"title": "Un socle numérique commun pour les communes"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        200,
        "{}",
        response.text().await.unwrap()
    );
    let argument_on_rennes = get(
        &http,
        format!("{}/api/v1/proposals/{}", rennes.url, on_rennes["id"]),
    )
    .await;
    let argument_id = argument_on_rennes["arguments_against"][0]["id"].clone();
    let response = http
        .delete(format!("{}/api/v1/arguments/{argument_id}", rennes.url))
        .bearer_auth(&yann)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    for (node, id) in [
        (&ministry, on_ministry["id"].clone()),
        (&brest, from_brest["id"].clone()),
        (&rennes, on_rennes["id"].clone()),
    ] {
        eventually("the edit and the withdrawal everywhere", || async {
            let d = get(&http, format!("{}/api/v1/proposals/{id}", node.url)).await;
            (d["title"] == "Un socle numérique commun pour les communes"
                && d["counts"]["arguments_against"] == 0)
                .then_some(())
        })
        .await;
    }
    // Nobody but the author changes a contribution, even through their own node's API.
    let response = http
        .patch(format!(
            "{}/api/v1/proposals/{}",
            rennes.url, on_rennes["id"]
        ))
        .bearer_auth(&yann)
        .json(&json!({"title": "Détourné"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);

    // Sources travel like arguments: from Brest to the ministry and on to Rennes, and their
    // withdrawal too.
    let (status, source) = post(&http, format!("{}/api/v1/proposals/{}/sources", brest.url, from_brest["id"]), &claire,
        json!({"title": "Schéma régional du numérique", "url": "https://example.org/schema", "description": "Chapitre 3"})).await;
    assert_eq!(status, 201, "{source}\n{}", ministry.log());
    assert_eq!(source["origin_state"], "accepted");
    for (node, id) in [
        (&ministry, on_ministry["id"].clone()),
        (&rennes, on_rennes["id"].clone()),
    ] {
        eventually("the source on every node", || async {
            let d = get(&http, format!("{}/api/v1/proposals/{id}", node.url)).await;
            (d["sources"][0]["url"] == "https://example.org/schema"
                && d["sources"][0]["description"] == "Chapitre 3"
                && d["counts"]["sources"] == 1)
                .then_some(())
        })
        .await;
    }
    let response = http
        .patch(format!("{}/api/v1/sources/{}", brest.url, source["id"]))
        .bearer_auth(&claire)
        .json(&json!({"title": "Schéma régional du numérique 2027"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    for (node, id) in [
        (&ministry, on_ministry["id"].clone()),
        (&rennes, on_rennes["id"].clone()),
    ] {
        eventually("the source's edit on every node", || async {
            let d = get(&http, format!("{}/api/v1/proposals/{id}", node.url)).await;
            (d["sources"][0]["title"] == "Schéma régional du numérique 2027").then_some(())
        })
        .await;
    }
    let response = http
        .delete(format!("{}/api/v1/sources/{}", brest.url, source["id"]))
        .bearer_auth(&claire)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    for (node, id) in [
        (&ministry, on_ministry["id"].clone()),
        (&rennes, on_rennes["id"].clone()),
    ] {
        eventually("the source withdrawn everywhere", || async {
            let d = get(&http, format!("{}/api/v1/proposals/{id}", node.url)).await;
            (d["counts"]["sources"] == 0).then_some(())
        })
        .await;
    }

    // A report made on Brest about an argument of the ministry's debate reaches the ministry's
    // moderators.
    let (status, report) = post(&http, format!("{}/api/v1/reports", brest.url), &claire,
        json!({"kind": "argument", "id": mirrored_argument_id(&http, &brest, &handle).await, "reason": "Hors sujet"})).await;
    assert_eq!(status, 201, "{report}");
    assert_eq!(report["forwarded"], true);
    let queue = eventually("the report in the ministry's moderation queue", || async {
        let queue: Value = http
            .get(format!("{}/api/v1/reports", ministry.url))
            .bearer_auth(&orga)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (queue.as_array()?.len() == 1).then_some(queue)
    })
    .await;
    assert_eq!(queue[0]["reporter"], format!("claire@{}", brest.host()));
    assert_eq!(queue[0]["reason"], "Hors sujet");
    assert!(
        queue[0]["object"]
            .as_str()
            .unwrap()
            .starts_with(&ministry.url)
    );

    // Votes from three nodes go to the ministry only; everyone converges on its tallies.
    let mut ids = Vec::new();
    for node in [&ministry, &brest, &rennes] {
        let found = eventually("the ministry proposal on every node", || async {
            let path = if node.url == ministry.url {
                "numerique".to_owned()
            } else {
                handle.clone()
            };
            let page = get(
                &http,
                format!("{}/api/v1/consultations/{path}/proposals", node.url),
            )
            .await;
            page["items"]
                .as_array()?
                .iter()
                .find(|p| p["title"] == "Mutualiser les briques logicielles")
                .map(|p| p["id"].clone())
        })
        .await;
        ids.push(found);
    }
    let vote = |node: &Node, token: &str, id: &Value, value: &str| {
        let request = http
            .put(format!("{}/api/v1/proposals/{id}/vote", node.url))
            .bearer_auth(token)
            .json(&json!({"value": value}));
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(
                response.status().as_u16(),
                200,
                "{}",
                response.text().await.unwrap()
            );
        }
    };
    vote(&ministry, &agent, &ids[0], "mixed").await;
    vote(&brest, &claire, &ids[1], "agree").await;
    vote(&rennes, &yann, &ids[2], "disagree").await;
    vote(&brest, &claire, &ids[1], "disagree").await;
    for (node, id) in [&ministry, &brest, &rennes].into_iter().zip(&ids) {
        eventually("the same tallies on every node", || async {
            let detail = get(&http, format!("{}/api/v1/proposals/{id}", node.url)).await;
            (detail["votes"] == json!({"agree": 0, "mixed": 1, "disagree": 2})).then_some(())
        })
        .await;
    }
    let claire_view: Value = http
        .get(format!("{}/api/v1/proposals/{}", brest.url, ids[1]))
        .bearer_auth(&claire)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(claire_view["my_vote"], "disagree");
    // Palabre nodes take everything they send each other, the polls made for Mastodon's sake
    // (`Create`/`Update(Question)`) included.
    for node in [&ministry, &brest, &rennes] {
        let log = node.log();
        assert!(!log.contains("activity refused; not retried"), "{log}");
    }

    // An edit, an official answer and a withdrawal on the ministry reach both mirrors.
    let response = http
        .patch(format!("{}/api/v1/proposals/{}", ministry.url, ids[0]))
        .bearer_auth(&agent)
        .json(&json!({"title": "Mutualiser les briques logicielles libres"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let response = http
        .put(format!(
            "{}/api/v1/proposals/{}/answer",
            ministry.url, ids[0]
        ))
        .bearer_auth(&orga)
        .json(&json!({"state": "accepted", "answer": "Un catalogue commun sera publié."}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let detail = get(
        &http,
        format!("{}/api/v1/proposals/{}", ministry.url, ids[0]),
    )
    .await;
    let withdrawn = detail["arguments_for"][0]["id"].clone();
    let response = http
        .delete(format!("{}/api/v1/arguments/{withdrawn}", ministry.url))
        .bearer_auth(&orga)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    for (node, id) in [(&brest, &ids[1]), (&rennes, &ids[2])] {
        eventually(
            "the edit, the answer and the withdrawal on the mirror",
            || async {
                let d = get(&http, format!("{}/api/v1/proposals/{id}", node.url)).await;
                (d["title"] == "Mutualiser les briques logicielles libres"
                    && d["state"] == "accepted"
                    && d["official_answer"] == "Un catalogue commun sera publié."
                    && d["counts"]["arguments_for"] == 0
                    && d["arguments_for"].as_array().is_some_and(|a| a.is_empty()))
                .then_some(())
            },
        )
        .await;
    }

    // The ministry closes the consultation: the mirrors learn it and refuse locally too.
    let response = http
        .patch(format!("{}/api/v1/consultations/numerique", ministry.url))
        .bearer_auth(&orga)
        .json(
            &json!({"closes_at": (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339()}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    for node in [&brest, &rennes] {
        eventually("the mirror to show the consultation closed", || async {
            let c = get(&http, format!("{}/api/v1/consultations/{handle}", node.url)).await;
            (c["state"] == "closed").then_some(())
        })
        .await;
    }
    let (status, refused) = post(
        &http,
        format!("{}/api/v1/consultations/{handle}/proposals", brest.url),
        &claire,
        json!({"title": "Trop tard", "body": "…"}),
    )
    .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"], "consultation_not_open");

    // An unsigned Follow is refused and changes nothing.
    let followers_before = http
        .get(format!("{group_url}/followers"))
        .header("accept", "application/activity+json")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(followers_before["totalItems"], 2);
    let forged = http
        .post(format!("{}/inbox", ministry.url))
        .header("content-type", "application/activity+json")
        .body(
            json!({
                "@context": "https://www.w3.org/ns/activitystreams",
                "type": "Follow",
                "id": format!("{}/activities/follow/forged", brest.url),
                "actor": format!("{}/users/claire", brest.url),
                "object": group_url,
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert!(
        matches!(forged.status().as_u16(), 400 | 401),
        "unsigned activity answered {}",
        forged.status()
    );
    let followers_after = http
        .get(format!("{group_url}/followers"))
        .header("accept", "application/activity+json")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(followers_after["totalItems"], 2);
}

#[tokio::test]
async fn a_new_follower_gets_the_existing_debate_and_badges_only_from_trusted_nodes() {
    let ministry = Node::start("Ministère").await.expect("ministry starts");
    let trusted = format!("[\"{}\"]", ministry.host());
    let trusting = [("PALABRE_FEDERATION__TRUSTED_NODES", trusted.as_str())];
    let (brest, rennes) = tokio::try_join!(
        Node::start_with("Ville de Brest", &trusting),
        Node::start("Ville de Rennes"),
    )
    .expect("communes start");
    let http = client();
    ministry.create_user("orga", PASSWORD, true).unwrap();
    ministry
        .admin(&["verify", "orga", "Ministère du Numérique"])
        .unwrap();
    brest.create_user("claire", PASSWORD, false).unwrap();
    rennes.create_user("yann", PASSWORD, false).unwrap();
    let orga = token(&http, &ministry, "orga").await;
    let now = chrono::Utc::now();
    let (status, _) = post(
        &http,
        format!("{}/api/v1/consultations", ministry.url),
        &orga,
        json!({
            "slug": "archives", "title": "Archives ouvertes", "body": "…",
            "opens_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
            "closes_at": (now + chrono::Duration::days(30)).to_rfc3339(),
        }),
    )
    .await;
    assert_eq!(status, 201);
    // The debate exists before anyone follows.
    let mut titles = Vec::new();
    for i in 0..3 {
        let (status, p) = post(
            &http,
            format!("{}/api/v1/consultations/archives/proposals", ministry.url),
            &orga,
            json!({"title": format!("Numériser le fonds {i}"), "body": "…"}),
        )
        .await;
        assert_eq!(status, 201);
        let (status, _) = post(&http, format!("{}/api/v1/proposals/{}/arguments", ministry.url, p["id"]), &orga,
            json!({"stance": if i % 2 == 0 { "for" } else { "against" }, "body": format!("Argument {i}")})).await;
        assert_eq!(status, 201);
        titles.push(format!("Numériser le fonds {i}"));
    }
    let handle = format!("archives@{}", ministry.host());
    for (node, user) in [(&brest, "claire"), (&rennes, "yann")] {
        let t = token(&http, node, user).await;
        let (status, body) = post(
            &http,
            format!("{}/api/v1/follows", node.url),
            &t,
            json!({"target": handle}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    for node in [&brest, &rennes] {
        let items = eventually("the existing debate on the new follower", || async {
            let page = get(
                &http,
                format!("{}/api/v1/consultations/{handle}/proposals", node.url),
            )
            .await;
            let items = page["items"].as_array()?.clone();
            let argued: i64 = items
                .iter()
                .map(|p| {
                    p["counts"]["arguments_for"].as_i64().unwrap_or(0)
                        + p["counts"]["arguments_against"].as_i64().unwrap_or(0)
                })
                .sum();
            (items.len() == 3 && argued == 3).then_some(items)
        })
        .await;
        let mut seen: Vec<String> = items
            .iter()
            .map(|p| p["title"].as_str().unwrap().to_owned())
            .collect();
        seen.sort();
        assert_eq!(seen, titles);
        let verified = &items[0]["author"]["verified"];
        if node.url == brest.url {
            assert_eq!(
                verified,
                &json!(format!("Ministère du Numérique · {}", ministry.host())),
                "a trusted partner's badge shows, with who vouches"
            );
        } else {
            assert_eq!(
                verified,
                &Value::Null,
                "a badge from a node that is not trusted is not shown"
            );
        }
    }
}

/// The id, on `node`, of the first argument of the first proposal of a mirrored consultation.
async fn mirrored_argument_id(http: &reqwest::Client, node: &Node, handle: &str) -> Value {
    let page = get(
        http,
        format!(
            "{}/api/v1/consultations/{handle}/proposals?sort=arguments",
            node.url
        ),
    )
    .await;
    let detail = get(
        http,
        format!("{}/api/v1/proposals/{}", node.url, page["items"][0]["id"]),
    )
    .await;
    let argument = detail["arguments_for"]
        .get(0)
        .or_else(|| detail["arguments_against"].get(0));
    argument.expect("an argument")["id"].clone()
}
