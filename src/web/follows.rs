//! Following consultations hosted on other nodes, from the home page: the form that starts a
//! follow and the buttons that end one. The federation work itself is `federation::follows`.
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use super::consultations::{HomeFailure, home_response};
use super::error::{WebError, WebPath, see_other};
use super::proposal::Empty;
use super::session::{CsrfForm, Ctx, consultation_path};
use crate::app::AppState;
use crate::error::AppError;
use crate::federation::FedData;
use crate::federation::follows;

#[derive(Deserialize)]
pub struct FollowForm {
    #[serde(default)]
    target: String,
}

/// Success leads to the mirrored consultation; a refusal or an unreachable node shows the home
/// page again with the reason next to the form and what was typed.
pub async fn create(
    ctx: Ctx,
    data: FedData,
    State(state): State<AppState>,
    CsrfForm(form): CsrfForm<FollowForm>,
) -> Result<Response, WebError> {
    let actor = *ctx.require_actor()?;
    match follows::follow(&data, &actor, &form.target).await {
        Ok(view) => Ok(see_other(&consultation_path(&view.consultation))),
        Err(AppError::Internal(err)) => Err(AppError::Internal(err).into()),
        Err(err) => {
            let failure = HomeFailure {
                err,
                target: form.target,
            };
            home_response(&state, &ctx, Some(failure)).await
        }
    }
}

pub async fn delete(
    ctx: Ctx,
    State(state): State<AppState>,
    WebPath(id): WebPath<i32>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Result<Response, WebError> {
    let actor = *ctx.require_actor()?;
    match follows::unfollow(&state, &actor, id).await {
        Ok(()) => Ok(see_other("/")),
        Err(AppError::Internal(err)) => Err(AppError::Internal(err).into()),
        Err(err) => {
            let failure = HomeFailure {
                err,
                target: String::new(),
            };
            home_response(&state, &ctx, Some(failure)).await
        }
    }
}
