//! Builds the application state and the router. `palabre serve` and the tests start exactly
//! this, the tests on port 0 with an isolated database.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use activitypub_federation::config::{FederationConfig, FederationMiddleware};
use anyhow::Context;
use axum::{Router, ServiceExt};
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tower::Layer;
use tower::util::MapRequestLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::Settings;
use crate::ratelimit::Limiter;
use crate::{api, federation, ratelimit, store, web};

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub settings: Arc<Settings>,
    /// `server.public_url` without its trailing slash.
    pub origin: Arc<str>,
    /// The rate limits' counters, shared by every request of this process.
    pub limiter: Arc<Limiter>,
}

impl AppState {
    /// Connects to the database and brings its schema up to date.
    pub async fn new(settings: Settings) -> anyhow::Result<Self> {
        crate::install_crypto_provider();
        let db = store::connect(&settings.database).await?;
        store::migrate(&db).await?;
        Ok(Self {
            db,
            limiter: Arc::new(Limiter::new(&settings)?),
            origin: settings.origin().into(),
            settings: Arc::new(settings),
        })
    }
}

pub fn router(state: AppState, federation: FederationConfig<AppState>) -> Router {
    Router::new()
        .merge(api::router())
        .merge(federation::routes::router())
        .merge(web::router())
        // Gives the limited routes the counters and the client's address (`ratelimit`).
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ratelimit::context,
        ))
        .layer(FederationMiddleware::new(federation))
        .layer(RequestBodyLimitLayer::new(1024 * 1024))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves on an already bound listener until ctrl-c or SIGTERM, with this process's delivery
/// and backfill workers running.
pub async fn serve_on(listener: TcpListener, state: AppState) -> anyhow::Result<()> {
    let federation = federation::config(state.clone()).await?;
    serve_with(listener, state, federation).await
}

/// [`serve_on`] with a federation configuration built by the caller
/// (`federation::config_with`: another resolver or time limit for fetches).
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    federation: FederationConfig<AppState>,
) -> anyhow::Result<()> {
    federation::delivery::spawn_worker(federation.clone());
    federation::follows::spawn_backfill_worker(federation.clone());
    let app = router(state, federation);
    // Content negotiation rewrites the path, so it must run before routing.
    let app = MapRequestLayer::new(federation::routes::negotiate).layer(app);
    axum::serve(
        listener,
        ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<SocketAddr>(
            app,
        ),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("server error")
}

/// Binds `server.bind` and serves until ctrl-c or SIGTERM.
pub async fn serve(state: AppState) -> anyhow::Result<()> {
    let bind = &state.settings.server.bind;
    let listener = TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    tracing::info!(
        address = %listener.local_addr()?,
        public_url = %state.origin,
        "Palabre is listening"
    );
    serve_on(listener, state).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
