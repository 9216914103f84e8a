//! Taking part in a consultation hosted on another node. The follower node sends the author's
//! `Create` to the consultation's Group; the origin applies its own rules (the same
//! `domain::ensure_open` as for local posts), stores and `Announce`s it to every follower, or
//! answers `Reject` with the reason. The follower node waits briefly for that verdict so the
//! person who posted learns it at once.

use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::kinds::activity::UpdateType;
use activitypub_federation::protocol::verification::verify_urls_match;
use activitypub_federation::traits::{Activity, Actor, Object};
use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use serde_json::json;
use url::Url;

use super::activities::{Contribution, CreateContribution};
use super::actors::{DbGroup, DbPerson, Group};
use super::comments::{DbComment, store_comment};
use super::delivery::{self, Signer};
use super::objects::{DbArgument, DbProposal, NewIn, Voucher, store_note, store_page};
use super::publish::Changed;
use super::sources::{DbSource, store_source};
use super::{AS_PUBLIC, FedData, host_of, publish};
use crate::app::AppState;
use crate::domain::ensure_open;
use crate::error::{AppError, AppResult};
use crate::store::{consultation, late_refusal, proposal};

pub(crate) use super::verdicts::contribution_consultation;
pub use super::verdicts::{Reject, RejectedCreate, Sent, await_verdict, record_verdict};
// ---- origin node: receiving a contribution ----

impl Contribution {
    pub fn id(&self) -> &Url {
        match self {
            Contribution::Page(p) => p.id.inner(),
            Contribution::Note(n) | Contribution::Comment(n) | Contribution::PollAnswer(n) => {
                n.id.inner()
            }
            Contribution::Source(s) => s.id.inner(),
        }
    }

    pub fn attributed_to(&self) -> &Url {
        match self {
            Contribution::Page(p) => p.attributed_to.inner(),
            Contribution::Note(n) | Contribution::Comment(n) | Contribution::PollAnswer(n) => {
                n.attributed_to.inner()
            }
            Contribution::Source(s) => s.attributed_to.inner(),
        }
    }

    /// Addressed to the public: a direct or followers-only message is never published here.
    pub fn is_public(&self) -> bool {
        let (to, cc) = match self {
            Contribution::Page(p) => (&p.to, &p.cc),
            Contribution::Note(n) | Contribution::Comment(n) | Contribution::PollAnswer(n) => {
                (&n.to, &n.cc)
            }
            Contribution::Source(s) => (&s.to, &s.cc),
        };
        to.iter().chain(cc).any(|u| u.as_str() == AS_PUBLIC)
    }

    /// What it answers: nothing for a proposal.
    pub fn in_reply_to(&self) -> Option<&Url> {
        match self {
            Contribution::Page(_) => None,
            Contribution::Note(n) | Contribution::Comment(n) | Contribution::PollAnswer(n) => {
                Some(n.in_reply_to.inner())
            }
            Contribution::Source(s) => Some(s.in_reply_to.inner()),
        }
    }
}

/// The local consultation a contribution is addressed to, if it is one of ours: a proposal
/// names it (`audience`, or among its recipients as Lemmy does); a reply belongs to the
/// consultation of what it answers.
/// Where an incoming contribution goes: a consultation hosted here, and for a reply, what it
/// answers (looked up once, for both the addressing and the participation rules).
struct Target {
    group: DbGroup,
    parent: Option<super::locate::Located>,
}

async fn target(contribution: &Contribution, data: &FedData) -> AppResult<Option<Target>> {
    let target = match (contribution, contribution.in_reply_to()) {
        (Contribution::Page(page), _) => {
            let named = page
                .audience
                .iter()
                .map(|a| a.inner())
                .chain(page.to.iter())
                .chain(page.cc.iter());
            let mut found = None;
            for candidate in named {
                if let Some(group) = DbGroup::read_from_id(candidate.clone(), data).await? {
                    found = Some(Target {
                        group,
                        parent: None,
                    });
                    break;
                }
            }
            found
        }
        (_, Some(parent)) => match super::locate::locate(data, parent).await? {
            Some(located) => Some(Target {
                group: DbGroup::new(data, located.consultation.clone())?,
                parent: Some(located),
            }),
            None => None,
        },
        (_, None) => None,
    };
    Ok(target.filter(|t| t.group.is_local()))
}

#[async_trait::async_trait]
impl Activity for CreateContribution {
    type DataType = AppState;
    type Error = AppError;

    fn id(&self) -> &Url {
        &self.id
    }

    fn actor(&self) -> &Url {
        self.actor.inner()
    }

    async fn verify(&self, data: &FedData) -> AppResult<()> {
        // Authors create their own objects only, on their own host.
        super::verify_same_origin(self.actor.inner(), self.object.id())?;
        verify_urls_match(self.actor.inner(), self.object.attributed_to())?;
        // A poll answer goes to the poll's author only; everything else becomes public here.
        if !matches!(self.object, Contribution::PollAnswer(_)) && !self.object.is_public() {
            return Err(AppError::BadInput(
                "only public replies take part in a consultation (this one is private)".into(),
            ));
        }
        match &self.object {
            Contribution::Page(page) => DbProposal::verify(page, self.actor.inner(), data).await?,
            Contribution::Note(note) => DbArgument::verify(note, self.actor.inner(), data).await?,
            Contribution::Source(source) => {
                DbSource::verify(source, self.actor.inner(), data).await?
            }
            Contribution::Comment(note) | Contribution::PollAnswer(note) => {
                DbComment::verify(note, self.actor.inner(), data).await?
            }
        }
        if target(&self.object, data).await?.is_none() {
            return Err(AppError::BadInput(
                "not addressed to a consultation of this node".into(),
            ));
        }
        Ok(())
    }

    async fn receive(self, data: &FedData) -> AppResult<()> {
        let Target { group, parent } = target(&self.object, data).await?.ok_or_else(|| {
            AppError::BadInput("not addressed to a consultation of this node".into())
        })?;
        // A contribution is created once: a second Create of a known id changes nothing (its
        // changes come as Update, under the rules of its own consultation).
        let id = self.object.id().clone();
        if let Some(found) = super::locate::locate(data, &id).await? {
            return announce_if_lost(data, &id, found).await;
        }
        let author = self.actor.dereference(data).await?;
        // The same rules as for local posts: the participation period, and a reply needs a
        // visible proposal.
        let verdict = match (self.object.in_reply_to(), &parent) {
            (None, _) => ensure_open(group.model.opens_at, group.model.closes_at, Utc::now()),
            (Some(_), Some(found)) => match proposal::Entity::find_by_id(found.proposal_id)
                .one(&data.db)
                .await?
            {
                Some(proposal) => {
                    crate::services::proposals::ensure_takes_part(&proposal, &group.model)
                }
                None => Err(AppError::NotFound("no such proposal".into())),
            },
            (Some(_), None) => Err(AppError::NotFound("no such proposal".into())),
        };
        if let Err(refusal) = verdict {
            if let Contribution::PollAnswer(_) = self.object {
                // A vote is not a post: refused, with no Reject to show.
                return Err(refusal);
            }
            return reject(data, &group, &author, &self, &refusal.to_string()).await;
        }
        match self.object {
            Contribution::Page(page) => {
                let stored =
                    store_page(*page, data, NewIn::AnyConsultation, Voucher::Fetched).await?;
                announce(data, Changed::Proposal(stored.model.id)).await
            }
            Contribution::Note(note) => {
                let stored = store_note(*note, data, NewIn::AnyConsultation).await?;
                announce(data, Changed::Argument(stored.model.id)).await
            }
            Contribution::Source(source) => {
                let stored = store_source(*source, data, NewIn::AnyConsultation).await?;
                announce(data, Changed::Source(stored.model.id)).await
            }
            Contribution::Comment(note) => {
                let stored = store_comment(*note, data, NewIn::AnyConsultation).await?;
                announce(data, Changed::Comment(stored.model.id)).await
            }
            Contribution::PollAnswer(note) => {
                let proposal_id = parent.map(|p| p.proposal_id).unwrap_or_default();
                super::votes::record_poll_answer(data, &self.id, &note, &author, proposal_id).await
            }
        }
    }
}

/// A Create sent again by a sender that got no answer. The contribution is stored, then its
/// announcement queued, in two steps: a node stopped between them (killed, restarted) has it
/// without having told the consultation's followers, and nothing would tell them later. If no
/// delivery names it, it is announced now; otherwise the second Create changes nothing.
async fn announce_if_lost(
    data: &FedData,
    id: &Url,
    found: super::locate::Located,
) -> AppResult<()> {
    if found.consultation.ap_id.is_some() {
        return Ok(());
    }
    // The announcement embeds the object, `"id":"<id>"`; LIKE wildcards in the id are escaped.
    let escaped = super::policy::like_escaped(&format!("\"id\":\"{id}\""));
    let named = crate::store::delivery::Entity::find()
        .filter(
            crate::store::delivery::Column::Payload
                .like(sea_orm::sea_query::LikeExpr::new(format!("%{escaped}%")).escape('!')),
        )
        .count(&data.db)
        .await?;
    if named > 0 {
        return Ok(());
    }
    tracing::info!(%id, "a contribution stored but never announced: announced now");
    announce(data, found.changed).await
}

/// Queues a received contribution's announcements (one per follower inbox, the poll, the
/// author's followers) all or none: `announce_if_lost` takes one queued delivery as proof of
/// all of them.
async fn announce(data: &FedData, changed: Changed) -> AppResult<()> {
    let txn = crate::store::begin_write(&data.db).await?;
    publish::created(&txn, data, changed).await?;
    txn.commit().await?;
    Ok(())
}

async fn reject(
    data: &FedData,
    group: &DbGroup,
    author: &DbPerson,
    create: &CreateContribution,
    reason: &str,
) -> AppResult<()> {
    if Utc::now() >= group.model.closes_at {
        count_late_author(data, group.model.id, author.model.id).await?;
    }
    let id = super::new_activity_id(data, "reject")?;
    let reject = json!({
        "type": "Reject",
        "id": id,
        "actor": group.ap_id,
        "object": {
            "type": "Create",
            "id": create.id,
            "actor": create.actor.inner(),
            "object": create.object.id(),
        },
        "summary": reason,
        "to": [author.ap_id],
    });
    delivery::enqueue(
        &data.db,
        &id,
        Signer::Consultation(group.model.id),
        &reject,
        [author.shared_inbox_or_inbox()],
    )
    .await
}

/// Counts the people refused for writing after closing, shown on the consultation's page
/// (people elsewhere may not see the `Reject`). Each author counts once per consultation, so one
/// account sending late reply after late reply cannot inflate it.
async fn count_late_author(data: &FedData, consultation_id: i32, author_id: i32) -> AppResult<()> {
    let txn = crate::store::begin_write(&data.db).await?;
    let inserted = late_refusal::Entity::insert(late_refusal::ActiveModel {
        consultation_id: Set(consultation_id),
        author_id: Set(author_id),
        created_at: Set(Utc::now()),
    })
    .on_conflict_do_nothing_on([
        late_refusal::Column::ConsultationId,
        late_refusal::Column::AuthorId,
    ])
    .exec_without_returning(&txn)
    .await?;
    // One more person only when this author was not counted yet; an increment, not a recount,
    // so that two late authors at once both count on PostgreSQL.
    if matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
        consultation::Entity::update_many()
            .col_expr(
                consultation::Column::LateRefused,
                sea_orm::sea_query::ExprTrait::add(
                    sea_orm::sea_query::Expr::col(consultation::Column::LateRefused),
                    1,
                ),
            )
            .filter(consultation::Column::Id.eq(consultation_id))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(())
}

// ---- a followed consultation changes (title, dates: closing) ----

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateGroup {
    #[serde(rename = "type")]
    pub kind: UpdateType,
    pub id: Url,
    pub actor: ObjectId<DbGroup>,
    pub object: Box<Group>,
}

#[async_trait::async_trait]
impl Activity for UpdateGroup {
    type DataType = AppState;
    type Error = AppError;

    fn id(&self) -> &Url {
        &self.id
    }

    fn actor(&self) -> &Url {
        self.actor.inner()
    }

    async fn verify(&self, data: &FedData) -> AppResult<()> {
        // A Group updates itself only, and only one this node mirrors.
        verify_urls_match(self.actor.inner(), self.object.id.inner())?;
        DbGroup::verify(&self.object, self.actor.inner(), data).await?;
        match DbGroup::read_from_id(self.actor.inner().clone(), data).await? {
            Some(group) if !group.is_local() => Ok(()),
            _ => Err(AppError::Forbidden(
                "this node does not mirror that consultation".into(),
            )),
        }
    }

    async fn receive(self, data: &FedData) -> AppResult<()> {
        DbGroup::from_json(*self.object, data).await?;
        Ok(())
    }
}

/// Tells a local consultation's followers that it changed (its dates above all: closing it
/// closes it on every mirror).
pub async fn consultation_updated(
    db: &impl ConnectionTrait,
    state: &AppState,
    model: consultation::Model,
) -> AppResult<()> {
    if model.ap_id.is_some() {
        return Ok(());
    }
    let inboxes = publish::follower_inboxes(db, state, model.id).await?;
    if inboxes.is_empty() {
        return Ok(());
    }
    // A follower may have followed without ever fetching the Group (a hand-made Follow):
    // never publish an empty key, which the followers would store.
    let model = super::keys::ensure_consultation_keys(state, model).await?;
    let group = super::actors::group_json(state, &model)?;
    let id = super::new_activity_id(state, "update")?;
    let update = json!({
        "type": "Update",
        "id": id,
        "actor": group.id.inner(),
        "object": group,
        "to": [AS_PUBLIC],
        "cc": [format!("{}/followers", group.id.inner())],
    });
    delivery::enqueue(
        db,
        &id,
        Signer::Consultation(model.id),
        &update,
        inboxes.clone(),
    )
    .await?;
    // Lemmy takes a community's new settings only from one of its moderators (a person),
    // relayed by the community: the organiser's `Update`, announced by the Group.
    if let Some(organiser) = model.created_by {
        let organiser = format!(
            "{}",
            super::actors::DbPerson::new(
                state,
                crate::store::account::Entity::find_by_id(organiser)
                    .one(db)
                    .await?
                    .ok_or_else(|| AppError::NotFound("organiser".into()))?,
            )?
            .ap_id
        );
        let announce_id = super::new_activity_id(state, "announce")?;
        let announce = json!({
            "type": "Announce",
            "id": announce_id,
            "actor": group.id.inner(),
            "object": {
                "type": "Update",
                "id": super::new_activity_id(state, "update")?,
                "actor": organiser,
                "object": group,
                "to": [AS_PUBLIC],
                "cc": [group.id.inner()],
                "audience": group.id.inner(),
            },
            "to": [AS_PUBLIC],
            "cc": [format!("{}/followers", group.id.inner())],
        });
        delivery::enqueue(
            db,
            &announce_id,
            Signer::Consultation(model.id),
            &announce,
            inboxes,
        )
        .await?;
    }
    publish::polls_changed(db, state, model.id).await
}

pub fn origin_host(group: &consultation::Model) -> String {
    group
        .ap_id
        .as_deref()
        .and_then(|u| Url::parse(u).ok())
        .map(|u| host_of(&u))
        .unwrap_or_default()
}
