//! Starts the real application on a random port with an isolated database: a fresh SQLite file,
//! or a fresh PostgreSQL database when PALABRE_TEST_DATABASE_URL points at a server.
#![allow(dead_code)]

use palabre::app::{AppState, serve_on};
use palabre::config::Settings;
use palabre::domain::Role;
use palabre::services::accounts::{self, NewAccount};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub struct TestApp {
    /// `http://localhost:PORT`, also the node's public_url.
    pub url: String,
    pub state: AppState,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
}

pub const PASSWORD: &str = "correct horse battery";

async fn isolated_database_url(dir: &std::path::Path) -> String {
    match std::env::var("PALABRE_TEST_DATABASE_URL") {
        Ok(server) if !server.is_empty() => {
            use sea_orm::ConnectionTrait;
            let name = format!(
                "palabre_test_{}",
                accounts::random_token()
                    .to_lowercase()
                    .replace(['-', '_'], "")
            );
            let name = &name[..40.min(name.len())];
            let admin = sea_orm::Database::connect(&server)
                .await
                .expect("cannot reach PALABRE_TEST_DATABASE_URL");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("cannot create a test database");
            let mut url = url::Url::parse(&server).expect("PALABRE_TEST_DATABASE_URL is not a URL");
            url.set_path(name);
            url.to_string()
        }
        _ => format!("sqlite://{}/palabre.sqlite?mode=rwc", dir.display()),
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// A node that federates with other test nodes on loopback (`allow_local`).
    pub async fn spawn_federating() -> Self {
        Self::spawn_with(|settings| settings.federation.allow_local = true).await
    }

    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> Self {
        palabre::install_crypto_provider();
        let dir = tempfile::tempdir().expect("tempdir");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mut settings = Settings::load(None).expect("default settings");
        settings.server.public_url = format!("http://localhost:{port}").parse().expect("url");
        settings.database.url = isolated_database_url(dir.path()).await;
        settings.database.max_connections = 5;
        configure(&mut settings);
        let state = AppState::new(settings).await.expect("app state");
        tokio::spawn(serve_on(listener, state.clone()));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            url: format!("http://localhost:{port}"),
            state,
            client,
            _dir: dir,
        }
    }

    pub async fn create_user(&self, username: &str, role: Role, verified: Option<&str>) {
        accounts::create_account(
            &self.state.db,
            NewAccount {
                username,
                password: PASSWORD,
                display_name: None,
                role,
                verified_label: verified,
            },
        )
        .await
        .expect("create user");
    }

    /// Creates the user and returns an API token for it.
    pub async fn user_token(&self, username: &str, role: Role) -> String {
        self.create_user(username, role, None).await;
        self.token(username).await
    }

    pub async fn token(&self, username: &str) -> String {
        let response = self
            .client
            .post(format!("{}/api/v1/auth/token", self.url))
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .expect("token request");
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("token json");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Sends a JSON API request; returns the status and the JSON body (Null when empty).
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("api request");
        let status = response.status();
        let text = response.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
        };
        (status, value)
    }

    /// Follows the consultation `handle` of another node as `token`, and waits for its
    /// `Accept`.
    pub async fn follow_accepted(&self, token: &str, handle: &str) {
        let (status, body) = self
            .api(
                reqwest::Method::POST,
                "/api/v1/follows",
                Some(token),
                Some(json!({"target": handle})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        eventually("the follow accepted", || async {
            let (_, follows) = self
                .api(reqwest::Method::GET, "/api/v1/follows", Some(token), None)
                .await;
            follows
                .as_array()?
                .iter()
                .any(|f| f["state"] == "accepted")
                .then_some(())
        })
        .await;
    }

    /// From now on (`fail`), or no longer, every insert into `table` fails as on a full disk:
    /// a real database fault, raised by a trigger (with PostgreSQL's own disk-full code there).
    pub async fn inserts_fail(&self, table: &str, fail: bool) {
        use sea_orm::{ConnectionTrait, DbBackend};
        let db = &self.state.db;
        let statements = match (db.get_database_backend(), fail) {
            (DbBackend::Postgres, true) => vec![
                format!(
                    "CREATE FUNCTION {table}_fail() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN RAISE EXCEPTION 'disk full' USING ERRCODE = '53100'; END $$"
                ),
                format!(
                    "CREATE TRIGGER {table}_fail BEFORE INSERT ON {table} \
                     FOR EACH ROW EXECUTE FUNCTION {table}_fail()"
                ),
            ],
            (DbBackend::Postgres, false) => vec![
                format!("DROP TRIGGER {table}_fail ON {table}"),
                format!("DROP FUNCTION {table}_fail()"),
            ],
            (_, true) => vec![format!(
                "CREATE TRIGGER {table}_fail BEFORE INSERT ON {table} \
                 BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )],
            (_, false) => vec![format!("DROP TRIGGER {table}_fail")],
        };
        for statement in statements {
            db.execute_unprepared(&statement).await.expect("trigger");
        }
    }

    /// Creates a consultation as `admin_token`, open from an hour ago for `open_days` days
    /// (a negative number makes one that is already closed).
    pub async fn consultation(&self, admin_token: &str, slug: &str, open_days: i64) -> Value {
        let now = chrono::Utc::now();
        let (opens, closes) = if open_days >= 0 {
            (
                now - chrono::Duration::hours(1),
                now + chrono::Duration::days(open_days.max(1)),
            )
        } else {
            (
                now + chrono::Duration::days(open_days * 2),
                now + chrono::Duration::days(open_days),
            )
        };
        let (status, body) = self
            .api(
                reqwest::Method::POST,
                "/api/v1/consultations",
                Some(admin_token),
                Some(json!({
                    "slug": slug,
                    "title": format!("Consultation {slug}"),
                    "body": "Comment **améliorer** nos services publics ?",
                    "themes": ["numérique"],
                    "opens_at": opens.to_rfc3339(),
                    "closes_at": closes.to_rfc3339(),
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }
}

/// Sends `signed_body` to `inbox`, signed (draft-cavage, as Mastodon signs) with `signer`'s key
/// whatever the activity claims; `sent_body`, when given, replaces the body after signing.
pub async fn send_signed<A: activitypub_federation::traits::Actor>(
    app: &TestApp,
    signer: &A,
    inbox: &str,
    signed_body: &Value,
    sent_body: Option<&Value>,
) -> StatusCode {
    let config = activitypub_federation::config::FederationConfig::builder()
        .domain(app.state.settings.domain())
        .app_data(app.state.clone())
        .debug(true)
        .http_signature_compat(true)
        .signed_fetch_actor(signer)
        .build()
        .await
        .expect("signing configuration");
    let data = config.to_request_data();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).build();
    let request = client
        .post(inbox)
        .header("content-type", "application/activity+json");
    let body = bytes::Bytes::from(serde_json::to_vec(signed_body).expect("json"));
    let mut signed = data.sign_request(request, body).await.expect("signed");
    if let Some(other) = sent_body {
        // The body changed after signing: its digest no longer matches.
        *signed.body_mut() = Some(serde_json::to_vec(other).expect("json").into());
    }
    reqwest::Client::new()
        .execute(signed)
        .await
        .expect("delivery")
        .status()
}

/// Polls `check` every 100 ms for up to 60 s.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
