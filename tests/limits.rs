//! Rate limits, over real HTTP: exactly the configured number of requests pass, the next gets
//! 429 with `Retry-After` (JSON for the API, the error page for web forms), other classes are
//! unaffected, windows end, and inbox floods are refused per remote server before any
//! signature work. Every client here is 127.0.0.1, so "another client" is another class or,
//! for the inbox, another remote host.
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use common::{PASSWORD, TestApp, send_signed};
use palabre::config::Limit;
use palabre::domain::Role;
use palabre::federation::actors::DbPerson;
use palabre::federation::keys;
use palabre::services::accounts::{self, SessionKind};
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use sha2::Digest;

fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a form with a csrf field") + marker.len();
    let end = html[start..].find('"').expect("end of csrf value");
    html[start..start + end].to_owned()
}

/// GETs a page (which is never limited) and returns its CSRF token.
async fn form_token(client: &Client, url: &str) -> String {
    let response = client.get(url).send().await.expect("GET");
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    csrf_of(&response.text().await.expect("body"))
}

/// The `Retry-After` of a 429, checked to be a number of seconds within the window.
fn retry_after(response: &reqwest::Response, window: u64) -> u64 {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let seconds: u64 = response
        .headers()
        .get(RETRY_AFTER)
        .expect("a Retry-After header")
        .to_str()
        .expect("ascii")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=window).contains(&seconds), "Retry-After {seconds}");
    seconds
}

/// A 429 from the API: `Retry-After` and the usual `{error, message}` body.
async fn assert_api_refusal(response: reqwest::Response, window: u64) {
    retry_after(&response, window);
    let body: Value = response.json().await.expect("JSON error body");
    assert_eq!(body["error"], "too_many_requests", "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("too many requests: try again in ")),
        "{body}"
    );
}

/// A 429 from a web form: `Retry-After` and the site's error page, in French by default.
async fn assert_page_refusal(response: reqwest::Response, window: u64) {
    retry_after(&response, window);
    let content_type = response.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = response.text().await.expect("body");
    assert!(
        html.contains("<h1>Trop de demandes en peu de temps : patientez avant de réessayer.</h1>"),
        "{html}"
    );
}

async fn token_request(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/api/v1/auth/token", app.url))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .expect("token request")
}

#[tokio::test]
async fn login_attempts_beyond_the_limit_get_429_and_other_classes_are_not_limited() {
    let app = TestApp::spawn_with(|settings| {
        settings.limits.login = Limit {
            requests: 3,
            seconds: 60,
        }
    })
    .await;
    app.create_user("camille", Role::Member, None).await;

    // Exactly three attempts are answered (wrong passwords: 401)...
    for i in 0..3 {
        let response = token_request(&app, &format!("nobody-{i}"), "wrong password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    // ...then even the right password is refused, before it is checked.
    assert_api_refusal(token_request(&app, "camille", PASSWORD).await, 60).await;

    // The login form shares the count; showing the form is not limited.
    let client = browser();
    let csrf = form_token(&client, &format!("{}/login", app.url)).await;
    let response = client
        .post(format!("{}/login", app.url))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "camille"),
            ("password", PASSWORD),
            ("next", "/"),
        ])
        .send()
        .await
        .expect("login form");
    assert_page_refusal(response, 60).await;

    // Other classes and reading are untouched.
    let (status, body) = app
        .api(
            Method::POST,
            "/api/v1/accounts",
            None,
            Some(json!({"username": "dominique", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = app
        .api(Method::GET, "/api/v1/consultations", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let response = client.get(format!("{}/", app.url)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Revoking a token shares the route but is not a login attempt. (The token is opened
    // directly: signing in is what is limited.)
    let dominique = accounts::find_by_username(&app.state.db, "dominique")
        .await
        .unwrap();
    let token = accounts::open_session(&app.state.db, dominique.id, SessionKind::Api, 1)
        .await
        .unwrap();
    let (status, _) = app
        .api(Method::DELETE, "/api/v1/auth/token", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_window_ends_and_the_count_starts_again() {
    let app = TestApp::spawn_with(|settings| {
        settings.limits.login = Limit {
            requests: 1,
            seconds: 2,
        }
    })
    .await;
    app.create_user("camille", Role::Member, None).await;
    assert_eq!(
        token_request(&app, "camille", PASSWORD).await.status(),
        StatusCode::OK
    );
    let refused = token_request(&app, "camille", PASSWORD).await;
    let wait = retry_after(&refused, 2);
    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(100)).await;
    assert_eq!(
        token_request(&app, "camille", PASSWORD).await.status(),
        StatusCode::OK,
        "a new window after Retry-After"
    );
    assert_eq!(
        token_request(&app, "camille", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn sign_ups_are_limited_on_the_api_and_the_form_alike() {
    let app = TestApp::spawn_with(|settings| {
        settings.limits.signup = Limit {
            requests: 2,
            seconds: 3600,
        }
    })
    .await;
    let sign_up = |username: &'static str| {
        app.client
            .post(format!("{}/api/v1/accounts", app.url))
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
    };
    assert_eq!(sign_up("ana").await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(sign_up("ben").await.unwrap().status(), StatusCode::CREATED);
    assert_api_refusal(sign_up("cloe").await.unwrap(), 3600).await;
    let (status, _) = app
        .api(Method::GET, "/api/v1/accounts/cloe", None, None)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a refused sign-up creates nothing"
    );

    let client = browser();
    let csrf = form_token(&client, &format!("{}/signup", app.url)).await;
    let response = client
        .post(format!("{}/signup", app.url))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "dana"),
            ("display_name", "Dana"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ])
        .send()
        .await
        .expect("signup form");
    assert_page_refusal(response, 3600).await;
    assert!(
        accounts::find_by_username(&app.state.db, "dana")
            .await
            .is_err()
    );

    // Signing in is another class.
    assert_eq!(
        token_request(&app, "ana", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn posting_is_limited_on_the_api_and_the_web_forms_alike() {
    let app = TestApp::spawn_with(|settings| {
        settings.limits.posting = Limit {
            requests: 4,
            seconds: 60,
        }
    })
    .await;
    let admin = app.user_token("orga", Role::Admin).await;
    // Creating a consultation is not a limited kind of posting.
    app.consultation(&admin, "velo", 30).await;
    let alice = app.user_token("alice", Role::Member).await;

    // 1, 2, 3 through the API.
    let (status, proposal) = app
        .api(
            Method::POST,
            "/api/v1/consultations/velo/proposals",
            Some(&alice),
            Some(json!({"title": "Des arceaux", "body": "Devant la mairie."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{proposal}");
    let id = proposal["id"].as_i64().unwrap();
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/api/v1/proposals/{id}/arguments"),
            Some(&alice),
            Some(json!({"stance": "for", "body": "On se gare mieux."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .api(
            Method::PUT,
            &format!("/api/v1/proposals/{id}/vote"),
            Some(&alice),
            Some(json!({"value": "agree"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // 4 through the web form, then the form is refused.
    let client = browser();
    let csrf = form_token(&client, &format!("{}/login", app.url)).await;
    let response = client
        .post(format!("{}/login", app.url))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = format!("{}/proposals/{id}", app.url);
    let csrf = form_token(&client, &page).await;
    let argue = |text: &'static str| {
        client
            .post(format!("{page}/arguments"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("stance", "against"),
                ("body", text),
            ])
            .send()
    };
    assert_eq!(
        argue("Il faut aussi des abris.").await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    assert_page_refusal(argue("Et des pompes.").await.unwrap(), 60).await;

    // The API shares the count, for every kind of posting.
    let post = |path: String, body: Value| {
        app.client
            .post(format!("{}{path}", app.url))
            .bearer_auth(&alice)
            .json(&body)
            .send()
    };
    assert_api_refusal(
        post(
            format!("/api/v1/proposals/{id}/sources"),
            json!({"url": "https://example.org/etude", "title": "Étude"}),
        )
        .await
        .unwrap(),
        60,
    )
    .await;
    assert_api_refusal(
        post(
            "/api/v1/reports".into(),
            json!({"object": format!("{}/proposals/{id}", app.url), "reason": "spam"}),
        )
        .await
        .unwrap(),
        60,
    )
    .await;

    // Reading is not limited, and nothing refused was stored.
    assert_eq!(
        client.get(&page).send().await.unwrap().status(),
        StatusCode::OK
    );
    let (status, proposal) = app
        .api(Method::GET, &format!("/api/v1/proposals/{id}"), None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(proposal["counts"]["arguments_for"], 1, "{proposal}");
    assert_eq!(proposal["counts"]["arguments_against"], 1, "{proposal}");
}

/// A stand-in remote server that answers 404 to everything and counts the connections the
/// node opens to it (to fetch a signer's key or actor).
async fn counting_server() -> (String, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    // A domain, as the federation library wants, not an IP address.
    let origin = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer).await;
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    )
                    .await;
            });
        }
    });
    (origin, hits)
}

/// A Follow from `actor`, with a well-formed draft-cavage signature header whose key is the
/// actor's (the signature itself is garbage: checking it needs the key, fetched from `actor`).
fn forged_delivery(app: &TestApp, inbox: &str, actor: &str, n: usize) -> reqwest::RequestBuilder {
    let body = serde_json::to_vec(&json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "type": "Follow",
        "id": format!("{actor}/follows/{n}"),
        "actor": actor,
        "object": format!("{}/consultations/velo", app.url),
    }))
    .unwrap();
    let digest = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&body));
    let date = chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    reqwest::Client::new()
        .post(inbox)
        .header(CONTENT_TYPE, "application/activity+json")
        .header("date", date)
        .header("digest", format!("SHA-256={digest}"))
        .header(
            "signature",
            format!(
                "keyId=\"{actor}#main-key\",algorithm=\"rsa-sha256\",\
                 headers=\"(request-target) host date digest\",signature=\"AAAA\""
            ),
        )
        .body(body)
}

#[tokio::test]
async fn inbox_floods_are_refused_per_remote_server_before_any_signature_work() {
    let app = TestApp::spawn_with(|settings| {
        settings.federation.allow_local = true;
        settings.limits.inbox = Limit {
            requests: 3,
            seconds: 60,
        };
    })
    .await;
    let admin = app.user_token("orga", Role::Admin).await;
    app.consultation(&admin, "velo", 30).await;
    let inbox = format!("{}/inbox", app.url);

    // A server sending deliveries whose signatures need its key: the first three are
    // examined (the node fetches the key, in vain: they are refused, but not with 429)...
    let (mallory, fetches) = counting_server().await;
    let actor = format!("{mallory}/users/mallory");
    for n in 0..3 {
        let response = forged_delivery(&app, &inbox, &actor, n)
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert!(
            status.is_client_error() || status.is_server_error(),
            "delivery {n}: {status}"
        );
        assert_ne!(status, StatusCode::TOO_MANY_REQUESTS, "delivery {n}");
    }
    let examined = fetches.load(Ordering::SeqCst);
    assert!(examined > 0, "the node looked the signer up");
    // ...the rest are refused without a look, whichever inbox they go to.
    for (n, path) in [
        "/inbox",
        "/consultations/velo/inbox",
        "/actor/inbox",
        "/inbox",
    ]
    .into_iter()
    .enumerate()
    {
        let response = forged_delivery(&app, &format!("{}{path}", app.url), &actor, 10 + n)
            .send()
            .await
            .unwrap();
        assert_api_refusal(response, 60).await;
    }
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        examined,
        "no fetch for refused deliveries"
    );

    // Unsigned deliveries are counted by their actor's server: three are answered, then 429.
    let (other, other_fetches) = counting_server().await;
    let unsigned = |n: usize| {
        reqwest::Client::new()
            .post(&inbox)
            .header(CONTENT_TYPE, "application/activity+json")
            .json(&json!({
                "type": "Follow",
                "id": format!("{other}/follows/{n}"),
                "actor": {"id": format!("{other}/users/eve"), "type": "Person"},
                "object": format!("{}/consultations/velo", app.url),
            }))
            .send()
    };
    for n in 0..3 {
        let status = unsigned(n).await.unwrap().status();
        assert!(status.is_client_error(), "unsigned {n}: {status}");
        assert_ne!(status, StatusCode::TOO_MANY_REQUESTS, "unsigned {n}");
    }
    assert_api_refusal(unsigned(3).await.unwrap(), 60).await;
    assert_eq!(other_fetches.load(Ordering::SeqCst), 0);

    // A genuine server is unaffected by the others' floods.
    let remote = TestApp::spawn_federating().await;
    remote.create_user("claire", Role::Member, None).await;
    let claire = accounts::find_by_username(&remote.state.db, "claire")
        .await
        .unwrap();
    let claire = keys::ensure_account_keys(&remote.state, claire)
        .await
        .unwrap();
    let claire = DbPerson::new(&remote.state, claire).unwrap();
    let follow = json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "type": "Follow",
        "id": format!("{}/activities/follow/1", remote.url),
        "actor": claire.ap_id,
        "object": format!("{}/consultations/velo", app.url),
    });
    let status = send_signed(&remote, &claire, &inbox, &follow, None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
}
