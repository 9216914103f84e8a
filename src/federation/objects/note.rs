//! The argument's `Note`: what this node serves (arguments and comments share its shape), how a
//! received one is stored, and which proposal a reply belongs to.
use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::kinds::object::NoteType;
use activitypub_federation::protocol::helpers::deserialize_one_or_many;
use activitypub_federation::traits::Object;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TryIntoModel,
};
use serde::{Deserialize, Serialize};
use url::Url;

use super::{DbProposal, NewIn, consultation_for, number_to_set, public_and, url};
use crate::app::AppState;
use crate::domain::Stance;
use crate::error::{AppError, AppResult};
use crate::federation::FedData;
use crate::federation::actors::{DbGroup, DbPerson, Source};
use crate::render::markdown_to_html;
use crate::services::refresh_tally;
use crate::store::{account, argument, consultation, proposal};

#[derive(Clone, Debug)]
pub struct DbArgument {
    pub model: argument::Model,
    pub ap_id: Url,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    #[serde(rename = "type")]
    pub kind: NoteType,
    pub id: ObjectId<DbArgument>,
    pub attributed_to: ObjectId<DbPerson>,
    /// The proposal, its poll, or an argument or comment of its debate.
    pub in_reply_to: ObjectId<DbProposal>,
    #[serde(default)]
    pub content: String,
    /// Misskey and some others send only the language map.
    pub content_map: Option<std::collections::BTreeMap<String, String>>,
    pub media_type: Option<String>,
    pub source: Option<Source>,
    #[serde(deserialize_with = "deserialize_one_or_many", default)]
    pub to: Vec<Url>,
    #[serde(deserialize_with = "deserialize_one_or_many", default)]
    pub cc: Vec<Url>,
    pub audience: Option<ObjectId<DbGroup>>,
    pub context: Option<Url>,
    /// A string on most servers, an object or a list on some: kept as it comes.
    pub url: Option<serde_json::Value>,
    pub published: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
    /// Palabre: `for` or `against` its proposal.
    pub stance: Option<Stance>,
    pub number: Option<i64>,
    /// A poll answer (Mastodon, Misskey) names the chosen option and has no content.
    pub name: Option<String>,
    /// Hashtags and mentions, one object or a list.
    #[serde(
        deserialize_with = "crate::federation::replies::one_or_many_values",
        default
    )]
    pub tag: Vec<serde_json::Value>,
}

impl DbArgument {
    pub fn new(state: &AppState, model: argument::Model) -> AppResult<Self> {
        let ap_id = match &model.ap_id {
            Some(id) => url(id)?,
            None => url(&state.argument_url(model.id))?,
        };
        Ok(Self { model, ap_id })
    }
}

/// What every reply in a proposal's thread says the same way (arguments and comments): its
/// author, what it answers, its Markdown text rendered, its addressing to the Group.
pub struct ReplyParts<'a> {
    pub id: Url,
    pub author: &'a account::Model,
    pub in_reply_to: Url,
    pub body: &'a str,
    pub group: &'a consultation::Model,
    pub published: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

pub fn reply_note(state: &AppState, parts: ReplyParts<'_>) -> AppResult<Note> {
    let group = DbGroup::new(state, parts.group.clone())?;
    Ok(Note {
        kind: NoteType::Note,
        attributed_to: DbPerson::new(state, parts.author.clone())?.ap_id.into(),
        in_reply_to: parts.in_reply_to.into(),
        content: markdown_to_html(parts.body),
        media_type: Some("text/html".into()),
        source: Some(Source {
            content: parts.body.to_owned(),
            media_type: "text/markdown".into(),
        }),
        to: public_and(&group.ap_id),
        cc: vec![url(&group.followers_url())?],
        context: Some(url(&format!("{}/context", group.ap_id))?),
        audience: Some(group.ap_id.into()),
        url: Some(serde_json::Value::String(parts.id.to_string())),
        published: Some(parts.published),
        updated: Some(parts.updated),
        stance: None,
        number: None,
        content_map: None,
        name: None,
        tag: Vec::new(),
        id: parts.id.into(),
    })
}

pub fn note_json(
    state: &AppState,
    model: &argument::Model,
    author: &account::Model,
    proposal: &proposal::Model,
    group: &consultation::Model,
) -> AppResult<Note> {
    let note = reply_note(
        state,
        ReplyParts {
            id: DbArgument::new(state, model.clone())?.ap_id,
            author,
            in_reply_to: DbProposal::new(state, proposal.clone())?.ap_id,
            body: &model.body,
            group,
            published: model.created_at,
            updated: model.updated_at,
        },
    )?;
    Ok(Note {
        stance: Stance::parse(&model.stance).ok(),
        number: Some(model.number),
        ..note
    })
}

#[async_trait::async_trait]
impl Object for DbArgument {
    type DataType = AppState;
    type Kind = Note;
    type Error = AppError;

    fn id(&self) -> &Url {
        &self.ap_id
    }

    async fn read_from_id(id: Url, data: &FedData) -> AppResult<Option<Self>> {
        crate::federation::find_by_ap_id::<argument::Entity>(
            data,
            &id,
            "/arguments/",
            argument::Column::ApId,
        )
        .await?
        .map(|m| DbArgument::new(data, m))
        .transpose()
    }

    fn is_deleted(&self) -> bool {
        self.model.withdrawn || self.model.hidden
    }

    async fn into_json(self, data: &FedData) -> AppResult<Note> {
        let (author, proposal, group) = crate::federation::locate::parts(
            &data.db,
            self.model.author_id,
            self.model.proposal_id,
        )
        .await?;
        note_json(data, &self.model, &author, &proposal, &group)
    }

    async fn verify(json: &Note, expected_domain: &Url, _data: &FedData) -> AppResult<()> {
        crate::federation::verify_same_origin(json.id.inner(), expected_domain)?;
        crate::federation::verify_same_origin(json.id.inner(), json.attributed_to.inner())?;
        if json.effective_stance().is_none() {
            // Replies without a side are comments (`comments.rs`), not arguments.
            return Err(AppError::BadInput(
                "a reply without a stance is not an argument".into(),
            ));
        }
        Ok(())
    }

    async fn from_json(json: Note, data: &FedData) -> AppResult<Self> {
        store_note(json, data, NewIn::MirrorsOnly).await
    }
}

/// The proposal a reply belongs to: the stored one for a known reply (an incoming copy
/// replying elsewhere is refused), else what it answers: the proposal, its poll, or another
/// reply of its debate, which must be known here. Its consultation must be one where `new_in`
/// allows new contributions.
pub(crate) async fn parent_proposal(
    data: &FedData,
    stored_proposal: Option<i32>,
    in_reply_to: &ObjectId<DbProposal>,
    new_in: NewIn,
) -> AppResult<DbProposal> {
    let known = crate::federation::locate::locate(data, in_reply_to.inner()).await?;
    if let Some(id) = stored_proposal {
        if known.as_ref().is_none_or(|found| found.proposal_id != id) {
            return Err(AppError::Forbidden(
                "a reply cannot move to another proposal".into(),
            ));
        }
        let model = proposal::Entity::find_by_id(id)
            .one(&data.db)
            .await?
            .ok_or_else(|| AppError::NotFound("proposal".into()))?;
        return DbProposal::new(data, model);
    }
    // Never fetched on a reply's word: a proposal enters a mirror only through its Group
    // (announce, update, backfill), and a consultation hosted here knows its own.
    let found = known.ok_or_else(|| {
        AppError::NotFound(format!(
            "{} is not a proposal (or reply) known here",
            in_reply_to.inner()
        ))
    })?;
    let model = proposal::Entity::find_by_id(found.proposal_id)
        .one(&data.db)
        .await?
        .ok_or_else(|| AppError::NotFound("proposal".into()))?;
    let parent = DbProposal::new(data, model)?;
    let consultation = consultation::Entity::find_by_id(parent.model.consultation_id)
        .one(&data.db)
        .await?
        .ok_or_else(|| AppError::NotFound("consultation".into()))?;
    let group = DbGroup::new(data, consultation)?;
    consultation_for(data, None, Some(&group.ap_id), new_in).await?;
    Ok(parent)
}

pub async fn store_note(json: Note, data: &FedData, new_in: NewIn) -> AppResult<DbArgument> {
    crate::federation::store_racing(|| store_note_once(json.clone(), data, new_in)).await
}

async fn store_note_once(json: Note, data: &FedData, new_in: NewIn) -> AppResult<DbArgument> {
    let write = prepare_note(json, data, new_in, None).await?;
    let txn = crate::store::begin_write(&data.db).await?;
    let stored = save_note(&txn, data, write).await?;
    txn.commit().await?;
    Ok(stored)
}

/// A received argument checked, with its author and proposal known: what `save_note` writes.
pub(crate) enum NoteWrite {
    /// Our own argument sent back by its consultation's origin: ours is the original.
    Ours(DbArgument),
    Row {
        active: argument::ActiveModel,
        sent_number: Option<i64>,
        hosted_here: bool,
    },
}

/// Everything before the write: the reads, and the author's fetch (never inside a write
/// transaction, which would hold the database's write lock for a network round trip).
/// `on_proposal`: the proposal the reply is already stored on as a comment (an edit turning it
/// into an argument), which it cannot leave.
pub(crate) async fn prepare_note(
    json: Note,
    data: &FedData,
    new_in: NewIn,
    on_proposal: Option<i32>,
) -> AppResult<NoteWrite> {
    if crate::federation::is_local(data, json.id.inner()) {
        let ours = DbArgument::read_from_id(json.id.inner().clone(), data)
            .await?
            .ok_or_else(|| AppError::NotFound("no such argument here".into()))?;
        return Ok(NoteWrite::Ours(ours));
    }
    let id = json.id.inner().to_string();
    let existing = argument::Entity::find()
        .filter(argument::Column::ApId.eq(id.as_str()))
        .one(&data.db)
        .await?;
    let proposal = parent_proposal(
        data,
        existing.as_ref().map(|a| a.proposal_id).or(on_proposal),
        &json.in_reply_to,
        new_in,
    )
    .await?;
    let author = json.attributed_to.dereference(data).await?;
    let stance = json
        .effective_stance()
        .ok_or_else(|| AppError::BadInput("an argument needs a stance".into()))?;
    let now = Utc::now();
    let mut active: argument::ActiveModel = match existing {
        Some(model) => model.into(),
        None => argument::ActiveModel {
            ap_id: Set(Some(id)),
            proposal_id: Set(proposal.model.id),
            author_id: Set(author.model.id),
            hidden: Set(false),
            withdrawn: Set(false),
            created_at: Set(json.published.unwrap_or(now)),
            ..Default::default()
        },
    };
    // `AnyConsultation` is the inbox's Create in a consultation hosted here.
    let hosted_here = new_in == NewIn::AnyConsultation
        || consultation::Entity::find_by_id(proposal.model.consultation_id)
            .one(&data.db)
            .await?
            .is_some_and(|c| c.ap_id.is_none());
    active.stance = Set(stance.as_str().to_owned());
    active.body = Set(json.markdown());
    active.updated_at = Set(json.updated.or(json.published).unwrap_or(now));
    Ok(NoteWrite::Row {
        active,
        sent_number: json.number,
        hosted_here,
    })
}

/// The write, in the caller's transaction: the number (see `number_to_set`), the row and the
/// proposal's counts change together; a recount outside the transaction raced concurrent posts
/// and lost some (seen under load).
pub(crate) async fn save_note(
    txn: &impl ConnectionTrait,
    state: &AppState,
    write: NoteWrite,
) -> AppResult<DbArgument> {
    let (mut active, sent_number, hosted_here) = match write {
        NoteWrite::Ours(ours) => return Ok(ours),
        NoteWrite::Row {
            active,
            sent_number,
            hosted_here,
        } => (active, sent_number, hosted_here),
    };
    if let Some(number) =
        number_to_set(txn, active.id.is_not_set(), sent_number, hosted_here).await?
    {
        active.number = Set(number);
    }
    let model = active.save(txn).await?.try_into_model()?;
    refresh_tally(txn, model.proposal_id).await?;
    DbArgument::new(state, model)
}
