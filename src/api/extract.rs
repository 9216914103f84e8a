//! Extractors that turn every bad request into the API's `{error, message}` shape instead of
//! axum's plain-text rejections, and that authenticate bearer tokens.
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;

use crate::app::AppState;
use crate::domain::Actor;
use crate::error::AppError;
use crate::services::accounts::{self, SessionKind, actor_of};
use crate::store::account;

#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct ApiJson<T>(pub T);

#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct ApiPath<T>(pub T);

#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct ApiQuery<T>(pub T);

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        AppError::BadInput(format!("invalid JSON body: {}", rejection.body_text()))
    }
}

impl From<PathRejection> for AppError {
    fn from(rejection: PathRejection) -> Self {
        AppError::BadInput(format!("invalid path: {}", rejection.body_text()))
    }
}

impl From<QueryRejection> for AppError {
    fn from(rejection: QueryRejection) -> Self {
        AppError::BadInput(format!("invalid query: {}", rejection.body_text()))
    }
}

/// The signed-in caller, from `Authorization: Bearer <token>`.
pub struct ApiUser {
    pub account: account::Model,
    pub actor: Actor,
    pub token: String,
}

/// The caller when a token is given, `None` for anonymous readers.
pub struct MaybeApiUser(pub Option<ApiUser>);

impl MaybeApiUser {
    pub fn actor(&self) -> Option<&Actor> {
        self.0.as_ref().map(|u| &u.actor)
    }
}

fn bearer(parts: &Parts) -> Result<Option<String>, AppError> {
    let Some(value) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| AppError::Unauthenticated("unreadable Authorization header".into()))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => {
            Ok(Some(token.trim().to_owned()))
        }
        _ => Err(AppError::Unauthenticated(
            "the Authorization header must be 'Bearer <token>'".into(),
        )),
    }
}

impl OptionalFromRequestParts<AppState> for ApiUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        let Some(token) = bearer(parts)? else {
            return Ok(None);
        };
        let account = accounts::account_for_session(&state.db, &token, SessionKind::Api)
            .await?
            .ok_or_else(|| {
                AppError::Unauthenticated("the token is invalid, expired or revoked".into())
            })?;
        // Tokens opened before a suspension stay in the database (lifting the suspension
        // brings them back) but are refused meanwhile, with a message that says why.
        accounts::ensure_not_suspended(&account)?;
        Ok(Some(ApiUser {
            actor: actor_of(&account),
            account,
            token,
        }))
    }
}

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        <ApiUser as OptionalFromRequestParts<AppState>>::from_request_parts(parts, state)
            .await?
            .ok_or_else(|| {
                AppError::Unauthenticated(
                    "sign in first: send 'Authorization: Bearer <token>' (POST /api/v1/auth/token)"
                        .into(),
                )
            })
    }
}

impl FromRequestParts<AppState> for MaybeApiUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(MaybeApiUser(
            <ApiUser as OptionalFromRequestParts<AppState>>::from_request_parts(parts, state)
                .await?,
        ))
    }
}
