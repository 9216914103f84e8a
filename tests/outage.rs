//! A database that goes away (PostgreSQL restarting, refusing connections) is a 503 with
//! `Retry-After`, never a 500 and never a half-written contribution; once it is back, the same
//! requests work. Needs PostgreSQL: `scripts/test` runs the suite again with
//! PALABRE_TEST_DATABASE_URL, and on the SQLite pass this test says so and checks nothing.
mod common;

use common::{TestApp, eventually};
use palabre::domain::Role;
use palabre::store::delivery;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, EntityTrait};
use serde_json::json;

#[tokio::test]
async fn a_database_outage_is_503_with_retry_after_and_writes_nothing() {
    let Some(server) = std::env::var("PALABRE_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("SQLite pass: the outage test runs on the PostgreSQL pass of scripts/test");
        return;
    };
    let app = TestApp::spawn().await;
    let admin = app.user_token("orga", Role::Admin).await;
    app.consultation(&admin, "budget", 30).await;
    let database = url::Url::parse(&app.state.settings.database.url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let postgres = Database::connect(&server).await.unwrap();
    let outage = |allow: bool| {
        let postgres = &postgres;
        let database = database.clone();
        async move {
            postgres
                .execute_unprepared(&format!(
                    "ALTER DATABASE {database} ALLOW_CONNECTIONS {allow}"
                ))
                .await
                .unwrap();
            if !allow {
                // Every open connection of the app is cut, as by a server restart.
                postgres
                    .execute_unprepared(&format!(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE datname = '{database}' AND pid <> pg_backend_pid()"
                    ))
                    .await
                    .unwrap();
            }
        }
    };

    outage(false).await;
    for _ in 0..3 {
        let response = app
            .client
            .get(format!("{}/api/v1/consultations", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key("retry-after"));
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "unavailable", "{body}");
    }
    let (status, body) = app
        .api(
            Method::POST,
            "/api/v1/consultations/budget/proposals",
            Some(&admin),
            Some(json!({"title": "Pendant la panne", "body": "Écrit pendant la panne."})),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");

    // Back: the same requests work, and the proposal refused during the outage does not exist.
    outage(true).await;
    let mut listed = None;
    for _ in 0..50 {
        let (status, body) = app
            .api(
                Method::GET,
                "/api/v1/consultations/budget/proposals",
                None,
                None,
            )
            .await;
        if status == StatusCode::OK {
            listed = Some(body);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let listed = listed.expect("the node answers again once the database is back");
    assert!(
        !listed.to_string().contains("Pendant la panne"),
        "nothing half-written: {listed}"
    );
    let (status, _) = app
        .api(
            Method::POST,
            "/api/v1/consultations/budget/proposals",
            Some(&admin),
            Some(json!({"title": "Après la panne", "body": "Le même envoi, réessayé."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

/// The outage is on the receiving side this time: a follower node whose database restarts
/// answers the inbox with 503, and the sender's queue retries until it is back. Each proposal
/// arrives once.
#[tokio::test]
async fn an_inbox_whose_database_is_down_answers_503_and_gets_the_activity_once_it_is_back() {
    let Some(server) = std::env::var("PALABRE_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("SQLite pass: the outage test runs on the PostgreSQL pass of scripts/test");
        return;
    };
    let origin = TestApp::spawn_with(|settings| {
        settings.federation.allow_local = true;
        settings.federation.retry_base_seconds = 0.2;
    })
    .await;
    let follower = TestApp::spawn_federating().await;
    let admin = origin.user_token("orga", Role::Admin).await;
    origin.consultation(&admin, "budget", 30).await;
    let claire = follower.user_token("claire", Role::Member).await;
    let handle = format!("budget@{}", origin.url.trim_start_matches("http://"));
    follower.follow_accepted(&claire, &handle).await;

    let database = url::Url::parse(&follower.state.settings.database.url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let postgres = Database::connect(&server).await.unwrap();
    postgres
        .execute_unprepared(&format!(
            "ALTER DATABASE {database} ALLOW_CONNECTIONS false"
        ))
        .await
        .unwrap();
    postgres
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{database}' AND pid <> pg_backend_pid()"
        ))
        .await
        .unwrap();

    let (status, body) = origin
        .api(
            Method::POST,
            "/api/v1/consultations/budget/proposals",
            Some(&admin),
            Some(json!({"title": "Pendant la panne", "body": "Annoncée pendant la panne."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The follower's inbox answers 503: the origin keeps the delivery and tries again.
    let announce = |row: &delivery::Model| {
        row.activity_id.contains("/activities/announce/")
            && row.payload.contains("Pendant la panne")
    };
    let failed_try = eventually("a delivery refused with 503", || async {
        delivery::Entity::find()
            .all(&origin.state.db)
            .await
            .unwrap()
            .into_iter()
            .find(|row| announce(row) && row.last_error.is_some())
    })
    .await;
    assert_eq!(failed_try.status, "pending", "{failed_try:?}");
    let error = failed_try.last_error.unwrap_or_default();
    assert!(error.contains("503"), "{error}");

    postgres
        .execute_unprepared(&format!("ALTER DATABASE {database} ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    let proposals = format!("/api/v1/consultations/{handle}/proposals");
    let listed = eventually("the proposal on the follower", || async {
        let (status, body) = follower.api(Method::GET, &proposals, None, None).await;
        (status == StatusCode::OK && body.to_string().contains("Pendant la panne")).then_some(body)
    })
    .await;
    let titles: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    assert_eq!(titles, vec!["Pendant la panne"], "once: {listed}");
    // The follower stores the proposal before it answers: the origin records the answer after.
    let delivered = eventually("the Announce recorded as delivered", || async {
        delivery::Entity::find()
            .all(&origin.state.db)
            .await
            .unwrap()
            .into_iter()
            .find(|row| announce(row) && row.status == "delivered")
    })
    .await;
    assert!(delivered.attempts >= 2, "{delivered:?}");
}

/// The delivery worker of a node whose own database goes away: it neither dies nor loses nor
/// repeats what it was sending. A proposal is queued just before the cut, another after the
/// database is back: the follower gets both, once each.
#[tokio::test]
async fn the_delivery_worker_survives_its_own_database_going_away() {
    let Some(server) = std::env::var("PALABRE_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("SQLite pass: the outage test runs on the PostgreSQL pass of scripts/test");
        return;
    };
    let origin = TestApp::spawn_with(|settings| {
        settings.federation.allow_local = true;
        settings.federation.retry_base_seconds = 0.2;
        // A delivery claimed when the database went away is claimed again soon after.
        settings.federation.delivery_lease_seconds = 2;
    })
    .await;
    let follower = TestApp::spawn_federating().await;
    let admin = origin.user_token("orga", Role::Admin).await;
    origin.consultation(&admin, "budget", 30).await;
    let claire = follower.user_token("claire", Role::Member).await;
    let handle = format!("budget@{}", origin.url.trim_start_matches("http://"));
    follower.follow_accepted(&claire, &handle).await;
    let propose = |title: &'static str| {
        let origin = &origin;
        let admin = admin.clone();
        async move {
            let (status, body) = origin
                .api(
                    Method::POST,
                    "/api/v1/consultations/budget/proposals",
                    Some(&admin),
                    Some(json!({"title": title, "body": "Un vélo par habitant."})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
    };

    let database = url::Url::parse(&origin.state.settings.database.url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let postgres = Database::connect(&server).await.unwrap();
    propose("Avant la panne").await;
    postgres
        .execute_unprepared(&format!(
            "ALTER DATABASE {database} ALLOW_CONNECTIONS false"
        ))
        .await
        .unwrap();
    postgres
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{database}' AND pid <> pg_backend_pid()"
        ))
        .await
        .unwrap();
    // Several turns of the worker, each failing on the database.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let (status, _) = origin
        .api(Method::GET, "/api/v1/consultations", None, None)
        .await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the outage is real"
    );
    postgres
        .execute_unprepared(&format!("ALTER DATABASE {database} ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    propose("Après la panne").await;

    let proposals = format!("/api/v1/consultations/{handle}/proposals");
    let listed = eventually("both proposals on the follower", || async {
        let (status, body) = follower.api(Method::GET, &proposals, None, None).await;
        let text = body.to_string();
        (status == StatusCode::OK
            && text.contains("Avant la panne")
            && text.contains("Après la panne"))
        .then_some(body)
    })
    .await;
    let mut titles: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    titles.sort_unstable();
    assert_eq!(
        titles,
        vec!["Après la panne", "Avant la panne"],
        "once each: {listed}"
    );
    eventually("every delivery delivered", || async {
        let rows = delivery::Entity::find().all(&origin.state.db).await.ok()?;
        rows.iter().all(|r| r.status == "delivered").then_some(())
    })
    .await;
}

/// A full disk, as SQLite reports it (`SQLITE_FULL`, here by capping the file's size with
/// `max_page_count` on every connection of the pool): 503 with `Retry-After`, nothing
/// half-written, and the same request works once there is room again. SQLite pass only.
#[tokio::test]
async fn a_full_disk_is_503_with_retry_after_and_writes_nothing() {
    if std::env::var("PALABRE_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        eprintln!("PostgreSQL pass: the full-disk test runs on the SQLite pass");
        return;
    }
    let app = TestApp::spawn().await;
    let admin = app.user_token("orga", Role::Admin).await;
    app.consultation(&admin, "budget", 30).await;
    let pool = app.state.db.get_sqlite_connection_pool();
    let cap = |pages: Option<i64>| async move {
        // Every connection of the pool at once, so that each gets the cap.
        let mut held = Vec::new();
        for _ in 0..pool.options().get_max_connections() {
            held.push(pool.acquire().await.unwrap());
        }
        for connection in &mut held {
            let pages = match pages {
                Some(pages) => pages,
                None => sea_orm::sqlx::query_scalar::<_, i64>("PRAGMA page_count")
                    .fetch_one(&mut **connection)
                    .await
                    .unwrap(),
            };
            sea_orm::sqlx::query(sea_orm::sqlx::AssertSqlSafe(format!(
                "PRAGMA max_page_count = {pages}"
            )))
            .execute(&mut **connection)
            .await
            .unwrap();
        }
    };
    cap(None).await;
    let body = "Une proposition longue. ".repeat(800);
    let (status, answer) = app
        .api(
            Method::POST,
            "/api/v1/consultations/budget/proposals",
            Some(&admin),
            Some(json!({"title": "Disque plein", "body": body})),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert_eq!(answer["error"], "unavailable", "{answer}");

    cap(Some(1_000_000)).await;
    let (_, listed) = app
        .api(
            Method::GET,
            "/api/v1/consultations/budget/proposals",
            None,
            None,
        )
        .await;
    assert_eq!(listed["items"], json!([]), "nothing half-written: {listed}");
    let (status, answer) = app
        .api(
            Method::POST,
            "/api/v1/consultations/budget/proposals",
            Some(&admin),
            Some(json!({"title": "Disque plein", "body": body})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the same request, retried: {answer}"
    );
}
