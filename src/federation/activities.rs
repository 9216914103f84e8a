//! Activities Palabre receives. Each `verify` checks origin and rights before `receive` touches
//! anything; the library has already checked the HTTP signature against the actor's key and
//! that the activity's id is on the actor's host.
use activitypub_federation::config::Data;
use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::kinds::activity::{AnnounceType, CreateType};
use activitypub_federation::traits::{Activity, Object};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use super::FedData;
use super::actors::{DbGroup, DbPerson};
use super::comments::DbComment;
use super::objects::{DbArgument, DbProposal, Note, Page};
use super::participation::{Reject, UpdateGroup};
use super::reports::Flag;
use super::shares::{UndoById, UndoShare};
use super::sources::{DbSource, SourceNote};
use super::updates::{DeleteObject, UpdateObject};
use super::votes::{UndoVote, VoteActivity};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::store::{follow, received_activity};

pub use super::follow_activities::{Accept, Follow, UndoFollow};

// ---- contributions announced by a followed consultation ----

/// What people contribute to a debate. Arguments, sources, comments and poll answers are all
/// `Note`s replying in a proposal's thread: `isSource` marks a source, a `name` without text a
/// poll answer (Pleroma calls it `Answer`), a side (`stance` or a stance hashtag) an argument;
/// any other reply is a comment.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Contribution {
    Page(Box<Page>),
    Note(Box<Note>),
    Source(Box<SourceNote>),
    Comment(Box<Note>),
    PollAnswer(Box<Note>),
}

impl<'de> Deserialize<'de> for Contribution {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = Value::deserialize(deserializer)?;
        let kind = value.get("type").and_then(Value::as_str).map(str::to_owned);
        let is_source = value
            .get("isSource")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        match (kind.as_deref(), is_source) {
            (Some("Page"), _) => {
                serde_json::from_value(value).map(|p| Contribution::Page(Box::new(p)))
            }
            (Some("Note"), true) => {
                serde_json::from_value(value).map(|s| Contribution::Source(Box::new(s)))
            }
            (Some("Note" | "Answer"), false) => {
                let n = serde_json::from_value::<Note>(value).map_err(D::Error::custom)?;
                if n.is_too_long() {
                    return Err(D::Error::custom(format!(
                        "a reply over {} bytes of text is refused",
                        super::replies::REPLY_TEXT_MAX_BYTES
                    )));
                }
                Ok(if n.is_poll_answer() {
                    Contribution::PollAnswer(Box::new(n))
                } else if n.effective_stance().is_some() {
                    Contribution::Note(Box::new(n))
                } else {
                    Contribution::Comment(Box::new(n))
                })
            }
            _ => {
                return Err(D::Error::custom(
                    "not a proposal, an argument, a source, a comment or a poll answer",
                ));
            }
        }
        .map_err(D::Error::custom)
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateContribution {
    #[serde(rename = "type")]
    pub kind: CreateType,
    pub id: Url,
    pub actor: ObjectId<DbPerson>,
    pub object: Contribution,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Announced {
    Create(Box<CreateContribution>),
    Contribution(Contribution),
    /// A boost by a person names what it shares (Mastodon, Misskey, GoToSocial).
    Link(Url),
    /// Any other embedded object (our own poll, say, or an activity): only its id counts.
    Embedded {
        id: Url,
        #[serde(rename = "type")]
        kind: Option<String>,
    },
}

impl Announced {
    fn object_id(&self) -> &Url {
        match self {
            Announced::Create(create) => create.object.id(),
            Announced::Contribution(contribution) => contribution.id(),
            Announced::Link(id) | Announced::Embedded { id, .. } => id,
        }
    }
}

impl Announce {
    fn object_kind(&self) -> Option<&str> {
        match &self.object {
            Announced::Embedded { kind, .. } => kind.as_deref(),
            _ => None,
        }
    }
}

/// Either a followed consultation relaying its debate (FEP-1b12), or a person sharing (boosting)
/// a proposal of a consultation hosted here.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Announce {
    #[serde(rename = "type")]
    pub kind: AnnounceType,
    pub id: Url,
    pub actor: Url,
    pub object: Announced,
}

impl Contribution {
    /// Stores an announced contribution. An embedded copy is believed only when it comes from
    /// the object's own host; otherwise it is fetched again from its origin.
    pub(super) async fn store(self, announcer: &Url, data: &FedData) -> AppResult<()> {
        let id = self.id().clone();
        // Our own contribution, announced back by its consultation's origin: it was accepted.
        if super::is_local(data, &id) {
            let group = DbGroup::read_from_id(announcer.clone(), data).await?;
            let sent_to = super::participation::contribution_consultation(data, &id).await?;
            if group.is_none_or(|g| Some(g.model.id) != sent_to) {
                return Err(AppError::Forbidden(
                    "only the consultation it was sent to may accept it".into(),
                ));
            }
            return super::participation::record_verdict(data, &id, true, None).await;
        }
        let embedded_is_authoritative = super::verify_same_origin(&id, announcer).is_ok();
        match self {
            Contribution::Page(page) if embedded_is_authoritative => {
                DbProposal::verify(&page, announcer, data).await?;
                DbProposal::from_json(*page, data).await?;
            }
            Contribution::Note(note) if embedded_is_authoritative => {
                DbArgument::verify(&note, announcer, data).await?;
                DbArgument::from_json(*note, data).await?;
            }
            Contribution::Page(_) => {
                // Fetched from its origin: it must belong to the announcing Group's debate.
                let p = ObjectId::<DbProposal>::from(id)
                    .dereference_forced(data)
                    .await?;
                ensure_announcer_hosts(data, announcer, p.model.id).await?;
            }
            Contribution::Source(source) if embedded_is_authoritative => {
                DbSource::verify(&source, announcer, data).await?;
                DbSource::from_json(*source, data).await?;
            }
            Contribution::Note(_) => {
                // Fetched from its origin: it must belong to the announcing Group's debate.
                let a = ObjectId::<DbArgument>::from(id)
                    .dereference_forced(data)
                    .await?;
                ensure_announcer_hosts(data, announcer, a.model.proposal_id).await?;
            }
            Contribution::Source(_) => {
                // Fetched from its origin: it must belong to the announcing Group's debate.
                let s = ObjectId::<DbSource>::from(id)
                    .dereference_forced(data)
                    .await?;
                ensure_announcer_hosts(data, announcer, s.model.proposal_id).await?;
            }
            Contribution::Comment(note) if embedded_is_authoritative => {
                DbComment::verify(&note, announcer, data).await?;
                DbComment::from_json(*note, data).await?;
            }
            Contribution::Comment(_) => {
                let c = ObjectId::<DbComment>::from(id)
                    .dereference_forced(data)
                    .await?;
                ensure_announcer_hosts(data, announcer, c.model.proposal_id).await?;
            }
            Contribution::PollAnswer(_) => {
                return Err(AppError::Forbidden(
                    "votes are counted by the consultation, not relayed".into(),
                ));
            }
        }
        Ok(())
    }
}

/// The proposal must belong to the consultation whose Group announced it.
async fn ensure_announcer_hosts(
    data: &FedData,
    announcer: &Url,
    proposal_id: i32,
) -> AppResult<()> {
    let proposal = crate::store::proposal::Entity::find_by_id(proposal_id)
        .one(&data.db)
        .await?
        .ok_or_else(|| AppError::NotFound("proposal".into()))?;
    match DbGroup::read_from_id(announcer.clone(), data).await? {
        Some(group) if group.model.id == proposal.consultation_id => Ok(()),
        _ => Err(AppError::Forbidden(
            "a consultation announces only its own debate".into(),
        )),
    }
}

#[async_trait::async_trait]
impl Activity for Announce {
    type DataType = AppState;
    type Error = AppError;

    fn id(&self) -> &Url {
        &self.id
    }

    fn actor(&self) -> &Url {
        &self.actor
    }

    async fn verify(&self, data: &FedData) -> AppResult<()> {
        match followed_group(data, &self.actor).await? {
            Some(group) => verify_relay(self, &group, data).await,
            None => super::shares::verify(data, &self.actor, self.object.object_id()).await,
        }
    }

    async fn receive(self, data: &FedData) -> AppResult<()> {
        if followed_group(data, &self.actor).await?.is_none() {
            return super::shares::record(data, &self.id, &self.actor, self.object.object_id())
                .await;
        }
        let contribution = match self.object {
            Announced::Create(create) => create.object,
            // The bare copy sent for Mastodon's sake follows the `Announce(Create)` that
            // brought it: nothing new when it is known.
            Announced::Contribution(contribution)
                if super::locate::locate(data, contribution.id())
                    .await?
                    .is_some() =>
            {
                return Ok(());
            }
            Announced::Contribution(contribution) => contribution,
            // Verified above: a relayed link names something stored here already.
            Announced::Link(_) | Announced::Embedded { .. } => return Ok(()),
        };
        contribution.store(&self.actor, data).await
    }
}

/// The remote consultation `actor` names, if this node follows it.
pub(super) async fn followed_group(data: &FedData, actor: &Url) -> AppResult<Option<DbGroup>> {
    let Some(group) = DbGroup::read_from_id(actor.clone(), data)
        .await?
        .filter(|g| !g.is_local())
    else {
        return Ok(None);
    };
    let followed = follow::Entity::find()
        .filter(follow::Column::ConsultationId.eq(group.model.id))
        .one(&data.db)
        .await?;
    Ok(followed.map(|_| group))
}

/// A followed Group relays its own debate only.
async fn verify_relay(announce: &Announce, group: &DbGroup, data: &FedData) -> AppResult<()> {
    let contribution = match &announce.object {
        Announced::Create(create) => &create.object,
        Announced::Contribution(contribution) => contribution,
        // An activity relayed for Lemmy's sake (`Announce(Update{actor: author})`): the
        // Group's own `Update`/`Delete` says the same to Palabre, so it is let through unread.
        Announced::Embedded { .. }
            if matches!(
                announce.object_kind(),
                Some("Update" | "Delete" | "Create" | "Like" | "Dislike" | "Undo")
            ) =>
        {
            return Ok(());
        }
        Announced::Link(id) | Announced::Embedded { id, .. } => {
            // Lemmy and Palabre also announce the bare object for Mastodon's sake; the
            // embedded `Announce(Create)` carries it here.
            return match super::locate::locate(data, id).await? {
                Some(found) if found.consultation.id == group.model.id => Ok(()),
                _ => Err(AppError::BadInput(
                    "announced objects are accepted embedded, in their Create".into(),
                )),
            };
        }
    };
    relayable(contribution, group, data).await?;
    if let Announced::Create(create) = &announce.object {
        // The Create speaks for its author: both must be on the object's host.
        super::verify_same_origin(create.actor.inner(), create.object.id())?;
    }
    Ok(())
}

/// What a followed Group may relay (in an `Announce`, or an `Update` of something this node
/// never received): proposals addressed to it, and replies to its own proposals.
pub(super) async fn relayable(
    contribution: &Contribution,
    group: &DbGroup,
    data: &FedData,
) -> AppResult<()> {
    let parent = match contribution {
        Contribution::Page(page) => {
            if page.audience.as_ref().map(|a| a.inner()) != Some(&group.ap_id) {
                return Err(AppError::Forbidden(
                    "a consultation announces only proposals addressed to it".into(),
                ));
            }
            None
        }
        Contribution::PollAnswer(_) => {
            return Err(AppError::Forbidden(
                "votes are counted by the consultation, not relayed".into(),
            ));
        }
        other => other.in_reply_to().cloned(),
    };
    if let Some(parent) = parent {
        // Proposals are announced before their replies: an unknown parent is not fetched on a
        // Group's word.
        let known = super::locate::locate(data, &parent).await?;
        if known.is_none_or(|p| p.consultation.id != group.model.id) {
            return Err(AppError::Forbidden(
                "a consultation announces only replies to its own proposals".into(),
            ));
        }
    }
    Ok(())
}

// ---- the inbox ----

/// Everything an inbox accepts. Unknown activity types are refused with 400 by the parser.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum InboxActivity {
    Follow(Follow),
    Accept(Accept),
    UndoFollow(UndoFollow),
    Announce(Announce),
    Create(CreateContribution),
    Reject(Reject),
    UpdateGroup(UpdateGroup),
    UpdateObject(UpdateObject),
    ForeignPoll(super::poll::ForeignPoll),
    Delete(DeleteObject),
    Vote(VoteActivity),
    UndoVote(UndoVote),
    UndoShare(UndoShare),
    UndoById(UndoById),
    Flag(Flag),
}

impl InboxActivity {
    fn inner(&self) -> &dyn ActivityIds {
        match self {
            InboxActivity::Follow(a) => a,
            InboxActivity::Accept(a) => a,
            InboxActivity::UndoFollow(a) => a,
            InboxActivity::Announce(a) => a,
            InboxActivity::Create(a) => a,
            InboxActivity::Reject(a) => a,
            InboxActivity::UpdateGroup(a) => a,
            InboxActivity::UpdateObject(a) => a,
            InboxActivity::ForeignPoll(a) => a,
            InboxActivity::Delete(a) => a,
            InboxActivity::Vote(a) => a,
            InboxActivity::UndoVote(a) => a,
            InboxActivity::UndoShare(a) => a,
            InboxActivity::UndoById(a) => a,
            InboxActivity::Flag(a) => a,
        }
    }
}

trait ActivityIds {
    fn id(&self) -> &Url;
    fn actor(&self) -> &Url;
}

impl<A: Activity> ActivityIds for A {
    fn id(&self) -> &Url {
        Activity::id(self)
    }
    fn actor(&self) -> &Url {
        Activity::actor(self)
    }
}

#[async_trait::async_trait]
impl Activity for InboxActivity {
    type DataType = AppState;
    type Error = AppError;

    fn id(&self) -> &Url {
        self.inner().id()
    }

    fn actor(&self) -> &Url {
        self.inner().actor()
    }

    async fn verify(&self, data: &Data<AppState>) -> AppResult<()> {
        // The library compares host names only; an activity must come from its actor's own
        // server, port included.
        super::verify_same_origin(Activity::id(self), Activity::actor(self))?;
        match self {
            InboxActivity::Follow(a) => a.verify(data).await,
            InboxActivity::Accept(a) => a.verify(data).await,
            InboxActivity::UndoFollow(a) => a.verify(data).await,
            InboxActivity::Announce(a) => a.verify(data).await,
            InboxActivity::Create(a) => a.verify(data).await,
            InboxActivity::Reject(a) => a.verify(data).await,
            InboxActivity::UpdateGroup(a) => a.verify(data).await,
            InboxActivity::UpdateObject(a) => a.verify(data).await,
            InboxActivity::ForeignPoll(a) => a.verify(data).await,
            InboxActivity::Delete(a) => a.verify(data).await,
            InboxActivity::Vote(a) => a.verify(data).await,
            InboxActivity::UndoVote(a) => a.verify(data).await,
            InboxActivity::UndoShare(a) => a.verify(data).await,
            InboxActivity::UndoById(a) => a.verify(data).await,
            InboxActivity::Flag(a) => a.verify(data).await,
        }
    }

    /// Receiving the same activity twice has no second effect: ids are remembered.
    async fn receive(self, data: &Data<AppState>) -> AppResult<()> {
        let id = Activity::id(&self).to_string();
        // Updates are idempotent, and GoToSocial reuses one id for every edit of a status.
        let reuses_ids = matches!(
            self,
            InboxActivity::UpdateObject(_) | InboxActivity::UpdateGroup(_)
        );
        if !reuses_ids
            && received_activity::Entity::find_by_id(id.clone())
                .one(&data.db)
                .await?
                .is_some()
        {
            return Ok(());
        }
        match self {
            InboxActivity::Follow(a) => a.receive(data).await?,
            InboxActivity::Accept(a) => a.receive(data).await?,
            InboxActivity::UndoFollow(a) => a.receive(data).await?,
            InboxActivity::Announce(a) => a.receive(data).await?,
            InboxActivity::Create(a) => a.receive(data).await?,
            InboxActivity::Reject(a) => a.receive(data).await?,
            InboxActivity::UpdateGroup(a) => a.receive(data).await?,
            InboxActivity::UpdateObject(a) => a.receive(data).await?,
            InboxActivity::ForeignPoll(a) => a.receive(data).await?,
            InboxActivity::Delete(a) => a.receive(data).await?,
            InboxActivity::Vote(a) => a.receive(data).await?,
            InboxActivity::UndoVote(a) => a.receive(data).await?,
            InboxActivity::UndoShare(a) => a.receive(data).await?,
            InboxActivity::UndoById(a) => a.receive(data).await?,
            InboxActivity::Flag(a) => a.receive(data).await?,
        }
        // A concurrent duplicate may have been recorded meanwhile: that is fine.
        let _ = received_activity::ActiveModel {
            ap_id: Set(id),
            received_at: Set(Utc::now()),
        }
        .insert(&data.db)
        .await;
        Ok(())
    }
}

/// Any JSON activity with an id and an actor, as stored in the delivery queue.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct StoredActivity {
    pub id: Url,
    pub actor: Url,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, Value>,
}

#[async_trait::async_trait]
impl Activity for StoredActivity {
    type DataType = AppState;
    type Error = AppError;

    fn id(&self) -> &Url {
        &self.id
    }

    fn actor(&self) -> &Url {
        &self.actor
    }

    async fn verify(&self, _data: &FedData) -> AppResult<()> {
        Err(AppError::Internal(anyhow::anyhow!(
            "stored activities are only sent"
        )))
    }

    async fn receive(self, _data: &FedData) -> AppResult<()> {
        Err(AppError::Internal(anyhow::anyhow!(
            "stored activities are only sent"
        )))
    }
}
