//! What a consultation's origin does with the contributions other nodes send it, seen on both
//! sides: refusing one that comes after closing (the other node's mirror does not know yet: the
//! origin's `Update` is still on its way, or the clocks differ), and announcing one sent again.
//! Two real apps on loopback.
mod common;

use common::{TestApp, send_signed};
use palabre::domain::Role;
use palabre::federation::actors::DbPerson;
use palabre::services::accounts;
use palabre::store::{account, consultation, delivery, received_activity};
use reqwest::Method;
use reqwest::StatusCode;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};
use serde_json::{Value, json};

/// A follower of `username` on a server that is not running: what reaches it stays in the
/// delivery queue, where the test reads it.
async fn follower_elsewhere(app: &TestApp, username: &str) -> String {
    let local = account::Entity::find()
        .filter(account::Column::Username.eq(username))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let inbox = "https://masto.example/users/mia/inbox".to_owned();
    let mia = account::ActiveModel {
        username: Set("mia@masto.example".into()),
        display_name: Set("Mia".into()),
        role: Set("member".into()),
        created_at: Set(chrono::Utc::now()),
        ap_id: Set(Some("https://masto.example/users/mia".into())),
        inbox: Set(Some(inbox.clone())),
        failed_logins: Set(0),
        ..Default::default()
    }
    .insert(&app.state.db)
    .await
    .unwrap();
    palabre::store::account_follow::ActiveModel {
        account_id: Set(local.id),
        follower_id: Set(mia.id),
        activity_id: Set("https://masto.example/users/mia#follows/1".into()),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .insert(&app.state.db)
    .await
    .unwrap();
    inbox
}

/// The activities queued for `inbox`, oldest first.
async fn queued_for(app: &TestApp, inbox: &str) -> Vec<Value> {
    delivery::Entity::find()
        .filter(delivery::Column::Inbox.eq(inbox))
        .order_by_asc(delivery::Column::Id)
        .all(&app.state.db)
        .await
        .unwrap()
        .iter()
        .map(|row| serde_json::from_str(&row.payload).unwrap())
        .collect()
}

#[tokio::test]
async fn a_late_contribution_is_withdrawn_for_the_author_s_followers_and_each_late_author_counts_once()
 {
    let origin = TestApp::spawn_federating().await;
    let commune = TestApp::spawn_federating().await;
    let orga = origin.user_token("orga", Role::Admin).await;
    origin.consultation(&orga, "budget", 30).await;
    let claire = commune.user_token("claire", Role::Member).await;
    let denis = commune.user_token("denis", Role::Member).await;
    let mia_inbox = follower_elsewhere(&commune, "claire").await;
    let handle = format!("budget@{}", origin.url.trim_start_matches("http://"));
    let (status, body) = commune
        .api(
            Method::POST,
            "/api/v1/follows",
            Some(&claire),
            Some(json!({"target": handle})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let proposals = format!("/api/v1/consultations/{handle}/proposals");
    let propose = |token: String, title: &'static str| {
        let proposals = proposals.clone();
        let commune = &commune;
        async move {
            commune
                .api(
                    Method::POST,
                    &proposals,
                    Some(&token),
                    Some(json!({"title": title, "body": "Proposée depuis la commune."})),
                )
                .await
        }
    };
    let (status, body) = propose(claire.clone(), "À temps").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["origin_state"], "accepted", "{body}");

    // The consultation closes at the origin; the mirror does not know.
    let hosted = consultation::Entity::find()
        .filter(consultation::Column::Slug.eq("budget"))
        .one(&origin.state.db)
        .await
        .unwrap()
        .unwrap();
    let mut closing = hosted.into_active_model();
    closing.closes_at = Set(chrono::Utc::now() - chrono::Duration::minutes(1));
    closing.update(&origin.state.db).await.unwrap();

    let (status, body) = propose(claire.clone(), "Trop tard").await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "refused by the origin: {body}"
    );
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("refused by"), "{body}");
    let (_, listed) = commune.api(Method::GET, &proposals, None, None).await;
    let titles: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    assert_eq!(titles, vec!["À temps"], "withdrawn on the commune too");

    // claire's follower on Mastodon saw both Creates; the refused one is deleted for it.
    let late_id = {
        let queued = queued_for(&commune, &mia_inbox).await;
        let created: Vec<&Value> = queued.iter().filter(|a| a["type"] == "Create").collect();
        assert_eq!(created.len(), 2, "{queued:#?}");
        created[1]["object"]["id"].as_str().unwrap().to_owned()
    };
    let queued = queued_for(&commune, &mia_inbox).await;
    let deleted: Vec<&Value> = queued.iter().filter(|a| a["type"] == "Delete").collect();
    assert_eq!(deleted.len(), 1, "{queued:#?}");
    assert_eq!(deleted[0]["object"]["id"], late_id.as_str());

    // Three more late proposals, two of them claire's: the page counts people, not replies.
    for (token, title) in [
        (claire.clone(), "Encore trop tard"),
        (claire.clone(), "Toujours trop tard"),
        (denis.clone(), "Denis, trop tard"),
    ] {
        let (status, body) = propose(token, title).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
    }
    let (status, shown) = origin
        .api(Method::GET, "/api/v1/consultations/budget", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["late_refused"], 2, "claire and denis: {shown}");
    let page = origin
        .client
        .get(format!("{}/consultations/budget", origin.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("2 personnes ont répondu"), "{page}");
}

/// A node killed between storing a contribution and queueing its announcement has it without
/// having told the consultation's followers. The sender got no answer and sends the `Create`
/// again: the origin then announces it, once.
#[tokio::test]
async fn a_create_sent_again_is_announced_if_the_first_was_stored_but_never_announced() {
    let origin = TestApp::spawn_federating().await;
    let commune = TestApp::spawn_federating().await;
    let orga = origin.user_token("orga", Role::Admin).await;
    origin.consultation(&orga, "budget", 30).await;
    let claire = commune.user_token("claire", Role::Member).await;
    let handle = format!("budget@{}", origin.url.trim_start_matches("http://"));
    let (status, body) = commune
        .api(
            Method::POST,
            "/api/v1/follows",
            Some(&claire),
            Some(json!({"target": handle})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = commune
        .api(
            Method::POST,
            &format!("/api/v1/consultations/{handle}/proposals"),
            Some(&claire),
            Some(json!({"title": "Rejouée", "body": "Envoyée deux fois."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["origin_state"], "accepted", "{body}");
    let page = body["url"].as_str().unwrap().to_owned();
    let naming = |app: &TestApp| {
        let db = app.state.db.clone();
        let page = page.clone();
        async move {
            delivery::Entity::find()
                .filter(delivery::Column::Payload.contains(format!("\"{page}\"")))
                .order_by_asc(delivery::Column::Id)
                .all(&db)
                .await
                .unwrap()
        }
    };
    let create = naming(&commune)
        .await
        .into_iter()
        .find(|row| row.activity_id.contains("/activities/create/"))
        .expect("claire's Create");
    let create: Value = serde_json::from_str(&create.payload).unwrap();
    assert!(
        naming(&origin)
            .await
            .iter()
            .any(|r| r.activity_id.contains("/announce/")),
        "announced the first time"
    );

    // As if the origin had stopped after storing it: no announcement, Create not recorded.
    delivery::Entity::delete_many()
        .filter(delivery::Column::Payload.contains(format!("\"{page}\"")))
        .exec(&origin.state.db)
        .await
        .unwrap();
    received_activity::Entity::delete_by_id(create["id"].as_str().unwrap())
        .exec(&origin.state.db)
        .await
        .unwrap();
    let author = accounts::find_by_username(&commune.state.db, "claire")
        .await
        .unwrap();
    let author = DbPerson::new(&commune.state, author).unwrap();
    let inbox = format!("{}/consultations/budget/inbox", origin.url);
    for _ in 0..2 {
        let status = send_signed(&commune, &author, &inbox, &create, None).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let announced: Vec<_> = naming(&origin)
        .await
        .into_iter()
        .filter(|r| r.activity_id.contains("/announce/"))
        .collect();
    assert_eq!(announced.len(), 1, "announced again, once: {announced:?}");
    let (_, listed) = origin
        .api(
            Method::GET,
            "/api/v1/consultations/budget/proposals",
            None,
            None,
        )
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
}
