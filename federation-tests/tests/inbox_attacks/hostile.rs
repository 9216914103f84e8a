//! A hostile server for `federation-tests/tests/inbox_attacks.rs`: it serves whatever documents the test gives
//! it (actors, objects), answers 202 to every POST, and writes down every request it gets, so
//! that a test can tell what the node fetched from it and what it never asked for.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use activitypub_federation::http_signatures::generate_actor_keypair;
use axum::extract::State;
use axum::http::{Method, StatusCode as AxumStatus, Uri, header};
use axum::response::IntoResponse;
use palabre::federation::actors::InstanceActor;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::TestApp;

#[derive(Clone, Default)]
struct Shared {
    documents: Arc<Mutex<HashMap<String, Value>>>,
    requests: Arc<Mutex<Vec<String>>>,
}

async fn answer(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
) -> axum::response::Response {
    if let Ok(mut log) = shared.requests.lock() {
        log.push(format!("{method} {}", uri.path()));
    }
    if method == Method::POST {
        return AxumStatus::ACCEPTED.into_response();
    }
    let found = shared
        .documents
        .lock()
        .ok()
        .and_then(|d| d.get(uri.path()).cloned());
    match found {
        Some(document) => (
            [(header::CONTENT_TYPE, "application/activity+json")],
            document.to_string(),
        )
            .into_response(),
        None => AxumStatus::NOT_FOUND.into_response(),
    }
}

pub struct Hostile {
    /// `http://localhost:PORT`: another origin than the node's and than any other `Hostile`.
    pub base: String,
    shared: Shared,
    public_key: String,
    private_key: String,
}

impl Hostile {
    pub async fn start() -> Hostile {
        let shared = Shared::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let keys = generate_actor_keypair().unwrap();
        Hostile {
            base: format!("http://localhost:{port}"),
            shared,
            public_key: keys.public_key,
            private_key: keys.private_key,
        }
    }

    /// Serves `document` at `path` (a path on this server).
    pub fn serve(&self, path: &str, document: Value) {
        self.shared
            .documents
            .lock()
            .unwrap()
            .insert(path.to_owned(), document);
    }

    /// Every request received so far, as `METHOD /path`.
    pub fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub fn was_asked_for(&self, path: &str) -> bool {
        self.requests()
            .iter()
            .any(|r| r.ends_with(&format!(" {path}")))
    }

    /// Serves a `Person` at `/users/{name}` and returns its id.
    pub fn person(&self, name: &str) -> String {
        let id = format!("{}/users/{name}", self.base);
        self.serve(
            &format!("/users/{name}"),
            json!({
                "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
                "type": "Person",
                "id": id,
                "preferredUsername": name,
                "inbox": format!("{id}/inbox"),
                "publicKey": {"id": format!("{id}#main-key"), "owner": id, "publicKeyPem": self.public_key},
            }),
        );
        id
    }

    /// Serves a `Group` (a consultation hosted here) at `/groups/{name}` and returns its id.
    pub fn group(&self, name: &str) -> String {
        let id = format!("{}/groups/{name}", self.base);
        self.serve(
            &format!("/groups/{name}"),
            json!({
                "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
                "type": "Group",
                "id": id,
                "preferredUsername": name,
                "name": format!("Consultation {name}"),
                "inbox": format!("{id}/inbox"),
                "followers": format!("{id}/followers"),
                "publicKey": {"id": format!("{id}#main-key"), "owner": id, "publicKeyPem": self.public_key},
            }),
        );
        id
    }

    /// Signs as `actor` (one of this server's actors) with this server's key.
    pub fn signer(&self, actor: &str) -> InstanceActor {
        InstanceActor {
            ap_id: actor.parse().unwrap(),
            public_key: self.public_key.clone(),
            private_key: self.private_key.clone(),
            name: String::new(),
        }
    }

    pub fn private_key_pem(&self) -> &str {
        &self.private_key
    }
}

/// A POST of `body` to `inbox`, signed (draft-cavage, as Mastodon signs) by `signer`.
pub async fn signed_request(
    app: &TestApp,
    signer: &InstanceActor,
    inbox: &str,
    body: Vec<u8>,
) -> reqwest::Request {
    let config = activitypub_federation::config::FederationConfig::builder()
        .domain(app.state.settings.domain())
        .app_data(app.state.clone())
        .debug(true)
        .http_signature_compat(true)
        .signed_fetch_actor(signer)
        .build()
        .await
        .unwrap();
    let request = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .build()
        .post(inbox)
        .header("content-type", "application/activity+json");
    config
        .to_request_data()
        .sign_request(request, bytes::Bytes::from(body))
        .await
        .unwrap()
}

/// What the inbox answered and how long it took.
pub struct Answer {
    pub status: StatusCode,
    pub body: String,
    pub took: Duration,
}

/// Sends `body` exactly as given (key order, numbers and all), signed by `signer`.
pub async fn deliver(app: &TestApp, signer: &InstanceActor, inbox: &str, body: Vec<u8>) -> Answer {
    let request = signed_request(app, signer, inbox, body).await;
    let started = Instant::now();
    // A node stuck on a request fails the test instead of hanging it.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let response = client.execute(request).await.unwrap();
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    Answer {
        status,
        body,
        took: started.elapsed(),
    }
}

/// `deliver` for a JSON value.
pub async fn deliver_json(
    app: &TestApp,
    signer: &InstanceActor,
    inbox: &str,
    activity: &Value,
) -> Answer {
    deliver(app, signer, inbox, serde_json::to_vec(activity).unwrap()).await
}
