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
use crate::store::{account, argument, consultation, follow, proposal, source};

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

pub async fn source_created(
    db: &impl ConnectionTrait,
    state: &AppState,
    model: &source::Model,
) -> AppResult<()> {
    let proposal = proposal::Entity::find_by_id(model.proposal_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound("proposal".into()))?;
    let (author, group) = load_parts(db, model.author_id, proposal.consultation_id).await?;
    let note = super::sources::source_json(state, model, &author, &proposal, &group)?;
    let object = serde_json::to_value(note).map_err(anyhow::Error::from)?;
    announce_creation(db, state, &group, &author, object).await
}

/// After a source's edit: its consultation's Group sends the new version to followers, or,
/// for a consultation hosted elsewhere, the author sends it to that consultation's node.
pub async fn source_updated(
    db: &impl ConnectionTrait,
    state: &AppState,
    model: &source::Model,
) -> AppResult<()> {
    let proposal = proposal::Entity::find_by_id(model.proposal_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound("proposal".into()))?;
    let (author, group) = load_parts(db, model.author_id, proposal.consultation_id).await?;
    let note = super::sources::source_json(state, model, &author, &proposal, &group)?;
    let note = serde_json::to_value(note).map_err(anyhow::Error::from)?;
    if group.ap_id.is_some() {
        if model.ap_id.is_none() {
            return author_to_origin(db, state, &group, &author, "Update", note).await;
        }
        return Ok(());
    }
    let inboxes = follower_inboxes(db, state, group.id).await?;
    if inboxes.is_empty() {
        return Ok(());
    }
    let group_actor = DbGroup::new(state, group.clone())?;
    let id = activity_id(state, "update")?;
    let update = json!({
        "type": "Update",
        "id": id,
        "actor": group_actor.ap_id,
        "object": note,
        "to": [AS_PUBLIC],
        "cc": [group_actor.followers_url()],
    });
    delivery::enqueue(db, &id, Signer::Consultation(group.id), &update, inboxes).await
}

/// A source withdrawn or hidden here: like `withdrawn`, for sources.
pub async fn source_withdrawn(
    db: &impl ConnectionTrait,
    state: &AppState,
    model: &source::Model,
) -> AppResult<()> {
    let proposal = proposal::Entity::find_by_id(model.proposal_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound("proposal".into()))?;
    let (author, group) = load_parts(db, model.author_id, proposal.consultation_id).await?;
    let object = super::sources::DbSource::new(state, model.clone())?.ap_id;
    if group.ap_id.is_some() {
        if model.ap_id.is_none() {
            let tombstone = json!({"type": "Tombstone", "id": object});
            return author_to_origin(db, state, &group, &author, "Delete", tombstone).await;
        }
        return Ok(());
    }
    contribution_deleted(db, state, &group, &object).await
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

/// Tells a local consultation's followers a proposal's new state: tallies after votes, the
/// organiser's answer. Sent by the consultation's Group, which owns those fields (the author's
/// own fields travel in the author's `Update`).
pub async fn proposal_updated(
    db: &impl ConnectionTrait,
    state: &AppState,
    proposal_id: i32,
) -> AppResult<()> {
    let model = proposal::Entity::find_by_id(proposal_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound("proposal".into()))?;
    let (author, group) = load_parts(db, model.author_id, model.consultation_id).await?;
    if group.ap_id.is_some() {
        if model.ap_id.is_none() {
            let page = serde_json::to_value(page_json(state, &model, &author, &group)?)
                .map_err(anyhow::Error::from)?;
            return author_to_origin(db, state, &group, &author, "Update", page).await;
        }
        return Ok(());
    }
    let inboxes = follower_inboxes(db, state, group.id).await?;
    if inboxes.is_empty() {
        return Ok(());
    }
    let page = page_json(state, &model, &author, &group)?;
    let group_actor = DbGroup::new(state, group.clone())?;
    let id = activity_id(state, "update")?;
    let update = json!({
        "type": "Update",
        "id": id,
        "actor": group_actor.ap_id,
        "object": page,
        "to": [AS_PUBLIC],
        "cc": [group_actor.followers_url()],
    });
    delivery::enqueue(db, &id, Signer::Consultation(group.id), &update, inboxes).await
}

/// After an edit: the Group sends the new version of the proposal or argument.
pub async fn contribution_updated(
    db: &impl ConnectionTrait,
    state: &AppState,
    proposal_id: i32,
    argument_id: Option<i32>,
) -> AppResult<()> {
    let Some(argument_id) = argument_id else {
        return proposal_updated(db, state, proposal_id).await;
    };
    let model = argument::Entity::find_by_id(argument_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound("argument".into()))?;
    let proposal = proposal::Entity::find_by_id(model.proposal_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound("proposal".into()))?;
    let (author, group) = load_parts(db, model.author_id, proposal.consultation_id).await?;
    if group.ap_id.is_some() {
        if model.ap_id.is_none() {
            let note = serde_json::to_value(note_json(state, &model, &author, &proposal, &group)?)
                .map_err(anyhow::Error::from)?;
            return author_to_origin(db, state, &group, &author, "Update", note).await;
        }
        return Ok(());
    }
    let inboxes = follower_inboxes(db, state, group.id).await?;
    if inboxes.is_empty() {
        return Ok(());
    }
    let note = note_json(state, &model, &author, &proposal, &group)?;
    let group_actor = DbGroup::new(state, group.clone())?;
    let id = activity_id(state, "update")?;
    let update = json!({
        "type": "Update",
        "id": id,
        "actor": group_actor.ap_id,
        "object": note,
        "to": [AS_PUBLIC],
        "cc": [group_actor.followers_url()],
    });
    delivery::enqueue(db, &id, Signer::Consultation(group.id), &update, inboxes).await
}

/// After a withdrawal or a moderator hiding it: the Group tells followers it is gone.
pub async fn contribution_deleted(
    db: &impl ConnectionTrait,
    state: &AppState,
    group: &consultation::Model,
    object: &Url,
) -> AppResult<()> {
    if group.ap_id.is_some() {
        return Ok(());
    }
    let inboxes = follower_inboxes(db, state, group.id).await?;
    if inboxes.is_empty() {
        return Ok(());
    }
    super::updates::send_delete(db, state, group, object, inboxes).await
}

/// Withdrawn or hidden here: finds the object's URL and consultation, then `Delete`s it.
pub async fn withdrawn(
    db: &impl ConnectionTrait,
    state: &AppState,
    proposal_id: i32,
    argument_id: Option<i32>,
) -> AppResult<()> {
    let proposal = proposal::Entity::find_by_id(proposal_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound("proposal".into()))?;
    let group = consultation::Entity::find_by_id(proposal.consultation_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound("consultation".into()))?;
    // What was withdrawn, who wrote it, and whether it was written here.
    let (object, author_id, ours) = match argument_id {
        Some(id) => match argument::Entity::find_by_id(id).one(db).await? {
            Some(a) => (
                super::objects::DbArgument::new(state, a.clone())?.ap_id,
                a.author_id,
                a.ap_id.is_none(),
            ),
            None => return Ok(()),
        },
        None => (
            super::objects::DbProposal::new(state, proposal.clone())?.ap_id,
            proposal.author_id,
            proposal.ap_id.is_none(),
        ),
    };
    if group.ap_id.is_some() {
        // Withdrawn here by its author, in a consultation hosted elsewhere: tell the origin.
        if ours {
            let author = account::Entity::find_by_id(author_id)
                .one(db)
                .await?
                .ok_or_else(|| AppError::NotFound("author".into()))?;
            let tombstone = json!({"type": "Tombstone", "id": object});
            return author_to_origin(db, state, &group, &author, "Delete", tombstone).await;
        }
        return Ok(());
    }
    contribution_deleted(db, state, &group, &object).await
}

/// An author's `Update` or `Delete` of their own contribution, sent to the Group of the
/// consultation it belongs to, hosted on another node; that node applies its rules and relays.
async fn author_to_origin(
    db: &impl ConnectionTrait,
    state: &AppState,
    group: &consultation::Model,
    author: &account::Model,
    kind: &str,
    object: Value,
) -> AppResult<()> {
    let group = DbGroup::new(state, group.clone())?;
    let author_id = DbPerson::new(state, author.clone())?.ap_id;
    let id = activity_id(state, &kind.to_lowercase())?;
    let activity = json!({
        "type": kind,
        "id": id,
        "actor": author_id,
        "object": object,
        "to": [group.ap_id, AS_PUBLIC],
        "cc": [group.followers_url()],
    });
    delivery::enqueue(
        db,
        &id,
        Signer::Account(author.id),
        &activity,
        [group.inbox()],
    )
    .await
}
