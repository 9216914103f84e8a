use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::extract::{ApiJson, ApiPath, ApiUser};
use crate::app::AppState;
use crate::error::{AppResult, ErrorBody};
use crate::federation::FedData;
use crate::federation::follows::{self, FollowView, NewFollow};

/// Follow a consultation hosted on another node (handle `name@host` or actor URL). It is then
/// mirrored here under the slug `name@host`.
#[utoipa::path(post, path = "/api/v1/follows", tag = "federation", request_body = NewFollow,
    security(("bearer" = [])),
    responses((status = 201, body = FollowView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn create(
    data: FedData,
    user: ApiUser,
    ApiJson(body): ApiJson<NewFollow>,
) -> AppResult<(StatusCode, Json<FollowView>)> {
    let view = follows::follow(&data, &user.actor, &body.target).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// The caller's follows.
#[utoipa::path(get, path = "/api/v1/follows", tag = "federation", security(("bearer" = [])),
    responses((status = 200, body = [FollowView]), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: ApiUser,
) -> AppResult<Json<Vec<FollowView>>> {
    Ok(Json(follows::list(&state, &user.actor).await?))
}

/// Stop following (sends `Undo(Follow)`); what was mirrored stays readable.
#[utoipa::path(delete, path = "/api/v1/follows/{id}", tag = "federation",
    security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(id): ApiPath<i32>,
) -> AppResult<StatusCode> {
    follows::unfollow(&state, &user.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
