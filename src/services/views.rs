//! What the API returns and the web pages show: the stored rows joined with their authors,
//! rendered Markdown and public URLs. One shape for both, so they cannot disagree.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::domain::{ConsultationState, ProposalState, Stance};
use crate::error::AppResult;
use crate::render::markdown_to_html;
use crate::store::{account, argument, comment, consultation, proposal, source};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuthorView {
    pub username: String,
    pub display_name: String,
    /// The verification label ("Compte vérifié", an organisation's name), when verified.
    pub verified: Option<String>,
    pub url: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsultationView {
    pub slug: String,
    pub title: String,
    /// Markdown, as written.
    pub body: String,
    /// The body rendered to sanitised HTML.
    pub body_html: String,
    pub themes: Vec<String>,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub state: ConsultationState,
    pub proposal_count: u64,
    pub url: String,
    /// The node hosting it, when it is mirrored from another node (`null` when local).
    pub origin: Option<String>,
    /// Its id on its own node, when mirrored.
    pub origin_url: Option<String>,
    /// People on other servers whose replies were refused because they came after the period
    /// closed, each counted once however many replies they sent.
    pub late_refused: i32,
}

#[derive(Debug, Clone, Copy, Default, Serialize, ToSchema)]
pub struct VoteCounts {
    pub agree: i32,
    pub mixed: i32,
    pub disagree: i32,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct ContributionCounts {
    pub arguments_for: i32,
    pub arguments_against: i32,
    pub sources: i32,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProposalRef {
    pub id: i32,
    pub number: i64,
    pub title: String,
    pub url: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProposalView {
    pub id: i32,
    /// The node-wide number, shown as `#697`; it never changes.
    pub number: i64,
    /// The slug of its consultation.
    pub consultation: String,
    pub title: String,
    pub body: String,
    pub body_html: String,
    pub author: AuthorView,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub state: ProposalState,
    pub official_answer: Option<String>,
    pub official_answer_html: Option<String>,
    pub answered_at: Option<DateTime<Utc>>,
    pub duplicate_of: Option<ProposalRef>,
    /// Only moderators ever see hidden proposals.
    pub hidden: bool,
    pub counts: ContributionCounts,
    pub votes: VoteCounts,
    pub url: String,
    /// The node it came from, when mirrored (`null` when posted on this node).
    pub origin: Option<String>,
    /// For a contribution posted here to a consultation hosted elsewhere: `pending` until the
    /// origin accepts it, then `accepted`.
    pub origin_state: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ArgumentView {
    pub id: i32,
    pub number: i64,
    pub proposal_id: i32,
    pub stance: Stance,
    pub body: String,
    pub body_html: String,
    pub author: AuthorView,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub hidden: bool,
    pub url: String,
    /// The node it came from, when mirrored.
    pub origin: Option<String>,
    /// `pending` or `accepted`, for an argument posted here on a mirrored consultation.
    pub origin_state: Option<String>,
}

/// A reply that takes no side (from Mastodon, say): shown with the proposal, never counted.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CommentView {
    pub id: i32,
    pub proposal_id: i32,
    pub body: String,
    pub body_html: String,
    pub author: AuthorView,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub hidden: bool,
    /// Where it can be read in its own thread: its id on its server.
    pub url: String,
    /// The server it came from.
    pub origin: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SourceView {
    pub id: i32,
    pub proposal_id: i32,
    pub title: String,
    pub url: String,
    pub description: Option<String>,
    pub author: AuthorView,
    pub created_at: DateTime<Utc>,
    pub hidden: bool,
    /// The node it came from, when mirrored.
    pub origin: Option<String>,
    /// `pending` or `accepted`, for a source posted here on a mirrored consultation.
    pub origin_state: Option<String>,
}

impl AppState {
    pub fn consultation_url(&self, slug: &str) -> String {
        format!("{}/consultations/{slug}", self.origin)
    }
    pub fn proposal_url(&self, id: i32) -> String {
        format!("{}/proposals/{id}", self.origin)
    }
    /// The poll Mastodon users vote in, companion of a proposal (FEDERATION.md).
    pub fn question_url(&self, proposal_id: i32) -> String {
        format!("{}/proposals/{proposal_id}/poll", self.origin)
    }
    pub fn comment_url(&self, id: i32) -> String {
        format!("{}/comments/{id}", self.origin)
    }
    pub fn argument_url(&self, id: i32) -> String {
        format!("{}/arguments/{id}", self.origin)
    }
    pub fn source_url(&self, id: i32) -> String {
        format!("{}/sources/{id}", self.origin)
    }
    pub fn account_url(&self, username: &str) -> String {
        format!("{}/users/{username}", self.origin)
    }
}

/// The host of a remote object's id: where it came from.
fn origin_of(ap_id: &Option<String>) -> Option<String> {
    ap_id
        .as_deref()
        .and_then(|id| url::Url::parse(id).ok())
        .map(|id| crate::federation::host_of(&id))
}

pub fn author_view(state: &AppState, account: &account::Model) -> AuthorView {
    AuthorView {
        username: account.username.clone(),
        display_name: account.display_name.clone(),
        verified: account.verified_label.clone(),
        url: state.account_url(&account.username),
    }
}

async fn authors(
    state: &AppState,
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = i32>,
) -> AppResult<HashMap<i32, AuthorView>> {
    let mut ids: Vec<i32> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    let accounts = account::Entity::find()
        .filter(account::Column::Id.is_in(ids))
        .all(db)
        .await?;
    Ok(accounts
        .iter()
        .map(|a| (a.id, author_view(state, a)))
        .collect())
}

fn author_of(authors: &HashMap<i32, AuthorView>, id: i32) -> AuthorView {
    authors.get(&id).cloned().unwrap_or_else(|| AuthorView {
        username: String::new(),
        display_name: "?".into(),
        verified: None,
        url: String::new(),
    })
}

pub fn consultation_view(
    state: &AppState,
    model: &consultation::Model,
    proposal_count: u64,
) -> ConsultationView {
    ConsultationView {
        slug: model.slug.clone(),
        title: model.title.clone(),
        body_html: markdown_to_html(&model.body),
        body: model.body.clone(),
        themes: serde_json::from_str(&model.themes).unwrap_or_default(),
        opens_at: model.opens_at,
        closes_at: model.closes_at,
        state: ConsultationState::at(model.opens_at, model.closes_at, Utc::now()),
        proposal_count,
        url: state.consultation_url(&model.slug),
        origin: origin_of(&model.ap_id),
        origin_url: model.ap_id.clone(),
        late_refused: model.late_refused,
    }
}

pub async fn proposal_views(
    state: &AppState,
    db: &impl ConnectionTrait,
    models: &[proposal::Model],
) -> AppResult<Vec<ProposalView>> {
    let authors = authors(state, db, models.iter().map(|p| p.author_id)).await?;
    let consultation_ids: Vec<i32> = models.iter().map(|p| p.consultation_id).collect();
    let slugs: HashMap<i32, String> = consultation::Entity::find()
        .filter(consultation::Column::Id.is_in(consultation_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c.slug))
        .collect();
    let duplicate_ids: Vec<i32> = models.iter().filter_map(|p| p.duplicate_of).collect();
    let duplicates: HashMap<i32, ProposalRef> = if duplicate_ids.is_empty() {
        HashMap::new()
    } else {
        proposal::Entity::find()
            .filter(proposal::Column::Id.is_in(duplicate_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|p| {
                let reference = ProposalRef {
                    id: p.id,
                    number: p.number,
                    title: p.title,
                    url: state.proposal_url(p.id),
                };
                (p.id, reference)
            })
            .collect()
    };
    Ok(models
        .iter()
        .map(|p| ProposalView {
            id: p.id,
            number: p.number,
            consultation: slugs.get(&p.consultation_id).cloned().unwrap_or_default(),
            title: p.title.clone(),
            body_html: markdown_to_html(&p.body),
            body: p.body.clone(),
            author: author_of(&authors, p.author_id),
            created_at: p.created_at,
            updated_at: p.updated_at,
            state: ProposalState::parse(&p.state).unwrap_or(ProposalState::Submitted),
            official_answer_html: p.official_answer.as_deref().map(markdown_to_html),
            official_answer: p.official_answer.clone(),
            answered_at: p.answered_at,
            duplicate_of: p.duplicate_of.and_then(|id| duplicates.get(&id).cloned()),
            hidden: p.hidden,
            counts: ContributionCounts {
                arguments_for: p.arguments_for,
                arguments_against: p.arguments_against,
                sources: p.source_count,
            },
            votes: VoteCounts {
                agree: p.agree,
                mixed: p.mixed,
                disagree: p.disagree,
            },
            url: state.proposal_url(p.id),
            origin: origin_of(&p.ap_id),
            origin_state: p.origin_state.clone(),
        })
        .collect())
}

pub async fn argument_views(
    state: &AppState,
    db: &impl ConnectionTrait,
    models: &[argument::Model],
) -> AppResult<Vec<ArgumentView>> {
    let authors = authors(state, db, models.iter().map(|a| a.author_id)).await?;
    Ok(models
        .iter()
        .map(|a| ArgumentView {
            id: a.id,
            number: a.number,
            proposal_id: a.proposal_id,
            stance: Stance::parse(&a.stance).unwrap_or(Stance::For),
            body_html: markdown_to_html(&a.body),
            body: a.body.clone(),
            author: author_of(&authors, a.author_id),
            created_at: a.created_at,
            updated_at: a.updated_at,
            hidden: a.hidden,
            url: state.argument_url(a.id),
            origin: origin_of(&a.ap_id),
            origin_state: a.origin_state.clone(),
        })
        .collect())
}

pub async fn comment_views(
    state: &AppState,
    db: &impl ConnectionTrait,
    models: &[comment::Model],
) -> AppResult<Vec<CommentView>> {
    let authors = authors(state, db, models.iter().map(|c| c.author_id)).await?;
    Ok(models
        .iter()
        .map(|c| CommentView {
            id: c.id,
            proposal_id: c.proposal_id,
            body_html: markdown_to_html(&c.body),
            body: c.body.clone(),
            author: author_of(&authors, c.author_id),
            created_at: c.created_at,
            updated_at: c.updated_at,
            hidden: c.hidden,
            url: c.ap_id.clone().unwrap_or_else(|| state.comment_url(c.id)),
            origin: origin_of(&c.ap_id),
        })
        .collect())
}

pub async fn source_views(
    state: &AppState,
    db: &impl ConnectionTrait,
    models: &[source::Model],
) -> AppResult<Vec<SourceView>> {
    let authors = authors(state, db, models.iter().map(|s| s.author_id)).await?;
    Ok(models
        .iter()
        .map(|s| SourceView {
            id: s.id,
            proposal_id: s.proposal_id,
            title: s.title.clone(),
            url: s.url.clone(),
            description: s.description.clone(),
            author: author_of(&authors, s.author_id),
            created_at: s.created_at,
            hidden: s.hidden,
            origin: origin_of(&s.ap_id),
            origin_state: s.origin_state.clone(),
        })
        .collect())
}
