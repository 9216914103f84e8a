//! One error type for every use case; the API turns it into `{error, message}` with the right
//! status, the web pages into an error page, the CLI into a message and an exit code.
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Gone(String),
    /// The consultation is not open for participation (upcoming or closed).
    #[error("{0}")]
    NotOpen(String),
    #[error("{0}")]
    Conflict(String),
    /// Another server failed or refused (fetching a remote actor, delivering to its inbox).
    #[error("{0}")]
    Remote(String),
    /// A request body over the size this route reads.
    #[error("{0}")]
    TooLarge(String),
    /// A rate limit was reached (`src/ratelimit.rs`); the client may try again after
    /// `retry_after` seconds, which the response also gives in `Retry-After`.
    #[error("too many requests: try again in {retry_after} seconds")]
    TooManyRequests { retry_after: u64 },
    /// The database cannot be reached or written right now (restarting, disk full): nothing
    /// was changed, and the client may try again after a few seconds.
    #[error("the database is unavailable: {0}; nothing was changed, try again in a few seconds")]
    Unavailable(String),
    /// Something this version of Palabre does not do yet.
    #[error("{0}")]
    NotImplemented(String),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    /// Whether a unique index refused the write: two requests raced to create the same thing.
    pub fn is_unique_violation(&self) -> bool {
        let AppError::Internal(err) = self else {
            return false;
        };
        matches!(
            err.downcast_ref::<sea_orm::DbErr>()
                .and_then(sea_orm::DbErr::sql_err),
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
        )
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(err: sea_orm::DbErr) -> Self {
        if database_unavailable(&err) {
            tracing::warn!(error = %err, "database unavailable");
            return AppError::Unavailable(err.to_string());
        }
        AppError::Internal(err.into())
    }
}

/// Whether a database error means "not now" rather than "wrong": the server restarting or
/// refusing connections, a broken connection, a full disk. Every write runs in a transaction,
/// so such a failure leaves nothing half-written and the request can simply be retried.
fn database_unavailable(err: &sea_orm::DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    use sea_orm::{DbErr, RuntimeErr};
    let sqlx = match err {
        DbErr::ConnectionAcquire(_) => return true,
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        DbErr::Conn(_) => return true,
        _ => return false,
    };
    match sqlx.as_ref() {
        Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed => true,
        // PostgreSQL: shutting down, starting, refusing connections, out of disk or
        // connections; SQLite: busy, I/O error, disk full.
        Sqlx::Database(db) => matches!(
            db.code().as_deref(),
            Some("57P01" | "57P02" | "57P03" | "55000" | "53100" | "53300" | "5" | "10" | "13")
        ),
        _ => false,
    }
}

impl<E: std::fmt::Debug + std::fmt::Display + Send + Sync + 'static>
    From<sea_orm::TransactionError<E>> for AppError
where
    AppError: From<E>,
{
    fn from(err: sea_orm::TransactionError<E>) -> Self {
        match err {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(e) => e.into(),
        }
    }
}

/// The JSON body of every API error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable machine-readable code: `bad_request`, `unauthorized`, `forbidden`,
    /// `not_found`, `gone`, `consultation_not_open`, `conflict`, `too_many_requests`,
    /// `unavailable` (503, with `Retry-After`), `internal`.
    pub error: &'static str,
    /// What went wrong, for a person.
    pub message: String,
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadInput(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Gone(_) => StatusCode::GONE,
            AppError::NotOpen(_) | AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Remote(_) => StatusCode::BAD_GATEWAY,
            AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadInput(_) => "bad_request",
            AppError::Unauthenticated(_) => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::Gone(_) => "gone",
            AppError::NotOpen(_) => "consultation_not_open",
            AppError::Conflict(_) => "conflict",
            AppError::TooManyRequests { .. } => "too_many_requests",
            AppError::Remote(_) => "bad_gateway",
            AppError::TooLarge(_) => "payload_too_large",
            AppError::Unavailable(_) => "unavailable",
            AppError::NotImplemented(_) => "not_implemented",
            AppError::Internal(_) => "internal",
        }
    }

    pub fn log_if_internal(&self) {
        if let AppError::Internal(err) = self {
            tracing::error!(error = ?err, "internal error");
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log_if_internal();
        let body = ErrorBody {
            error: self.code(),
            message: self.to_string(),
        };
        let mut response = (self.status(), Json(body)).into_response();
        if let AppError::TooManyRequests { retry_after } = self {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after),
            );
        }
        if let AppError::Unavailable(_) = self {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(5u64),
            );
        }
        response
    }
}

/// Errors of the federation library: bad signatures are 401, unparsable activities 400, what
/// its server says is not there 404, what could not be fetched 502.
impl From<activitypub_federation::error::Error> for AppError {
    fn from(err: activitypub_federation::error::Error) -> Self {
        use activitypub_federation::error::Error as Fed;
        if let Fed::ReqwestMiddleware(cause) = &err
            && let Some(url) = missing_at(cause)
        {
            return AppError::NotFound(format!("{url} answered 404: there is nothing there"));
        }
        match err {
            Fed::NotFound => AppError::NotFound("object not found".into()),
            Fed::ActivitySignatureInvalid | Fed::ActivityBodyDigestInvalid => {
                AppError::Unauthenticated(err.to_string())
            }
            // The library's own message names the id twice and leaves out why (its format
            // string prints the id where the parser's error should be).
            Fed::ParseReceivedActivity { err, id } => AppError::BadInput(match id {
                Some(id) => format!("cannot read the activity {id}: {err}"),
                None => format!("cannot read the activity: {err}"),
            }),
            Fed::UrlVerificationError(_) => AppError::BadInput(err.to_string()),
            Fed::ObjectDeleted(_) => AppError::Gone(err.to_string()),
            // The library's own wording advises an environment variable that turns the check off.
            Fed::DomainResolveError(host) => AppError::Remote(format!(
                "{host} does not resolve, or resolves to an address that is not public: not fetched"
            )),
            other => AppError::Remote(with_causes(&other)),
        }
    }
}

/// The URL a fetch was answered 404 at, if that is why it failed.
fn missing_at(err: &reqwest_middleware::Error) -> Option<&url::Url> {
    let reqwest_middleware::Error::Middleware(cause) = err else {
        return None;
    };
    cause
        .downcast_ref::<crate::federation::fetch_guard::NotADocument>()
        .filter(|n| n.status == reqwest::StatusCode::NOT_FOUND)
        .map(|n| &n.url)
}

/// An error's message followed by its causes': a failed request says why (a refused address,
/// a timeout) only in its sources.
fn with_causes(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

pub type AppResult<T> = Result<T, AppError>;
