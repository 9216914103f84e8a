//! Shares: a person elsewhere boosts (`Announce`s) a proposal of a consultation hosted here.
//! Counted once per person, taken back by `Undo`; like every participation, only while the
//! consultation is open.
use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::kinds::activity::{AnnounceType, UndoType};
use activitypub_federation::protocol::verification::verify_urls_match;
use activitypub_federation::traits::{Activity, Object};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use url::Url;

use super::FedData;
use super::actors::DbPerson;
use super::publish::Changed;
use crate::app::AppState;
use crate::domain::ensure_open;
use crate::error::{AppError, AppResult};
use crate::store::{consultation, share, vote};

/// The proposal, hosted here, that a boost names (the proposal itself or its poll).
async fn shared_proposal(data: &FedData, object: &Url) -> AppResult<(i32, consultation::Model)> {
    match super::locate::locate(data, object).await? {
        Some(found)
            if matches!(found.changed, Changed::Proposal(_))
                && found.consultation.ap_id.is_none() =>
        {
            Ok((found.proposal_id, found.consultation))
        }
        Some(_) => Err(AppError::BadInput(
            "only proposals of consultations hosted here are shared here".into(),
        )),
        None => Err(AppError::NotFound("no such proposal here".into())),
    }
}

pub async fn verify(data: &FedData, _actor: &Url, object: &Url) -> AppResult<()> {
    shared_proposal(data, object).await.map(|_| ())
}

pub async fn record(data: &FedData, activity: &Url, actor: &Url, object: &Url) -> AppResult<()> {
    let (proposal_id, group) = shared_proposal(data, object).await?;
    // The same rule as any participation: open period, visible proposal.
    let proposal = crate::store::proposal::Entity::find_by_id(proposal_id)
        .one(&data.db)
        .await?
        .ok_or_else(|| AppError::NotFound("no such proposal here".into()))?;
    crate::services::proposals::ensure_takes_part(&proposal, &group)?;
    let person = ObjectId::<DbPerson>::from(actor.clone())
        .dereference(data)
        .await?;
    let already = share::Entity::find()
        .filter(share::Column::ProposalId.eq(proposal_id))
        .filter(share::Column::ActorId.eq(person.model.id))
        .one(&data.db)
        .await?;
    if already.is_some() {
        return Ok(());
    }
    let inserted = share::ActiveModel {
        proposal_id: Set(proposal_id),
        actor_id: Set(person.model.id),
        activity_id: Set(activity.to_string()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&data.db)
    .await;
    // Two deliveries of one boost at once: the unique index keeps one.
    match inserted {
        Ok(_) => Ok(()),
        Err(err)
            if matches!(
                err.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            Ok(())
        }
        Err(err) => Err(err.into()),
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SharedRef {
    #[serde(rename = "type")]
    pub kind: AnnounceType,
    pub id: Url,
    pub actor: Url,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UndoShare {
    #[serde(rename = "type")]
    pub kind: UndoType,
    pub id: Url,
    pub actor: ObjectId<DbPerson>,
    pub object: SharedRef,
}

#[async_trait::async_trait]
impl Activity for UndoShare {
    type DataType = AppState;
    type Error = AppError;

    fn id(&self) -> &Url {
        &self.id
    }

    fn actor(&self) -> &Url {
        self.actor.inner()
    }

    async fn verify(&self, _data: &FedData) -> AppResult<()> {
        // A person takes back their own boost only.
        verify_urls_match(self.actor.inner(), &self.object.actor)?;
        Ok(())
    }

    async fn receive(self, data: &FedData) -> AppResult<()> {
        let Some(person) = DbPerson::read_from_id(self.actor.inner().clone(), data).await? else {
            return Ok(());
        };
        undo_share(data, self.object.id.as_str(), person.model.id).await
    }
}

/// Takes a share back, while its consultation is open (nothing moves after closing).
async fn undo_share(data: &FedData, activity: &str, person: i32) -> AppResult<()> {
    let Some(row) = share::Entity::find()
        .filter(share::Column::ActivityId.eq(activity))
        .filter(share::Column::ActorId.eq(person))
        .one(&data.db)
        .await?
    else {
        return Ok(());
    };
    let (_, _, group) = super::locate::parts(&data.db, person, row.proposal_id).await?;
    ensure_open(group.opens_at, group.closes_at, Utc::now())?;
    share::Entity::delete_by_id(row.id).exec(&data.db).await?;
    Ok(())
}

/// An `Undo` naming the undone activity by its id alone (Pleroma): a vote or a share of the
/// sender's, found by the activity that made it.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UndoById {
    #[serde(rename = "type")]
    pub kind: UndoType,
    pub id: Url,
    pub actor: ObjectId<DbPerson>,
    pub object: Url,
}

#[async_trait::async_trait]
impl Activity for UndoById {
    type DataType = AppState;
    type Error = AppError;

    fn id(&self) -> &Url {
        &self.id
    }

    fn actor(&self) -> &Url {
        self.actor.inner()
    }

    async fn verify(&self, _data: &FedData) -> AppResult<()> {
        // Only the sender's own votes and shares are looked up: nothing else can be undone.
        Ok(())
    }

    async fn receive(self, data: &FedData) -> AppResult<()> {
        let Some(person) = DbPerson::read_from_id(self.actor.inner().clone(), data).await? else {
            return Ok(());
        };
        undo_share(data, self.object.as_str(), person.model.id).await?;
        let vote = vote::Entity::find()
            .filter(vote::Column::ActivityId.eq(self.object.as_str()))
            .filter(vote::Column::AccountId.eq(person.model.id))
            .one(&data.db)
            .await?;
        let Some(vote) = vote else {
            return Ok(());
        };
        let (_, proposal, group) =
            super::locate::parts(&data.db, person.model.id, vote.proposal_id).await?;
        // That vote, unless a newer one replaced it since.
        super::votes::take_back(
            data,
            &proposal,
            &group,
            person.model.id,
            Some(vote.updated_at),
        )
        .await
    }
}
