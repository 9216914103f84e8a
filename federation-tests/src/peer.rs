//! A real ActivityPub server written by others, next to the Palabre nodes: the Fedify peer in
//! `federation-tests/peer/` (Fedify from npm, installed by `npm ci` from the committed lockfile),
//! acting as one Mastodon account, `alice`, driven through its control API.
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Peer {
    /// `http://localhost:PORT`
    pub url: String,
    http: reqwest::Client,
    process: Child,
}

fn peer_dir() -> PathBuf {
    // At run time first: a test binary built in another checkout sharing the target directory
    // must still find this checkout's peer.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    PathBuf::from(manifest_dir).join("peer")
}

impl Peer {
    /// Starts the peer; `secure` is Mastodon's "authorized fetch" (signed GETs only).
    pub async fn start(secure: bool) -> anyhow::Result<Self> {
        let dir = peer_dir();
        if !dir.join("node_modules/@fedify/fedify").is_dir() {
            bail!(
                "the Fedify peer is not installed: run `npm ci` in {} (scripts/test does)",
                dir.display()
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut command = Command::new("node");
        command
            .arg(dir.join("peer.mjs"))
            .args(["--port", &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if secure {
            command.arg("--secure");
        }
        let mut process = command.spawn().context("cannot start node (Node.js 20+)")?;
        let stdout = process.stdout.take().context("peer stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .context("the peer did not start within 30 s")??
            .context("the peer exited before listening")?;
        if !line.starts_with("peer listening on ") {
            bail!("unexpected first line from the peer: {line}");
        }
        Ok(Peer {
            url: format!("http://localhost:{port}"),
            http: crate::client(),
            process,
        })
    }

    /// alice's actor id.
    pub fn alice(&self) -> String {
        format!("{}/users/alice", self.url)
    }

    /// Asks alice to do something; the answer comes once every delivery was answered.
    /// Returns the HTTP status and the body (`{"id", "object"}` or `{"error", ...}`).
    pub async fn act(&self, action: &str, body: Value) -> anyhow::Result<(u16, Value)> {
        let response = self
            .http
            .post(format!("{}/control/{action}", self.url))
            .json(&body)
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// Like `act`, failing unless every recipient accepted.
    pub async fn must(&self, action: &str, body: Value) -> anyhow::Result<Value> {
        let (status, answer) = self.act(action, body.clone()).await?;
        if status != 200 {
            bail!("peer {action} {body} answered {status}: {answer}");
        }
        Ok(answer)
    }

    pub async fn read(&self, what: &str) -> anyhow::Result<Value> {
        Ok(self
            .http
            .get(format!("{}/control/{what}", self.url))
            .send()
            .await?
            .json()
            .await?)
    }

    pub fn kill(&mut self) {
        let _ = self.process.start_kill();
    }
}
