//! The proposal's `Page`: what this node serves, and how a received one is stored (a mirror
//! takes the origin's tallies, state and answer only on the word of the consultation's server).
use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::kinds::object::PageType;
use activitypub_federation::protocol::helpers::deserialize_one_or_many;
use activitypub_federation::traits::Object;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TryIntoModel,
};
use serde::{Deserialize, Serialize};
use url::Url;

use super::{NewIn, consultation_for, number_to_set, public_and, url};
use crate::app::AppState;
use crate::domain::ProposalState;
use crate::error::{AppError, AppResult};
use crate::federation::FedData;
use crate::federation::actors::{DbGroup, DbPerson, Source, clean_name};
use crate::render::{html_to_text, markdown_to_html};
use crate::services::views::VoteCounts;
use crate::services::{BODY_MAX, TITLE_MAX};
use crate::store::{account, consultation, proposal};

/// Markdown from a remote object: its Markdown `source` when it has one, else the text of its
/// (untrusted) HTML content.
fn remote_markdown(source: Option<&Source>, content: &str) -> String {
    let text = match source {
        Some(s) if s.media_type == "text/markdown" => s.content.clone(),
        _ => html_to_text(content),
    };
    text.chars().take(BODY_MAX).collect()
}

#[derive(Clone, Debug)]
pub struct DbProposal {
    pub model: proposal::Model,
    pub ap_id: Url,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Tally {
    pub agree: i32,
    pub mixed: i32,
    pub disagree: i32,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    #[serde(rename = "type")]
    pub kind: PageType,
    pub id: ObjectId<DbProposal>,
    pub attributed_to: ObjectId<DbPerson>,
    pub name: String,
    pub content: String,
    pub media_type: Option<String>,
    pub source: Option<Source>,
    #[serde(deserialize_with = "deserialize_one_or_many", default)]
    pub to: Vec<Url>,
    #[serde(deserialize_with = "deserialize_one_or_many", default)]
    pub cc: Vec<Url>,
    pub audience: Option<ObjectId<DbGroup>>,
    pub context: Option<Url>,
    pub url: Option<Url>,
    pub published: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
    /// Palabre: the number on its consultation's node, the organiser's verdict, the tallies.
    pub number: Option<i64>,
    pub proposal_state: Option<ProposalState>,
    pub official_answer: Option<String>,
    pub votes: Option<Tally>,
}

impl DbProposal {
    pub fn new(state: &AppState, model: proposal::Model) -> AppResult<Self> {
        let ap_id = match &model.ap_id {
            Some(id) => url(id)?,
            None => url(&state.proposal_url(model.id))?,
        };
        Ok(Self { model, ap_id })
    }
}

/// The `Page` of a proposal; pure, so that the outbox can build it inside a transaction.
pub fn page_json(
    state: &AppState,
    model: &proposal::Model,
    author: &account::Model,
    group: &consultation::Model,
) -> AppResult<Page> {
    let id = DbProposal::new(state, model.clone())?.ap_id;
    let author_id = DbPerson::new(state, author.clone())?.ap_id;
    let group = DbGroup::new(state, group.clone())?;
    Ok(Page {
        kind: PageType::Page,
        attributed_to: author_id.into(),
        name: model.title.clone(),
        content: markdown_to_html(&model.body),
        media_type: Some("text/html".into()),
        source: Some(Source {
            content: model.body.clone(),
            media_type: "text/markdown".into(),
        }),
        to: public_and(&group.ap_id),
        cc: vec![url(&group.followers_url())?],
        context: Some(url(&format!("{}/context", group.ap_id))?),
        audience: Some(group.ap_id.into()),
        url: Some(id.clone()),
        published: Some(model.created_at),
        updated: Some(model.updated_at),
        number: Some(model.number),
        proposal_state: ProposalState::parse(&model.state).ok(),
        official_answer: model.official_answer.clone(),
        votes: Some(Tally {
            agree: model.agree,
            mixed: model.mixed,
            disagree: model.disagree,
        }),
        id: id.into(),
    })
}

#[async_trait::async_trait]
impl Object for DbProposal {
    type DataType = AppState;
    type Kind = Page;
    type Error = AppError;

    fn id(&self) -> &Url {
        &self.ap_id
    }

    async fn read_from_id(id: Url, data: &FedData) -> AppResult<Option<Self>> {
        // The proposal's poll stands for the proposal: votes and replies name it.
        if let Some(number) = crate::federation::poll::local_poll_of(data, &id) {
            let Some(model) = proposal::Entity::find_by_id(number).one(&data.db).await? else {
                return Ok(None);
            };
            let hosted_here = consultation::Entity::find_by_id(model.consultation_id)
                .one(&data.db)
                .await?
                .is_some_and(|c| c.ap_id.is_none());
            return hosted_here
                .then(|| DbProposal::new(data, model))
                .transpose();
        }
        let mut found = crate::federation::find_by_ap_id::<proposal::Entity>(
            data,
            &id,
            "/proposals/",
            proposal::Column::ApId,
        )
        .await?;
        // Another Palabre node's poll (`{page}/poll`), which Mastodon users reply to: a mirror
        // gets those replies relayed by the consultation's Group.
        if found.is_none()
            && !crate::federation::is_local(data, &id)
            && let Some(page) = id.as_str().strip_suffix("/poll")
        {
            found = proposal::Entity::find()
                .filter(proposal::Column::ApId.eq(page))
                .one(&data.db)
                .await?;
        }
        found.map(|m| DbProposal::new(data, m)).transpose()
    }

    fn is_deleted(&self) -> bool {
        self.model.withdrawn || self.model.hidden
    }

    async fn into_json(self, data: &FedData) -> AppResult<Page> {
        let (author, _, group) =
            crate::federation::locate::parts(&data.db, self.model.author_id, self.model.id).await?;
        page_json(data, &self.model, &author, &group)
    }

    async fn verify(json: &Page, expected_domain: &Url, _data: &FedData) -> AppResult<()> {
        crate::federation::verify_same_origin(json.id.inner(), expected_domain)?;
        // Only an author's own server speaks for the author.
        crate::federation::verify_same_origin(json.id.inner(), json.attributed_to.inner())?;
        Ok(())
    }

    async fn from_json(json: Page, data: &FedData) -> AppResult<Self> {
        store_page(json, data, NewIn::MirrorsOnly, Voucher::Fetched).await
    }
}

/// Who vouches for a mirrored proposal's origin-only fields (tallies, state, official answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Voucher {
    /// The consultation's own Group sent it (its `Update`): believed.
    OriginGroup,
    /// Fetched, or relayed: believed only when served by the consultation's own server, never
    /// on the word of the author's server.
    Fetched,
}

pub async fn store_page(
    json: Page,
    data: &FedData,
    new_in: NewIn,
    voucher: Voucher,
) -> AppResult<DbProposal> {
    crate::federation::store_racing(|| store_page_once(json.clone(), data, new_in, voucher)).await
}

async fn store_page_once(
    json: Page,
    data: &FedData,
    new_in: NewIn,
    voucher: Voucher,
) -> AppResult<DbProposal> {
    let write = prepare_page(json, data, new_in, voucher).await?;
    let txn = crate::store::begin_write(&data.db).await?;
    let stored = save_page(&txn, data, write).await?;
    txn.commit().await?;
    Ok(stored)
}

/// A received `Page` checked, with its author and consultation known: what `save_page` writes.
pub(crate) struct PageWrite {
    active: proposal::ActiveModel,
    sent_number: Option<i64>,
    hosted_here: bool,
}

/// Everything before the write: the reads, and the author's fetch (never inside a write
/// transaction, which would hold the database's write lock for a network round trip).
pub(crate) async fn prepare_page(
    json: Page,
    data: &FedData,
    new_in: NewIn,
    voucher: Voucher,
) -> AppResult<PageWrite> {
    if crate::federation::is_local(data, json.id.inner()) {
        return origin_fields(json, data).await;
    }
    let existing = proposal::Entity::find()
        .filter(proposal::Column::ApId.eq(json.id.inner().as_str()))
        .one(&data.db)
        .await?;
    let named = json
        .audience
        .as_ref()
        .map(|a| a.inner().clone())
        .or_else(|| json.to.iter().chain(&json.cc).next().cloned());
    let group = consultation_for(
        data,
        existing.as_ref().map(|p| p.consultation_id),
        named.as_ref(),
        new_in,
    )
    .await?;
    let author = json.attributed_to.dereference(data).await?;
    let id = json.id.inner().to_string();
    let now = Utc::now();
    let mut active: proposal::ActiveModel = match existing {
        Some(model) => model.into(),
        None => proposal::ActiveModel {
            ap_id: Set(Some(id)),
            consultation_id: Set(group.model.id),
            author_id: Set(author.model.id),
            hidden: Set(false),
            withdrawn: Set(false),
            arguments_for: Set(0),
            arguments_against: Set(0),
            argument_count: Set(0),
            source_count: Set(0),
            created_at: Set(json.published.unwrap_or(now)),
            ..Default::default()
        },
    };
    active.title = Set(clean_name(&json.name, TITLE_MAX));
    active.body = Set(remote_markdown(json.source.as_ref(), &json.content));
    active.updated_at = Set(json.updated.or(json.published).unwrap_or(now));
    if group.is_local() {
        // Sent to a consultation hosted here: its state, answer and tallies are ours to
        // decide, whatever the sender claims.
        if active.id.is_not_set() {
            active.state = Set(ProposalState::Submitted.as_str().to_owned());
            active.agree = Set(0);
            active.mixed = Set(0);
            active.disagree = Set(0);
            active.vote_count = Set(0);
        }
    } else if voucher == Voucher::OriginGroup
        || crate::federation::verify_same_origin(json.id.inner(), &group.ap_id).is_ok()
    {
        // A mirror shows what the consultation's origin publishes.
        let tally = json.votes.clone().unwrap_or_default().bounded();
        let state = json.proposal_state.unwrap_or(ProposalState::Submitted);
        active.state = Set(state.as_str().to_owned());
        active.official_answer = Set(json.official_answer.map(|a| bounded_text(&a)));
        active.agree = Set(tally.agree);
        active.mixed = Set(tally.mixed);
        active.disagree = Set(tally.disagree);
        active.vote_count = Set(tally.agree + tally.mixed + tally.disagree);
    } else if active.id.is_not_set() {
        // Served by the author's server: what the origin decided comes with its `Update`.
        active.state = Set(ProposalState::Submitted.as_str().to_owned());
        active.agree = Set(0);
        active.mixed = Set(0);
        active.disagree = Set(0);
        active.vote_count = Set(0);
    }
    Ok(PageWrite {
        active,
        sent_number: json.number,
        hosted_here: group.is_local(),
    })
}

/// The write, in the caller's transaction: the number (see `number_to_set`) and the row.
pub(crate) async fn save_page(
    txn: &impl ConnectionTrait,
    state: &AppState,
    write: PageWrite,
) -> AppResult<DbProposal> {
    let PageWrite {
        mut active,
        sent_number,
        hosted_here,
    } = write;
    if let Some(number) =
        number_to_set(txn, active.id.is_not_set(), sent_number, hosted_here).await?
    {
        active.number = Set(number);
    }
    let model = active.save(txn).await?.try_into_model()?;
    DbProposal::new(state, model)
}

/// Our own proposal, in a consultation hosted elsewhere, as its origin sends it back: only the
/// fields the origin owns (tallies, state, official answer) are taken.
async fn origin_fields(json: Page, data: &FedData) -> AppResult<PageWrite> {
    let local = DbProposal::read_from_id(json.id.inner().clone(), data)
        .await?
        .ok_or_else(|| AppError::NotFound("no such proposal here".into()))?;
    let tally = json.votes.unwrap_or_default().bounded();
    let mut active: proposal::ActiveModel = local.model.into();
    active.agree = Set(tally.agree);
    active.mixed = Set(tally.mixed);
    active.disagree = Set(tally.disagree);
    active.vote_count = Set(tally.agree + tally.mixed + tally.disagree);
    if let Some(state) = json.proposal_state {
        active.state = Set(state.as_str().to_owned());
    }
    active.official_answer = Set(json.official_answer.map(|a| bounded_text(&a)));
    Ok(PageWrite {
        active,
        sent_number: None,
        hosted_here: false,
    })
}

impl Tally {
    /// Counts from another server: never negative, and small enough that their sum fits.
    fn bounded(self) -> Self {
        const MAX: i32 = 100_000_000;
        Tally {
            agree: self.agree.clamp(0, MAX),
            mixed: self.mixed.clamp(0, MAX),
            disagree: self.disagree.clamp(0, MAX),
        }
    }
}

fn bounded_text(html: &str) -> String {
    html_to_text(html).chars().take(BODY_MAX).collect()
}

impl From<&Tally> for VoteCounts {
    fn from(t: &Tally) -> Self {
        VoteCounts {
            agree: t.agree,
            mixed: t.mixed,
            disagree: t.disagree,
        }
    }
}
