//! The poll of a proposal: a `Question` attributed to the consultation's Group, which Mastodon
//! (and Pleroma, Misskey, GoToSocial) shows in full with its three options, where a `Page` would
//! be cut down to a title and a link. Its votes (`Create(Note{name})`) and replies count on the
//! proposal; the Group sends `Update(Question)` with new tallies. FEDERATION.md explains why a
//! companion object rather than the proposal itself.
use chrono::Utc;
use sea_orm::{ConnectionTrait, EntityTrait};
use serde_json::{Value, json};
use url::Url;

use super::FedData;
use super::actors::{DbGroup, DbPerson};
use crate::app::AppState;
use crate::domain::{ConsultationState, VoteValue};
use crate::error::{AppError, AppResult};
use crate::render::markdown_to_html;
use crate::store::{account, consultation, proposal};

/// The proposal whose poll `url` is, if it is one of this node's polls.
pub fn local_poll_of(state: &AppState, url: &Url) -> Option<i32> {
    if !super::is_local(state, url) {
        return None;
    }
    let rest = url.path().strip_prefix("/proposals/")?;
    let number = rest.strip_suffix("/poll")?;
    number.parse().ok()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The `Question` of a proposal of a consultation hosted here.
pub fn question_json(
    state: &AppState,
    proposal: &proposal::Model,
    author: &account::Model,
    group: &consultation::Model,
) -> AppResult<Value> {
    let group = DbGroup::new(state, group.clone())?;
    let page = state.proposal_url(proposal.id);
    let author = DbPerson::new(state, author.clone())?;
    let closed = ConsultationState::at(group.model.opens_at, group.model.closes_at, Utc::now())
        == ConsultationState::Closed;
    let option = |value: VoteValue, count: i32| {
        json!({
            "type": "Note",
            "name": value.poll_option(true),
            "replies": {"type": "Collection", "totalItems": count},
        })
    };
    // Mastodon shows `content` as the post: the proposal in full, who wrote it, how to argue.
    let content = format!(
        "<p><strong>Proposition n°{number} : {title}</strong></p>{body}\
         <p>Par <a href=\"{author_url}\">{author_name}</a> · consultation « {consultation} » · \
         <a href=\"{page}\">la proposition, ses arguments et ses sources</a></p>\
         <p>Votez ci-dessous. Pour argumenter, répondez avec #pour ou #contre ; \
         une réponse sans ces mots-clés est un commentaire.</p>",
        number = proposal.number,
        title = escape(&proposal.title),
        body = markdown_to_html(&proposal.body),
        author_url = escape(author.ap_id.as_str()),
        author_name = escape(&author.model.display_name),
        consultation = escape(&group.model.title),
    );
    let mut question = json!({
        "type": "Question",
        "id": state.question_url(proposal.id),
        "attributedTo": group.ap_id,
        "content": content,
        "mediaType": "text/html",
        "url": page,
        "context": format!("{}/context", group.ap_id),
        "audience": group.ap_id,
        "to": [super::AS_PUBLIC],
        "cc": [group.followers_url()],
        "published": proposal.created_at,
        "updated": proposal.updated_at,
        "oneOf": [
            option(VoteValue::Agree, proposal.agree),
            option(VoteValue::Mixed, proposal.mixed),
            option(VoteValue::Disagree, proposal.disagree),
        ],
        "votersCount": proposal.vote_count,
        "endTime": group.model.closes_at,
    });
    if closed {
        question["closed"] = json!(group.model.closes_at);
    }
    Ok(question)
}

/// The poll of proposal `id`, served to other servers: only for proposals of consultations
/// hosted here (elsewhere, the origin runs the poll).
pub async fn served(data: &FedData, id: i32) -> AppResult<Option<Value>> {
    let Some(proposal) = proposal::Entity::find_by_id(id).one(&data.db).await? else {
        return Ok(None);
    };
    if proposal.hidden || proposal.withdrawn {
        return Ok(None);
    }
    let (author, proposal, group) =
        super::locate::parts(&data.db, proposal.author_id, proposal.id).await?;
    if group.ap_id.is_some() {
        return Ok(None);
    }
    question_json(data, &proposal, &author, &group).map(Some)
}

/// The poll of a proposal to send with an activity, if its consultation is hosted here.
pub async fn for_activity(
    db: &impl ConnectionTrait,
    state: &AppState,
    proposal_id: i32,
) -> AppResult<Option<(Value, consultation::Model)>> {
    let Some(proposal) = proposal::Entity::find_by_id(proposal_id).one(db).await? else {
        return Ok(None);
    };
    let (author, proposal, group) =
        super::locate::parts(db, proposal.author_id, proposal.id).await?;
    if group.ap_id.is_some() {
        return Ok(None);
    }
    Ok(Some((
        question_json(state, &proposal, &author, &group)?,
        group,
    )))
}

pub fn not_found(id: i32) -> AppError {
    AppError::NotFound(format!("no poll for proposal {id}"))
}

/// A poll (`Question`) created or updated on another server: the companions another Palabre
/// node's consultations send their followers for Mastodon's sake, or anyone's poll. This node
/// has the proposal itself and counts votes its own way, so it takes them (202, signature
/// checked) and does nothing; refusing them with 400 made every vote elsewhere cost a refused
/// delivery per Palabre follower.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct ForeignPoll {
    #[serde(rename = "type")]
    kind: PollActivityKind,
    id: Url,
    actor: Url,
    object: ForeignQuestion,
}

#[derive(Clone, Copy, Debug, serde::Deserialize, serde::Serialize)]
enum PollActivityKind {
    Create,
    Update,
}

#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
struct ForeignQuestion {
    #[serde(rename = "type")]
    kind: QuestionKind,
    id: Url,
}

#[derive(Clone, Copy, Debug, serde::Deserialize, serde::Serialize)]
enum QuestionKind {
    Question,
}

#[async_trait::async_trait]
impl activitypub_federation::traits::Activity for ForeignPoll {
    type DataType = AppState;
    type Error = AppError;

    fn id(&self) -> &Url {
        &self.id
    }

    fn actor(&self) -> &Url {
        &self.actor
    }

    async fn verify(&self, _data: &FedData) -> AppResult<()> {
        super::verify_same_origin(&self.object.id, &self.actor)
    }

    async fn receive(self, _data: &FedData) -> AppResult<()> {
        tracing::debug!(poll = %self.object.id, kind = ?self.kind, "a poll from elsewhere, not needed here");
        Ok(())
    }
}
