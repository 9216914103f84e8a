//! A database that goes away (PostgreSQL restarting, refusing connections) is a 503 with
//! `Retry-After`, never a 500 and never a half-written contribution; once it is back, the same
//! requests work. Needs PostgreSQL: `scripts/test` runs the suite again with
//! PALABRE_TEST_DATABASE_URL, and on the SQLite pass this test says so and checks nothing.
mod common;

use common::TestApp;
use palabre::domain::Role;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database};
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
