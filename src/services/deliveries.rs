//! What the delivery queue says about other servers, for admins: which servers are behind
//! (deliveries still retried), which are given up on (deliveries `failed` after
//! `federation.max_attempts`), and why; and sending again what a server missed once it is back.
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

use super::moderation::audit;
use crate::app::AppState;
use crate::domain::Actor;
use crate::error::{AppError, AppResult};
use crate::federation::host_of;
use crate::store::delivery;

/// Deliveries to one remote server (the host, with its port, of its inboxes).
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct PeerDeliveries {
    pub server: String,
    pub delivered: u64,
    /// Still retried, with backoff.
    pub pending: u64,
    /// Given up after `federation.max_attempts` tries, or refused by the federation policy.
    pub failed: u64,
    /// The most attempts of one pending delivery: how long the server has been failing.
    pub most_attempts: i32,
    /// When the next retry is due, if any is pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last error seen for this server.
    pub last_error: Option<String>,
    /// Deliveries to it fail: retried, or given up on.
    pub unreachable: bool,
}

/// How many undelivered rows are read to find each server's last error: enough for a node's
/// queue, bounded for a queue that grew while a big server was down.
const UNDELIVERED_READ: u64 = 5000;

/// Every server Palabre delivers to, those with undelivered activities first (admins).
pub async fn by_peer(state: &AppState, actor: Option<&Actor>) -> AppResult<Vec<PeerDeliveries>> {
    if let Some(actor) = actor {
        actor.ensure_organiser()?;
    }
    let counts: Vec<(String, String, i64)> = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::Inbox)
        .column(delivery::Column::Status)
        .column_as(
            sea_orm::sea_query::ExprTrait::count(Expr::col(delivery::Column::Id)),
            "n",
        )
        .group_by(delivery::Column::Inbox)
        .group_by(delivery::Column::Status)
        .into_tuple()
        .all(&state.db)
        .await?;
    let mut peers: BTreeMap<String, PeerDeliveries> = BTreeMap::new();
    for (inbox, status, n) in counts {
        let server = server_of(&inbox);
        let peer = peers.entry(server.clone()).or_insert_with(|| empty(server));
        let n = u64::try_from(n).unwrap_or_default();
        match status.as_str() {
            "delivered" => peer.delivered += n,
            "pending" => peer.pending += n,
            _ => peer.failed += n,
        }
    }
    // Newest last, so that each server keeps its latest error.
    let undelivered = delivery::Entity::find()
        .filter(delivery::Column::Status.ne("delivered"))
        .order_by_desc(delivery::Column::Id)
        .limit(UNDELIVERED_READ)
        .all(&state.db)
        .await?;
    for row in undelivered.into_iter().rev() {
        let Some(peer) = peers.get_mut(&server_of(&row.inbox)) else {
            continue;
        };
        if row.last_error.is_some() {
            peer.last_error = row.last_error.clone();
        }
        if row.status == "pending" {
            peer.most_attempts = peer.most_attempts.max(row.attempts);
            if row.attempts > 0 {
                peer.next_attempt_at = Some(
                    peer.next_attempt_at
                        .map_or(row.next_attempt_at, |t| t.min(row.next_attempt_at)),
                );
            }
        }
    }
    let mut peers: Vec<PeerDeliveries> = peers
        .into_values()
        .map(|mut peer| {
            peer.unreachable = peer.failed > 0 || peer.most_attempts > 0;
            peer
        })
        .collect();
    peers.sort_by_key(|p| {
        (
            p.failed + p.pending == 0,
            std::cmp::Reverse(p.failed),
            p.server.clone(),
        )
    });
    Ok(peers)
}

/// Sends again what a server missed (its `failed` deliveries), now: for a server that was gone
/// longer than the retries last and is back (admins). Returns how many were queued again.
pub async fn retry_failed(state: &AppState, actor: Option<&Actor>, server: &str) -> AppResult<u64> {
    if let Some(actor) = actor {
        actor.ensure_organiser()?;
    }
    let server = server.trim().to_ascii_lowercase();
    if server.is_empty() || server.contains('/') {
        return Err(AppError::BadInput(
            "give a server as host or host:port, e.g. example.org".into(),
        ));
    }
    let txn = crate::store::begin_write(&state.db).await?;
    let failed = delivery::Entity::find()
        .filter(delivery::Column::Status.eq("failed"))
        .all(&txn)
        .await?;
    let ids: Vec<i32> = failed
        .iter()
        .filter(|row| server_of(&row.inbox) == server)
        .map(|row| row.id)
        .collect();
    if ids.is_empty() {
        return Err(AppError::NotFound(format!(
            "no failed deliveries to {server}"
        )));
    }
    let queued = delivery::Entity::update_many()
        .col_expr(delivery::Column::Status, Expr::value("pending"))
        .col_expr(delivery::Column::Attempts, Expr::value(0))
        .col_expr(delivery::Column::NextAttemptAt, Expr::value(Utc::now()))
        .col_expr(
            delivery::Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(delivery::Column::Id.is_in(ids))
        .exec(&txn)
        .await?
        .rows_affected;
    audit(
        &txn,
        actor.map(|a| a.account_id),
        "retry_deliveries",
        &server,
        Some(&format!("{queued} deliveries queued again")),
    )
    .await?;
    txn.commit().await?;
    Ok(queued)
}

fn server_of(inbox: &str) -> String {
    url::Url::parse(inbox)
        .map(|url| host_of(&url))
        .unwrap_or_else(|_| inbox.to_owned())
}

fn empty(server: String) -> PeerDeliveries {
    PeerDeliveries {
        server,
        delivered: 0,
        pending: 0,
        failed: 0,
        most_attempts: 0,
        next_attempt_at: None,
        last_error: None,
        unreachable: false,
    }
}
