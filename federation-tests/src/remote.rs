//! Remote fediverse servers for the load test, on loopback. Each is a small HTTP server that
//! serves its actors' `Person` documents with their public key, so the node under test fetches
//! and checks them exactly as it would a Mastodon account; each actor signs its deliveries in
//! draft-cavage with the crate and the settings Palabre itself signs with
//! (`http-signature-normalization-reqwest`, Mastodon's shape, RSA-2048 with SHA-256).
//!
//! All actors share one key pair: a 2048-bit key takes a noticeable time to generate, and the
//! node checks each signature against the key of the actor named by `keyId` either way.
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use http_signature_normalization_reqwest::prelude::{Config, SignExt};
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use serde_json::json;
use sha2::{Digest, Sha256};

/// Several remote servers, each with its own origin (`http://localhost:PORT`) and actors
/// `u0`, `u1`, ... on it. The servers stop when this is dropped.
pub struct RemoteServers {
    origins: Vec<String>,
    actors_per_server: usize,
    key: Arc<RsaPrivateKey>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

#[derive(Clone)]
struct Served {
    origin: Arc<str>,
    public_pem: Arc<str>,
    actors: usize,
}

impl RemoteServers {
    /// Starts `servers` servers with `actors_per_server` actors each.
    pub async fn start(servers: usize, actors_per_server: usize) -> anyhow::Result<Self> {
        let key = tokio::task::spawn_blocking(|| RsaPrivateKey::new(&mut rand_core::OsRng, 2048))
            .await?
            .context("cannot generate the remote actors' key")?;
        let public_pem: Arc<str> = key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .context("cannot encode the public key")?
            .into();
        let mut origins = Vec::with_capacity(servers);
        let mut tasks = Vec::with_capacity(servers);
        for _ in 0..servers {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let origin: Arc<str> =
                format!("http://localhost:{}", listener.local_addr()?.port()).into();
            let served = Served {
                origin: origin.clone(),
                public_pem: public_pem.clone(),
                actors: actors_per_server,
            };
            let app = Router::new()
                .route("/users/{name}", get(actor))
                // The node answers nobody in this test (no follows); should it ever deliver,
                // the delivery is taken and dropped, as a busy server would.
                .route("/users/{name}/inbox", post(accepted))
                .route("/inbox", post(accepted))
                .with_state(served);
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            }));
            origins.push(origin.to_string());
        }
        Ok(Self {
            origins,
            actors_per_server,
            key: Arc::new(key),
            tasks,
        })
    }

    /// How many actors there are in all.
    pub fn actor_count(&self) -> usize {
        self.origins.len() * self.actors_per_server
    }

    /// The id of actor number `n` (any number: it wraps around), spreading consecutive
    /// numbers over the servers.
    pub fn actor(&self, n: usize) -> String {
        let servers = self.origins.len().max(1);
        let n = n % self.actor_count().max(1);
        format!("{}/users/u{}", self.origins[n % servers], n / servers)
    }

    /// A POST of `body` to `inbox`, signed by `actor` as Palabre signs its deliveries.
    pub async fn signed_post(
        &self,
        client: &reqwest::Client,
        actor: &str,
        inbox: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<reqwest::Request> {
        let url = url::Url::parse(inbox)?;
        let host = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => anyhow::bail!("{inbox} has no host"),
        };
        let key = self.key.clone();
        let request = client
            .post(inbox)
            .header(header::CONTENT_TYPE, "application/activity+json")
            .header(header::HOST, host)
            .header(
                header::DATE,
                chrono::Utc::now()
                    .format("%a, %d %b %Y %H:%M:%S GMT")
                    .to_string(),
            )
            .signature_with_digest(
                Config::new()
                    .mastodon_compat()
                    .set_expiration(Duration::from_secs(3600)),
                format!("{actor}#main-key"),
                Sha256::new(),
                body,
                move |signing_string| {
                    let hashed = Sha256::digest(signing_string.as_bytes());
                    let signature = key.sign(Pkcs1v15Sign::new::<Sha256>(), &hashed)?;
                    Ok::<_, anyhow::Error>(BASE64.encode(signature))
                },
            )
            .await?;
        Ok(request)
    }
}

impl Drop for RemoteServers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn accepted() -> StatusCode {
    StatusCode::ACCEPTED
}

/// An actor's document, in the shape Mastodon serves (the fields Palabre reads).
async fn actor(State(served): State<Served>, Path(name): Path<String>) -> Response {
    let known = name
        .strip_prefix('u')
        .and_then(|n| n.parse::<usize>().ok())
        .is_some_and(|n| n < served.actors);
    if !known {
        return StatusCode::NOT_FOUND.into_response();
    }
    let id = format!("{}/users/{name}", served.origin);
    let document = json!({
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": id,
        "type": "Person",
        "preferredUsername": name,
        "name": format!("Participant {name}"),
        "inbox": format!("{id}/inbox"),
        "outbox": format!("{id}/outbox"),
        "followers": format!("{id}/followers"),
        "endpoints": {"sharedInbox": format!("{}/inbox", served.origin)},
        "publicKey": {
            "id": format!("{id}#main-key"),
            "owner": id,
            "publicKeyPem": &*served.public_pem,
        },
        "url": id,
        "published": "2026-01-05T09:00:00Z",
    });
    (
        [(header::CONTENT_TYPE, "application/activity+json")],
        document.to_string(),
    )
        .into_response()
}
