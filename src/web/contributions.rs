//! Arguments and sources outside the proposal page's own forms: an argument's stable URL, its
//! edit page, and the withdraw and hide buttons shown next to each contribution.
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use super::error::{WebError, WebPath, render, render_status, see_other};
use super::proposal::{ArgumentForm, Drafts, HideForm, after_post};
use super::session::{CsrfForm, Ctx};
use crate::app::AppState;
use crate::domain::Stance;
use crate::error::{AppError, AppResult};
use crate::services::contributions::{self, ArgumentChanges};
use crate::services::views::ArgumentView;

/// The argument forms on the proposal page say which page to come back to.
#[derive(Deserialize)]
pub struct BackTo {
    #[serde(default)]
    proposal: Option<i32>,
}

/// Like `after_post`, for forms whose proposal is only known from the form: without it, a
/// refusal gets the plain error page.
async fn back_to_proposal<T>(
    state: &AppState,
    ctx: &Ctx,
    proposal: Option<i32>,
    result: AppResult<T>,
    target: impl FnOnce(T) -> String,
) -> Result<Response, WebError> {
    match (proposal, result) {
        (Some(id), result) => after_post(state, ctx, id, result, Drafts::default(), target).await,
        (None, Ok(value)) => Ok(see_other(&target(value))),
        (None, Err(err)) => Err(err.into()),
    }
}

/// `/arguments/{id}` is the argument's permanent address; it lives on its proposal's page.
pub async fn show(
    ctx: Ctx,
    State(state): State<AppState>,
    WebPath(id): WebPath<i32>,
) -> Result<Response, WebError> {
    let argument = contributions::get_argument(&state, ctx.actor(), id).await?;
    Ok(see_other(&format!(
        "/proposals/{}#argument-{id}",
        argument.proposal_id
    )))
}

/// The stable URL of a source, for browsers: its place on its proposal's page.
pub async fn show_source(
    ctx: Ctx,
    State(state): State<AppState>,
    WebPath(id): WebPath<i32>,
) -> Result<Response, WebError> {
    let source = contributions::get_source(&state, ctx.actor(), id).await?;
    Ok(see_other(&format!(
        "/proposals/{}#source-{id}",
        source.proposal_id
    )))
}

#[derive(Template)]
#[template(path = "argument_edit.html")]
struct ArgumentEditPage<'a> {
    ctx: &'a Ctx,
    a: &'a ArgumentView,
    form: ArgumentForm,
    alert: Option<String>,
}

fn own_argument(ctx: &Ctx, argument: &ArgumentView) -> AppResult<()> {
    if ctx.is_me(&argument.author.username) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "only the author of this argument may change or withdraw it".into(),
        ))
    }
}

pub async fn edit_form(
    ctx: Ctx,
    State(state): State<AppState>,
    WebPath(id): WebPath<i32>,
) -> Result<Response, WebError> {
    ctx.require_actor()?;
    let a = contributions::get_argument(&state, ctx.actor(), id).await?;
    own_argument(&ctx, &a)?;
    let form = ArgumentForm {
        stance: a.stance.as_str().to_owned(),
        body: a.body.clone(),
    };
    render(&ArgumentEditPage {
        ctx: &ctx,
        a: &a,
        form,
        alert: None,
    })
}

pub async fn edit(
    ctx: Ctx,
    State(state): State<AppState>,
    WebPath(id): WebPath<i32>,
    CsrfForm(form): CsrfForm<ArgumentForm>,
) -> Result<Response, WebError> {
    let actor = *ctx.require_actor()?;
    let result = async {
        let changes = ArgumentChanges {
            stance: Some(Stance::parse(&form.stance)?),
            body: Some(form.body.clone()),
        };
        contributions::update_argument(&state, &actor, id, changes).await
    }
    .await;
    match result {
        Ok(a) => Ok(see_other(&format!(
            "/proposals/{}#argument-{id}",
            a.proposal_id
        ))),
        Err(AppError::Internal(err)) => Err(AppError::Internal(err).into()),
        Err(err) => {
            let a = contributions::get_argument(&state, ctx.actor(), id).await?;
            let page = ArgumentEditPage {
                ctx: &ctx,
                a: &a,
                alert: Some(ctx.t.error_line(&err)),
                form,
            };
            render_status(err.status(), &page)
        }
    }
}

pub async fn withdraw(
    ctx: Ctx,
    State(state): State<AppState>,
    WebPath(id): WebPath<i32>,
    CsrfForm(back): CsrfForm<BackTo>,
) -> Result<Response, WebError> {
    let result = async {
        let actor = ctx.require_actor()?;
        let argument = contributions::get_argument(&state, Some(actor), id).await?;
        contributions::withdraw_argument(&state, actor, id).await?;
        Ok(argument.proposal_id)
    }
    .await;
    let target = |proposal: i32| format!("/proposals/{proposal}#arguments-for");
    back_to_proposal(&state, &ctx, back.proposal, result, target).await
}

pub async fn hide_argument(
    ctx: Ctx,
    State(state): State<AppState>,
    WebPath(id): WebPath<i32>,
    CsrfForm(form): CsrfForm<HideForm>,
) -> Result<Response, WebError> {
    let result = match ctx.require_actor() {
        Ok(actor) => contributions::set_argument_hidden(&state, actor, id, form.hidden).await,
        Err(err) => Err(err),
    };
    let target = |a: ArgumentView| format!("/proposals/{}#argument-{}", a.proposal_id, a.id);
    back_to_proposal(&state, &ctx, form.proposal, result, target).await
}

pub async fn withdraw_source(
    ctx: Ctx,
    State(state): State<AppState>,
    WebPath(id): WebPath<i32>,
    CsrfForm(back): CsrfForm<BackTo>,
) -> Result<Response, WebError> {
    let result = match ctx.require_actor() {
        Ok(actor) => contributions::withdraw_source(&state, actor, id).await,
        Err(err) => Err(err),
    };
    // The service does not say which proposal the source was on; the form does, and it is
    // only used to choose where to send the person back.
    let target = |()| match back.proposal {
        Some(proposal) => format!("/proposals/{proposal}#sources"),
        None => "/".to_owned(),
    };
    back_to_proposal(&state, &ctx, back.proposal, result, target).await
}

pub async fn hide_source(
    ctx: Ctx,
    State(state): State<AppState>,
    WebPath(id): WebPath<i32>,
    CsrfForm(form): CsrfForm<HideForm>,
) -> Result<Response, WebError> {
    let result = match ctx.require_actor() {
        Ok(actor) => contributions::set_source_hidden(&state, actor, id, form.hidden).await,
        Err(err) => Err(err),
    };
    let target = |s: crate::services::views::SourceView| {
        format!("/proposals/{}#source-{}", s.proposal_id, s.id)
    };
    back_to_proposal(&state, &ctx, form.proposal, result, target).await
}
