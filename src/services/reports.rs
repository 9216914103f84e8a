//! Reports: anyone signed in flags a proposal, argument or source to the moderators. A report
//! about content of a consultation hosted on another node also goes to that node (`Flag`),
//! whose moderators decide.
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::required_text;
use crate::app::AppState;
use crate::domain::Actor;
use crate::error::{AppError, AppResult};
use crate::store::{account, argument, consultation, proposal, report, source};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportedKind {
    Proposal,
    Argument,
    Source,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewReport {
    pub kind: ReportedKind,
    pub id: i32,
    /// Why it should be looked at (at most 1000 characters).
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportView {
    pub id: i32,
    /// `name@host` for a report received from another node.
    pub reporter: String,
    /// The reported object's id (its URL).
    pub object: String,
    /// The slug of its consultation.
    pub consultation: String,
    pub reason: String,
    /// Sent on to the consultation's own node.
    pub forwarded: bool,
    pub created_at: chrono::DateTime<Utc>,
}

/// The reported object's URL and consultation; hidden or withdrawn content can be reported too.
async fn locate(state: &AppState, kind: ReportedKind, id: i32) -> AppResult<(String, i32)> {
    let not_found = || AppError::NotFound(format!("no such {kind:?} {id}").to_lowercase());
    let (proposal_id, url) = match kind {
        ReportedKind::Proposal => {
            let p = proposal::Entity::find_by_id(id)
                .one(&state.db)
                .await?
                .ok_or_else(not_found)?;
            let url = p.ap_id.clone().unwrap_or_else(|| state.proposal_url(p.id));
            (p.id, url)
        }
        ReportedKind::Argument => {
            let a = argument::Entity::find_by_id(id)
                .one(&state.db)
                .await?
                .ok_or_else(not_found)?;
            let url = a.ap_id.clone().unwrap_or_else(|| state.argument_url(a.id));
            (a.proposal_id, url)
        }
        ReportedKind::Source => {
            let s = source::Entity::find_by_id(id)
                .one(&state.db)
                .await?
                .ok_or_else(not_found)?;
            let url = s.ap_id.clone().unwrap_or_else(|| state.source_url(s.id));
            (s.proposal_id, url)
        }
    };
    let p = proposal::Entity::find_by_id(proposal_id)
        .one(&state.db)
        .await?
        .ok_or_else(not_found)?;
    Ok((url, p.consultation_id))
}

pub async fn create(state: &AppState, actor: &Actor, new: NewReport) -> AppResult<ReportView> {
    let reason = required_text("reason", &new.reason, 1000)?;
    let (object_url, consultation_id) = locate(state, new.kind, new.id).await?;
    let group = consultation::Entity::find_by_id(consultation_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::NotFound("consultation".into()))?;
    let mirrored = group.ap_id.is_some();
    let txn = crate::store::begin_write(&state.db).await?;
    let model = report::ActiveModel {
        reporter_id: Set(actor.account_id),
        object_url: Set(object_url),
        consultation_id: Set(consultation_id),
        reason: Set(reason),
        forwarded: Set(mirrored),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    if mirrored {
        crate::federation::reports::forward(&txn, state, &model, &group).await?;
    }
    txn.commit().await?;
    let views = views(state, vec![model]).await?;
    views
        .into_iter()
        .next()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("report view missing")))
}

/// Stores a report received from another node (a `Flag`), after the inbox checked it.
pub async fn record_remote(
    db: &impl sea_orm::ConnectionTrait,
    reporter_id: i32,
    object_url: String,
    consultation_id: i32,
    reason: String,
) -> AppResult<()> {
    report::ActiveModel {
        reporter_id: Set(reporter_id),
        object_url: Set(object_url),
        consultation_id: Set(consultation_id),
        reason: Set(reason),
        forwarded: Set(false),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The moderation queue, newest first (moderators and admins).
pub async fn list(state: &AppState, actor: &Actor) -> AppResult<Vec<ReportView>> {
    actor.ensure_moderator()?;
    let rows = report::Entity::find()
        .order_by_desc(report::Column::Id)
        .all(&state.db)
        .await?;
    views(state, rows).await
}

async fn views(state: &AppState, rows: Vec<report::Model>) -> AppResult<Vec<ReportView>> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let reporter = account::Entity::find_by_id(row.reporter_id)
            .one(&state.db)
            .await?
            .map(|a| a.username)
            .unwrap_or_default();
        let consultation = consultation::Entity::find()
            .filter(consultation::Column::Id.eq(row.consultation_id))
            .one(&state.db)
            .await?
            .map(|c| c.slug)
            .unwrap_or_default();
        out.push(ReportView {
            id: row.id,
            reporter,
            object: row.object_url,
            consultation,
            reason: row.reason,
            forwarded: row.forwarded,
            created_at: row.created_at,
        });
    }
    Ok(out)
}
