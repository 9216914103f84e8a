//! Every answer of the web pages carries the strict headers, not only the home page: the pages
//! where remote text is shown, the forms, the redirects, and the error pages a visitor or an
//! attacker can provoke (404, 403 without the CSRF token).
mod common;

use common::TestApp;
use palabre::domain::Role;
use reqwest::{Method, StatusCode, redirect};
use serde_json::json;

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("client")
}

/// What `src/web/mod.rs` promises for every page.
fn assert_strict(what: &str, response: &reqwest::Response) {
    let headers = response.headers();
    let csp = headers
        .get("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"))
        .to_str()
        .expect("csp");
    for directive in [
        "default-src 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{what}: {directive} not in {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{what}: {csp}"
    );
    assert_eq!(
        headers.get("x-content-type-options").map(|v| v.as_bytes()),
        Some(&b"nosniff"[..]),
        "{what}"
    );
    assert_eq!(
        headers.get("referrer-policy").map(|v| v.as_bytes()),
        Some(&b"same-origin"[..]),
        "{what}"
    );
}

#[tokio::test]
async fn every_page_and_error_page_carries_the_strict_headers() {
    let app = TestApp::spawn().await;
    let admin = app.user_token("orga", Role::Admin).await;
    app.consultation(&admin, "mobilite", 30).await;
    let author = app.user_token("nadia", Role::Member).await;
    let (status, proposal) = app
        .api(
            Method::POST,
            "/api/v1/consultations/mobilite/proposals",
            Some(&author),
            Some(json!({"title": "Des bancs", "body": "Plus de bancs <script>x()</script>"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{proposal}");
    let id = proposal["id"].as_i64().expect("id");
    let (status, argument) = app
        .api(
            Method::POST,
            &format!("/api/v1/proposals/{id}/arguments"),
            Some(&author),
            Some(json!({"stance": "against", "body": "Ils coûtent cher."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{argument}");
    let (status, source) = app
        .api(
            Method::POST,
            &format!("/api/v1/proposals/{id}/sources"),
            Some(&author),
            Some(json!({"url": "https://example.org/bancs", "title": "Étude"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{source}");

    let client = browser();
    let pages = [
        ("/".to_owned(), StatusCode::OK),
        ("/consultations/mobilite".to_owned(), StatusCode::OK),
        (format!("/proposals/{id}"), StatusCode::OK),
        // An argument's and a source's own URLs lead to their place on that page.
        (
            format!("/arguments/{}", argument["id"]),
            StatusCode::SEE_OTHER,
        ),
        (format!("/sources/{}", source["id"]), StatusCode::SEE_OTHER),
        ("/login".to_owned(), StatusCode::OK),
        ("/signup".to_owned(), StatusCode::OK),
        ("/users/nadia".to_owned(), StatusCode::OK),
        ("/no/such/page".to_owned(), StatusCode::NOT_FOUND),
        ("/proposals/999999".to_owned(), StatusCode::NOT_FOUND),
        ("/proposals/not-a-number".to_owned(), StatusCode::NOT_FOUND),
    ];
    for (path, expected) in pages {
        let response = client
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .expect("page");
        assert_eq!(response.status(), expected, "GET {path}");
        assert_strict(&format!("GET {path}"), &response);
    }

    // A form sent without its CSRF token: refused, with the same headers.
    let response = client
        .post(format!("{}/proposals/{id}/arguments", app.url))
        .form(&[("stance", "for"), ("body", "sans jeton")])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_strict("POST without CSRF token", &response);
}
