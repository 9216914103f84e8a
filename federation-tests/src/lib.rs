//! Starts real Palabre nodes as separate processes on loopback ports, each with its own
//! database and public URL, configured only through environment variables, as an operator
//! would. Each node gets a fresh SQLite file, or a fresh PostgreSQL database when
//! `PALABRE_TEST_DATABASE_URL` points at a server.
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

pub mod load;
pub mod peer;
pub mod remote;

/// The `palabre` binary: `PALABRE_BIN`, or the one cargo built next to this test executable.
pub fn palabre_binary() -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var("PALABRE_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .context("cannot locate the target directory")?;
    let binary = profile_dir.join("palabre");
    if !binary.is_file() {
        bail!(
            "{} not found: build it first (cargo build --bin palabre) or set PALABRE_BIN",
            binary.display()
        );
    }
    Ok(binary)
}

/// An HTTP client for the tests (reqwest is built without a TLS provider of its own).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

pub struct Node {
    pub name: String,
    /// `http://localhost:PORT`: the node's public URL and federation domain.
    pub url: String,
    port: u16,
    database_url: String,
    extra_env: Vec<(String, String)>,
    process: Option<Child>,
    dir: tempfile::TempDir,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn database_url(dir: &std::path::Path) -> anyhow::Result<String> {
    match std::env::var("PALABRE_TEST_DATABASE_URL") {
        Ok(server) if !server.is_empty() => {
            use sea_orm::ConnectionTrait;
            let name = format!(
                "palabre_test_fed_{}_{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)?
                    .as_nanos()
            );
            let admin = sea_orm::Database::connect(&server).await?;
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await?;
            let mut url = url::Url::parse(&server)?;
            url.set_path(&name);
            Ok(url.to_string())
        }
        _ => Ok(format!("sqlite://{}/node.sqlite?mode=rwc", dir.display())),
    }
}

impl Node {
    fn command(&self, args: &[&str]) -> anyhow::Result<Command> {
        let mut command = Command::new(palabre_binary()?);
        command
            .args(args)
            .env_remove("PALABRE_CONFIG")
            .env("PALABRE_DATABASE__URL", &self.database_url)
            .env("PALABRE_SERVER__PUBLIC_URL", &self.url)
            .env("PALABRE_INSTANCE__NAME", &self.name)
            // Nodes on one machine talk over plain http on loopback.
            .env("PALABRE_FEDERATION__ALLOW_LOCAL", "true")
            .env(
                "RUST_LOG",
                "palabre=debug,activitypub_federation=debug,info",
            );
        for (key, value) in &self.extra_env {
            command.env(key, value);
        }
        Ok(command)
    }

    /// Starts `palabre serve` and waits until it answers.
    pub async fn start(name: &str) -> anyhow::Result<Self> {
        Self::start_with(name, &[]).await
    }

    /// Like `start`, with extra environment variables (e.g. a shorter retry backoff).
    pub async fn start_with(name: &str, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let mut node = Node {
            name: name.to_owned(),
            url: format!("http://localhost:{port}"),
            port,
            database_url: database_url(dir.path()).await?,
            extra_env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            process: None,
            dir,
        };
        node.restart().await?;
        Ok(node)
    }

    /// Starts the process again on the same port and database (after `kill`).
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("node.log"))?;
        let child = self
            .command(&["serve"])?
            .env("PALABRE_SERVER__BIND", format!("127.0.0.1:{}", self.port))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("cannot start palabre serve")?;
        self.process = Some(child);
        let client = client();
        for _ in 0..200 {
            if let Ok(response) = client
                .get(format!("{}/api/v1/consultations", self.url))
                .send()
                .await
                && response.status().is_success()
            {
                return Ok(());
            }
            if let Some(process) = self.process.as_mut()
                && let Some(status) = process.try_wait()?
            {
                bail!("node {} exited with {status}: {}", self.name, self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("node {} did not answer in time: {}", self.name, self.log())
    }

    /// A second `palabre serve` process of the same node: same database and public URL, its
    /// own listening port (as behind a load balancer) and its own delivery worker.
    pub async fn start_replica(&self) -> anyhow::Result<Replica> {
        let port = free_port()?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("replica.log"))?;
        let process = self
            .command(&["serve"])?
            .env("PALABRE_SERVER__BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("cannot start the replica")?;
        let replica = Replica {
            url: format!("http://localhost:{port}"),
            process,
        };
        let client = client();
        for _ in 0..200 {
            if let Ok(response) = client
                .get(format!("{}/api/v1/consultations", replica.url))
                .send()
                .await
                && response.status().is_success()
            {
                return Ok(replica);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the replica of {} did not answer", self.name)
    }

    /// SIGKILL: no shutdown, no flushing, exactly like a crash.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Runs `palabre admin create-user` against this node's database.
    pub fn create_user(&self, username: &str, password: &str, admin: bool) -> anyhow::Result<()> {
        self.create_user_with(username, password, if admin { &["--admin"] } else { &[] })
    }

    /// `create_user` with other options of `create-user` (`--moderator`, `--verified LABEL`).
    pub fn create_user_with(
        &self,
        username: &str,
        password: &str,
        options: &[&str],
    ) -> anyhow::Result<()> {
        use std::io::Write;
        let mut args = vec!["admin", "create-user", username, "--password-stdin"];
        args.extend_from_slice(options);
        let mut child = self
            .command(&args)?
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .context("stdin")?
            .write_all(password.as_bytes())?;
        let output = child.wait_with_output()?;
        if !output.status.success() {
            bail!(
                "create-user failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    /// Runs `palabre admin ARGS...` against this node's database.
    pub fn admin(&self, args: &[&str]) -> anyhow::Result<()> {
        let mut full = vec!["admin"];
        full.extend_from_slice(args);
        let output = self.command(&full)?.stdin(Stdio::null()).output()?;
        if !output.status.success() {
            bail!(
                "admin {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    /// Runs `palabre admin ARGS...` and returns what it did, failure included: its exit
    /// status, standard output and standard error.
    pub fn admin_output(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        let mut full = vec!["admin"];
        full.extend_from_slice(args);
        Ok(self.command(&full)?.stdin(Stdio::null()).output()?)
    }

    /// The process id of the running `palabre serve`, to read its memory use in /proc.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Child::id)
    }

    /// The node's host as it appears in handles: `localhost:PORT`.
    pub fn host(&self) -> String {
        self.url.trim_start_matches("http://").to_owned()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("node.log")).unwrap_or_default()
    }
}

/// A second process serving the same node; killed when dropped.
pub struct Replica {
    /// Where this process listens (the node's public URL stays the first process's).
    pub url: String,
    process: Child,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
        // For debugging a failed run: PALABRE_KEEP_LOGS=/some/dir keeps each node's log.
        if let Ok(dir) = std::env::var("PALABRE_KEEP_LOGS") {
            let name: String = self
                .name
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect();
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(format!("{dir}/{name}.log"), self.log());
        }
    }
}
