//! Arguments (for or against a proposal) and sources (links backing a proposal).
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::Deserialize;
use url::Url;
use utoipa::{IntoParams, ToSchema};

use super::proposals::{load, load_for_participation};
use super::views::{
    ArgumentView, CommentView, SourceView, argument_views, comment_views, source_views,
};
use super::{BODY_MAX, TITLE_MAX, refresh_tally, required_text};
use crate::app::AppState;
use crate::domain::{Actor, Stance, ensure_open};
use crate::error::{AppError, AppResult};
use crate::federation::participation::{self, Sent};
use crate::federation::policy::Policy;
use crate::federation::publish::{self, Changed};
use crate::store::{self, argument, comment, consultation, source};

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewArgument {
    pub stance: Stance,
    /// Markdown.
    pub body: String,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ArgumentChanges {
    pub stance: Option<Stance>,
    pub body: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ArgumentFilter {
    /// Only arguments `for` or `against`.
    pub stance: Option<Stance>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewSource {
    pub title: String,
    /// An http(s) URL.
    pub url: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct SourceChanges {
    pub title: Option<String>,
    pub url: Option<String>,
    pub description: Option<String>,
}

pub(crate) fn checked_url(raw: &str) -> AppResult<String> {
    let url = Url::parse(raw.trim())
        .map_err(|e| AppError::BadInput(format!("url is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(AppError::BadInput(
            "url must be an http or https link".into(),
        ));
    }
    if url.as_str().len() > 2000 {
        return Err(AppError::BadInput("url is too long".into()));
    }
    Ok(url.to_string())
}

fn optional_description(raw: Option<&str>) -> AppResult<Option<String>> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => Ok(Some(required_text("description", text, 2000)?)),
    }
}

// ---- arguments ----

pub async fn add_argument(
    state: &AppState,
    actor: &Actor,
    proposal_id: i32,
    new: NewArgument,
) -> AppResult<ArgumentView> {
    let body = required_text("body", &new.body, BODY_MAX)?;
    let txn = crate::store::begin_write(&state.db).await?;
    let (_, consultation) = load_for_participation(&txn, proposal_id, actor).await?;
    let mirrored = consultation.ap_id.is_some();
    let number = store::next_number(&txn, "contribution").await?;
    let now = Utc::now();
    let model = argument::ActiveModel {
        number: Set(number),
        proposal_id: Set(proposal_id),
        author_id: Set(actor.account_id),
        stance: Set(new.stance.as_str().to_owned()),
        body: Set(body),
        hidden: Set(false),
        withdrawn: Set(false),
        origin_state: Set(mirrored.then(|| "pending".to_owned())),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    refresh_tally(&txn, proposal_id).await?;
    publish::created(&txn, state, Changed::Argument(model.id)).await?;
    txn.commit().await?;
    if mirrored {
        let origin = participation::origin_host(&consultation);
        participation::await_verdict(state, Sent::Argument(model.id), &origin).await?;
    }
    let model = argument::Entity::find_by_id(model.id)
        .one(&state.db)
        .await?
        .unwrap_or(model);
    one_argument(state, model).await
}

async fn one_argument(state: &AppState, model: argument::Model) -> AppResult<ArgumentView> {
    argument_views(state, &state.db, &[model])
        .await?
        .pop()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("argument view missing")))
}

pub async fn list_arguments(
    state: &AppState,
    viewer: Option<&Actor>,
    proposal_id: i32,
    filter: ArgumentFilter,
) -> AppResult<Vec<ArgumentView>> {
    load(&state.db, proposal_id, viewer).await?;
    let mut select = argument::Entity::find()
        .filter(argument::Column::ProposalId.eq(proposal_id))
        .filter(argument::Column::Withdrawn.eq(false))
        .filter(
            Policy::load(&state.db)
                .await?
                .author_shown(argument::Column::AuthorId),
        );
    if !viewer.is_some_and(Actor::is_moderator) {
        select = select.filter(argument::Column::Hidden.eq(false));
    }
    if let Some(stance) = filter.stance {
        select = select.filter(argument::Column::Stance.eq(stance.as_str()));
    }
    // Newest first, as in the seed pages.
    let models = select
        .order_by_desc(argument::Column::Number)
        .all(&state.db)
        .await?;
    argument_views(state, &state.db, &models).await
}

/// An argument with its proposal's consultation; `None` viewer means "as the public sees it".
async fn load_argument(
    state: &AppState,
    id: i32,
    viewer: Option<&Actor>,
) -> AppResult<(argument::Model, consultation::Model)> {
    let model = argument::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|a| !a.hidden || viewer.is_some_and(Actor::is_moderator))
        .ok_or_else(|| AppError::NotFound(format!("no argument {id}")))?;
    if !viewer.is_some_and(Actor::is_moderator)
        && !Policy::load(&state.db)
            .await?
            .account_shown(&state.db, model.author_id)
            .await?
    {
        return Err(AppError::NotFound(format!("no argument {id}")));
    }
    if model.withdrawn {
        return Err(AppError::Gone(format!(
            "argument #{} was withdrawn by its author",
            model.number
        )));
    }
    let (_, consultation) = load(&state.db, model.proposal_id, viewer).await?;
    Ok((model, consultation))
}

pub async fn get_argument(
    state: &AppState,
    viewer: Option<&Actor>,
    id: i32,
) -> AppResult<ArgumentView> {
    let (model, _) = load_argument(state, id, viewer).await?;
    one_argument(state, model).await
}

pub async fn update_argument(
    state: &AppState,
    actor: &Actor,
    id: i32,
    changes: ArgumentChanges,
) -> AppResult<ArgumentView> {
    let (model, consultation) = load_argument(state, id, Some(actor)).await?;
    ensure_open(consultation.opens_at, consultation.closes_at, Utc::now())?;
    actor.ensure_author(model.author_id, "argument")?;
    let proposal_id = model.proposal_id;
    let mut active: argument::ActiveModel = model.into();
    if let Some(body) = &changes.body {
        active.body = Set(required_text("body", body, BODY_MAX)?);
    }
    if let Some(stance) = changes.stance {
        active.stance = Set(stance.as_str().to_owned());
    }
    active.updated_at = Set(Utc::now());
    let txn = crate::store::begin_write(&state.db).await?;
    let model = active.update(&txn).await?;
    refresh_tally(&txn, proposal_id).await?;
    publish::updated(&txn, state, Changed::Argument(model.id)).await?;
    txn.commit().await?;
    one_argument(state, model).await
}

pub async fn withdraw_argument(state: &AppState, actor: &Actor, id: i32) -> AppResult<()> {
    let (model, consultation) = load_argument(state, id, Some(actor)).await?;
    ensure_open(consultation.opens_at, consultation.closes_at, Utc::now())?;
    actor.ensure_author(model.author_id, "argument")?;
    let proposal_id = model.proposal_id;
    let mut active: argument::ActiveModel = model.into();
    active.withdrawn = Set(true);
    active.updated_at = Set(Utc::now());
    let txn = crate::store::begin_write(&state.db).await?;
    active.update(&txn).await?;
    refresh_tally(&txn, proposal_id).await?;
    publish::deleted(&txn, state, Changed::Argument(id)).await?;
    txn.commit().await?;
    Ok(())
}

pub async fn set_argument_hidden(
    state: &AppState,
    actor: &Actor,
    id: i32,
    hidden: bool,
) -> AppResult<ArgumentView> {
    actor.ensure_moderator()?;
    let (model, consultation) = load_argument(state, id, Some(actor)).await?;
    let proposal_id = model.proposal_id;
    let mut active: argument::ActiveModel = model.into();
    active.hidden = Set(hidden);
    let txn = crate::store::begin_write(&state.db).await?;
    let model = active.update(&txn).await?;
    super::moderation::audit(
        &txn,
        Some(actor.account_id),
        if hidden { "hide" } else { "unhide" },
        &state.argument_url(id),
        None,
    )
    .await?;
    refresh_tally(&txn, proposal_id).await?;
    // As for proposals: hiding on a mirror stays on this node.
    if hidden && consultation.ap_id.is_none() {
        publish::deleted(&txn, state, Changed::Argument(id)).await?;
    }
    txn.commit().await?;
    one_argument(state, model).await
}

// ---- sources ----

pub async fn add_source(
    state: &AppState,
    actor: &Actor,
    proposal_id: i32,
    new: NewSource,
) -> AppResult<SourceView> {
    let title = required_text("title", &new.title, TITLE_MAX)?;
    let url = checked_url(&new.url)?;
    let description = optional_description(new.description.as_deref())?;
    let txn = crate::store::begin_write(&state.db).await?;
    let (_, consultation) = load_for_participation(&txn, proposal_id, actor).await?;
    let mirrored = consultation.ap_id.is_some();
    let now = Utc::now();
    let model = source::ActiveModel {
        proposal_id: Set(proposal_id),
        author_id: Set(actor.account_id),
        title: Set(title),
        url: Set(url),
        description: Set(description),
        hidden: Set(false),
        withdrawn: Set(false),
        origin_state: Set(mirrored.then(|| "pending".to_owned())),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    refresh_tally(&txn, proposal_id).await?;
    publish::created(&txn, state, Changed::Source(model.id)).await?;
    txn.commit().await?;
    if mirrored {
        let origin = participation::origin_host(&consultation);
        participation::await_verdict(state, Sent::Source(model.id), &origin).await?;
    }
    let model = source::Entity::find_by_id(model.id)
        .one(&state.db)
        .await?
        .unwrap_or(model);
    one_source(state, model).await
}

async fn one_source(state: &AppState, model: source::Model) -> AppResult<SourceView> {
    source_views(state, &state.db, &[model])
        .await?
        .pop()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("source view missing")))
}

pub async fn list_sources(
    state: &AppState,
    viewer: Option<&Actor>,
    proposal_id: i32,
) -> AppResult<Vec<SourceView>> {
    load(&state.db, proposal_id, viewer).await?;
    let mut select = source::Entity::find()
        .filter(source::Column::ProposalId.eq(proposal_id))
        .filter(source::Column::Withdrawn.eq(false))
        .filter(
            Policy::load(&state.db)
                .await?
                .author_shown(source::Column::AuthorId),
        );
    if !viewer.is_some_and(Actor::is_moderator) {
        select = select.filter(source::Column::Hidden.eq(false));
    }
    let models = select
        .order_by_asc(source::Column::Id)
        .all(&state.db)
        .await?;
    source_views(state, &state.db, &models).await
}

/// The comments of a proposal (replies from the fediverse without a side), oldest first.
pub async fn list_comments(
    state: &AppState,
    viewer: Option<&Actor>,
    proposal_id: i32,
) -> AppResult<Vec<CommentView>> {
    load(&state.db, proposal_id, viewer).await?;
    let mut select = comment::Entity::find()
        .filter(comment::Column::ProposalId.eq(proposal_id))
        .filter(comment::Column::Withdrawn.eq(false))
        .filter(
            Policy::load(&state.db)
                .await?
                .author_shown(comment::Column::AuthorId),
        );
    if !viewer.is_some_and(Actor::is_moderator) {
        select = select.filter(comment::Column::Hidden.eq(false));
    }
    let models = select
        .order_by_asc(comment::Column::CreatedAt)
        .order_by_asc(comment::Column::Id)
        .all(&state.db)
        .await?;
    comment_views(state, &state.db, &models).await
}

/// Hides or shows a comment (moderators). Hiding one of a consultation hosted here withdraws
/// it on the mirrors too.
pub async fn set_comment_hidden(
    state: &AppState,
    actor: &Actor,
    id: i32,
    hidden: bool,
) -> AppResult<CommentView> {
    actor.ensure_moderator()?;
    let model = comment::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|c| !c.withdrawn)
        .ok_or_else(|| AppError::NotFound(format!("no comment {id}")))?;
    let (_, consultation) = load(&state.db, model.proposal_id, Some(actor)).await?;
    let mut active: comment::ActiveModel = model.into();
    active.hidden = Set(hidden);
    let txn = crate::store::begin_write(&state.db).await?;
    let model = active.update(&txn).await?;
    super::moderation::audit(
        &txn,
        Some(actor.account_id),
        if hidden { "hide" } else { "unhide" },
        &model.ap_id.clone().unwrap_or_else(|| state.comment_url(id)),
        None,
    )
    .await?;
    if hidden && consultation.ap_id.is_none() {
        publish::deleted(&txn, state, Changed::Comment(id)).await?;
    }
    txn.commit().await?;
    let mut views = comment_views(state, &state.db, &[model]).await?;
    views
        .pop()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("comment view missing")))
}

async fn load_source(
    state: &AppState,
    id: i32,
    viewer: Option<&Actor>,
) -> AppResult<(source::Model, consultation::Model)> {
    let model = source::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|s| !s.hidden || viewer.is_some_and(Actor::is_moderator))
        .ok_or_else(|| AppError::NotFound(format!("no source {id}")))?;
    if !viewer.is_some_and(Actor::is_moderator)
        && !Policy::load(&state.db)
            .await?
            .account_shown(&state.db, model.author_id)
            .await?
    {
        return Err(AppError::NotFound(format!("no source {id}")));
    }
    if model.withdrawn {
        return Err(AppError::Gone(format!(
            "source {id} was withdrawn by its author"
        )));
    }
    let (_, consultation) = load(&state.db, model.proposal_id, viewer).await?;
    Ok((model, consultation))
}

pub async fn get_source(
    state: &AppState,
    viewer: Option<&Actor>,
    id: i32,
) -> AppResult<SourceView> {
    let (model, _) = load_source(state, id, viewer).await?;
    one_source(state, model).await
}

pub async fn update_source(
    state: &AppState,
    actor: &Actor,
    id: i32,
    changes: SourceChanges,
) -> AppResult<SourceView> {
    let (model, consultation) = load_source(state, id, Some(actor)).await?;
    ensure_open(consultation.opens_at, consultation.closes_at, Utc::now())?;
    actor.ensure_author(model.author_id, "source")?;
    let mut active: source::ActiveModel = model.into();
    if let Some(title) = &changes.title {
        active.title = Set(required_text("title", title, TITLE_MAX)?);
    }
    if let Some(url) = &changes.url {
        active.url = Set(checked_url(url)?);
    }
    if changes.description.is_some() {
        active.description = Set(optional_description(changes.description.as_deref())?);
    }
    active.updated_at = Set(Utc::now());
    let txn = crate::store::begin_write(&state.db).await?;
    let model = active.update(&txn).await?;
    publish::updated(&txn, state, Changed::Source(model.id)).await?;
    txn.commit().await?;
    one_source(state, model).await
}

pub async fn withdraw_source(state: &AppState, actor: &Actor, id: i32) -> AppResult<()> {
    let (model, consultation) = load_source(state, id, Some(actor)).await?;
    ensure_open(consultation.opens_at, consultation.closes_at, Utc::now())?;
    actor.ensure_author(model.author_id, "source")?;
    let proposal_id = model.proposal_id;
    let mut active: source::ActiveModel = model.into();
    active.withdrawn = Set(true);
    let txn = crate::store::begin_write(&state.db).await?;
    let model = active.update(&txn).await?;
    refresh_tally(&txn, proposal_id).await?;
    publish::deleted(&txn, state, Changed::Source(model.id)).await?;
    txn.commit().await?;
    Ok(())
}

pub async fn set_source_hidden(
    state: &AppState,
    actor: &Actor,
    id: i32,
    hidden: bool,
) -> AppResult<SourceView> {
    actor.ensure_moderator()?;
    let (model, consultation) = load_source(state, id, Some(actor)).await?;
    let proposal_id = model.proposal_id;
    let mut active: source::ActiveModel = model.into();
    active.hidden = Set(hidden);
    let txn = crate::store::begin_write(&state.db).await?;
    let model = active.update(&txn).await?;
    super::moderation::audit(
        &txn,
        Some(actor.account_id),
        if hidden { "hide" } else { "unhide" },
        &state.source_url(id),
        None,
    )
    .await?;
    refresh_tally(&txn, proposal_id).await?;
    // Hidden by the origin's moderators: gone from every mirror too.
    if hidden && consultation.ap_id.is_none() {
        publish::deleted(&txn, state, Changed::Source(model.id)).await?;
    }
    txn.commit().await?;
    one_source(state, model).await
}
