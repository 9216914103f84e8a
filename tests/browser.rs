//! A real headless Chromium, driven through chromedriver: a citizen signs in on the web page,
//! posts an argument without any JavaScript, and sees the count change.
mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{PASSWORD, TestApp};
use fantoccini::{ClientBuilder, Locator};
use palabre::domain::Role;
use serde_json::json;

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_browser(profile: &std::path::Path) -> (Driver, fantoccini::Client) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Driver(
        Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver must be installed (Debian package chromium-driver)"),
    );
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--disable-quic", "--lang=fr-FR", "--accept-lang=fr-FR,fr",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let mut last_error = None;
    for _ in 0..100 {
        match ClientBuilder::new(connector.clone())
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return (driver, client),
            Err(err) => last_error = Some(err),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot start chromium through chromedriver: {last_error:?}");
}

async fn text_of(browser: &fantoccini::Client, css: &str) -> String {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_citizen_signs_in_posts_an_argument_and_sees_the_count_change() {
    let app = TestApp::spawn().await;
    let admin = app.user_token("orga", Role::Admin).await;
    app.create_user("alice", Role::Member, None).await;
    app.consultation(&admin, "brest", 30).await;
    let (_, proposal) = app
        .api(
            reqwest::Method::POST,
            "/api/v1/consultations/brest/proposals",
            Some(&admin),
            Some(json!({"title": "Ouvrir les données de la ville", "body": "Toutes les données publiques, en formats ouverts."})),
        )
        .await;
    let id = proposal["id"].as_i64().unwrap();

    let profile = tempfile::tempdir().unwrap();
    let (_driver, browser) = start_browser(profile.path()).await;

    browser.goto(&format!("{}/login", app.url)).await.unwrap();
    browser
        .find(Locator::Css("#username"))
        .await
        .unwrap()
        .send_keys("alice")
        .await
        .unwrap();
    browser
        .find(Locator::Css("#password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    browser
        .find(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Css("body"))
        .await
        .unwrap();

    browser
        .goto(&format!("{}/proposals/{id}", app.url))
        .await
        .unwrap();
    let before = text_of(&browser, "#arguments-for-count").await;
    assert!(before.contains("Aucun argument pour"), "before: {before}");
    assert!(
        text_of(&browser, "body").await.contains("alice"),
        "signed in as alice"
    );

    browser
        .find(Locator::Css("#stance-for"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .find(Locator::Css("#argument-body"))
        .await
        .unwrap()
        .send_keys(
            "Les données ouvertes permettent aux habitants de vérifier les choix de la ville.",
        )
        .await
        .unwrap();
    browser
        .find(Locator::Css("#argument-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    let mut after = String::new();
    for _ in 0..50 {
        if let Ok(element) = browser.find(Locator::Css("#arguments-for-count")).await {
            after = element.text().await.unwrap_or_default();
            if after.contains("1 argument pour") {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(after.contains("1 argument pour"), "after: {after}");
    assert!(
        text_of(&browser, "#arguments-for")
            .await
            .contains("vérifier les choix de la ville"),
        "the new argument shows in the 'for' column"
    );
    assert!(
        text_of(&browser, "#arguments-against-count")
            .await
            .contains("Aucun argument contre")
    );

    let (_, stored) = app
        .api(
            reqwest::Method::GET,
            &format!("/api/v1/proposals/{id}"),
            None,
            None,
        )
        .await;
    assert_eq!(stored["counts"]["arguments_for"], 1);
    assert_eq!(stored["arguments_for"][0]["author"]["username"], "alice");
    browser.close().await.unwrap();
}
