use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{ApiJson, ApiPath, ApiUser};
use crate::app::AppState;
use crate::domain::Role;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::services::accounts::{self, LoginPolicy, NewAccount, SessionKind};
use crate::services::views::{AuthorView, author_view};

#[derive(Debug, Deserialize, ToSchema)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// Send it as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_in_days: i64,
}

/// Exchange a username and password for a bearer token. An unknown username, a wrong password
/// and an account locked after too many failures all get the same 401 with the same message;
/// a suspended account gets 403.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "accounts", request_body = Credentials,
    responses((status = 200, body = TokenResponse), (status = 401, body = ErrorBody),
              (status = 403, description = "the account is suspended", body = ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    ApiJson(credentials): ApiJson<Credentials>,
) -> AppResult<Json<TokenResponse>> {
    let policy = LoginPolicy::from_settings(&state.settings.security);
    let account = accounts::authenticate(
        &state.db,
        &policy,
        &credentials.username,
        &credentials.password,
    )
    .await?;
    let days = state.settings.security.token_days;
    let token = accounts::open_session(&state.db, account.id, SessionKind::Api, days).await?;
    Ok(Json(TokenResponse {
        token,
        expires_in_days: days,
    }))
}

/// Revoke the token used for this request.
#[utoipa::path(delete, path = "/api/v1/auth/token", tag = "accounts", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn revoke_token(State(state): State<AppState>, user: ApiUser) -> AppResult<StatusCode> {
    accounts::close_session(&state.db, &user.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    /// How many tokens and web sessions were closed, the one in use included.
    pub revoked: u64,
}

/// Revoke every token and web session of the caller ("sign out everywhere"), the one used for
/// this request included: all of them get 401 from the next request on.
#[utoipa::path(delete, path = "/api/v1/auth/tokens", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Revoked), (status = 401, body = ErrorBody)))]
pub async fn revoke_all_tokens(
    State(state): State<AppState>,
    user: ApiUser,
) -> AppResult<Json<Revoked>> {
    let revoked = accounts::close_all_sessions(&state.db, user.account.id).await?;
    Ok(Json(Revoked { revoked }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SignUp {
    /// Lowercase letters, digits, `_` and `-`; becomes the fediverse handle.
    pub username: String,
    /// At least 8 characters.
    pub password: String,
    pub display_name: Option<String>,
}

/// Create an account (when the node has open registrations).
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", request_body = SignUp,
    responses((status = 201, body = AuthorView), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn sign_up(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SignUp>,
) -> AppResult<(StatusCode, Json<AuthorView>)> {
    if !state.settings.instance.open_registrations {
        return Err(AppError::Forbidden(
            "this node does not accept new accounts".into(),
        ));
    }
    let account = accounts::create_account(
        &state.db,
        NewAccount {
            username: &body.username,
            password: &body.password,
            display_name: body.display_name.as_deref(),
            role: Role::Member,
            verified_label: None,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(author_view(&state, &account))))
}

/// One account's public profile.
#[utoipa::path(get, path = "/api/v1/accounts/{username}", tag = "accounts",
    responses((status = 200, body = AuthorView), (status = 404, body = ErrorBody)))]
pub async fn get_account(
    State(state): State<AppState>,
    ApiPath(username): ApiPath<String>,
) -> AppResult<Json<AuthorView>> {
    let account = accounts::find_by_username(&state.db, &username).await?;
    Ok(Json(author_view(&state, &account)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Verification {
    /// E.g. "Compte vérifié" or the organisation's name.
    pub label: String,
}

/// Mark an account verified with a label (admins).
#[utoipa::path(put, path = "/api/v1/accounts/{username}/verification", tag = "accounts",
    request_body = Verification, security(("bearer" = [])),
    responses((status = 200, body = AuthorView), (status = 403, body = ErrorBody)))]
pub async fn set_verification(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(username): ApiPath<String>,
    ApiJson(body): ApiJson<Verification>,
) -> AppResult<Json<AuthorView>> {
    let account =
        accounts::set_verified(&state.db, Some(&user.actor), &username, Some(&body.label)).await?;
    Ok(Json(author_view(&state, &account)))
}

/// Remove an account's verified badge (admins).
#[utoipa::path(delete, path = "/api/v1/accounts/{username}/verification", tag = "accounts",
    security(("bearer" = [])),
    responses((status = 200, body = AuthorView), (status = 403, body = ErrorBody)))]
pub async fn remove_verification(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(username): ApiPath<String>,
) -> AppResult<Json<AuthorView>> {
    let account = accounts::set_verified(&state.db, Some(&user.actor), &username, None).await?;
    Ok(Json(author_view(&state, &account)))
}
