//! Proposals: posted, edited and withdrawn by their authors while the consultation is open,
//! hidden by moderators, answered by the organisers.
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::contributions::{self, ArgumentFilter};
use super::views::{ArgumentView, CommentView, ProposalView, SourceView, proposal_views};
use super::{BODY_MAX, TITLE_MAX, consultations, required_text, votes};
use crate::app::AppState;
use crate::domain::{Actor, ProposalState, Stance, VoteValue, ensure_open};
use crate::error::{AppError, AppResult};
use crate::federation::participation::{self, Sent};
use crate::federation::policy::Policy;
use crate::federation::publish::{self, Changed};
use crate::store::{self, consultation, proposal, share};

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewProposal {
    pub title: String,
    /// Markdown.
    pub body: String,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ProposalChanges {
    pub title: Option<String>,
    pub body: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct OfficialAnswer {
    pub state: ProposalState,
    /// Markdown; may be empty only to clear the answer.
    #[serde(default)]
    pub answer: Option<String>,
    /// The id of the proposal this one duplicates, if any.
    #[serde(default)]
    pub duplicate_of: Option<i32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProposalSort {
    #[default]
    Newest,
    /// Most votes first.
    Votes,
    /// Most arguments (for and against) first.
    Arguments,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProposalListQuery {
    /// `newest` (default), `votes` or `arguments`.
    #[serde(default)]
    pub sort: ProposalSort,
    /// From `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 100, default 20.
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProposalPage {
    pub items: Vec<ProposalView>,
    /// Pass it as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProposalDetail {
    #[serde(flatten)]
    pub proposal: ProposalView,
    pub arguments_for: Vec<ArgumentView>,
    pub arguments_against: Vec<ArgumentView>,
    pub sources: Vec<SourceView>,
    /// Replies without a side, oldest first.
    pub comments: Vec<CommentView>,
    /// How many people on other servers shared (boosted) it.
    pub shares: u64,
    /// The caller's own vote, when signed in.
    pub my_vote: Option<VoteValue>,
}

/// A proposal and its consultation, loaded together because every rule needs both.
pub(crate) async fn load(
    db: &impl ConnectionTrait,
    id: i32,
    viewer: Option<&Actor>,
) -> AppResult<(proposal::Model, consultation::Model)> {
    let proposal = proposal::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no proposal {id}")))?;
    if proposal.withdrawn {
        return Err(AppError::Gone(format!(
            "proposal #{} was withdrawn by its author",
            proposal.number
        )));
    }
    // What suspended or blocked accounts wrote is hidden like what moderators hid.
    if !viewer.is_some_and(Actor::is_moderator)
        && (proposal.hidden
            || !Policy::load(db)
                .await?
                .account_shown(db, proposal.author_id)
                .await?)
    {
        return Err(AppError::NotFound(format!("no proposal {id}")));
    }
    let consultation = consultation::Entity::find_by_id(proposal.consultation_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no consultation for proposal {id}")))?;
    Ok((proposal, consultation))
}

/// The rule for taking part on a proposal (arguing, adding a source, voting), wherever the
/// request comes from: its consultation is open and the proposal is visible.
pub(crate) fn ensure_takes_part(
    proposal: &proposal::Model,
    consultation: &consultation::Model,
) -> AppResult<()> {
    ensure_open(consultation.opens_at, consultation.closes_at, Utc::now())?;
    if proposal.withdrawn {
        return Err(AppError::Gone(format!(
            "proposal #{} was withdrawn by its author",
            proposal.number
        )));
    }
    if proposal.hidden {
        return Err(AppError::Conflict(
            "this proposal is hidden by the moderators".into(),
        ));
    }
    Ok(())
}

/// Loads a proposal that is about to receive a contribution or a vote.
pub(crate) async fn load_for_participation(
    db: &impl ConnectionTrait,
    id: i32,
    actor: &Actor,
) -> AppResult<(proposal::Model, consultation::Model)> {
    let (proposal, consultation) = load(db, id, Some(actor)).await?;
    ensure_takes_part(&proposal, &consultation)?;
    Ok((proposal, consultation))
}

pub async fn create(
    state: &AppState,
    actor: &Actor,
    slug: &str,
    new: NewProposal,
) -> AppResult<ProposalView> {
    let consultation = consultations::find(state, slug).await?;
    ensure_open(consultation.opens_at, consultation.closes_at, Utc::now())?;
    let mirrored = consultation.ap_id.is_some();
    let title = required_text("title", &new.title, TITLE_MAX)?;
    let body = required_text("body", &new.body, BODY_MAX)?;
    let txn = crate::store::begin_write(&state.db).await?;
    let number = store::next_number(&txn, "contribution").await?;
    let now = Utc::now();
    let model = proposal::ActiveModel {
        number: Set(number),
        consultation_id: Set(consultation.id),
        author_id: Set(actor.account_id),
        title: Set(title),
        body: Set(body),
        state: Set(ProposalState::Submitted.as_str().to_owned()),
        hidden: Set(false),
        withdrawn: Set(false),
        arguments_for: Set(0),
        arguments_against: Set(0),
        argument_count: Set(0),
        source_count: Set(0),
        agree: Set(0),
        mixed: Set(0),
        disagree: Set(0),
        vote_count: Set(0),
        origin_state: Set(mirrored.then(|| "pending".to_owned())),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    publish::created(&txn, state, Changed::Proposal(model.id)).await?;
    txn.commit().await?;
    if mirrored {
        let origin = participation::origin_host(&consultation);
        participation::await_verdict(state, Sent::Proposal(model.id), &origin).await?;
    }
    let model = proposal::Entity::find_by_id(model.id)
        .one(&state.db)
        .await?
        .unwrap_or(model);
    one_view(state, &model).await
}

async fn one_view(state: &AppState, model: &proposal::Model) -> AppResult<ProposalView> {
    proposal_views(state, &state.db, std::slice::from_ref(model))
        .await?
        .pop()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("proposal view missing")))
}

fn parse_cursor(raw: &str) -> AppResult<(i64, i32)> {
    let bad = || AppError::BadInput(format!("invalid cursor '{raw}'"));
    let (key, id) = raw.split_once('_').ok_or_else(bad)?;
    Ok((
        key.parse().map_err(|_| bad())?,
        id.parse().map_err(|_| bad())?,
    ))
}

/// One page of a consultation's proposals, keyset-paginated on (sort key, id) so that pages
/// stay stable while people keep posting.
pub async fn list(
    state: &AppState,
    viewer: Option<&Actor>,
    slug: &str,
    query: &ProposalListQuery,
) -> AppResult<ProposalPage> {
    let consultation = consultations::find(state, slug).await?;
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(AppError::BadInput("limit must be between 1 and 100".into()));
    }
    let policy = Policy::load(&state.db).await?;
    let mut select = proposal::Entity::find()
        .filter(proposal::Column::ConsultationId.eq(consultation.id))
        .filter(proposal::Column::Withdrawn.eq(false))
        .filter(policy.author_shown(proposal::Column::AuthorId));
    if !viewer.is_some_and(Actor::is_moderator) {
        select = select.filter(proposal::Column::Hidden.eq(false));
    }
    let key_column = match query.sort {
        ProposalSort::Newest => None,
        ProposalSort::Votes => Some(proposal::Column::VoteCount),
        ProposalSort::Arguments => Some(proposal::Column::ArgumentCount),
    };
    if let Some(cursor) = &query.cursor {
        let (key, id) = parse_cursor(cursor)?;
        select = select.filter(match key_column {
            None => Condition::all().add(proposal::Column::Id.lt(id)),
            Some(column) => Condition::any().add(column.lt(key)).add(
                Condition::all()
                    .add(column.eq(key))
                    .add(proposal::Column::Id.lt(id)),
            ),
        });
    }
    if let Some(column) = key_column {
        select = select.order_by_desc(column);
    }
    let mut models = select
        .order_by_desc(proposal::Column::Id)
        .limit(limit + 1)
        .all(&state.db)
        .await?;
    let next_cursor = if models.len() as u64 > limit {
        models.truncate(limit as usize);
        models.last().map(|last| {
            let key = match query.sort {
                ProposalSort::Newest => i64::from(last.id),
                ProposalSort::Votes => i64::from(last.vote_count),
                ProposalSort::Arguments => i64::from(last.argument_count),
            };
            format!("{key}_{}", last.id)
        })
    } else {
        None
    };
    Ok(ProposalPage {
        items: proposal_views(state, &state.db, &models).await?,
        next_cursor,
    })
}

pub async fn get(state: &AppState, viewer: Option<&Actor>, id: i32) -> AppResult<ProposalDetail> {
    let (model, _) = load(&state.db, id, viewer).await?;
    let proposal = one_view(state, &model).await?;
    let arguments =
        contributions::list_arguments(state, viewer, id, ArgumentFilter::default()).await?;
    let (arguments_for, arguments_against) =
        arguments.into_iter().partition(|a| a.stance == Stance::For);
    let sources = contributions::list_sources(state, viewer, id).await?;
    let comments = contributions::list_comments(state, viewer, id).await?;
    let policy = Policy::load(&state.db).await?;
    let shares = share::Entity::find()
        .filter(share::Column::ProposalId.eq(id))
        .filter(policy.author_shown(share::Column::ActorId))
        .count(&state.db)
        .await?;
    let my_vote = match viewer {
        Some(actor) => votes::own_vote(&state.db, id, actor.account_id).await?,
        None => None,
    };
    Ok(ProposalDetail {
        proposal,
        arguments_for,
        arguments_against,
        sources,
        comments,
        shares,
        my_vote,
    })
}

pub async fn update(
    state: &AppState,
    actor: &Actor,
    id: i32,
    changes: ProposalChanges,
) -> AppResult<ProposalView> {
    let (model, _) = load_for_participation(&state.db, id, actor).await?;
    actor.ensure_author(model.author_id, "proposal")?;
    let mut active: proposal::ActiveModel = model.into();
    if let Some(title) = &changes.title {
        active.title = Set(required_text("title", title, TITLE_MAX)?);
    }
    if let Some(body) = &changes.body {
        active.body = Set(required_text("body", body, BODY_MAX)?);
    }
    active.updated_at = Set(Utc::now());
    let txn = crate::store::begin_write(&state.db).await?;
    let model = active.update(&txn).await?;
    publish::updated(&txn, state, Changed::Proposal(model.id)).await?;
    txn.commit().await?;
    one_view(state, &model).await
}

/// The author takes the proposal back. It keeps its number (numbers are never reused) and
/// stays in the database, but no longer shows anywhere.
pub async fn withdraw(state: &AppState, actor: &Actor, id: i32) -> AppResult<()> {
    let (model, _) = load_for_participation(&state.db, id, actor).await?;
    actor.ensure_author(model.author_id, "proposal")?;
    let mut active: proposal::ActiveModel = model.into();
    active.withdrawn = Set(true);
    active.updated_at = Set(Utc::now());
    let txn = crate::store::begin_write(&state.db).await?;
    active.update(&txn).await?;
    publish::deleted(&txn, state, Changed::Proposal(id)).await?;
    txn.commit().await?;
    Ok(())
}

/// Moderators hide or show a proposal again, at any time (also after closing: moderation is not
/// participation).
pub async fn set_hidden(
    state: &AppState,
    actor: &Actor,
    id: i32,
    hidden: bool,
) -> AppResult<ProposalView> {
    actor.ensure_moderator()?;
    let (model, consultation) = load(&state.db, id, Some(actor)).await?;
    let mut active: proposal::ActiveModel = model.into();
    active.hidden = Set(hidden);
    let txn = crate::store::begin_write(&state.db).await?;
    let model = active.update(&txn).await?;
    super::moderation::audit(
        &txn,
        Some(actor.account_id),
        if hidden { "hide" } else { "unhide" },
        &state.proposal_url(id),
        None,
    )
    .await?;
    // Hidden by the origin's moderators: gone from every mirror too. Hiding on a mirror is
    // this node's own moderation and stays here.
    if hidden && consultation.ap_id.is_none() {
        publish::deleted(&txn, state, Changed::Proposal(id)).await?;
    }
    txn.commit().await?;
    one_view(state, &model).await
}

/// The organiser's official answer and state. Allowed after closing too: that is when answers
/// usually come.
pub async fn answer(
    state: &AppState,
    actor: &Actor,
    id: i32,
    answer: OfficialAnswer,
) -> AppResult<ProposalView> {
    actor.ensure_organiser()?;
    let txn = crate::store::begin_write(&state.db).await?;
    let (model, consultation) = load(&txn, id, Some(actor)).await?;
    if consultation.ap_id.is_some() {
        return Err(AppError::Forbidden(
            "the official answer is given by the consultation's own node".into(),
        ));
    }
    if let Some(duplicate_id) = answer.duplicate_of {
        if duplicate_id == id {
            return Err(AppError::BadInput(
                "a proposal cannot duplicate itself".into(),
            ));
        }
        let (original, _) = load(&txn, duplicate_id, Some(actor))
            .await
            .map_err(|_| AppError::BadInput(format!("duplicate_of: no proposal {duplicate_id}")))?;
        if original.consultation_id != consultation.id {
            return Err(AppError::BadInput(
                "duplicate_of must be a proposal of the same consultation".into(),
            ));
        }
    }
    let text = match answer.answer.as_deref().map(str::trim) {
        Some("") | None => None,
        Some(text) => Some(required_text("answer", text, BODY_MAX)?),
    };
    let now = Utc::now();
    let mut active: proposal::ActiveModel = model.into();
    active.state = Set(answer.state.as_str().to_owned());
    active.answered_at = Set(text.as_ref().map(|_| now));
    active.official_answer = Set(text);
    active.duplicate_of = Set(answer.duplicate_of);
    let model = active.update(&txn).await?;
    publish::updated(&txn, state, Changed::Proposal(id)).await?;
    txn.commit().await?;
    one_view(state, &model).await
}
