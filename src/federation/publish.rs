//! What a local consultation tells its followers. Called by `services::` inside the transaction
//! of the change itself, so a contribution and its announcement are stored together or not at
//! all (the delivery queue is an outbox).
use activitypub_federation::traits::Actor;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use url::Url;

use super::AS_PUBLIC;
use super::actors::{DbGroup, DbPerson};
use super::delivery::{self, Signer};
use super::objects::{note_json, page_json};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::services::accounts::random_token;
use crate::store::{account, argument, consultation, follow, proposal};

fn activity_id(state: &AppState, kind: &str) -> AppResult<Url> {
    Url::parse(&format!(
        "{}/activities/{kind}/{}",
        state.origin,
        random_token()
    ))
    .map_err(|e| AppError::Internal(e.into()))
}

/// The inboxes of a local consultation's accepted followers, shared inboxes preferred.
pub(crate) async fn follower_inboxes(
    db: &impl ConnectionTrait,
    state: &AppState,
    consultation_id: i32,
) -> AppResult<Vec<Url>> {
    let follows = follow::Entity::find()
        .filter(follow::Column::ConsultationId.eq(consultation_id))
        .filter(follow::Column::State.eq("accepted"))
        .all(db)
        .await?;
    let ids: Vec<i32> = follows.iter().map(|f| f.follower_id).collect();
    let followers = account::Entity::find()
        .filter(account::Column::Id.is_in(ids))
        .filter(account::Column::ApId.is_not_null())
        .all(db)
        .await?;
    followers
        .into_iter()
        .map(|a| Ok(DbPerson::new(state, a)?.shared_inbox_or_inbox()))
        .collect()
}

/// Wraps the author's `Create` in the consultation's `Announce` (FEP-1b12) and queues it for
/// every follower.
async fn announce_creation(
    db: &impl ConnectionTrait,
    state: &AppState,
    group: &consultation::Model,
    author: &account::Model,
    object: Value,
) -> AppResult<()> {
    if group.ap_id.is_some() {
        return Ok(());
    }
    let inboxes = follower_inboxes(db, state, group.id).await?;
    if inboxes.is_empty() {
        return Ok(());
    }
    let group_actor = DbGroup::new(state, group.clone())?;
    let author_id = DbPerson::new(state, author.clone())?.ap_id;
    let create = json!({
        "type": "Create",
        "id": activity_id(state, "create")?,
        "actor": author_id,
        "object": object,
        "to": [AS_PUBLIC, group_actor.ap_id],
        "cc": [group_actor.followers_url()],
    });
    let announce_id = activity_id(state, "announce")?;
    let announce = json!({
        "type": "Announce",
        "id": announce_id,
        "actor": group_actor.ap_id,
        "object": create,
        "to": [AS_PUBLIC],
        "cc": [group_actor.followers_url()],
    });
    delivery::enqueue(
        db,
        &announce_id,
        Signer::Consultation(group.id),
        &announce,
        inboxes,
    )
    .await
}

async fn load_parts(
    db: &impl ConnectionTrait,
    author_id: i32,
    consultation_id: i32,
) -> AppResult<(account::Model, consultation::Model)> {
    let author = account::Entity::find_by_id(author_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound("author".into()))?;
    let group = consultation::Entity::find_by_id(consultation_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound("consultation".into()))?;
    Ok((author, group))
}

pub async fn proposal_created(
    db: &impl ConnectionTrait,
    state: &AppState,
    model: &proposal::Model,
) -> AppResult<()> {
    let (author, group) = load_parts(db, model.author_id, model.consultation_id).await?;
    let page = page_json(state, model, &author, &group)?;
    let object = serde_json::to_value(page).map_err(anyhow::Error::from)?;
    announce_creation(db, state, &group, &author, object).await
}

pub async fn argument_created(
    db: &impl ConnectionTrait,
    state: &AppState,
    model: &argument::Model,
) -> AppResult<()> {
    let proposal = proposal::Entity::find_by_id(model.proposal_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound("proposal".into()))?;
    let (author, group) = load_parts(db, model.author_id, proposal.consultation_id).await?;
    let note = note_json(state, model, &author, &proposal, &group)?;
    let object = serde_json::to_value(note).map_err(anyhow::Error::from)?;
    announce_creation(db, state, &group, &author, object).await
}
