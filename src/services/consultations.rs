//! Consultations: created and rescheduled by the organisers, read by everyone.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use serde::Deserialize;
use utoipa::ToSchema;

use super::accounts::claim_handle;
use super::views::{ConsultationView, consultation_view};
use super::{BODY_MAX, TITLE_MAX, required_text};
use crate::app::AppState;
use crate::domain::{Actor, ConsultationState, Handle, ensure_valid_period};
use crate::error::{AppError, AppResult};
use crate::federation::policy::Policy;
use crate::store::{consultation, proposal};

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewConsultation {
    /// Lowercase letters, digits, `_` and `-`; shares one namespace with usernames.
    pub slug: String,
    pub title: String,
    /// Markdown.
    pub body: String,
    #[serde(default)]
    pub themes: Vec<String>,
    /// RFC 3339.
    pub opens_at: DateTime<Utc>,
    /// RFC 3339; must be later than `opens_at`.
    pub closes_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ConsultationChanges {
    pub title: Option<String>,
    pub body: Option<String>,
    pub themes: Option<Vec<String>>,
    pub opens_at: Option<DateTime<Utc>>,
    pub closes_at: Option<DateTime<Utc>>,
}

fn clean_themes(themes: &[String]) -> AppResult<String> {
    if themes.len() > 20 {
        return Err(AppError::BadInput("at most 20 themes".into()));
    }
    let cleaned = themes
        .iter()
        .map(|t| required_text("theme", t, 60))
        .collect::<AppResult<Vec<_>>>()?;
    Ok(serde_json::to_string(&cleaned).map_err(anyhow::Error::from)?)
}

pub async fn create(
    state: &AppState,
    actor: &Actor,
    new: NewConsultation,
) -> AppResult<ConsultationView> {
    actor.ensure_organiser()?;
    let slug = Handle::parse("slug", &new.slug)?;
    let title = required_text("title", &new.title, TITLE_MAX)?;
    let body = required_text("body", &new.body, BODY_MAX)?;
    let themes = clean_themes(&new.themes)?;
    ensure_valid_period(new.opens_at, new.closes_at)?;
    let txn = crate::store::begin_write(&state.db).await?;
    claim_handle(&txn, &slug, "consultation").await?;
    let now = Utc::now();
    let model = consultation::ActiveModel {
        slug: Set(slug.as_str().to_owned()),
        title: Set(title),
        body: Set(body),
        themes: Set(themes),
        opens_at: Set(new.opens_at),
        closes_at: Set(new.closes_at),
        created_by: Set(Some(actor.account_id)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(consultation_view(state, &model, 0))
}

/// Consultations of this node: its own, and the remote ones its members follow (others that
/// were merely fetched, e.g. while checking a signature, are not shown nor open to posts),
/// except mirrors of a server this node does not federate with.
fn shown(policy: &Policy) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(
            sea_orm::Condition::any()
                .add(consultation::Column::ApId.is_null())
                .add(consultation::Column::Mirrored.eq(true)),
        )
        .add(policy.consultation_shown())
}

pub async fn find(state: &AppState, slug: &str) -> AppResult<consultation::Model> {
    let policy = Policy::load(&state.db).await?;
    consultation::Entity::find()
        .filter(consultation::Column::Slug.eq(slug))
        .filter(shown(&policy))
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no consultation '{slug}' on this node")))
}

async fn visible_proposal_count(
    state: &AppState,
    policy: &Policy,
    consultation_id: i32,
) -> AppResult<u64> {
    Ok(proposal::Entity::find()
        .filter(proposal::Column::ConsultationId.eq(consultation_id))
        .filter(proposal::Column::Hidden.eq(false))
        .filter(proposal::Column::Withdrawn.eq(false))
        .filter(policy.author_shown(proposal::Column::AuthorId))
        .count(&state.db)
        .await?)
}

pub async fn get(state: &AppState, slug: &str) -> AppResult<ConsultationView> {
    let model = find(state, slug).await?;
    let policy = Policy::load(&state.db).await?;
    let count = visible_proposal_count(state, &policy, model.id).await?;
    Ok(consultation_view(state, &model, count))
}

/// All consultations, open ones first, then upcoming, then closed; optionally only one state.
pub async fn list(
    state: &AppState,
    only: Option<ConsultationState>,
) -> AppResult<Vec<ConsultationView>> {
    let policy = Policy::load(&state.db).await?;
    let models = consultation::Entity::find()
        .filter(shown(&policy))
        .order_by_desc(consultation::Column::OpensAt)
        .all(&state.db)
        .await?;
    let mut views = Vec::with_capacity(models.len());
    for model in &models {
        let count = visible_proposal_count(state, &policy, model.id).await?;
        views.push(consultation_view(state, model, count));
    }
    views.retain(|v| only.is_none_or(|s| v.state == s));
    views.sort_by_key(|v| match v.state {
        ConsultationState::Open => 0,
        ConsultationState::Upcoming => 1,
        ConsultationState::Closed => 2,
    });
    Ok(views)
}

/// Organisers change the wording or move the dates (which is how a consultation is reopened or
/// closed early).
pub async fn update(
    state: &AppState,
    actor: &Actor,
    slug: &str,
    changes: ConsultationChanges,
) -> AppResult<ConsultationView> {
    actor.ensure_organiser()?;
    let model = find(state, slug).await?;
    if model.ap_id.is_some() {
        return Err(AppError::Forbidden(
            "this consultation is hosted on another node: it is changed there".into(),
        ));
    }
    // The Group's Update below is signed: its keys are made now, not inside the write
    // transaction (on SQLite a second writer would wait for it, on PostgreSQL for its row lock).
    let model = crate::federation::keys::ensure_consultation_keys(state, model).await?;
    let opens_at = changes.opens_at.unwrap_or(model.opens_at);
    let closes_at = changes.closes_at.unwrap_or(model.closes_at);
    ensure_valid_period(opens_at, closes_at)?;
    let id = model.id;
    let mut active: consultation::ActiveModel = model.into();
    if let Some(title) = &changes.title {
        active.title = Set(required_text("title", title, TITLE_MAX)?);
    }
    if let Some(body) = &changes.body {
        active.body = Set(required_text("body", body, BODY_MAX)?);
    }
    if let Some(themes) = &changes.themes {
        active.themes = Set(clean_themes(themes)?);
    }
    active.opens_at = Set(opens_at);
    active.closes_at = Set(closes_at);
    active.updated_at = Set(Utc::now());
    // Mirrors learn the new dates (closing here closes there) through an Update queued with
    // the change itself.
    let txn = crate::store::begin_write(&state.db).await?;
    let model = active.update(&txn).await?;
    crate::federation::participation::consultation_updated(&txn, state, model.clone()).await?;
    txn.commit().await?;
    let policy = Policy::load(&state.db).await?;
    let count = visible_proposal_count(state, &policy, id).await?;
    Ok(consultation_view(state, &model, count))
}
