//! A mirror (a node following a consultation hosted elsewhere) lied to: by the author's server
//! about tallies, state and answer; by the consultation's Group about what someone wrote; by
//! either about replies to proposals it does not know.
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::hostile::{Hostile, deliver_json};
use super::{PUBLIC, announce, argument, create, mirror_of, page, proposals};

#[tokio::test]
async fn a_mirror_takes_tallies_state_and_answer_from_the_consultation_s_server_only() {
    let origin = Hostile::start().await;
    let author_server = Hostile::start().await;
    let group = origin.group("quartier");
    let alice = author_server.person("alice");
    let page_id = format!("{}/proposals/1", author_server.base);
    let honest = page(
        &page_id,
        &alice,
        &group,
        "Des bancs",
        "<p>Sur la place.</p>",
    );
    // What the author's server serves: its own verdict and 5 000 votes.
    let mut boasting = honest.clone();
    boasting["proposalState"] = json!("accepted");
    boasting["officialAnswer"] = json!("Adoptée par le conseil");
    boasting["votes"] = json!({"agree": 5000, "mixed": 0, "disagree": 0});
    author_server.serve("/proposals/1", boasting.clone());
    let (mirror, slug) = mirror_of(&group).await;
    let inbox = format!("{}/inbox", mirror.url);

    // The Group relays the proposal; the mirror fetches it from the author's server.
    let relayed = announce(&group, "1", create(&alice, "1", honest.clone()));
    let answer = deliver_json(&mirror, &origin.signer(&group), &inbox, &relayed).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    assert!(author_server.was_asked_for("/proposals/1"));
    let shown = |list: Vec<Value>| {
        assert_eq!(list.len(), 1, "{list:?}");
        let p = &list[0];
        (
            p["title"].clone(),
            p["state"].clone(),
            p["official_answer"].clone(),
            p["votes"].clone(),
        )
    };
    let nothing_decided = (
        json!("Des bancs"),
        json!("submitted"),
        Value::Null,
        json!({"agree": 0, "mixed": 0, "disagree": 0}),
    );
    assert_eq!(shown(proposals(&mirror, &slug).await), nothing_decided);

    // The author's server tells the mirror directly: refused, nothing changes.
    let mut update = create(&alice, "u", boasting.clone());
    update["type"] = json!("Update");
    let answer = deliver_json(&mirror, &author_server.signer(&alice), &inbox, &update).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert_eq!(shown(proposals(&mirror, &slug).await), nothing_decided);

    // The consultation's own Group says what was decided: believed.
    let mut decided = honest;
    decided["proposalState"] = json!("accepted");
    decided["officialAnswer"] = json!("Retenue pour 2027");
    decided["votes"] = json!({"agree": 3, "mixed": 1, "disagree": 2});
    let update = json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "type": "Update",
        "id": format!("{group}/activities/update/1"),
        "actor": group,
        "object": decided,
        "to": [PUBLIC],
    });
    let answer = deliver_json(&mirror, &origin.signer(&group), &inbox, &update).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    assert_eq!(
        shown(proposals(&mirror, &slug).await),
        (
            json!("Des bancs"),
            json!("accepted"),
            json!("Retenue pour 2027"),
            json!({"agree": 3, "mixed": 1, "disagree": 2})
        )
    );
}

#[tokio::test]
async fn a_group_s_forged_copy_of_someone_else_s_object_is_fetched_again_from_its_server() {
    let forger = Hostile::start().await;
    let author_server = Hostile::start().await;
    let group = forger.group("quartier");
    let alice = author_server.person("alice");
    let real = |path: &str| format!("{}{path}", author_server.base);
    author_server.serve(
        "/proposals/1",
        page(
            &real("/proposals/1"),
            &alice,
            &group,
            "Le vrai titre",
            "<p>Ce que j'ai écrit.</p>",
        ),
    );
    author_server.serve(
        "/arguments/1",
        argument(
            &real("/arguments/1"),
            &alice,
            &real("/proposals/1"),
            &group,
            "<p>Mon vrai argument.</p>",
        ),
    );
    let (mirror, slug) = mirror_of(&group).await;
    let inbox = format!("{}/inbox", mirror.url);
    let signer = forger.signer(&group);
    let forged_page = |path: &str| {
        page(
            &real(path),
            &alice,
            &group,
            "Titre falsifié",
            "<p>Ce que je n'ai jamais écrit.</p>",
        )
    };

    // The forged copy of a proposal that exists: the mirror stores what its server serves.
    let relayed = announce(
        &group,
        "1",
        create(&alice, "1", forged_page("/proposals/1")),
    );
    let answer = deliver_json(&mirror, &signer, &inbox, &relayed).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    assert!(author_server.was_asked_for("/proposals/1"));
    let list = proposals(&mirror, &slug).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["title"], "Le vrai titre");
    assert_eq!(list[0]["body"], "Ce que j'ai écrit.");
    let proposal = list[0]["id"].as_i64().unwrap();

    // The same for an argument.
    let forged_argument = argument(
        &real("/arguments/1"),
        &alice,
        &real("/proposals/1"),
        &group,
        "<p>Un argument que je n'ai pas écrit.</p>",
    );
    let relayed = announce(&group, "2", create(&alice, "2", forged_argument));
    let answer = deliver_json(&mirror, &signer, &inbox, &relayed).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    let arguments = super::arguments(&mirror, proposal).await;
    assert_eq!(arguments.len(), 1);
    assert_eq!(arguments[0]["body"], "Mon vrai argument.");

    // A copy claiming this debate, of a proposal its server places in another consultation
    // (which the mirror follows too): refused, and this debate does not get it.
    let neighbour = forger.group("voisin");
    let token = mirror.token("lecteur").await;
    let (status, follow) = mirror
        .api(
            reqwest::Method::POST,
            "/api/v1/follows",
            Some(&token),
            Some(json!({"target": neighbour})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{follow}");
    author_server.serve(
        "/proposals/4",
        page(
            &real("/proposals/4"),
            &alice,
            &neighbour,
            "Dans l'autre débat",
            "<p>Écrit pour le voisin.</p>",
        ),
    );
    let relayed = announce(
        &group,
        "5",
        create(&alice, "5", forged_page("/proposals/4")),
    );
    let answer = deliver_json(&mirror, &signer, &inbox, &relayed).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(author_server.was_asked_for("/proposals/4"));
    assert_eq!(proposals(&mirror, &slug).await.len(), 1);

    // A forged object its server does not have (404), embedded in a Create or bare: refused.
    for (n, object) in [
        ("3", create(&alice, "3", forged_page("/proposals/2"))),
        ("4", forged_page("/proposals/3")),
    ] {
        let answer = deliver_json(&mirror, &signer, &inbox, &announce(&group, n, object)).await;
        // A 4xx, so that the Group does not send it again for days.
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.body);
        assert!(answer.body.contains("answered 404"), "{}", answer.body);
    }
    assert!(author_server.was_asked_for("/proposals/2"));
    assert_eq!(proposals(&mirror, &slug).await.len(), 1);
}

#[tokio::test]
async fn a_group_cannot_make_a_mirror_fetch_the_unknown_parent_of_a_reply() {
    let hostile = Hostile::start().await;
    let group = hostile.group("quartier");
    let gaston = hostile.person("gaston");
    let unknown = format!("{}/proposals/7", hostile.base);
    let (mirror, slug) = mirror_of(&group).await;
    let inbox = format!("{}/inbox", mirror.url);
    let reply = argument(
        &format!("{}/notes/1", hostile.base),
        &gaston,
        &unknown,
        &group,
        "<p>Une réponse.</p>",
    );
    for (n, object) in [
        ("1", create(&gaston, "1", reply.clone())),
        ("2", reply.clone()),
    ] {
        let answer = deliver_json(
            &mirror,
            &hostile.signer(&group),
            &inbox,
            &announce(&group, n, object),
        )
        .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    }
    assert!(
        !hostile.was_asked_for("/proposals/7"),
        "{:?}",
        hostile.requests()
    );
    assert!(!hostile.was_asked_for("/notes/1"));
    assert_eq!(proposals(&mirror, &slug).await, Vec::<Value>::new());
}
