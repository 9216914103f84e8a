//! A Mastodon user who forgot the stance hashtag edits the reply to add it: the comment becomes
//! an argument, counted, on the consultation's node and on a node that mirrors it; taking the
//! hashtag off makes it a comment again. A reply hidden by the mirror's moderators stays hidden
//! there when its kind changes.
use palabre_federation_tests::Node;
use palabre_federation_tests::peer::Peer;
use serde_json::{Value, json};

use super::{Api, PASSWORD, eventually, follow_consultation, open_consultation, poll_in_timeline};

/// What a node shows of a proposal's replies: (arguments for, against, comments), as counted,
/// with the first reply's text; `None` while the counts differ from the lists (a mirror's
/// counts come with the Group's next `Update` of the proposal).
async fn replies(api: &Api, path: &str) -> Option<(i64, i64, usize, String)> {
    let d = api.get(path).await;
    let listed = |side: &str| d[side].as_array().map_or(0, Vec::len) as i64;
    let counted = |side: &str| d["counts"][side].as_i64().unwrap_or(-1);
    if counted("arguments_for") != listed("arguments_for")
        || counted("arguments_against") != listed("arguments_against")
    {
        return None;
    }
    let text = |list: &Value| {
        list.as_array()
            .and_then(|items| items.first())
            .and_then(|item| item["body"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let first = [&d["arguments_for"], &d["arguments_against"], &d["comments"]]
        .into_iter()
        .map(text)
        .find(|t| !t.is_empty())
        .unwrap_or_default();
    Some((
        counted("arguments_for"),
        counted("arguments_against"),
        d["comments"].as_array().map_or(0, Vec::len),
        first,
    ))
}

#[tokio::test]
async fn a_reply_edited_to_add_or_drop_its_stance_hashtag_changes_kind_everywhere() {
    let (origin, mirror, peer) = tokio::try_join!(
        Node::start("Ville de Brest"),
        Node::start("Rennes Métropole"),
        Peer::start(false)
    )
    .expect("two nodes and a Fedify peer start");
    origin.create_user("orga", PASSWORD, true).unwrap();
    mirror.create_user("yann", PASSWORD, false).unwrap();
    mirror.create_user("modo", PASSWORD, true).unwrap();
    let orga = Api::sign_in(&origin, "orga").await;
    let yann = Api::sign_in(&mirror, "yann").await;
    let modo = Api::sign_in(&mirror, "modo").await;
    open_consultation(&origin, &orga, "velo").await;

    // Rennes mirrors the consultation; alice (Fedify) follows it.
    let handle = format!("velo@{}", origin.host());
    yann.post("/api/v1/follows", json!({"target": handle}))
        .await;
    eventually("Rennes's follow to be accepted", || async {
        (yann.get("/api/v1/follows").await[0]["state"] == "accepted").then_some(())
    })
    .await;
    follow_consultation(&peer, &handle).await;

    let proposal = orga
        .post(
            "/api/v1/consultations/velo/proposals",
            json!({"title": "Une piste rue de Siam", "body": "Protégée, à double sens."}),
        )
        .await;
    let on_origin = format!("/api/v1/proposals/{}", proposal["id"]);
    let proposal_url = proposal["url"].as_str().unwrap().to_owned();
    let question = poll_in_timeline(&peer, &proposal_url).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let on_mirror = eventually("the proposal on Rennes", || async {
        let list = yann
            .get(&format!("/api/v1/consultations/{handle}/proposals"))
            .await;
        let id = list["items"].as_array()?.first()?["id"].as_i64()?;
        Some(format!("/api/v1/proposals/{id}"))
    })
    .await;
    let on_both = |expected: (i64, i64, usize, &'static str)| {
        let (on_origin, on_mirror) = (on_origin.clone(), on_mirror.clone());
        let (orga, yann) = (&orga, &yann);
        async move {
            for (node, api, path) in [("Brest", orga, &on_origin), ("Rennes", yann, &on_mirror)] {
                eventually(&format!("{expected:?} on {node}"), || async {
                    let (pour, contre, comments, text) = replies(api, path).await?;
                    (pour == expected.0
                        && contre == expected.1
                        && comments == expected.2
                        && text.contains(expected.3))
                    .then_some(())
                })
                .await;
            }
        }
    };

    // Written without a hashtag: a comment.
    let reply = peer
        .must(
            "reply",
            json!({"inReplyTo": question, "content": "Enfin une piste sûre", "tags": []}),
        )
        .await
        .unwrap();
    on_both((0, 0, 1, "Enfin une piste sûre")).await;

    // Edited to add #pour: an argument for, counted, and no longer a comment.
    peer.must(
        "update",
        json!({"id": reply["object"], "content": "Enfin une piste sûre #pour", "tags": ["pour"]}),
    )
    .await
    .unwrap();
    on_both((1, 0, 0, "Enfin une piste sûre")).await;
    let d = orga.get(&on_origin).await;
    assert_eq!(
        d["arguments_for"][0]["author"]["display_name"], "Alice Martin",
        "{d}"
    );

    // #contre instead: against.
    peer.must(
        "update",
        json!({"id": reply["object"], "content": "Trop étroite #contre", "tags": ["contre"]}),
    )
    .await
    .unwrap();
    on_both((0, 1, 0, "Trop étroite")).await;

    // The hashtag taken off: a comment again, counted nowhere.
    peer.must(
        "update",
        json!({"id": reply["object"], "content": "Je ne sais plus", "tags": []}),
    )
    .await
    .unwrap();
    on_both((0, 0, 1, "Je ne sais plus")).await;

    // And it can still be withdrawn by its author.
    peer.must("delete", json!({"id": reply["object"]}))
        .await
        .unwrap();
    on_both((0, 0, 0, "")).await;

    // Another comment, hidden on Rennes by its moderator, then edited to add #pour: an
    // argument on Brest, and on Rennes an argument still hidden (moderators see it so).
    let second = peer
        .must(
            "reply",
            json!({"inReplyTo": question, "content": "Et les écoles ?", "tags": []}),
        )
        .await
        .unwrap();
    on_both((0, 0, 1, "Et les écoles ?")).await;
    let comment_id = modo.get(&on_mirror).await["comments"][0]["id"].clone();
    modo.send(
        reqwest::Method::PUT,
        &format!("/api/v1/comments/{comment_id}/hidden"),
        Some(json!({"hidden": true})),
    )
    .await;
    peer.must(
        "update",
        json!({"id": second["object"], "content": "Et les écoles ? #pour", "tags": ["pour"]}),
    )
    .await
    .unwrap();
    eventually("the argument on Brest", || async {
        let (pour, _, comments, _) = replies(&orga, &on_origin).await?;
        (pour == 1 && comments == 0).then_some(())
    })
    .await;
    let arguments = format!("{on_mirror}/arguments");
    let hidden = eventually("the hidden argument on Rennes", || async {
        let list = modo.get(&arguments).await;
        list.as_array()?.first().cloned()
    })
    .await;
    assert_eq!(hidden["hidden"], true, "{hidden}");
    assert_eq!(hidden["stance"], "for", "{hidden}");
    let seen = yann.get(&on_mirror).await;
    assert_eq!(seen["arguments_for"], json!([]), "{seen}");
    assert_eq!(seen["comments"], json!([]), "{seen}");
    assert_eq!(seen["counts"]["arguments_for"], 0, "{seen}");
}
