//! A Mastodon-style account on a real ActivityPub server written by others (Fedify, from npm)
//! takes part in a consultation of a real Palabre node: it finds it, follows it, sees each
//! proposal in full as a poll, argues with #pour/#contre, comments, votes, likes, boosts,
//! edits, deletes and reports, and is refused once the consultation closes. The peer's own
//! signature checks must accept everything Palabre sends it.
use std::time::Duration;

use palabre_federation_tests::Node;
use palabre_federation_tests::peer::Peer;
use serde_json::{Value, json};

#[path = "mastodon/reclassified.rs"]
mod reclassified;

const PASSWORD: &str = "mot de passe solide";

struct Api {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Api {
    async fn sign_in(node: &Node, user: &str) -> Api {
        let http = palabre_federation_tests::client();
        let body: Value = http
            .post(format!("{}/api/v1/auth/token", node.url))
            .json(&json!({"username": user, "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Api {
            http,
            url: node.url.clone(),
            token: body["token"].as_str().expect("token").to_owned(),
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{method} {path}: {status} {body}");
        body
    }

    async fn get(&self, path: &str) -> Value {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
}

async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..100 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn open_consultation(node: &Node, api: &Api, slug: &str) {
    let now = chrono::Utc::now();
    api.post(
        "/api/v1/consultations",
        json!({"slug": slug, "title": "Le vélo à Brest", "body": "Comment rouler mieux ?",
               "opens_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
               "closes_at": (now + chrono::Duration::days(30)).to_rfc3339()}),
    )
    .await;
    let _ = node;
}

/// alice finds the consultation `handle` (a `Group`), follows it and waits for the `Accept`;
/// returns the Group's id.
async fn follow_consultation(peer: &Peer, handle: &str) -> String {
    let found = peer
        .must("lookup", json!({"q": format!("@{handle}")}))
        .await
        .unwrap();
    assert_eq!(found["type"], "Group", "{found}");
    let group = found["id"].as_str().unwrap().to_owned();
    peer.must("follow", json!({"target": group})).await.unwrap();
    eventually("alice's follow to be accepted", || async {
        let following = peer.read("following").await.ok()?;
        (following[0]["state"] == "accepted").then_some(())
    })
    .await;
    group
}

/// The proposal's poll as alice's timeline shows it.
async fn poll_in_timeline(peer: &Peer, proposal_url: &str) -> Value {
    let poll_id = format!("{proposal_url}/poll");
    eventually("the poll in alice's timeline", || async {
        let timeline = peer.read("timeline").await.ok()?;
        timeline["items"]
            .as_array()?
            .iter()
            .find(|item| item["id"] == poll_id.as_str())
            .cloned()
    })
    .await
}

fn option_count(poll: &Value, name: &str) -> i64 {
    poll["oneOf"]
        .as_array()
        .and_then(|options| options.iter().find(|o| o["name"] == name))
        .and_then(|o| o["replies"]["totalItems"].as_i64())
        .unwrap_or(-1)
}

#[tokio::test]
async fn a_mastodon_user_takes_part_from_their_own_account() {
    let (node, peer) = tokio::try_join!(Node::start("Ville de Brest"), Peer::start(false))
        .expect("a node and a Fedify peer start");
    node.create_user("orga", PASSWORD, true).unwrap();
    node.create_user("nadia", PASSWORD, false).unwrap();
    let orga = Api::sign_in(&node, "orga").await;
    let nadia = Api::sign_in(&node, "nadia").await;
    open_consultation(&node, &orga, "velo").await;

    // Found by its handle, followed, accepted.
    let group = follow_consultation(&peer, &format!("velo@{}", node.host())).await;

    // A new proposal reaches the timeline as a poll showing the whole proposal.
    let proposal = nadia
        .post(
            "/api/v1/consultations/velo/proposals",
            json!({"title": "Des arceaux devant la gare",
                   "body": "Il manque **200 places** de stationnement vélo près de la gare."}),
        )
        .await;
    let proposal_id = proposal["id"].as_i64().unwrap();
    let proposal_url = proposal["url"].as_str().unwrap().to_owned();
    let poll = poll_in_timeline(&peer, &proposal_url).await;
    assert_eq!(poll["type"], "Question");
    assert_eq!(poll["via"], "create");
    let content = poll["content"].as_str().unwrap();
    assert!(content.contains("Des arceaux devant la gare"), "{content}");
    assert!(content.contains("<strong>200 places</strong>"), "{content}");
    let names: Vec<&str> = poll["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert_eq!(names, ["D'accord", "Mitigé", "Pas d'accord"]);
    let question = poll["id"].as_str().unwrap().to_owned();
    // Lemmy and Palabre still see a proposal at its own URL.
    let page = peer
        .must("lookup", json!({"q": proposal_url}))
        .await
        .unwrap();
    assert_eq!(page["type"], "Page", "{page}");
    let path = format!("/api/v1/proposals/{proposal_id}");

    // Replies: #pour and #contre make arguments, anything else a comment.
    let pour = peer
        .must(
            "reply",
            json!({"inReplyTo": question, "content": "Oui, la gare déborde #pour", "tags": ["pour"]}),
        )
        .await
        .unwrap();
    let contre = peer
        .must(
            "reply",
            json!({"inReplyTo": question, "content": "Trop cher pour la ville", "tags": ["contre"]}),
        )
        .await
        .unwrap();
    let comment = peer
        .must(
            "reply",
            json!({"inReplyTo": question,
                   "content": "Voir https://velo.example/plan <script>alert(1)</script> #mobilite",
                   "tags": ["mobilite"], "mention": [group]}),
        )
        .await
        .unwrap();
    let d = nadia.get(&path).await;
    assert_eq!(d["counts"]["arguments_for"], 1, "{d}");
    assert_eq!(d["counts"]["arguments_against"], 1, "{d}");
    let argument = &d["arguments_for"][0];
    assert_eq!(argument["author"]["display_name"], "Alice Martin");
    assert!(
        argument["body_html"]
            .as_str()
            .unwrap()
            .contains(">#pour</a>"),
        "hashtags stay links: {argument}"
    );
    assert_eq!(d["comments"].as_array().unwrap().len(), 1, "{d}");
    let shown = d["comments"][0]["body_html"].as_str().unwrap();
    assert!(shown.contains("#mobilite"), "{shown}");
    assert!(
        shown.contains("<a href="),
        "mentions and links render: {shown}"
    );
    assert!(
        !shown.contains("<script"),
        "remote HTML is sanitised: {shown}"
    );

    // Votes in Mastodon's poll count once per person, and can change.
    peer.must(
        "vote",
        json!({"question": question, "option": "Pas d'accord"}),
    )
    .await
    .unwrap();
    let d = nadia.get(&path).await;
    assert_eq!(d["votes"], json!({"agree": 0, "mixed": 0, "disagree": 1}));
    peer.must("vote", json!({"question": question, "option": "Mitigé"}))
        .await
        .unwrap();
    let d = nadia.get(&path).await;
    assert_eq!(d["votes"], json!({"agree": 0, "mixed": 1, "disagree": 0}));
    // The poll in alice's timeline shows the new count (Update(Question) from the Group).
    eventually("the poll to show the vote", || async {
        let poll = poll_in_timeline(&peer, &proposal_url).await;
        (option_count(&poll, "Mitigé") == 1 && option_count(&poll, "Pas d'accord") == 0)
            .then_some(())
    })
    .await;
    // A favourite is agreement; taking it back takes the vote back.
    peer.must("like", json!({"object": question}))
        .await
        .unwrap();
    let d = nadia.get(&path).await;
    assert_eq!(d["votes"], json!({"agree": 1, "mixed": 0, "disagree": 0}));
    peer.must("undo-like", json!({"object": question}))
        .await
        .unwrap();
    let d = nadia.get(&path).await;
    assert_eq!(d["votes"], json!({"agree": 0, "mixed": 0, "disagree": 0}));

    // Edits and deletions follow.
    peer.must(
        "update",
        json!({"id": comment["object"], "content": "Le plan est à jour", "tags": []}),
    )
    .await
    .unwrap();
    peer.must("delete", json!({"id": contre["object"]}))
        .await
        .unwrap();
    let d = nadia.get(&path).await;
    assert_eq!(d["counts"]["arguments_against"], 0, "{d}");
    assert!(
        d["comments"][0]["body"]
            .as_str()
            .unwrap()
            .contains("Le plan est à jour"),
        "{d}"
    );

    // A boost is a share, until undone.
    peer.must("announce", json!({"object": question}))
        .await
        .unwrap();
    assert_eq!(nadia.get(&path).await["shares"], 1);
    peer.must("undo-announce", json!({"object": question}))
        .await
        .unwrap();
    assert_eq!(nadia.get(&path).await["shares"], 0);

    // A report lands in the moderation queue.
    let reported = d["arguments_for"][0]["url"].clone();
    let argument_ap_id = pour["object"].clone();
    peer.must(
        "flag",
        json!({"target": group, "object": [peer.alice(), argument_ap_id], "content": "hors sujet"}),
    )
    .await
    .unwrap();
    let reports = orga.get("/api/v1/reports").await;
    assert!(
        reports.to_string().contains("hors sujet"),
        "{reports} (reported {reported})"
    );

    // alice follows nadia herself, and so sees what nadia writes, wherever she writes it.
    let nadia_id = format!("{}/users/nadia", node.url);
    let found = peer
        .must("lookup", json!({"q": format!("@nadia@{}", node.host())}))
        .await
        .unwrap();
    assert_eq!(found["id"], nadia_id.as_str(), "{found}");
    peer.must("follow", json!({"target": nadia_id}))
        .await
        .unwrap();
    eventually("alice to follow nadia", || async {
        let following = peer.read("following").await.ok()?;
        following
            .as_array()?
            .iter()
            .any(|f| f["target"] == nadia_id.as_str() && f["state"] == "accepted")
            .then_some(())
    })
    .await;
    let followers = |url: String| async move {
        palabre_federation_tests::client()
            .get(url)
            .header("accept", "application/activity+json")
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    assert_eq!(
        followers(format!("{nadia_id}/followers")).await["totalItems"],
        1
    );

    // An argument written on the node reaches alice's timeline, in the proposal's thread.
    let local = nadia
        .post(
            &format!("/api/v1/proposals/{proposal_id}/arguments"),
            json!({"stance": "for", "body": "Les commerces y gagnent aussi."}),
        )
        .await;
    let local_url = local["url"].as_str().unwrap().to_owned();
    let shown = eventually("the local argument in alice's timeline", || async {
        let timeline = peer.read("timeline").await.ok()?;
        timeline["items"]
            .as_array()?
            .iter()
            .find(|item| item["id"] == local_url.as_str())
            .cloned()
    })
    .await;
    assert_eq!(shown["inReplyTo"], proposal_url.as_str(), "{shown}");
    assert!(shown["content"].as_str().unwrap().contains("Les commerces"));
    // So does a source.
    let source = nadia
        .post(
            &format!("/api/v1/proposals/{proposal_id}/sources"),
            json!({"title": "Comptages vélo 2026", "url": "https://data.example/velo"}),
        )
        .await;
    let source_id = source["id"].as_i64().unwrap();
    let source_url = format!("{}/sources/{source_id}", node.url);
    let shown = eventually("the source in alice's timeline", || async {
        let timeline = peer.read("timeline").await.ok()?;
        timeline["items"]
            .as_array()?
            .iter()
            .find(|item| item["id"] == source_url.as_str())
            .cloned()
    })
    .await;
    assert_eq!(shown["inReplyTo"], proposal_url.as_str(), "{shown}");
    assert!(
        shown["content"].as_str().unwrap().contains("data.example"),
        "{shown}"
    );
    eventually("nadia's own Create in alice's inbox", || async {
        let inbox = peer.read("inbox").await.ok()?;
        inbox
            .as_array()?
            .iter()
            .any(|a| a["type"] == "Create" && a["actor"] == nadia_id.as_str())
            .then_some(())
    })
    .await;
    peer.must("unfollow", json!({"target": nadia_id}))
        .await
        .unwrap();
    assert_eq!(
        followers(format!("{nadia_id}/followers")).await["totalItems"],
        0
    );

    // Closing closes it for alice too: her reply is refused with a reason she receives, the
    // page says so, and nothing from after the close is counted.
    orga.send(
        reqwest::Method::PATCH,
        "/api/v1/consultations/velo",
        Some(
            json!({"closes_at": (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339()}),
        ),
    )
    .await;
    // The poll closes in alice's app too, not at the old end date.
    eventually("the poll to show closed", || async {
        let poll = poll_in_timeline(&peer, &proposal_url).await;
        (!poll["closed"].is_null()).then_some(())
    })
    .await;
    peer.must(
        "reply",
        json!({"inReplyTo": question, "content": "Trop tard ? #pour", "tags": ["pour"]}),
    )
    .await
    .unwrap();
    let reject = eventually("a Reject in alice's inbox", || async {
        let inbox = peer.read("inbox").await.ok()?;
        inbox
            .as_array()?
            .iter()
            .find(|a| a["type"] == "Reject")
            .cloned()
    })
    .await;
    assert!(
        reject["json"].to_string().contains("closed"),
        "the reason travels: {reject}"
    );
    let (status, refused) = peer
        .act("vote", json!({"question": question, "option": "D'accord"}))
        .await
        .unwrap();
    assert_eq!(status, 502, "the node refuses a late vote: {refused}");
    assert_eq!(refused["status"], 409, "{refused}");
    // A favourite, a boost, an edit or a deletion after closing change nothing either.
    let late = [
        ("like", json!({"object": question})),
        ("announce", json!({"object": question})),
        (
            "update",
            json!({"id": comment["object"], "content": "Réécrit après la clôture", "tags": []}),
        ),
        ("delete", json!({"id": pour["object"]})),
    ];
    for (action, body) in late {
        let (status, refused) = peer.act(action, body).await.unwrap();
        assert_eq!(status, 502, "the node refuses a late {action}: {refused}");
        assert_eq!(refused["status"], 409, "late {action}: {refused}");
    }
    let d = nadia.get(&path).await;
    assert_eq!(d["counts"]["arguments_for"], 2, "{d}");
    assert_eq!(d["votes"], json!({"agree": 0, "mixed": 0, "disagree": 0}));
    assert_eq!(d["shares"], 0, "{d}");
    assert!(
        d["comments"][0]["body"]
            .as_str()
            .unwrap()
            .contains("Le plan est à jour"),
        "{d}"
    );
    let page = palabre_federation_tests::client()
        .get(format!("{}/consultations/velo", node.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("1 personne a répondu depuis un autre serveur"),
        "the consultation page tells why: {page}"
    );

    // Fedify's own checks accepted everything Palabre sent.
    let log = peer.read("inbox-log").await.unwrap();
    let refused: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["status"].as_u64().is_none_or(|s| s >= 300))
        .collect();
    assert!(refused.is_empty(), "the peer refused: {refused:?}");
    assert!(log.as_array().unwrap().len() >= 5, "{log}");

    // Moderators hide a comment from the fediverse like any contribution.
    let comment_id = d["comments"][0]["id"].as_i64().unwrap();
    orga.send(
        reqwest::Method::PUT,
        &format!("/api/v1/comments/{comment_id}/hidden"),
        Some(json!({"hidden": true})),
    )
    .await;
    let d = nadia.get(&path).await;
    assert_eq!(d["comments"], json!([]), "{d}");

    // And alice can stop following the consultation.
    assert_eq!(
        followers(format!("{group}/followers")).await["totalItems"],
        1
    );
    peer.must("unfollow", json!({"target": group}))
        .await
        .unwrap();
    assert_eq!(
        followers(format!("{group}/followers")).await["totalItems"],
        0
    );
}

#[tokio::test]
async fn a_secure_mode_server_and_palabre_fetch_each_other_with_signatures() {
    let (node, peer) = tokio::try_join!(Node::start("Ville de Quimper"), Peer::start(true))
        .expect("a node and a secure-mode Fedify peer start");
    node.create_user("orga", PASSWORD, true).unwrap();
    let orga = Api::sign_in(&node, "orga").await;
    open_consultation(&node, &orga, "velo").await;
    let proposal = orga
        .post(
            "/api/v1/consultations/velo/proposals",
            json!({"title": "Une vélorue", "body": "Rue de Brest en vélorue."}),
        )
        .await;
    let proposal_url = proposal["url"].as_str().unwrap().to_owned();
    // The peer fetches with signed GETs ...
    for (url, kind) in [
        (format!("{}/consultations/velo", node.url), "Group"),
        (proposal_url.clone(), "Page"),
        (format!("{proposal_url}/poll"), "Question"),
    ] {
        let found = peer.must("lookup", json!({"q": url})).await.unwrap();
        assert_eq!(found["type"], kind, "{found}");
    }
    // ... and Palabre must sign its GETs to learn who alice is: without a valid signature the
    // peer answers 401 and her follow and reply could not be checked.
    let group = format!("{}/consultations/velo", node.url);
    peer.must("follow", json!({"target": group})).await.unwrap();
    peer.must(
        "reply",
        json!({"inReplyTo": format!("{proposal_url}/poll"), "content": "Bonne idée #pour", "tags": ["pour"]}),
    )
    .await
    .unwrap();
    let proposal_id = proposal["id"].as_i64().unwrap();
    let d = orga.get(&format!("/api/v1/proposals/{proposal_id}")).await;
    assert_eq!(d["counts"]["arguments_for"], 1, "{d}");
    // The peer's refusals of requests Palabre made. (The peer also fetches its own notes when
    // the Group boosts alice's reply back to her, and its secure mode refuses its own unsigned
    // key fetch then: Fedify's requests, not Palabre's, whenever that boost comes first.)
    let errors = peer.read("errors").await.unwrap();
    let from_palabre: Vec<&Value> = errors
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "unauthorized")
        .filter(|e| {
            !e["headers"]["user-agent"]
                .as_str()
                .is_some_and(|agent| agent.starts_with("Fedify/"))
        })
        .collect();
    assert!(
        from_palabre.is_empty(),
        "every GET from Palabre was signed acceptably: {errors}"
    );
}
