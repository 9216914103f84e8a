use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::extract::{ApiJson, ApiUser};
use crate::app::AppState;
use crate::error::{AppResult, ErrorBody};
use crate::services::reports::{self, NewReport, ReportView};

/// Report a proposal, argument or source to the moderators (forwarded to the consultation's
/// own node when it is hosted elsewhere).
#[utoipa::path(post, path = "/api/v1/reports", tag = "moderation", request_body = NewReport,
    security(("bearer" = [])),
    responses((status = 201, body = ReportView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    user: ApiUser,
    ApiJson(body): ApiJson<NewReport>,
) -> AppResult<(StatusCode, Json<ReportView>)> {
    Ok((
        StatusCode::CREATED,
        Json(reports::create(&state, &user.actor, body).await?),
    ))
}

/// The moderation queue (moderators and admins).
#[utoipa::path(get, path = "/api/v1/reports", tag = "moderation", security(("bearer" = [])),
    responses((status = 200, body = [ReportView]), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: ApiUser,
) -> AppResult<Json<Vec<ReportView>>> {
    Ok(Json(reports::list(&state, &user.actor).await?))
}
