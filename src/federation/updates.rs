//! Changes to contributions after they were posted. A consultation's Group is the source of
//! truth for its debate: it sends `Update` (edits, tallies, the organiser's answer) and
//! `Delete` with a `Tombstone` (withdrawals, moderation) to its followers. A receiver applies
//! them only from the Group of the consultation the object belongs to, or from the object's
//! own author; anyone else is refused.
use activitypub_federation::kinds::activity::{DeleteType, UpdateType};
use activitypub_federation::traits::Activity;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use url::Url;

use super::activities::Contribution;
use super::actors::DbGroup;
use super::comments::{CommentWrite, prepare_comment, save_comment};
use super::locate::locate;
use super::objects::{
    NewIn, NoteWrite, PageWrite, Voucher, prepare_note, prepare_page, save_note, save_page,
};
use super::publish::Changed;
use super::sources::{SourceWrite, prepare_source, save_source};
use super::{FedData, publish};
use crate::app::AppState;
use crate::domain::ensure_open;
use crate::error::{AppError, AppResult};
use crate::services::refresh_tally;
use crate::store::{account, argument, comment, consultation, proposal, source};

/// A stored contribution with who may change it: its author and its consultation's Group.
struct Stored {
    changed: Changed,
    proposal_id: i32,
    author: Url,
    group: consultation::Model,
}

async fn stored(data: &FedData, id: &Url) -> AppResult<Option<Stored>> {
    let Some(found) = locate(data, id).await? else {
        return Ok(None);
    };
    let author = account::Entity::find_by_id(found.author_id)
        .one(&data.db)
        .await?
        .ok_or_else(|| AppError::NotFound("author".into()))?;
    Ok(Some(Stored {
        changed: found.changed,
        proposal_id: found.proposal_id,
        author: super::actors::DbPerson::new(data, author)?.ap_id,
        group: found.consultation,
    }))
}

impl Stored {
    fn changed(&self) -> Changed {
        self.changed
    }
}

/// Who is speaking: the Group of a mirrored consultation, or the author.
enum Authority {
    OriginGroup,
    Author,
}

fn authority(actor: &Url, stored: &Stored, state: &AppState) -> AppResult<Authority> {
    let group = DbGroup::new(state, stored.group.clone())?;
    if !group.is_local() && &group.ap_id == actor {
        return Ok(Authority::OriginGroup);
    }
    if &stored.author == actor {
        return Ok(Authority::Author);
    }
    Err(AppError::Forbidden(
        "only the author or the consultation's own node may change this".into(),
    ))
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateObject {
    #[serde(rename = "type")]
    pub kind: UpdateType,
    pub id: Url,
    pub actor: Url,
    pub object: Contribution,
}

#[async_trait::async_trait]
impl Activity for UpdateObject {
    type DataType = AppState;
    type Error = AppError;

    fn id(&self) -> &Url {
        &self.id
    }

    fn actor(&self) -> &Url {
        &self.actor
    }

    async fn verify(&self, data: &FedData) -> AppResult<()> {
        let Some(stored) = stored(data, self.object.id()).await? else {
            // A followed Group updating what this node never received (its `Announce` was
            // lost): taken as that `Announce` would have been.
            return match super::activities::followed_group(data, &self.actor).await? {
                Some(group) => super::activities::relayable(&self.object, &group, data).await,
                None => Err(AppError::NotFound("unknown object".into())),
            };
        };
        if !same_kind(&self.object, stored.changed()) && !reclassifies(&self.object, &stored) {
            return Err(AppError::BadInput(
                "an Update cannot change what kind of contribution it is (only a reply's stance \
                 hashtag can, turning a comment into an argument or back)"
                    .into(),
            ));
        }
        // The new row of a reply changing kind is written from the JSON: its author must be
        // the stored one, or an author could credit their reply to someone else.
        if reclassifies(&self.object, &stored) && self.object.attributed_to() != &stored.author {
            return Err(AppError::Forbidden(
                "a reply keeps its author when it changes kind".into(),
            ));
        }
        if let Authority::Author = authority(&self.actor, &stored, data)? {
            super::verify_same_origin(&self.actor, self.object.id())?;
            // On a mirror, changes come from the consultation's own node, which checked them;
            // an author speaks to that node, not to its mirrors.
            if stored.group.ap_id.is_some() {
                return Err(AppError::Forbidden(
                    "edits of a mirrored contribution come from its consultation's node".into(),
                ));
            }
        }
        Ok(())
    }

    async fn receive(self, data: &FedData) -> AppResult<()> {
        let Some(stored) = stored(data, self.object.id()).await? else {
            return self.object.store(&self.actor, data).await;
        };
        let local_consultation = stored.group.ap_id.is_none();
        if local_consultation {
            // An author editing in a consultation hosted here: the same rules as a local edit
            // (open period; nothing hidden by moderators or withdrawn comes back this way).
            ensure_open(stored.group.opens_at, stored.group.closes_at, Utc::now())?;
            if is_hidden_or_withdrawn(data, stored.changed()).await? {
                return Err(AppError::Gone(
                    "this contribution was hidden or withdrawn here: it cannot be edited".into(),
                ));
            }
        }
        let voucher = match authority(&self.actor, &stored, data)? {
            Authority::OriginGroup => Voucher::OriginGroup,
            Authority::Author => Voucher::Fetched,
        };
        super::store_racing(|| apply(&self.object, data, &stored, voucher)).await
    }
}

fn same_kind(object: &Contribution, changed: Changed) -> bool {
    matches!(
        (object, changed),
        (Contribution::Page(_), Changed::Proposal(_))
            | (Contribution::Note(_), Changed::Argument(_))
            | (Contribution::Source(_), Changed::Source(_))
            | (Contribution::Comment(_), Changed::Comment(_))
    )
}

/// A reply whose author added a stance hashtag (`#pour`, `#contre`...) to a comment, or took it
/// off an argument: the reply changes kind, as it would have been read had it been written so.
fn reclassifies(object: &Contribution, stored: &Stored) -> bool {
    matches!(
        (object, stored.changed()),
        (Contribution::Note(_), Changed::Comment(_))
            | (Contribution::Comment(_), Changed::Argument(_))
    )
}

/// What an `Update` writes, checked and with its author fetched beforehand.
enum Edit {
    Page(PageWrite),
    Note(NoteWrite),
    Source(SourceWrite),
    Comment(CommentWrite),
}

/// Stores the new version and, in a consultation hosted here, queues its `Update` for the
/// followers, in one transaction: an edit stored but never relayed (a stop or a database error
/// between the two) would stay so, since the sender's retry would find nothing changed.
async fn apply(
    object: &Contribution,
    data: &FedData,
    stored: &Stored,
    voucher: Voucher,
) -> AppResult<()> {
    let reclassified = reclassifies(object, stored);
    // A reply changing kind is a new row of the other kind, on the proposal it is stored on.
    let on_proposal = Some(stored.proposal_id);
    let edit = match object.clone() {
        Contribution::Page(page) => {
            Edit::Page(prepare_page(*page, data, NewIn::MirrorsOnly, voucher).await?)
        }
        Contribution::Note(note) => {
            Edit::Note(prepare_note(*note, data, NewIn::MirrorsOnly, on_proposal).await?)
        }
        Contribution::Source(source) => {
            Edit::Source(prepare_source(*source, data, NewIn::MirrorsOnly).await?)
        }
        Contribution::Comment(note) => {
            Edit::Comment(prepare_comment(*note, data, NewIn::MirrorsOnly, on_proposal).await?)
        }
        Contribution::PollAnswer(_) => {
            return Err(AppError::BadInput("a poll answer cannot be edited".into()));
        }
    };
    let txn = crate::store::begin_write(&data.db).await?;
    // An older version arriving after a newer one (a retry overtaken by the next edit): the
    // newer stays. Both dates are the author's (or the origin's) clock: see `prepare_*`.
    if let (Some(sent), Some(current)) = (
        sent_updated(object),
        current_updated(&txn, stored.changed()).await?,
    ) && sent < current
    {
        tracing::info!(object = %object.id(), %sent, %current, "older edit ignored");
        return Ok(());
    }
    if reclassified {
        let changed = reclassify(&txn, data, stored, edit).await?;
        if stored.group.ap_id.is_none() {
            publish::updated(&txn, data, changed).await?;
        }
        txn.commit().await?;
        return Ok(());
    }
    let before = if stored.group.ap_id.is_none() {
        Some(publish::federated_json(&txn, data, stored.changed()).await?)
    } else {
        None
    };
    match edit {
        Edit::Page(write) => {
            save_page(&txn, data, write).await?;
        }
        Edit::Note(write) => {
            save_note(&txn, data, write).await?;
        }
        Edit::Source(write) => {
            save_source(&txn, data, write).await?;
        }
        Edit::Comment(write) => {
            save_comment(&txn, data, write).await?;
        }
    }
    // One account resending the same Update must not make us flood every follower.
    if let Some(before) = before
        && publish::federated_json(&txn, data, stored.changed()).await? != before
    {
        publish::updated(&txn, data, stored.changed()).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Turns a stored comment into an argument or back ([`reclassifies`]): the old row goes, and the
/// new one keeps its id, proposal, author, date and moderation state (hidden here stays hidden),
/// with the proposal's counts recounted, in the caller's transaction. Returns the new row.
async fn reclassify(
    txn: &impl ConnectionTrait,
    state: &AppState,
    stored: &Stored,
    edit: Edit,
) -> AppResult<Changed> {
    match edit {
        Edit::Note(NoteWrite::Row {
            mut active,
            sent_number,
            hosted_here,
        }) => {
            let old = remove_old_kind(txn, stored.changed()).await?;
            active.author_id = Set(old.author_id);
            active.hidden = Set(old.hidden);
            active.withdrawn = Set(old.withdrawn);
            active.created_at = Set(old.created_at);
            let write = NoteWrite::Row {
                active,
                sent_number,
                hosted_here,
            };
            Ok(Changed::Argument(
                save_note(txn, state, write).await?.model.id,
            ))
        }
        Edit::Comment(CommentWrite::Row(mut active)) => {
            let old = remove_old_kind(txn, stored.changed()).await?;
            active.author_id = Set(old.author_id);
            active.hidden = Set(old.hidden);
            active.withdrawn = Set(old.withdrawn);
            active.created_at = Set(old.created_at);
            let saved = save_comment(txn, state, CommentWrite::Row(active)).await?;
            refresh_tally(txn, stored.proposal_id).await?;
            Ok(Changed::Comment(saved.model.id))
        }
        // This node's own reply, sent back by its consultation's origin: ours is the original.
        _ => Ok(stored.changed()),
    }
}

/// What a reply changing kind keeps of its old row.
struct OldKind {
    author_id: i32,
    hidden: bool,
    withdrawn: bool,
    created_at: DateTime<Utc>,
}

/// Deletes the stored comment or argument of a reply changing kind; returns what it keeps.
async fn remove_old_kind(db: &impl ConnectionTrait, changed: Changed) -> AppResult<OldKind> {
    match changed {
        Changed::Comment(id) => {
            let old = comment::Entity::find_by_id(id)
                .one(db)
                .await?
                .ok_or_else(|| AppError::NotFound("comment".into()))?;
            comment::Entity::delete_by_id(id).exec(db).await?;
            Ok(OldKind {
                author_id: old.author_id,
                hidden: old.hidden,
                withdrawn: old.withdrawn,
                created_at: old.created_at,
            })
        }
        Changed::Argument(id) => {
            let old = argument::Entity::find_by_id(id)
                .one(db)
                .await?
                .ok_or_else(|| AppError::NotFound("argument".into()))?;
            argument::Entity::delete_by_id(id).exec(db).await?;
            Ok(OldKind {
                author_id: old.author_id,
                hidden: old.hidden,
                withdrawn: old.withdrawn,
                created_at: old.created_at,
            })
        }
        _ => Err(AppError::BadInput(
            "only a comment or an argument changes kind".into(),
        )),
    }
}

/// When the sender says this version was written.
fn sent_updated(object: &Contribution) -> Option<DateTime<Utc>> {
    match object {
        Contribution::Page(page) => page.updated,
        Contribution::Note(note) | Contribution::Comment(note) => note.updated,
        Contribution::Source(source) => source.updated,
        Contribution::PollAnswer(_) => None,
    }
}

/// When the stored version was written, as its sender said.
async fn current_updated(
    db: &impl ConnectionTrait,
    changed: Changed,
) -> AppResult<Option<DateTime<Utc>>> {
    use crate::store::{argument, comment, proposal, source};
    Ok(match changed {
        Changed::Proposal(id) => proposal::Entity::find_by_id(id)
            .one(db)
            .await?
            .map(|m| m.updated_at),
        Changed::Argument(id) => argument::Entity::find_by_id(id)
            .one(db)
            .await?
            .map(|m| m.updated_at),
        Changed::Source(id) => source::Entity::find_by_id(id)
            .one(db)
            .await?
            .map(|m| m.updated_at),
        Changed::Comment(id) => comment::Entity::find_by_id(id)
            .one(db)
            .await?
            .map(|m| m.updated_at),
    })
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum DeletedObject {
    Id(Url),
    Tombstone { id: Url },
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteObject {
    #[serde(rename = "type")]
    pub kind: DeleteType,
    pub id: Url,
    pub actor: Url,
    pub object: DeletedObject,
}

impl DeleteObject {
    fn object_id(&self) -> &Url {
        match &self.object {
            DeletedObject::Id(id) | DeletedObject::Tombstone { id } => id,
        }
    }
}

#[async_trait::async_trait]
impl Activity for DeleteObject {
    type DataType = AppState;
    type Error = AppError;

    fn id(&self) -> &Url {
        &self.id
    }

    fn actor(&self) -> &Url {
        &self.actor
    }

    async fn verify(&self, data: &FedData) -> AppResult<()> {
        if let Some(stored) = stored(data, self.object_id()).await? {
            authority(&self.actor, &stored, data)?;
        }
        Ok(())
    }

    async fn receive(self, data: &FedData) -> AppResult<()> {
        // Deleting what we never had changes nothing.
        let Some(stored) = stored(data, self.object_id()).await? else {
            return Ok(());
        };
        let local_consultation = stored.group.ap_id.is_none();
        if local_consultation {
            ensure_open(stored.group.opens_at, stored.group.closes_at, Utc::now())?;
        }
        // The withdrawal, the recount and the Delete for followers change together: a recount
        // outside a transaction races concurrent votes, and a stop between the withdrawal and
        // the queueing would leave followers showing it.
        let txn = crate::store::begin_write(&data.db).await?;
        withdraw(&txn, &stored).await?;
        if local_consultation {
            publish::deleted(&txn, data, stored.changed()).await?;
        }
        txn.commit().await?;
        Ok(())
    }
}

/// Whether a stored contribution (or its proposal) is hidden by moderators or withdrawn.
async fn is_hidden_or_withdrawn(data: &FedData, changed: Changed) -> AppResult<bool> {
    let db = &data.db;
    let (own, proposal_id) = match changed {
        Changed::Proposal(id) => (None, id),
        Changed::Argument(id) => {
            let a = argument::Entity::find_by_id(id).one(db).await?;
            (
                a.as_ref().map(|a| a.hidden || a.withdrawn),
                a.map_or(0, |a| a.proposal_id),
            )
        }
        Changed::Source(id) => {
            let s = source::Entity::find_by_id(id).one(db).await?;
            (
                s.as_ref().map(|s| s.hidden || s.withdrawn),
                s.map_or(0, |s| s.proposal_id),
            )
        }
        Changed::Comment(id) => {
            let c = comment::Entity::find_by_id(id).one(db).await?;
            (
                c.as_ref().map(|c| c.hidden || c.withdrawn),
                c.map_or(0, |c| c.proposal_id),
            )
        }
    };
    let proposal = proposal::Entity::find_by_id(proposal_id).one(db).await?;
    Ok(own.unwrap_or(false) || proposal.is_none_or(|p| p.hidden || p.withdrawn))
}

async fn withdraw(db: &impl ConnectionTrait, stored: &Stored) -> AppResult<()> {
    use sea_orm::sea_query::Expr;
    let withdrawn = Expr::value(true);
    match stored.changed {
        Changed::Proposal(id) => {
            proposal::Entity::update_many()
                .col_expr(proposal::Column::Withdrawn, withdrawn)
                .filter(proposal::Column::Id.eq(id))
                .exec(db)
                .await?;
        }
        Changed::Argument(id) => {
            argument::Entity::update_many()
                .col_expr(argument::Column::Withdrawn, withdrawn)
                .filter(argument::Column::Id.eq(id))
                .exec(db)
                .await?;
        }
        Changed::Source(id) => {
            source::Entity::update_many()
                .col_expr(source::Column::Withdrawn, withdrawn)
                .filter(source::Column::Id.eq(id))
                .exec(db)
                .await?;
        }
        Changed::Comment(id) => {
            comment::Entity::update_many()
                .col_expr(comment::Column::Withdrawn, withdrawn)
                .filter(comment::Column::Id.eq(id))
                .exec(db)
                .await?;
        }
    }
    refresh_tally(db, stored.proposal_id).await
}
