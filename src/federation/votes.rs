//! Votes travel only to the consultation's origin, which counts them and publishes tallies on
//! the proposal (`Update` from its Group); nobody re-broadcasts who voted what. *agree* is a
//! `Like`, *disagree* a `Dislike`, *mixed* Palabre's own `Vote` with `value: "mixed"` (other
//! software ignores it rather than miscount it). Changing a vote is `Undo` + the new one.
use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::kinds::activity::UndoType;
use activitypub_federation::protocol::verification::verify_urls_match;
use activitypub_federation::traits::{Activity, Actor, Object};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use super::actors::{DbGroup, DbPerson};
use super::delivery::{self, Signer};
use super::objects::{DbProposal, Note};
use super::publish::Changed;
use super::{FedData, publish};
use crate::app::AppState;
use crate::domain::VoteValue;
use crate::error::{AppError, AppResult};
use crate::services::refresh_tally;
use crate::store::{account, consultation, proposal, received_activity, vote};

fn activity_type(value: VoteValue) -> &'static str {
    match value {
        VoteValue::Agree => "Like",
        VoteValue::Disagree => "Dislike",
        VoteValue::Mixed => "Vote",
    }
}

/// The activity of a stored vote; its id is derived from the row, so the `Undo` of a vote can
/// name exactly the activity it takes back.
fn vote_activity(
    state: &AppState,
    row: &vote::Model,
    person: &Url,
    page: &Url,
) -> AppResult<Value> {
    let value = VoteValue::parse(&row.value)?;
    let id = format!(
        "{}/activities/vote/{}-{}-{}",
        state.origin,
        row.id,
        row.value,
        row.updated_at.timestamp_millis()
    );
    let mut activity = json!({
        "type": activity_type(value),
        "id": id,
        "actor": person,
        "object": page,
        "published": row.updated_at,
    });
    if value == VoteValue::Mixed {
        activity["value"] = json!("mixed");
    }
    Ok(activity)
}

async fn endpoints(
    db: &impl ConnectionTrait,
    state: &AppState,
    row: &vote::Model,
) -> AppResult<(Url, Url, Url)> {
    let person = account::Entity::find_by_id(row.account_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound("voter".into()))?;
    let proposal = proposal::Entity::find_by_id(row.proposal_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound("proposal".into()))?;
    let group = consultation::Entity::find_by_id(proposal.consultation_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound("consultation".into()))?;
    let group = DbGroup::new(state, group)?;
    Ok((
        DbPerson::new(state, person)?.ap_id,
        DbProposal::new(state, proposal)?.ap_id,
        group.inbox(),
    ))
}

/// Sends a vote cast here on a mirrored consultation to its origin, taking back `previous`.
pub async fn send_vote(
    db: &impl ConnectionTrait,
    state: &AppState,
    previous: Option<&vote::Model>,
    current: Option<&vote::Model>,
) -> AppResult<()> {
    let Some(any) = current.or(previous) else {
        return Ok(());
    };
    let (person, page, inbox) = endpoints(db, state, any).await?;
    if let Some(old) = previous {
        let undone = vote_activity(state, old, &person, &page)?;
        let id = Url::parse(&format!(
            "{}/undo",
            undone["id"].as_str().unwrap_or_default()
        ))
        .map_err(|e| AppError::Internal(e.into()))?;
        let undo = json!({"type": "Undo", "id": id, "actor": person, "object": undone});
        delivery::enqueue(
            db,
            &id,
            Signer::Account(old.account_id),
            &undo,
            [inbox.clone()],
        )
        .await?;
    }
    if let Some(new) = current {
        let activity = vote_activity(state, new, &person, &page)?;
        let id = Url::parse(activity["id"].as_str().unwrap_or_default())
            .map_err(|e| AppError::Internal(e.into()))?;
        delivery::enqueue(db, &id, Signer::Account(new.account_id), &activity, [inbox]).await?;
    }
    Ok(())
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub enum VoteType {
    Like,
    Dislike,
    Vote,
    /// Pleroma's and Akkoma's emoji reaction, read like Misskey's.
    EmojiReact,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VoteActivity {
    #[serde(rename = "type")]
    pub kind: VoteType,
    pub id: Url,
    pub actor: ObjectId<DbPerson>,
    pub object: ObjectId<DbProposal>,
    pub value: Option<String>,
    /// When the vote was cast: a late delivery of an older vote does not override a newer one.
    pub published: Option<chrono::DateTime<Utc>>,
    /// Misskey sends every emoji reaction as a `Like`: a thumbs-down is no agreement.
    #[serde(rename = "_misskey_reaction")]
    pub misskey_reaction: Option<String>,
    /// The emoji of a Pleroma `EmojiReact` (and of a Misskey `Like`).
    pub content: Option<String>,
}

impl VoteActivity {
    fn value(&self) -> AppResult<VoteValue> {
        let reaction = self
            .misskey_reaction
            .as_deref()
            .or(self.content.as_deref())
            .unwrap_or_default();
        let thumbs_down = reaction.trim_start().starts_with('\u{1F44E}');
        match (&self.kind, self.value.as_deref()) {
            (VoteType::Like | VoteType::EmojiReact, _) if thumbs_down => Ok(VoteValue::Disagree),
            (VoteType::Like | VoteType::EmojiReact, _) => Ok(VoteValue::Agree),
            (VoteType::Dislike, _) => Ok(VoteValue::Disagree),
            (VoteType::Vote, Some(value)) => VoteValue::parse(value),
            (VoteType::Vote, None) => Err(AppError::BadInput("a Vote needs a value".into())),
        }
    }
}

/// The proposal voted on, if its consultation is hosted here (only the origin counts).
async fn counted_here(
    data: &FedData,
    page: &Url,
) -> AppResult<(proposal::Model, consultation::Model)> {
    let proposal = DbProposal::read_from_id(page.clone(), data)
        .await?
        .ok_or_else(|| AppError::NotFound("no such proposal here".into()))?;
    let group = consultation::Entity::find_by_id(proposal.model.consultation_id)
        .one(&data.db)
        .await?
        .filter(|c| c.ap_id.is_none())
        .ok_or_else(|| AppError::BadInput("votes go to the consultation's own node".into()))?;
    Ok((proposal.model, group))
}

#[async_trait::async_trait]
impl Activity for VoteActivity {
    type DataType = AppState;
    type Error = AppError;

    fn id(&self) -> &Url {
        &self.id
    }

    fn actor(&self) -> &Url {
        self.actor.inner()
    }

    async fn verify(&self, data: &FedData) -> AppResult<()> {
        self.value()?;
        counted_here(data, self.object.inner()).await?;
        Ok(())
    }

    async fn receive(self, data: &FedData) -> AppResult<()> {
        let (proposal, group) = counted_here(data, self.object.inner()).await?;
        let voter = self.actor.dereference(data).await?;
        let cast = Cast {
            value: self.value()?,
            published: self.published,
            activity: &self.id,
        };
        record(data, &proposal, &group, &voter, cast).await
    }
}

/// A vote from another server on a proposal of a consultation hosted here: the same rules as
/// a local vote (open period, visible proposal, one per person, changeable); a late delivery
/// of an older vote does not override a newer one.
struct Cast<'a> {
    value: VoteValue,
    published: Option<chrono::DateTime<Utc>>,
    activity: &'a Url,
}

async fn record(
    data: &FedData,
    proposal: &proposal::Model,
    group: &consultation::Model,
    voter: &DbPerson,
    cast: Cast<'_>,
) -> AppResult<()> {
    let Cast {
        value,
        published,
        activity,
    } = cast;
    crate::services::proposals::ensure_takes_part(proposal, group)?;
    // One transaction: the vote, the recount and the published tallies stay together.
    let txn = crate::store::begin_write(&data.db).await?;
    let existing = vote::Entity::find()
        .filter(vote::Column::ProposalId.eq(proposal.id))
        .filter(vote::Column::AccountId.eq(voter.model.id))
        .one(&txn)
        .await?;
    let cast_at = published.unwrap_or_else(Utc::now).min(Utc::now());
    match existing {
        Some(row) if row.value == value.as_str() => {
            // The same vote again: an `Undo` of this newer activity must find it.
            let mut active: vote::ActiveModel = row.into();
            active.activity_id = Set(Some(activity.to_string()));
            active.update(&txn).await?;
            txn.commit().await?;
            return Ok(());
        }
        Some(row) if row.updated_at > cast_at => return Ok(()),
        Some(row) => {
            let mut active: vote::ActiveModel = row.into();
            active.value = Set(value.as_str().into());
            active.updated_at = Set(cast_at);
            active.activity_id = Set(Some(activity.to_string()));
            active.update(&txn).await?;
        }
        None => {
            vote::ActiveModel {
                proposal_id: Set(proposal.id),
                account_id: Set(voter.model.id),
                value: Set(value.as_str().into()),
                created_at: Set(cast_at),
                updated_at: Set(cast_at),
                activity_id: Set(Some(activity.to_string())),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
        }
    }
    refresh_tally(&txn, proposal.id).await?;
    publish::updated(&txn, data, Changed::Proposal(proposal.id)).await?;
    txn.commit().await?;
    Ok(())
}

/// A Mastodon-style poll answer (`Create(Note{name})` replying to the proposal's poll): the
/// option's name is the vote.
pub async fn record_poll_answer(
    data: &FedData,
    create: &Url,
    answer: &Note,
    voter: &DbPerson,
    proposal_id: i32,
) -> AppResult<()> {
    let name = answer.name.as_deref().unwrap_or_default();
    let value = VoteValue::from_poll_option(name)
        .ok_or_else(|| AppError::BadInput(format!("'{name}' is not an option of this poll")))?;
    let proposal = proposal::Entity::find_by_id(proposal_id)
        .one(&data.db)
        .await?
        .ok_or_else(|| AppError::NotFound("no such proposal here".into()))?;
    let (proposal, group) = counted_here(data, &DbProposal::new(data, proposal)?.ap_id).await?;
    let cast = Cast {
        value,
        published: answer.published,
        activity: create,
    };
    record(data, &proposal, &group, voter, cast).await
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UndoVote {
    #[serde(rename = "type")]
    pub kind: UndoType,
    pub id: Url,
    pub actor: ObjectId<DbPerson>,
    pub object: VoteActivity,
}

#[async_trait::async_trait]
impl Activity for UndoVote {
    type DataType = AppState;
    type Error = AppError;

    fn id(&self) -> &Url {
        &self.id
    }

    fn actor(&self) -> &Url {
        self.actor.inner()
    }

    async fn verify(&self, data: &FedData) -> AppResult<()> {
        // A person takes back their own vote only.
        verify_urls_match(self.actor.inner(), self.object.actor.inner())?;
        counted_here(data, self.object.object.inner()).await?;
        Ok(())
    }

    async fn receive(self, data: &FedData) -> AppResult<()> {
        let (proposal, group) = counted_here(data, self.object.object.inner()).await?;
        let Some(voter) = DbPerson::read_from_id(self.actor.inner().clone(), data).await? else {
            return Ok(());
        };
        // A late Undo does not take back a newer vote. Mastodon dates neither its Like nor its
        // Undo: when the undone activity was received here, that tells its age.
        let published = match self.object.published {
            Some(published) => Some(published),
            None => received_activity::Entity::find_by_id(self.object.id.to_string())
                .one(&data.db)
                .await?
                .map(|r| r.received_at),
        };
        take_back(data, &proposal, &group, voter.model.id, published).await
    }
}

/// A remote person takes their vote back, whatever the undone activity's type (Lemmy takes a
/// downvote back with `Undo(Like)`), under the rules of a local withdrawal (open period,
/// visible proposal); a vote cast after `not_newer_than` stays.
pub(crate) async fn take_back(
    data: &FedData,
    proposal: &proposal::Model,
    group: &consultation::Model,
    voter_id: i32,
    not_newer_than: Option<chrono::DateTime<Utc>>,
) -> AppResult<()> {
    crate::services::proposals::ensure_takes_part(proposal, group)?;
    let txn = crate::store::begin_write(&data.db).await?;
    let mut undone = vote::Entity::delete_many()
        .filter(vote::Column::ProposalId.eq(proposal.id))
        .filter(vote::Column::AccountId.eq(voter_id));
    if let Some(published) = not_newer_than {
        undone = undone.filter(vote::Column::UpdatedAt.lte(published));
    }
    undone.exec(&txn).await?;
    refresh_tally(&txn, proposal.id).await?;
    publish::updated(&txn, data, Changed::Proposal(proposal.id)).await?;
    txn.commit().await?;
    Ok(())
}
