//! Comments: replies from the fediverse that take no side (no `stance`, no stance hashtag). They
//! are shown with their proposal and federate like arguments (`Note`s replying in the
//! proposal's thread), but count neither for nor against.
use activitypub_federation::traits::Object;
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TryIntoModel,
};
use url::Url;

use super::FedData;
use super::objects::{DbProposal, NewIn, Note, ReplyParts, parent_proposal, reply_note};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::store::{account, comment, consultation, proposal};

#[derive(Clone, Debug)]
pub struct DbComment {
    pub model: comment::Model,
    pub ap_id: Url,
}

impl DbComment {
    pub fn new(state: &AppState, model: comment::Model) -> AppResult<Self> {
        let raw = match &model.ap_id {
            Some(id) => id.clone(),
            None => state.comment_url(model.id),
        };
        let ap_id = Url::parse(&raw)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("bad URL {raw}: {e}")))?;
        Ok(Self { model, ap_id })
    }
}

pub fn comment_json(
    state: &AppState,
    model: &comment::Model,
    author: &account::Model,
    proposal: &proposal::Model,
    group: &consultation::Model,
) -> AppResult<Note> {
    let proposal_id = DbProposal::new(state, proposal.clone())?.ap_id;
    let in_reply_to = model
        .in_reply_to
        .as_deref()
        .and_then(|u| Url::parse(u).ok())
        .unwrap_or(proposal_id);
    reply_note(
        state,
        ReplyParts {
            id: DbComment::new(state, model.clone())?.ap_id,
            author,
            in_reply_to,
            body: &model.body,
            group,
            published: model.created_at,
            updated: model.updated_at,
        },
    )
}

#[async_trait::async_trait]
impl Object for DbComment {
    type DataType = AppState;
    type Kind = Note;
    type Error = AppError;

    fn id(&self) -> &Url {
        &self.ap_id
    }

    async fn read_from_id(id: Url, data: &FedData) -> AppResult<Option<Self>> {
        super::find_by_ap_id::<comment::Entity>(data, &id, "/comments/", comment::Column::ApId)
            .await?
            .map(|m| DbComment::new(data, m))
            .transpose()
    }

    fn is_deleted(&self) -> bool {
        self.model.withdrawn || self.model.hidden
    }

    async fn into_json(self, data: &FedData) -> AppResult<Note> {
        let (author, proposal, group) =
            super::locate::parts(&data.db, self.model.author_id, self.model.proposal_id).await?;
        comment_json(data, &self.model, &author, &proposal, &group)
    }

    async fn verify(json: &Note, expected_domain: &Url, _data: &FedData) -> AppResult<()> {
        super::verify_same_origin(json.id.inner(), expected_domain)?;
        super::verify_same_origin(json.id.inner(), json.attributed_to.inner())?;
        Ok(())
    }

    async fn from_json(json: Note, data: &FedData) -> AppResult<Self> {
        store_comment(json, data, NewIn::MirrorsOnly).await
    }
}

/// Stores (or updates) a comment from another server, under the same rules as arguments: a
/// known comment stays on its proposal; a new one goes where `new_in` allows.
pub async fn store_comment(json: Note, data: &FedData, new_in: NewIn) -> AppResult<DbComment> {
    super::store_racing(|| store_comment_once(json.clone(), data, new_in)).await
}

async fn store_comment_once(json: Note, data: &FedData, new_in: NewIn) -> AppResult<DbComment> {
    let write = prepare_comment(json, data, new_in, None).await?;
    save_comment(&data.db, data, write).await
}

/// A received comment checked, with its author and proposal known: what `save_comment` writes.
pub(crate) enum CommentWrite {
    /// Our own comment sent back by its consultation's origin: ours is the original.
    Ours(DbComment),
    Row(comment::ActiveModel),
}

/// Everything before the write: the reads, and the author's fetch (never inside a write
/// transaction, which would hold the database's write lock for a network round trip).
/// `on_proposal`: the proposal the reply is already stored on as an argument (an edit turning it
/// into a comment), which it cannot leave.
pub(crate) async fn prepare_comment(
    json: Note,
    data: &FedData,
    new_in: NewIn,
    on_proposal: Option<i32>,
) -> AppResult<CommentWrite> {
    if super::is_local(data, json.id.inner()) {
        let ours = DbComment::read_from_id(json.id.inner().clone(), data)
            .await?
            .ok_or_else(|| AppError::NotFound("no such comment here".into()))?;
        return Ok(CommentWrite::Ours(ours));
    }
    let id = json.id.inner().to_string();
    let existing = comment::Entity::find()
        .filter(comment::Column::ApId.eq(id.as_str()))
        .one(&data.db)
        .await?;
    let proposal = parent_proposal(
        data,
        existing.as_ref().map(|c| c.proposal_id).or(on_proposal),
        &json.in_reply_to,
        new_in,
    )
    .await?;
    let author = json.attributed_to.dereference(data).await?;
    // Answering the proposal or its poll is answering the proposal; anything else is kept so
    // that the thread can be rebuilt.
    let answers_proposal = DbProposal::read_from_id(json.in_reply_to.inner().clone(), data)
        .await?
        .is_some_and(|p| p.model.id == proposal.model.id);
    let now = Utc::now();
    let body = json.markdown();
    let mut active: comment::ActiveModel = match existing {
        Some(model) => model.into(),
        None => comment::ActiveModel {
            ap_id: Set(Some(id)),
            proposal_id: Set(proposal.model.id),
            author_id: Set(author.model.id),
            in_reply_to: Set((!answers_proposal).then(|| json.in_reply_to.inner().to_string())),
            hidden: Set(false),
            withdrawn: Set(false),
            created_at: Set(json.published.unwrap_or(now).min(now)),
            ..Default::default()
        },
    };
    active.body = Set(body);
    active.updated_at = Set(json.updated.or(json.published).unwrap_or(now).min(now));
    Ok(CommentWrite::Row(active))
}

/// The write: one row, on its own or in the caller's transaction (an edit relayed to the
/// consultation's followers is saved with its `Update`).
pub(crate) async fn save_comment(
    db: &impl ConnectionTrait,
    state: &AppState,
    write: CommentWrite,
) -> AppResult<DbComment> {
    let active = match write {
        CommentWrite::Ours(ours) => return Ok(ours),
        CommentWrite::Row(active) => active,
    };
    let model = active.save(db).await?.try_into_model()?;
    DbComment::new(state, model)
}
