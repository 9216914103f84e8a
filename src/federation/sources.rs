//! Sources federate as `Note`s replying to their proposal, marked `isSource`, with the link as
//! an `attachment` of type `Link`: other software shows an ordinary reply with a link.
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

use super::actors::{DbGroup, DbPerson, clean_name};
use super::objects::{DbProposal, NewIn, parent_proposal};
use super::{AS_PUBLIC, FedData};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::render::html_to_text;
use crate::services::contributions::checked_url;
use crate::services::{TITLE_MAX, refresh_tally};
use crate::store::{account, consultation, proposal, source};

#[derive(Clone, Debug)]
pub struct DbSource {
    pub model: source::Model,
    pub ap_id: Url,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct LinkAttachment {
    #[serde(rename = "type")]
    pub kind: String,
    pub href: Url,
    pub name: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceNote {
    #[serde(rename = "type")]
    pub kind: NoteType,
    pub id: ObjectId<DbSource>,
    pub attributed_to: ObjectId<DbPerson>,
    pub in_reply_to: ObjectId<DbProposal>,
    pub name: String,
    /// The description, plain text.
    pub summary: Option<String>,
    /// For software that ignores `attachment`: the title, the link and the description.
    pub content: String,
    pub media_type: Option<String>,
    pub attachment: Vec<LinkAttachment>,
    #[serde(deserialize_with = "deserialize_one_or_many", default)]
    pub to: Vec<Url>,
    #[serde(deserialize_with = "deserialize_one_or_many", default)]
    pub cc: Vec<Url>,
    pub audience: Option<ObjectId<DbGroup>>,
    pub context: Option<Url>,
    pub published: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
    /// Palabre: this reply is a source, not an argument.
    pub is_source: bool,
}

fn url(raw: &str) -> AppResult<Url> {
    Url::parse(raw).map_err(|e| AppError::Internal(anyhow::anyhow!("bad URL {raw}: {e}")))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl DbSource {
    pub fn new(state: &AppState, model: source::Model) -> AppResult<Self> {
        let ap_id = match &model.ap_id {
            Some(id) => url(id)?,
            None => url(&state.source_url(model.id))?,
        };
        Ok(Self { model, ap_id })
    }
}

pub fn source_json(
    state: &AppState,
    model: &source::Model,
    author: &account::Model,
    proposal: &proposal::Model,
    group: &consultation::Model,
) -> AppResult<SourceNote> {
    let id = DbSource::new(state, model.clone())?.ap_id;
    let group = DbGroup::new(state, group.clone())?;
    let href = url(&model.url)?;
    let mut content = format!(
        "<p>{}: <a href=\"{}\" rel=\"nofollow noopener\">{}</a></p>",
        escape(&model.title),
        escape(href.as_str()),
        escape(href.as_str())
    );
    if let Some(description) = &model.description {
        content.push_str(&format!("<p>{}</p>", escape(description)));
    }
    Ok(SourceNote {
        kind: NoteType::Note,
        attributed_to: DbPerson::new(state, author.clone())?.ap_id.into(),
        in_reply_to: DbProposal::new(state, proposal.clone())?.ap_id.into(),
        name: model.title.clone(),
        summary: model.description.clone(),
        content,
        media_type: Some("text/html".into()),
        attachment: vec![LinkAttachment {
            kind: "Link".into(),
            href,
            name: Some(model.title.clone()),
        }],
        to: vec![group.ap_id.clone(), url(AS_PUBLIC)?],
        cc: vec![url(&group.followers_url())?],
        context: Some(url(&format!("{}/context", group.ap_id))?),
        audience: Some(group.ap_id.into()),
        published: Some(model.created_at),
        updated: Some(model.updated_at),
        is_source: true,
        id: id.into(),
    })
}

#[async_trait::async_trait]
impl Object for DbSource {
    type DataType = AppState;
    type Kind = SourceNote;
    type Error = AppError;

    fn id(&self) -> &Url {
        &self.ap_id
    }

    async fn read_from_id(id: Url, data: &FedData) -> AppResult<Option<Self>> {
        super::find_by_ap_id::<source::Entity>(data, &id, "/sources/", source::Column::ApId)
            .await?
            .map(|m| DbSource::new(data, m))
            .transpose()
    }

    fn is_deleted(&self) -> bool {
        self.model.withdrawn || self.model.hidden
    }

    async fn into_json(self, data: &FedData) -> AppResult<SourceNote> {
        let (author, proposal, group) =
            super::locate::parts(&data.db, self.model.author_id, self.model.proposal_id).await?;
        source_json(data, &self.model, &author, &proposal, &group)
    }

    async fn verify(json: &SourceNote, expected_domain: &Url, _data: &FedData) -> AppResult<()> {
        super::verify_same_origin(json.id.inner(), expected_domain)?;
        super::verify_same_origin(json.id.inner(), json.attributed_to.inner())?;
        let link = json
            .attachment
            .iter()
            .find(|a| a.kind == "Link")
            .ok_or_else(|| AppError::BadInput("a source needs a Link attachment".into()))?;
        checked_url(link.href.as_str())?;
        Ok(())
    }

    async fn from_json(json: SourceNote, data: &FedData) -> AppResult<Self> {
        store_source(json, data, NewIn::MirrorsOnly).await
    }
}

pub async fn store_source(json: SourceNote, data: &FedData, new_in: NewIn) -> AppResult<DbSource> {
    super::store_racing(|| store_source_once(json.clone(), data, new_in)).await
}

async fn store_source_once(json: SourceNote, data: &FedData, new_in: NewIn) -> AppResult<DbSource> {
    let write = prepare_source(json, data, new_in).await?;
    let txn = crate::store::begin_write(&data.db).await?;
    let stored = save_source(&txn, data, write).await?;
    txn.commit().await?;
    Ok(stored)
}

/// A received source checked, with its author and proposal known: what `save_source` writes.
pub(crate) enum SourceWrite {
    /// Our own source sent back by its consultation's origin: ours is the original.
    Ours(DbSource),
    Row(source::ActiveModel),
}

/// Everything before the write: the reads, and the author's fetch (never inside a write
/// transaction, which would hold the database's write lock for a network round trip).
pub(crate) async fn prepare_source(
    json: SourceNote,
    data: &FedData,
    new_in: NewIn,
) -> AppResult<SourceWrite> {
    if super::is_local(data, json.id.inner()) {
        let ours = DbSource::read_from_id(json.id.inner().clone(), data)
            .await?
            .ok_or_else(|| AppError::NotFound("no such source here".into()))?;
        return Ok(SourceWrite::Ours(ours));
    }
    let link = json
        .attachment
        .iter()
        .find(|a| a.kind == "Link")
        .ok_or_else(|| AppError::BadInput("a source needs a Link attachment".into()))?;
    let link = checked_url(link.href.as_str())?;
    let id = json.id.inner().to_string();
    let existing = source::Entity::find()
        .filter(source::Column::ApId.eq(id.as_str()))
        .one(&data.db)
        .await?;
    let proposal = parent_proposal(
        data,
        existing.as_ref().map(|s| s.proposal_id),
        &json.in_reply_to,
        new_in,
    )
    .await?;
    let author = json.attributed_to.dereference(data).await?;
    let now = Utc::now();
    let mut active: source::ActiveModel = match existing {
        Some(model) => model.into(),
        None => source::ActiveModel {
            ap_id: Set(Some(id)),
            proposal_id: Set(proposal.model.id),
            author_id: Set(author.model.id),
            hidden: Set(false),
            withdrawn: Set(false),
            created_at: Set(json.published.unwrap_or(now)),
            ..Default::default()
        },
    };
    active.title = Set(clean_name(&json.name, TITLE_MAX));
    active.url = Set(link);
    active.description = Set(json
        .summary
        .map(|d| html_to_text(&d).chars().take(2000).collect::<String>())
        .filter(|d| !d.trim().is_empty()));
    active.updated_at = Set(json.updated.or(json.published).unwrap_or(now));
    Ok(SourceWrite::Row(active))
}

/// The write, in the caller's transaction: the row and the proposal's counts change together
/// (see `save_note`).
pub(crate) async fn save_source(
    txn: &impl ConnectionTrait,
    state: &AppState,
    write: SourceWrite,
) -> AppResult<DbSource> {
    let active = match write {
        SourceWrite::Ours(ours) => return Ok(ours),
        SourceWrite::Row(active) => active,
    };
    let model = active.save(txn).await?.try_into_model()?;
    refresh_tally(txn, model.proposal_id).await?;
    DbSource::new(state, model)
}
