//! Deliveries go only to public addresses, as fetches do: a remote inbox whose name resolves to
//! this machine is never sent to unless `[federation] allow_local` (tests only), and the queue
//! records why, never that it was delivered.
// The in-process test app of the main crate: one real node on a random port, as its tests use.
#[path = "../../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::TestApp;
use palabre::domain::Role;
use palabre::store::{account, account_follow, delivery};
use reqwest::{Method, StatusCode};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;

#[tokio::test]
async fn a_follower_inbox_on_a_loopback_name_is_never_delivered_to() {
    // A node as deployed: `allow_local` off.
    let app = TestApp::spawn().await;
    let admin = app.user_token("orga", Role::Admin).await;
    app.consultation(&admin, "budget", 30).await;
    let claire = app.user_token("claire", Role::Member).await;
    // Someone "elsewhere" follows claire, with an inbox on a name that resolves to loopback
    // (https and no explicit port pass the library's own URL checks, which exempt `localhost`).
    let inbox = "https://localhost/users/eve/inbox".to_owned();
    let follower = account::ActiveModel {
        username: Set("eve@localhost".into()),
        display_name: Set("Eve".into()),
        role: Set("member".into()),
        created_at: Set(chrono::Utc::now()),
        ap_id: Set(Some("https://localhost/users/eve".into())),
        inbox: Set(Some(inbox.clone())),
        failed_logins: Set(0),
        ..Default::default()
    }
    .insert(&app.state.db)
    .await
    .unwrap();
    let claire_id = account::Entity::find()
        .filter(account::Column::Username.eq("claire"))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
        .id;
    account_follow::ActiveModel {
        account_id: Set(claire_id),
        follower_id: Set(follower.id),
        activity_id: Set("https://localhost/users/eve#follows/1".into()),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .insert(&app.state.db)
    .await
    .unwrap();

    let (status, body) = app
        .api(
            Method::POST,
            "/api/v1/consultations/budget/proposals",
            Some(&claire),
            Some(json!({"title": "Pistes cyclables", "body": "Partout."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // The delivery is never sent, and the queue says why (never "delivered").
    let deadline = Instant::now() + Duration::from_secs(30);
    let row = loop {
        let row = delivery::Entity::find()
            .filter(delivery::Column::Inbox.eq(inbox.as_str()))
            .one(&app.state.db)
            .await
            .unwrap()
            .expect("a delivery to the follower is queued");
        if row.attempts > 0 {
            break row;
        }
        assert!(Instant::now() < deadline, "never tried: {row:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_ne!(row.status, "delivered", "{row:?}");
    let error = row.last_error.unwrap_or_default();
    assert!(error.contains("not sent"), "{error}");
}
