use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::HiddenFlag;
use super::extract::{ApiJson, ApiPath, ApiQuery, ApiUser, MaybeApiUser};
use crate::app::AppState;
use crate::error::{AppResult, ErrorBody};
use crate::services::contributions::{
    self, ArgumentChanges, ArgumentFilter, NewArgument, NewSource, SourceChanges,
};
use crate::services::views::{ArgumentView, CommentView, SourceView};

/// A proposal's arguments, newest first; `?stance=for|against` to filter.
#[utoipa::path(get, path = "/api/v1/proposals/{id}/arguments", tag = "arguments",
    params(ArgumentFilter),
    responses((status = 200, body = [ArgumentView]), (status = 404, body = ErrorBody)))]
pub async fn list_arguments(
    State(state): State<AppState>,
    user: MaybeApiUser,
    ApiPath(id): ApiPath<i32>,
    ApiQuery(filter): ApiQuery<ArgumentFilter>,
) -> AppResult<Json<Vec<ArgumentView>>> {
    Ok(Json(
        contributions::list_arguments(&state, user.actor(), id, filter).await?,
    ))
}

/// Argue for or against a proposal while the consultation is open.
#[utoipa::path(post, path = "/api/v1/proposals/{id}/arguments", tag = "arguments",
    request_body = NewArgument, security(("bearer" = [])),
    responses((status = 201, body = ArgumentView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_argument(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(id): ApiPath<i32>,
    ApiJson(body): ApiJson<NewArgument>,
) -> AppResult<(StatusCode, Json<ArgumentView>)> {
    let view = contributions::add_argument(&state, &user.actor, id, body).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// One argument.
#[utoipa::path(get, path = "/api/v1/arguments/{id}", tag = "arguments",
    responses((status = 200, body = ArgumentView), (status = 404, body = ErrorBody)))]
pub async fn get_argument(
    State(state): State<AppState>,
    user: MaybeApiUser,
    ApiPath(id): ApiPath<i32>,
) -> AppResult<Json<ArgumentView>> {
    Ok(Json(
        contributions::get_argument(&state, user.actor(), id).await?,
    ))
}

/// Edit one's own argument while the consultation is open.
#[utoipa::path(patch, path = "/api/v1/arguments/{id}", tag = "arguments",
    request_body = ArgumentChanges, security(("bearer" = [])),
    responses((status = 200, body = ArgumentView), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn update_argument(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(id): ApiPath<i32>,
    ApiJson(body): ApiJson<ArgumentChanges>,
) -> AppResult<Json<ArgumentView>> {
    Ok(Json(
        contributions::update_argument(&state, &user.actor, id, body).await?,
    ))
}

/// Withdraw one's own argument while the consultation is open.
#[utoipa::path(delete, path = "/api/v1/arguments/{id}", tag = "arguments",
    security(("bearer" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn withdraw_argument(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(id): ApiPath<i32>,
) -> AppResult<StatusCode> {
    contributions::withdraw_argument(&state, &user.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Hide or show an argument (moderators and admins).
#[utoipa::path(put, path = "/api/v1/arguments/{id}/hidden", tag = "moderation",
    request_body = HiddenFlag, security(("bearer" = [])),
    responses((status = 200, body = ArgumentView), (status = 403, body = ErrorBody)))]
pub async fn set_argument_hidden(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(id): ApiPath<i32>,
    ApiJson(body): ApiJson<HiddenFlag>,
) -> AppResult<Json<ArgumentView>> {
    Ok(Json(
        contributions::set_argument_hidden(&state, &user.actor, id, body.hidden).await?,
    ))
}

/// Hide or show a comment (a reply from the fediverse without a side; moderators and admins).
#[utoipa::path(put, path = "/api/v1/comments/{id}/hidden", tag = "moderation",
    request_body = HiddenFlag, security(("bearer" = [])),
    responses((status = 200, body = CommentView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn set_comment_hidden(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(id): ApiPath<i32>,
    ApiJson(body): ApiJson<HiddenFlag>,
) -> AppResult<Json<CommentView>> {
    Ok(Json(
        contributions::set_comment_hidden(&state, &user.actor, id, body.hidden).await?,
    ))
}

/// A proposal's sources.
#[utoipa::path(get, path = "/api/v1/proposals/{id}/sources", tag = "sources",
    responses((status = 200, body = [SourceView]), (status = 404, body = ErrorBody)))]
pub async fn list_sources(
    State(state): State<AppState>,
    user: MaybeApiUser,
    ApiPath(id): ApiPath<i32>,
) -> AppResult<Json<Vec<SourceView>>> {
    Ok(Json(
        contributions::list_sources(&state, user.actor(), id).await?,
    ))
}

/// Add a source (title, http(s) link, optional description) while the consultation is open.
#[utoipa::path(post, path = "/api/v1/proposals/{id}/sources", tag = "sources",
    request_body = NewSource, security(("bearer" = [])),
    responses((status = 201, body = SourceView), (status = 400, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn add_source(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(id): ApiPath<i32>,
    ApiJson(body): ApiJson<NewSource>,
) -> AppResult<(StatusCode, Json<SourceView>)> {
    let view = contributions::add_source(&state, &user.actor, id, body).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Edit one's own source while the consultation is open.
#[utoipa::path(patch, path = "/api/v1/sources/{id}", tag = "sources",
    request_body = SourceChanges, security(("bearer" = [])),
    responses((status = 200, body = SourceView), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn update_source(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(id): ApiPath<i32>,
    ApiJson(body): ApiJson<SourceChanges>,
) -> AppResult<Json<SourceView>> {
    Ok(Json(
        contributions::update_source(&state, &user.actor, id, body).await?,
    ))
}

/// Withdraw one's own source while the consultation is open.
#[utoipa::path(delete, path = "/api/v1/sources/{id}", tag = "sources",
    security(("bearer" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn withdraw_source(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(id): ApiPath<i32>,
) -> AppResult<StatusCode> {
    contributions::withdraw_source(&state, &user.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Hide or show a source (moderators and admins).
#[utoipa::path(put, path = "/api/v1/sources/{id}/hidden", tag = "moderation",
    request_body = HiddenFlag, security(("bearer" = [])),
    responses((status = 200, body = SourceView), (status = 403, body = ErrorBody)))]
pub async fn set_source_hidden(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(id): ApiPath<i32>,
    ApiJson(body): ApiJson<HiddenFlag>,
) -> AppResult<Json<SourceView>> {
    Ok(Json(
        contributions::set_source_hidden(&state, &user.actor, id, body.hidden).await?,
    ))
}
