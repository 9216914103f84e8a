//! The debates this node still owes itself from the consultations it follows (backfills), for
//! admins: which are retried, which were given up on, and why.
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::domain::Actor;
use crate::error::AppResult;
use crate::store::{backfill, consultation};

/// The existing debate of one followed consultation, not read yet.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct OwedBackfill {
    /// The consultation, as `name@host`.
    pub consultation: String,
    /// Its actor id on its own node.
    pub origin_url: Option<String>,
    /// `pending` (retried, or running) or `failed` (given up after `federation.max_attempts`
    /// runs, or at once when the consultation is gone or its server refused by the policy).
    pub status: String,
    pub attempts: i32,
    /// When the next run is due, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// Every backfill still owed, given-up ones first (admins).
pub async fn owed(state: &AppState, actor: Option<&Actor>) -> AppResult<Vec<OwedBackfill>> {
    if let Some(actor) = actor {
        actor.ensure_organiser()?;
    }
    let rows = backfill::Entity::find()
        .order_by_asc(backfill::Column::Status)
        .order_by_asc(backfill::Column::NextAttemptAt)
        .all(&state.db)
        .await?;
    let groups = consultation::Entity::find()
        .filter(consultation::Column::Id.is_in(rows.iter().map(|r| r.consultation_id)))
        .all(&state.db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let group = groups.iter().find(|g| g.id == row.consultation_id);
            OwedBackfill {
                consultation: group
                    .map_or_else(|| row.consultation_id.to_string(), |g| g.slug.clone()),
                origin_url: group.and_then(|g| g.ap_id.clone()),
                next_attempt_at: (row.status == "pending").then_some(row.next_attempt_at),
                status: row.status,
                attempts: row.attempts,
                last_error: row.last_error,
            }
        })
        .collect())
}
