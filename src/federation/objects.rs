//! Proposals federate as `Page`s (name, content, Markdown source, audience = the consultation's
//! Group), arguments as `Note`s replying to their proposal with a Palabre `stance`.
use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::kinds::object::{NoteType, PageType};
use activitypub_federation::protocol::helpers::deserialize_one_or_many;
use activitypub_federation::traits::Object;
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, TryIntoModel};
use serde::{Deserialize, Serialize};
use url::Url;

use super::actors::{DbGroup, DbPerson, Source, clean_name};
use super::{AS_PUBLIC, FedData};
use crate::app::AppState;
use crate::domain::{ProposalState, Stance};
use crate::error::{AppError, AppResult};
use crate::render::{html_to_text, markdown_to_html};
use crate::services::views::VoteCounts;
use crate::services::{BODY_MAX, TITLE_MAX, refresh_tally};
use crate::store::{account, argument, consultation, proposal};

fn url(raw: &str) -> AppResult<Url> {
    Url::parse(raw).map_err(|e| AppError::Internal(anyhow::anyhow!("bad URL {raw}: {e}")))
}

/// Markdown from a remote object: its Markdown `source` when it has one, else the text of its
/// (untrusted) HTML content.
fn remote_markdown(source: Option<&Source>, content: &str) -> String {
    let text = match source {
        Some(s) if s.media_type == "text/markdown" => s.content.clone(),
        _ => html_to_text(content),
    };
    text.chars().take(BODY_MAX).collect()
}

fn public_and(group: &Url) -> Vec<Url> {
    let mut to = vec![group.clone()];
    if let Ok(public) = Url::parse(AS_PUBLIC) {
        to.push(public);
    }
    to
}

// ---- proposals ----

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
        if let Some(number) = super::poll::local_poll_of(data, &id) {
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
        super::find_by_ap_id::<proposal::Entity>(data, &id, "/proposals/", proposal::Column::ApId)
            .await?
            .map(|m| DbProposal::new(data, m))
            .transpose()
    }

    fn is_deleted(&self) -> bool {
        self.model.withdrawn || self.model.hidden
    }

    async fn into_json(self, data: &FedData) -> AppResult<Page> {
        let (author, _, group) =
            super::locate::parts(&data.db, self.model.author_id, self.model.id).await?;
        page_json(data, &self.model, &author, &group)
    }

    async fn verify(json: &Page, expected_domain: &Url, _data: &FedData) -> AppResult<()> {
        super::verify_same_origin(json.id.inner(), expected_domain)?;
        // Only an author's own server speaks for the author.
        super::verify_same_origin(json.id.inner(), json.attributed_to.inner())?;
        Ok(())
    }

    async fn from_json(json: Page, data: &FedData) -> AppResult<Self> {
        store_page(json, data, NewIn::MirrorsOnly, Voucher::Fetched).await
    }
}

/// Where a contribution that is not stored yet may be created. Fetching, announcing and
/// backfilling only fill mirrors; only the inbox's `Create`, after the consultation's rules
/// were applied, adds to a consultation hosted here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewIn {
    MirrorsOnly,
    AnyConsultation,
}

/// The consultation a stored or incoming contribution belongs to. A stored one stays where it
/// is: an incoming copy naming another consultation is refused.
pub(crate) async fn consultation_for(
    data: &FedData,
    stored: Option<i32>,
    named: Option<&Url>,
    new_in: NewIn,
) -> AppResult<DbGroup> {
    if let Some(consultation_id) = stored {
        let model = consultation::Entity::find_by_id(consultation_id)
            .one(&data.db)
            .await?
            .ok_or_else(|| AppError::NotFound("consultation".into()))?;
        let group = DbGroup::new(data, model)?;
        if named.is_some_and(|n| *n != group.ap_id) {
            return Err(AppError::Forbidden(
                "a contribution cannot move to another consultation".into(),
            ));
        }
        return Ok(group);
    }
    let named = named.ok_or_else(|| AppError::BadInput("no consultation named".into()))?;
    let group = DbGroup::read_from_id(named.clone(), data)
        .await?
        .ok_or_else(|| AppError::BadInput("that consultation is not followed here".into()))?;
    if group.is_local() && new_in == NewIn::MirrorsOnly {
        return Err(AppError::Forbidden(
            "contributions to a consultation hosted here arrive through its inbox".into(),
        ));
    }
    Ok(group)
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
    super::store_racing(|| store_page_once(json.clone(), data, new_in, voucher)).await
}

async fn store_page_once(
    json: Page,
    data: &FedData,
    new_in: NewIn,
    voucher: Voucher,
) -> AppResult<DbProposal> {
    {
        if super::is_local(data, json.id.inner()) {
            return accept_origin_fields(json, data).await;
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
        // A consultation hosted here numbers what it receives, once; a mirror shows the
        // origin's numbers.
        if active.id.is_not_set() {
            let number = match json.number {
                _ if group.is_local() => {
                    crate::store::next_number(&data.db, "contribution").await?
                }
                Some(number) => number,
                None => 0,
            };
            active.number = Set(number);
        } else if let (Some(number), false) = (json.number, group.is_local()) {
            active.number = Set(number);
        }
        active.title = Set(clean_name(&json.name, TITLE_MAX));
        active.body = Set(remote_markdown(json.source.as_ref(), &json.content));
        active.updated_at = Set(json.updated.unwrap_or(now));
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
            || super::verify_same_origin(json.id.inner(), &group.ap_id).is_ok()
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
        let model = active.save(&data.db).await?.try_into_model()?;
        DbProposal::new(data, model)
    }
}

/// Our own proposal, in a consultation hosted elsewhere, as its origin sends it back: only the
/// fields the origin owns (tallies, state, official answer) are taken.
async fn accept_origin_fields(json: Page, data: &FedData) -> AppResult<DbProposal> {
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
    let model = active.update(&data.db).await?;
    DbProposal::new(data, model)
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

// ---- arguments ----

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
    #[serde(deserialize_with = "super::replies::one_or_many_values", default)]
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
        super::find_by_ap_id::<argument::Entity>(data, &id, "/arguments/", argument::Column::ApId)
            .await?
            .map(|m| DbArgument::new(data, m))
            .transpose()
    }

    fn is_deleted(&self) -> bool {
        self.model.withdrawn || self.model.hidden
    }

    async fn into_json(self, data: &FedData) -> AppResult<Note> {
        let (author, proposal, group) =
            super::locate::parts(&data.db, self.model.author_id, self.model.proposal_id).await?;
        note_json(data, &self.model, &author, &proposal, &group)
    }

    async fn verify(json: &Note, expected_domain: &Url, _data: &FedData) -> AppResult<()> {
        super::verify_same_origin(json.id.inner(), expected_domain)?;
        super::verify_same_origin(json.id.inner(), json.attributed_to.inner())?;
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
    let known = super::locate::locate(data, in_reply_to.inner()).await?;
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
    super::store_racing(|| store_note_once(json.clone(), data, new_in)).await
}

async fn store_note_once(json: Note, data: &FedData, new_in: NewIn) -> AppResult<DbArgument> {
    {
        if super::is_local(data, json.id.inner()) {
            // Our own argument sent back by its consultation's origin: ours is the original.
            return DbArgument::read_from_id(json.id.inner().clone(), data)
                .await?
                .ok_or_else(|| AppError::NotFound("no such argument here".into()));
        }
        let id = json.id.inner().to_string();
        let existing = argument::Entity::find()
            .filter(argument::Column::ApId.eq(id.as_str()))
            .one(&data.db)
            .await?;
        let proposal = parent_proposal(
            data,
            existing.as_ref().map(|a| a.proposal_id),
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
        // A consultation hosted here numbers what it receives, once (`AnyConsultation` is the
        // inbox's Create there); a mirror shows the origin's numbers.
        let hosted_here = new_in == NewIn::AnyConsultation
            || consultation::Entity::find_by_id(proposal.model.consultation_id)
                .one(&data.db)
                .await?
                .is_some_and(|c| c.ap_id.is_none());
        if active.id.is_not_set() {
            let number = match json.number {
                _ if hosted_here => crate::store::next_number(&data.db, "contribution").await?,
                Some(number) => number,
                None => 0,
            };
            active.number = Set(number);
        } else if let (Some(number), false) = (json.number, hosted_here) {
            active.number = Set(number);
        }
        active.stance = Set(stance.as_str().to_owned());
        active.body = Set(json.markdown());
        active.updated_at = Set(json.updated.unwrap_or(now));
        let model = active.save(&data.db).await?.try_into_model()?;
        refresh_tally(&data.db, model.proposal_id).await?;
        DbArgument::new(data, model)
    }
}
