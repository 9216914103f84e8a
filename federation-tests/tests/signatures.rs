//! The inbox trusts nothing that is not signed by the actor it claims to come from, and
//! receiving the same activity twice has no second effect. Two real apps on loopback: one
//! hosts a consultation, the other's account follows it with hand-made signed requests.
// The in-process test app of the main crate: one real node on a random port, as its tests use.
#[path = "../../tests/common/mod.rs"]
mod common;

use common::{TestApp, send_signed};
use palabre::domain::Role;
use palabre::federation::actors::{DbPerson, InstanceActor};
use palabre::federation::keys;
use palabre::services::accounts;
use palabre::store::{delivery, follow, received_activity};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

#[tokio::test]
async fn only_the_actor_s_own_signature_is_accepted_and_duplicates_change_nothing() {
    let origin = TestApp::spawn_federating().await;
    let remote = TestApp::spawn_federating().await;
    let admin = origin.user_token("orga", Role::Admin).await;
    origin.consultation(&admin, "budget", 30).await;
    remote.create_user("claire", Role::Member, None).await;
    let claire = accounts::find_by_username(&remote.state.db, "claire")
        .await
        .unwrap();
    let claire = keys::ensure_account_keys(&remote.state, claire)
        .await
        .unwrap();
    let claire = DbPerson::new(&remote.state, claire).unwrap();
    let group = format!("{}/consultations/budget", origin.url);
    let inbox = format!("{}/inbox", origin.url);
    let follow_activity = |n: u32| {
        json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "type": "Follow",
            "id": format!("{}/activities/follow/test-{n}", remote.url),
            "actor": claire.ap_id,
            "object": group,
        })
    };
    let follows = || async {
        follow::Entity::find()
            .count(&origin.state.db)
            .await
            .unwrap()
    };
    let accepts = || async {
        delivery::Entity::find()
            .filter(delivery::Column::ActivityId.contains("/activities/accept/"))
            .count(&origin.state.db)
            .await
            .unwrap()
    };

    // Signed by the remote node's instance actor, but claiming to be claire: refused.
    let instance: InstanceActor = keys::instance_actor(&remote.state).await.unwrap();
    let status = send_signed(&remote, &instance, &inbox, &follow_activity(1), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Signed by claire, but the body was changed after signing: refused.
    let mut tampered = follow_activity(2);
    tampered["id"] = json!(format!("{}/activities/follow/tampered", remote.url));
    let status = send_signed(
        &remote,
        &claire,
        &inbox,
        &follow_activity(2),
        Some(&tampered),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(follows().await, 0, "nothing stored from refused requests");
    assert_eq!(accepts().await, 0);

    // Claire's own signature: accepted, once, however often it is delivered.
    for _ in 0..3 {
        let status = send_signed(&remote, &claire, &inbox, &follow_activity(3), None).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    assert_eq!(follows().await, 1);
    assert_eq!(accepts().await, 1, "one Accept, not one per delivery");
    assert_eq!(
        received_activity::Entity::find()
            .count(&origin.state.db)
            .await
            .unwrap(),
        1
    );

    // An activity for an actor on another server than its id claims is refused too.
    let mut foreign = follow_activity(4);
    foreign["id"] = json!("http://localhost:1/activities/follow/elsewhere");
    let status = send_signed(&remote, &claire, &inbox, &foreign, None).await;
    assert!(status.is_client_error(), "{status}");
    assert_eq!(follows().await, 1);
}

#[tokio::test]
async fn a_contribution_arriving_after_closing_is_rejected_by_the_origin() {
    let origin = TestApp::spawn_federating().await;
    let remote = TestApp::spawn_federating().await;
    let admin = origin.user_token("orga", Role::Admin).await;
    origin.consultation(&admin, "budget", 30).await;
    let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let (status, _) = origin
        .api(
            reqwest::Method::PATCH,
            "/api/v1/consultations/budget",
            Some(&admin),
            Some(json!({"closes_at": past})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    remote.create_user("claire", Role::Member, None).await;
    let claire = accounts::find_by_username(&remote.state.db, "claire")
        .await
        .unwrap();
    let claire = keys::ensure_account_keys(&remote.state, claire)
        .await
        .unwrap();
    let claire = DbPerson::new(&remote.state, claire).unwrap();
    let group = format!("{}/consultations/budget", origin.url);
    let page = format!("{}/proposals/4242", remote.url);
    let create = json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "type": "Create",
        "id": format!("{}/activities/create/late", remote.url),
        "actor": claire.ap_id,
        "object": {
            "type": "Page",
            "id": page,
            "attributedTo": claire.ap_id,
            "name": "Trop tard",
            "content": "<p>Après la clôture</p>",
            "audience": group,
            "to": [group, "https://www.w3.org/ns/activitystreams#Public"],
        },
    });
    let status = send_signed(&remote, &claire, &format!("{group}/inbox"), &create, None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, proposals) = origin
        .api(
            reqwest::Method::GET,
            "/api/v1/consultations/budget/proposals",
            None,
            None,
        )
        .await;
    assert_eq!(
        proposals["items"],
        json!([]),
        "nothing from after the closing is stored"
    );
    let rejects = delivery::Entity::find()
        .filter(delivery::Column::ActivityId.contains("/activities/reject/"))
        .all(&origin.state.db)
        .await
        .unwrap();
    assert_eq!(rejects.len(), 1, "the origin answers Reject");
    let payload: Value = serde_json::from_str(&rejects[0].payload).unwrap();
    assert_eq!(payload["object"]["object"], page);
    assert!(payload["summary"].as_str().unwrap().contains("closed"));
    assert_eq!(rejects[0].inbox, format!("{}/inbox", remote.url));
}

#[tokio::test]
async fn a_remote_author_cannot_give_itself_the_organisers_answer_nor_list_a_group() {
    let origin = TestApp::spawn_federating().await;
    let remote = TestApp::spawn_federating().await;
    let admin = origin.user_token("orga", Role::Admin).await;
    origin.consultation(&admin, "budget", 30).await;
    let remote_admin = remote.user_token("maire", Role::Admin).await;
    remote.consultation(&remote_admin, "voisins", 30).await;
    remote.create_user("claire", Role::Member, None).await;
    let claire = accounts::find_by_username(&remote.state.db, "claire")
        .await
        .unwrap();
    let claire = keys::ensure_account_keys(&remote.state, claire)
        .await
        .unwrap();
    let claire = DbPerson::new(&remote.state, claire).unwrap();
    let group = format!("{}/consultations/budget", origin.url);
    let inbox = format!("{group}/inbox");
    let page = |extra: Value| {
        let mut page = json!({
            "type": "Page",
            "id": format!("{}/proposals/77", remote.url),
            "attributedTo": claire.ap_id,
            "name": "Ma proposition",
            "content": "<p>Texte</p>",
            "audience": group,
            "to": ["https://www.w3.org/ns/activitystreams#Public", group],
        });
        if let (Value::Object(page), Value::Object(extra)) = (&mut page, extra) {
            page.extend(extra);
        }
        page
    };
    // Posting with a claimed verdict: stored, but as submitted, with no answer and no votes.
    let create = json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "type": "Create", "id": format!("{}/activities/create/1", remote.url), "actor": claire.ap_id,
        "object": page(json!({"proposalState": "accepted", "officialAnswer": "Adoptée", "votes": {"agree": 5000, "mixed": 0, "disagree": 0}})),
    });
    assert_eq!(
        send_signed(&remote, &claire, &inbox, &create, None).await,
        StatusCode::ACCEPTED
    );
    // Then an Update naming another consultation, to pass for a mirror: refused.
    let update = json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "type": "Update", "id": format!("{}/activities/update/1", remote.url), "actor": claire.ap_id,
        "object": page(json!({"audience": format!("{}/consultations/voisins", remote.url),
                              "proposalState": "accepted", "officialAnswer": "Adoptée"})),
    });
    assert!(
        send_signed(&remote, &claire, &inbox, &update, None)
            .await
            .is_client_error()
    );
    let (_, list) = origin
        .api(
            reqwest::Method::GET,
            "/api/v1/consultations/budget/proposals",
            None,
            None,
        )
        .await;
    let stored = &list["items"][0];
    assert_eq!(stored["title"], "Ma proposition");
    assert_eq!(stored["state"], "submitted");
    assert_eq!(stored["official_answer"], Value::Null);
    assert_eq!(
        stored["votes"],
        json!({"agree": 0, "mixed": 0, "disagree": 0})
    );

    // A Group fetched while checking a request (here a badly signed one) is not a
    // consultation of this node: it is neither listed nor open to posts.
    let instance: InstanceActor = keys::instance_actor(&remote.state).await.unwrap();
    let forged = json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "type": "Follow", "id": format!("{}/activities/follow/g", remote.url),
        "actor": format!("{}/consultations/voisins", remote.url), "object": group,
    });
    assert_eq!(
        send_signed(
            &remote,
            &instance,
            &format!("{}/inbox", origin.url),
            &forged,
            None
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    let (_, consultations) = origin
        .api(reqwest::Method::GET, "/api/v1/consultations", None, None)
        .await;
    let slugs: Vec<&str> = consultations
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["budget"]);
}

/// A draft-cavage signature made by hand, to send what no well-behaved server sends: `covered`
/// names the signed headers, `date` the `Date` header sent and signed.
fn hand_signed(
    inbox: &str,
    key_id: &str,
    private_pem: &str,
    covered: &[&str],
    date: &str,
    body: &[u8],
) -> reqwest::RequestBuilder {
    use base64::Engine;
    use rsa::pkcs8::DecodePrivateKey;
    use sha2::Digest;
    let url = url::Url::parse(inbox).unwrap();
    let host = palabre::federation::host_of(&url);
    let digest = format!(
        "SHA-256={}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body))
    );
    let line = |name: &str| match name {
        "(request-target)" => format!("(request-target): post {}", url.path()),
        "host" => format!("host: {host}"),
        "date" => format!("date: {date}"),
        "digest" => format!("digest: {digest}"),
        other => panic!("unknown header {other}"),
    };
    let signing_string = covered
        .iter()
        .map(|h| line(h))
        .collect::<Vec<_>>()
        .join("\n");
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(private_pem).unwrap();
    let signature = key
        .sign(
            rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            &sha2::Sha256::digest(signing_string.as_bytes()),
        )
        .unwrap();
    let header = format!(
        "keyId=\"{key_id}\",algorithm=\"rsa-sha256\",headers=\"{}\",signature=\"{}\"",
        covered.join(" "),
        base64::engine::general_purpose::STANDARD.encode(signature)
    );
    reqwest::Client::new()
        .post(inbox)
        .header("content-type", "application/activity+json")
        .header("date", date)
        .header("digest", digest)
        .header("signature", header)
        .body(body.to_vec())
}

#[tokio::test]
async fn stale_dates_and_signatures_that_leave_out_a_header_are_refused() {
    let origin = TestApp::spawn_federating().await;
    let remote = TestApp::spawn_federating().await;
    let admin = origin.user_token("orga", Role::Admin).await;
    origin.consultation(&admin, "budget", 30).await;
    remote.create_user("claire", Role::Member, None).await;
    let claire = accounts::find_by_username(&remote.state.db, "claire")
        .await
        .unwrap();
    let claire = keys::ensure_account_keys(&remote.state, claire)
        .await
        .unwrap();
    let pem = claire.private_key.clone().unwrap();
    let claire = DbPerson::new(&remote.state, claire).unwrap();
    let key_id = format!("{}#main-key", claire.ap_id);
    let inbox = format!("{}/inbox", origin.url);
    let follow = |n: u32| {
        serde_json::to_vec(&json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "type": "Follow",
            "id": format!("{}/activities/follow/hand-{n}", remote.url),
            "actor": claire.ap_id,
            "object": format!("{}/consultations/budget", origin.url),
        }))
        .unwrap()
    };
    let date_at = |offset: chrono::Duration| {
        (chrono::Utc::now() + offset)
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string()
    };
    let now = date_at(chrono::Duration::zero());
    let all = ["(request-target)", "host", "date", "digest"];
    let refused: [(&str, Vec<&str>, String); 6] = [
        (
            "a Date two hours old (a replay)",
            all.to_vec(),
            date_at(chrono::Duration::hours(-2)),
        ),
        (
            "a Date ten minutes ahead",
            all.to_vec(),
            date_at(chrono::Duration::minutes(10)),
        ),
        (
            "no (request-target)",
            vec!["host", "date", "digest"],
            now.clone(),
        ),
        (
            "no host",
            vec!["(request-target)", "date", "digest"],
            now.clone(),
        ),
        (
            "no date",
            vec!["(request-target)", "host", "digest"],
            now.clone(),
        ),
        (
            "no digest",
            vec!["(request-target)", "host", "date"],
            now.clone(),
        ),
    ];
    for (n, (what, covered, date)) in refused.iter().enumerate() {
        let response = hand_signed(&inbox, &key_id, &pem, covered, date, &follow(n as u32))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
    }
    assert_eq!(
        follow::Entity::find()
            .count(&origin.state.db)
            .await
            .unwrap(),
        0,
        "nothing stored from refused requests"
    );
    // The same hand-made signature covering everything, with a fresh Date: accepted.
    let response = hand_signed(&inbox, &key_id, &pem, &all, &now, &follow(99))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(
        follow::Entity::find()
            .count(&origin.state.db)
            .await
            .unwrap(),
        1
    );
}

/// One proposal arriving several times at once (its author's `Create` retried, an `Announce`
/// and a backfill): every delivery is accepted and the proposal is stored once, never a 500
/// from the unique index that makes the sender retry for hours.
#[tokio::test]
async fn one_object_delivered_many_times_at_once_is_stored_once() {
    let origin = TestApp::spawn_federating().await;
    let remote = TestApp::spawn_federating().await;
    let admin = origin.user_token("orga", Role::Admin).await;
    origin.consultation(&admin, "budget", 30).await;
    remote.create_user("claire", Role::Member, None).await;
    let claire = accounts::find_by_username(&remote.state.db, "claire")
        .await
        .unwrap();
    let claire = keys::ensure_account_keys(&remote.state, claire)
        .await
        .unwrap();
    let claire = DbPerson::new(&remote.state, claire).unwrap();
    let group = format!("{}/consultations/budget", origin.url);
    let inbox = format!("{group}/inbox");
    let page = format!("{}/proposals/77", remote.url);
    let creates: Vec<Value> = (0..8)
        .map(|n| {
            json!({
                "@context": "https://www.w3.org/ns/activitystreams",
                "type": "Create",
                "id": format!("{}/activities/create/race-{n}", remote.url),
                "actor": claire.ap_id,
                "object": {
                    "type": "Page",
                    "id": page,
                    "attributedTo": claire.ap_id,
                    "name": "Des bancs place du marché",
                    "content": "<p>Pour s'asseoir à l'ombre.</p>",
                    "audience": group,
                    "to": [group, "https://www.w3.org/ns/activitystreams#Public"],
                },
            })
        })
        .collect();
    let statuses = futures_util::future::join_all(
        creates
            .iter()
            .map(|create| send_signed(&remote, &claire, &inbox, create, None)),
    )
    .await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::ACCEPTED),
        "every delivery accepted: {statuses:?}"
    );
    let (_, proposals) = origin
        .api(
            reqwest::Method::GET,
            "/api/v1/consultations/budget/proposals",
            None,
            None,
        )
        .await;
    let items = proposals["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "stored once: {items:?}");
    assert_eq!(items[0]["title"], "Des bancs place du marché");
}

/// One account resending the same `Update` again and again: applied once, relayed to the
/// consultation's followers once; a real edit is relayed again.
#[tokio::test]
async fn an_update_resent_unchanged_is_not_relayed_to_followers_again() {
    let origin = TestApp::spawn_federating().await;
    let remote = TestApp::spawn_federating().await;
    let admin = origin.user_token("orga", Role::Admin).await;
    origin.consultation(&admin, "budget", 30).await;
    remote.create_user("claire", Role::Member, None).await;
    let claire = accounts::find_by_username(&remote.state.db, "claire")
        .await
        .unwrap();
    let claire = keys::ensure_account_keys(&remote.state, claire)
        .await
        .unwrap();
    let claire = DbPerson::new(&remote.state, claire).unwrap();
    let group = format!("{}/consultations/budget", origin.url);
    let inbox = format!("{group}/inbox");
    // Claire follows the consultation, so that its edits have somewhere to go.
    let follow = json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "type": "Follow",
        "id": format!("{}/activities/follow/1", remote.url),
        "actor": claire.ap_id,
        "object": group,
    });
    let status = send_signed(&remote, &claire, &inbox, &follow, None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let page = |content: &str| {
        json!({
            "type": "Page",
            "id": format!("{}/proposals/9", remote.url),
            "attributedTo": claire.ap_id,
            "name": "Un marché le dimanche",
            "content": content,
            "audience": group,
            "to": [group, "https://www.w3.org/ns/activitystreams#Public"],
        })
    };
    let activity = |kind: &str, n: u32, content: &str| {
        json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "type": kind,
            "id": format!("{}/activities/{}/{n}", remote.url, kind.to_lowercase()),
            "actor": claire.ap_id,
            "object": page(content),
        })
    };
    let status = send_signed(
        &remote,
        &claire,
        &inbox,
        &activity("Create", 1, "<p>Place Jaurès.</p>"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let relayed_updates = || async {
        delivery::Entity::find()
            .filter(delivery::Column::ActivityId.contains("/activities/update/"))
            .count(&origin.state.db)
            .await
            .unwrap()
    };
    assert_eq!(relayed_updates().await, 0);

    let edit = activity("Update", 1, "<p>Place Jaurès, de 8 h à 13 h.</p>");
    assert_eq!(
        send_signed(&remote, &claire, &inbox, &edit, None).await,
        StatusCode::ACCEPTED
    );
    let after_edit = relayed_updates().await;
    assert!(after_edit > 0, "a real edit is relayed");
    for n in 2..6 {
        let resent = activity("Update", n, "<p>Place Jaurès, de 8 h à 13 h.</p>");
        assert_eq!(
            send_signed(&remote, &claire, &inbox, &resent, None).await,
            StatusCode::ACCEPTED
        );
    }
    assert_eq!(
        relayed_updates().await,
        after_edit,
        "resent unchanged: not relayed again"
    );

    let second_edit = activity("Update", 7, "<p>Place Jaurès, le dimanche matin.</p>");
    assert_eq!(
        send_signed(&remote, &claire, &inbox, &second_edit, None).await,
        StatusCode::ACCEPTED
    );
    assert!(
        relayed_updates().await > after_edit,
        "the next real edit is relayed"
    );
    let (_, proposals) = origin
        .api(
            reqwest::Method::GET,
            "/api/v1/consultations/budget/proposals",
            None,
            None,
        )
        .await;
    assert!(
        proposals["items"][0]["body"]
            .as_str()
            .unwrap()
            .contains("dimanche matin")
    );
}
