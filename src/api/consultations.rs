use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{ApiJson, ApiPath, ApiQuery, ApiUser};
use crate::app::AppState;
use crate::domain::ConsultationState;
use crate::error::{AppResult, ErrorBody};
use crate::services::consultations::{self, ConsultationChanges, NewConsultation};
use crate::services::views::ConsultationView;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only `open`, `upcoming` or `closed` consultations.
    pub state: Option<String>,
}

/// All consultations of the node with their state, open ones first.
#[utoipa::path(get, path = "/api/v1/consultations", tag = "consultations", params(ListQuery),
    responses((status = 200, body = [ConsultationView]), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> AppResult<Json<Vec<ConsultationView>>> {
    let only = match query.state.as_deref() {
        None => None,
        Some("open") => Some(ConsultationState::Open),
        Some("upcoming") => Some(ConsultationState::Upcoming),
        Some("closed") => Some(ConsultationState::Closed),
        Some(other) => {
            return Err(crate::error::AppError::BadInput(format!(
                "state must be open, upcoming or closed, not '{other}'"
            )));
        }
    };
    Ok(Json(consultations::list(&state, only).await?))
}

/// Create a consultation (organisers, i.e. admins).
#[utoipa::path(post, path = "/api/v1/consultations", tag = "consultations",
    request_body = NewConsultation, security(("bearer" = [])),
    responses((status = 201, body = ConsultationView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    user: ApiUser,
    ApiJson(body): ApiJson<NewConsultation>,
) -> AppResult<(StatusCode, Json<ConsultationView>)> {
    let view = consultations::create(&state, &user.actor, body).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// One consultation with its state.
#[utoipa::path(get, path = "/api/v1/consultations/{slug}", tag = "consultations",
    responses((status = 200, body = ConsultationView), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
) -> AppResult<Json<ConsultationView>> {
    Ok(Json(consultations::get(&state, &slug).await?))
}

/// Change a consultation's title, body, themes or dates (organisers).
#[utoipa::path(patch, path = "/api/v1/consultations/{slug}", tag = "consultations",
    request_body = ConsultationChanges, security(("bearer" = [])),
    responses((status = 200, body = ConsultationView), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(slug): ApiPath<String>,
    ApiJson(body): ApiJson<ConsultationChanges>,
) -> AppResult<Json<ConsultationView>> {
    Ok(Json(
        consultations::update(&state, &user.actor, &slug, body).await?,
    ))
}
