//! Signing up on the web creates the account and signs it in, both or neither: an account left
//! without its session would turn the person's retry into "username taken". The fault is real:
//! a trigger makes every insert into the sessions table fail, as a full disk would.
mod common;

use common::{PASSWORD, TestApp};
use reqwest::{Client, Method, StatusCode};

fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The value of the first hidden `csrf` input of a page.
fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a form with a csrf field") + marker.len();
    let end = html[start..].find('"').expect("end of csrf value");
    html[start..start + end].to_owned()
}

#[tokio::test]
async fn a_sign_up_whose_session_cannot_be_opened_creates_no_account() {
    let app = TestApp::spawn().await;
    let client = browser();
    let html = client
        .get(format!("{}/signup", app.url))
        .send()
        .await
        .expect("signup page")
        .text()
        .await
        .expect("body");
    let csrf = csrf_of(&html);
    let form = [
        ("csrf", csrf.as_str()),
        ("username", "camille"),
        ("display_name", "Camille D."),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
    ];
    let sign_up = || async {
        client
            .post(format!("{}/signup", app.url))
            .form(&form)
            .send()
            .await
            .expect("POST /signup")
    };

    app.inserts_fail("sessions", true).await;
    let response = sign_up().await;
    assert!(response.status().is_server_error(), "{}", response.status());
    let (status, body) = app
        .api(Method::GET, "/api/v1/accounts/camille", None, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no account was left: {body}");

    // The person tries again once the fault is gone: the name is still free.
    app.inserts_fail("sessions", false).await;
    let response = sign_up().await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let home = client
        .get(format!("{}/", app.url))
        .send()
        .await
        .expect("home")
        .text()
        .await
        .expect("body");
    assert!(home.contains("Camille D."), "signed in: {home}");
    let (status, body) = app
        .api(Method::GET, "/api/v1/accounts/camille", None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
