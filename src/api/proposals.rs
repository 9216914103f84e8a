use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::HiddenFlag;
use super::extract::{ApiJson, ApiPath, ApiQuery, ApiUser, MaybeApiUser};
use crate::app::AppState;
use crate::error::{AppResult, ErrorBody};
use crate::services::proposals::{
    self, NewProposal, OfficialAnswer, ProposalChanges, ProposalDetail, ProposalListQuery,
    ProposalPage,
};
use crate::services::views::ProposalView;
use crate::services::votes::{self, CastVote, VoteResult};

/// A consultation's proposals, newest first or by votes or arguments; keyset-paginated.
#[utoipa::path(get, path = "/api/v1/consultations/{slug}/proposals", tag = "proposals",
    params(ProposalListQuery),
    responses((status = 200, body = ProposalPage), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: MaybeApiUser,
    ApiPath(slug): ApiPath<String>,
    ApiQuery(query): ApiQuery<ProposalListQuery>,
) -> AppResult<Json<ProposalPage>> {
    Ok(Json(
        proposals::list(&state, user.actor(), &slug, &query).await?,
    ))
}

/// Post a proposal while the consultation is open.
#[utoipa::path(post, path = "/api/v1/consultations/{slug}/proposals", tag = "proposals",
    request_body = NewProposal, security(("bearer" = [])),
    responses((status = 201, body = ProposalView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "the consultation is not open", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(slug): ApiPath<String>,
    ApiJson(body): ApiJson<NewProposal>,
) -> AppResult<(StatusCode, Json<ProposalView>)> {
    let view = proposals::create(&state, &user.actor, &slug, body).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// One proposal with its arguments for and against, sources and vote counts.
#[utoipa::path(get, path = "/api/v1/proposals/{id}", tag = "proposals",
    responses((status = 200, body = ProposalDetail), (status = 404, body = ErrorBody),
              (status = 410, description = "withdrawn by its author", body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    user: MaybeApiUser,
    ApiPath(id): ApiPath<i32>,
) -> AppResult<Json<ProposalDetail>> {
    Ok(Json(proposals::get(&state, user.actor(), id).await?))
}

/// Edit one's own proposal while the consultation is open.
#[utoipa::path(patch, path = "/api/v1/proposals/{id}", tag = "proposals",
    request_body = ProposalChanges, security(("bearer" = [])),
    responses((status = 200, body = ProposalView), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(id): ApiPath<i32>,
    ApiJson(body): ApiJson<ProposalChanges>,
) -> AppResult<Json<ProposalView>> {
    Ok(Json(
        proposals::update(&state, &user.actor, id, body).await?,
    ))
}

/// Withdraw one's own proposal while the consultation is open.
#[utoipa::path(delete, path = "/api/v1/proposals/{id}", tag = "proposals",
    security(("bearer" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn withdraw(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(id): ApiPath<i32>,
) -> AppResult<StatusCode> {
    proposals::withdraw(&state, &user.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Hide or show a proposal (moderators and admins).
#[utoipa::path(put, path = "/api/v1/proposals/{id}/hidden", tag = "moderation",
    request_body = HiddenFlag, security(("bearer" = [])),
    responses((status = 200, body = ProposalView), (status = 403, body = ErrorBody)))]
pub async fn set_hidden(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(id): ApiPath<i32>,
    ApiJson(body): ApiJson<HiddenFlag>,
) -> AppResult<Json<ProposalView>> {
    Ok(Json(
        proposals::set_hidden(&state, &user.actor, id, body.hidden).await?,
    ))
}

/// Give the official answer and state, or mark as a duplicate (organisers).
#[utoipa::path(put, path = "/api/v1/proposals/{id}/answer", tag = "proposals",
    request_body = OfficialAnswer, security(("bearer" = [])),
    responses((status = 200, body = ProposalView), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn answer(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(id): ApiPath<i32>,
    ApiJson(body): ApiJson<OfficialAnswer>,
) -> AppResult<Json<ProposalView>> {
    Ok(Json(
        proposals::answer(&state, &user.actor, id, body).await?,
    ))
}

/// Cast or change the caller's vote.
#[utoipa::path(put, path = "/api/v1/proposals/{id}/vote", tag = "votes",
    request_body = CastVote, security(("bearer" = [])),
    responses((status = 200, body = VoteResult), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cast_vote(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(id): ApiPath<i32>,
    ApiJson(body): ApiJson<CastVote>,
) -> AppResult<Json<VoteResult>> {
    Ok(Json(
        votes::cast(&state, &user.actor, id, body.value).await?,
    ))
}

/// Withdraw the caller's vote.
#[utoipa::path(delete, path = "/api/v1/proposals/{id}/vote", tag = "votes",
    security(("bearer" = [])),
    responses((status = 200, body = VoteResult), (status = 409, body = ErrorBody)))]
pub async fn withdraw_vote(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(id): ApiPath<i32>,
) -> AppResult<Json<VoteResult>> {
    Ok(Json(votes::withdraw(&state, &user.actor, id).await?))
}
