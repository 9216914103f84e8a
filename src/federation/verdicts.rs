//! The follower node's side of taking part in a consultation hosted elsewhere: waiting for the
//! origin's verdict on what was sent (it `Announce`s it, or answers `Reject`), and recording it.
//! A refused contribution is withdrawn here and deleted for the author's followers.
use std::time::Duration;

use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::kinds::activity::RejectType;
use activitypub_federation::traits::{Activity, Object};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde::{Deserialize, Serialize};
use url::Url;

use super::actors::{DbGroup, local_segment};
use super::publish::Changed;
use super::{FedData, publish};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::store::{argument, proposal, source};

// ---- follower node: the verdict on a contribution sent to its origin ----

/// A contribution posted here to a consultation hosted elsewhere.
#[derive(Debug, Clone, Copy)]
pub enum Sent {
    Proposal(i32),
    Argument(i32),
    Source(i32),
}

/// Waits up to ten seconds for the origin's verdict on a contribution sent from here: a
/// refusal is the origin's error; no answer yet leaves it pending.
pub async fn await_verdict(state: &AppState, sent: Sent, origin: &str) -> AppResult<()> {
    for _ in 0..100 {
        let (status, note) = match sent {
            Sent::Proposal(id) => proposal::Entity::find_by_id(id)
                .one(&state.db)
                .await?
                .map(|p| (p.origin_state, p.origin_note)),
            Sent::Argument(id) => argument::Entity::find_by_id(id)
                .one(&state.db)
                .await?
                .map(|a| (a.origin_state, a.origin_note)),
            Sent::Source(id) => source::Entity::find_by_id(id)
                .one(&state.db)
                .await?
                .map(|s| (s.origin_state, s.origin_note)),
        }
        .unwrap_or_default();
        match status.as_deref() {
            Some("accepted") => return Ok(()),
            Some("rejected") => {
                return Err(AppError::NotOpen(format!(
                    "refused by {origin}, where this consultation is hosted: {}",
                    note.unwrap_or_default()
                )));
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    Ok(())
}

/// Marks a contribution of ours as accepted (its origin announced it) or rejected.
pub async fn record_verdict(
    data: &FedData,
    object_id: &Url,
    accepted: bool,
    note: Option<String>,
) -> AppResult<()> {
    let state = if accepted { "accepted" } else { "rejected" };
    // The verdict and the proposal's counts change together.
    let txn = crate::store::begin_write(&data.db).await?;
    if let Some(id) =
        local_segment(data, object_id, "/proposals/").and_then(|s| s.parse::<i32>().ok())
        && let Some(model) = proposal::Entity::find_by_id(id).one(&txn).await?
        && model.origin_state.is_some()
    {
        let already_refused = model.origin_state.as_deref() == Some("rejected");
        let mut active: proposal::ActiveModel = model.into();
        active.origin_state = Set(Some(state.into()));
        active.origin_note = Set(note.clone());
        if !accepted {
            active.withdrawn = Set(true);
        }
        active.update(&txn).await?;
        if !accepted && !already_refused {
            publish::refused(&txn, data, Changed::Proposal(id)).await?;
        }
    }
    if let Some(id) =
        local_segment(data, object_id, "/arguments/").and_then(|s| s.parse::<i32>().ok())
        && let Some(model) = argument::Entity::find_by_id(id).one(&txn).await?
        && model.origin_state.is_some()
    {
        let proposal_id = model.proposal_id;
        let already_refused = model.origin_state.as_deref() == Some("rejected");
        let mut active: argument::ActiveModel = model.into();
        active.origin_state = Set(Some(state.into()));
        active.origin_note = Set(note.clone());
        if !accepted {
            active.withdrawn = Set(true);
        }
        active.update(&txn).await?;
        if !accepted && !already_refused {
            publish::refused(&txn, data, Changed::Argument(id)).await?;
        }
        crate::services::refresh_tally(&txn, proposal_id).await?;
    }
    if let Some(id) =
        local_segment(data, object_id, "/sources/").and_then(|s| s.parse::<i32>().ok())
        && let Some(model) = source::Entity::find_by_id(id).one(&txn).await?
        && model.origin_state.is_some()
    {
        let proposal_id = model.proposal_id;
        let already_refused = model.origin_state.as_deref() == Some("rejected");
        let mut active: source::ActiveModel = model.into();
        active.origin_state = Set(Some(state.into()));
        active.origin_note = Set(note.clone());
        if !accepted {
            active.withdrawn = Set(true);
        }
        active.update(&txn).await?;
        if !accepted && !already_refused {
            publish::refused(&txn, data, Changed::Source(id)).await?;
        }
        crate::services::refresh_tally(&txn, proposal_id).await?;
    }
    txn.commit().await?;
    Ok(())
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectedCreate {
    pub id: Url,
    pub object: Url,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reject {
    #[serde(rename = "type")]
    pub kind: RejectType,
    pub id: Url,
    pub actor: ObjectId<DbGroup>,
    pub object: RejectedCreate,
    pub summary: Option<String>,
}

#[async_trait::async_trait]
impl Activity for Reject {
    type DataType = AppState;
    type Error = AppError;

    fn id(&self) -> &Url {
        &self.id
    }

    fn actor(&self) -> &Url {
        self.actor.inner()
    }

    async fn verify(&self, data: &FedData) -> AppResult<()> {
        if !super::is_local(data, &self.object.object) {
            return Err(AppError::BadInput(
                "this Reject is about another node's object".into(),
            ));
        }
        Ok(())
    }

    async fn receive(self, data: &FedData) -> AppResult<()> {
        // Only the consultation the contribution was sent to may refuse it.
        let group = DbGroup::read_from_id(self.actor.inner().clone(), data)
            .await?
            .ok_or_else(|| AppError::Forbidden("unknown consultation".into()))?;
        let addressed_to = contribution_consultation(data, &self.object.object).await?;
        if addressed_to != Some(group.model.id) {
            return Err(AppError::Forbidden(
                "only the consultation it was sent to may refuse it".into(),
            ));
        }
        let reason = self
            .summary
            .map(|s| super::actors::clean_name(&s, 500))
            .unwrap_or_default();
        record_verdict(data, &self.object.object, false, Some(reason)).await
    }
}

/// The consultation a contribution stored here belongs to.
pub(crate) async fn contribution_consultation(
    data: &FedData,
    object: &Url,
) -> AppResult<Option<i32>> {
    Ok(super::locate::locate(data, object)
        .await?
        .map(|found| found.consultation.id))
}
