//! The persistent delivery queue. Outgoing activities are written to `deliveries` in the same
//! transaction as the change they announce; workers claim due rows, sign and send them, and
//! retry failures with exponential backoff. A node killed mid-fan-out finds its queue intact on
//! restart; several processes sharing one PostgreSQL database never take the same row
//! (`FOR UPDATE SKIP LOCKED`).
use std::collections::BTreeSet;
use std::time::Duration;

use activitypub_federation::activity_sending::SendActivityTask;
use activitypub_federation::config::{Data, FederationConfig};
use activitypub_federation::traits::Actor;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseBackend, EntityTrait, Set, Statement};
use serde_json::Value;
use url::Url;

use super::activities::StoredActivity;
use super::actors::{DbGroup, DbPerson};
use super::policy::Policy;
use super::{context, keys, signatures};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::store::{account, consultation, delivery};

/// Which local actor signs a delivery.
#[derive(Debug, Clone, Copy)]
pub enum Signer {
    Account(i32),
    Consultation(i32),
    Instance,
}

impl Signer {
    fn parts(self) -> (&'static str, i32) {
        match self {
            Signer::Account(id) => ("account", id),
            Signer::Consultation(id) => ("consultation", id),
            Signer::Instance => ("instance", 0),
        }
    }
}

/// Queues `activity` for each distinct inbox (a node's shared inbox once, however many of its
/// accounts follow).
pub async fn enqueue(
    db: &impl ConnectionTrait,
    activity_id: &Url,
    signer: Signer,
    activity: &Value,
    inboxes: impl IntoIterator<Item = Url>,
) -> AppResult<()> {
    let mut payload = activity.clone();
    if let Value::Object(map) = &mut payload {
        map.insert("@context".into(), context());
    }
    let payload = serde_json::to_string(&payload).map_err(anyhow::Error::from)?;
    let (kind, actor_id) = signer.parts();
    let now = Utc::now();
    let inboxes: BTreeSet<String> = inboxes.into_iter().map(|u| u.to_string()).collect();
    for inbox in inboxes {
        delivery::ActiveModel {
            activity_id: Set(activity_id.to_string()),
            actor_kind: Set(kind.into()),
            actor_id: Set(actor_id),
            inbox: Set(inbox),
            payload: Set(payload.clone()),
            attempts: Set(0),
            next_attempt_at: Set(now),
            status: Set("pending".into()),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

const BATCH: i64 = 16;

/// Reserves up to `BATCH` due deliveries for `lease_seconds`.
async fn claim(db: &impl ConnectionTrait, lease_seconds: i64) -> AppResult<Vec<delivery::Model>> {
    let now = Utc::now();
    let lease = now + chrono::Duration::seconds(lease_seconds);
    let backend = db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => {
            "UPDATE deliveries SET locked_until = $1 WHERE id IN (\
               SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $2 \
               AND (locked_until IS NULL OR locked_until < $2) ORDER BY id LIMIT $3 \
               FOR UPDATE SKIP LOCKED) RETURNING *"
        }
        // SQLite runs one writer at a time: the UPDATE itself is the claim.
        _ => {
            "UPDATE deliveries SET locked_until = ? WHERE id IN (\
               SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ? \
               AND (locked_until IS NULL OR locked_until < ?) ORDER BY id LIMIT ?) RETURNING *"
        }
    };
    let values: Vec<sea_orm::Value> = match backend {
        DatabaseBackend::Postgres => vec![lease.into(), now.into(), BATCH.into()],
        _ => vec![lease.into(), now.into(), now.into(), BATCH.into()],
    };
    let mut rows = delivery::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(backend, sql, values))
        .all(db)
        .await?;
    // RETURNING gives no order: restore queue order, which per-inbox sending relies on.
    rows.sort_by_key(|row| row.id);
    Ok(rows)
}

/// Sends `activity` to one inbox as `actor`. The library's `SendActivityTask::prepare` checks
/// the inbox first, as before (a local or invalid inbox is skipped); the signing and sending
/// are `signatures::deliver`'s, which uses the draft-cavage or RFC 9421 scheme the remote host
/// accepts, with the library's body bytes (`serde_json::to_vec` of the activity).
async fn deliver<A: Actor + std::fmt::Debug>(
    activity: &StoredActivity,
    actor: &A,
    inbox: Url,
    data: &Data<AppState>,
) -> AppResult<Sent> {
    if SendActivityTask::prepare(activity, actor, vec![inbox.clone()], data)
        .await?
        .is_empty()
    {
        // Never recorded as delivered: an admin reading the queue must not believe it reached
        // anyone. This node's own inbox is given up at once; any other failed the library's
        // URL check (not https, a port, a name that does not resolve to a public address, the
        // federation policy), which may pass later (a DNS failure): tried again, with the reason.
        let why = format!(
            "{inbox} is not an inbox this node may deliver to (not https, an explicit port, a \
             name that does not resolve to a public address, or refused by the federation \
             policy): not sent"
        );
        if super::is_local(data, &inbox) {
            return Ok(Sent::Not(format!(
                "{inbox} is this node's own inbox: not sent"
            )));
        }
        return Err(AppError::Remote(why));
    }
    let body = serde_json::to_vec(activity).map_err(anyhow::Error::from)?;
    signatures::deliver(data, actor, &activity.id, &inbox, body).await?;
    Ok(Sent::Delivered)
}

/// What became of a delivery that did not fail.
enum Sent {
    Delivered,
    /// Never sent, and never to be: the reason.
    Not(String),
}

async fn send(row: &delivery::Model, data: &Data<AppState>) -> AppResult<Sent> {
    let activity: StoredActivity =
        serde_json::from_str(&row.payload).map_err(anyhow::Error::from)?;
    let inbox = Url::parse(&row.inbox).map_err(|e| AppError::BadInput(e.to_string()))?;
    match row.actor_kind.as_str() {
        "account" => {
            let model = account::Entity::find_by_id(row.actor_id)
                .one(&data.db)
                .await?
                .ok_or_else(|| AppError::NotFound("signing account".into()))?;
            let model = keys::ensure_account_keys(data, model).await?;
            deliver(&activity, &DbPerson::new(data, model)?, inbox, data).await
        }
        "consultation" => {
            let model = consultation::Entity::find_by_id(row.actor_id)
                .one(&data.db)
                .await?
                .ok_or_else(|| AppError::NotFound("signing consultation".into()))?;
            let model = keys::ensure_consultation_keys(data, model).await?;
            deliver(&activity, &DbGroup::new(data, model)?, inbox, data).await
        }
        _ => deliver(&activity, &keys::instance_actor(data).await?, inbox, data).await,
    }
}

async fn record(row: delivery::Model, outcome: AppResult<Sent>, state: &AppState) -> AppResult<()> {
    let federation = &state.settings.federation;
    let attempts = row.attempts + 1;
    let mut active: delivery::ActiveModel = row.into();
    active.attempts = Set(attempts);
    active.locked_until = Set(None);
    match outcome {
        Ok(Sent::Delivered) => active.status = Set("delivered".into()),
        Ok(Sent::Not(note)) => {
            tracing::warn!(%note, "delivery not sent");
            active.status = Set("failed".into());
            active.last_error = Set(Some(note));
        }
        Err(err) => {
            tracing::warn!(error = %err, attempts, "delivery failed");
            active.last_error = Set(Some(err.to_string()));
            if attempts >= federation.max_attempts {
                active.status = Set("failed".into());
            } else {
                active.next_attempt_at = Set(Utc::now() + retry_delay(federation, attempts));
            }
        }
    }
    active.update(&state.db).await?;
    Ok(())
}

/// How long to wait after the `attempts`-th failure: `retry_base_seconds`, doubling, at most 6
/// hours. Deliveries and backfills share it.
pub(crate) fn retry_delay(
    federation: &crate::config::FederationSettings,
    attempts: i32,
) -> chrono::Duration {
    let exponent = (attempts - 1).clamp(0, 20);
    let seconds = (federation.retry_base_seconds.max(0.0) * 2f64.powi(exponent)).min(6.0 * 3600.0);
    chrono::Duration::milliseconds((seconds * 1000.0) as i64)
}

/// A row for a server the federation policy refuses (blocked, or not a partner in allow-list
/// mode): not sent, and given up at once with the reason, so that the queue says what happened
/// and unblocking does not flood the server with what was queued meanwhile.
async fn refuse(row: delivery::Model, note: String, state: &AppState) -> AppResult<()> {
    tracing::warn!(inbox = %row.inbox, activity = %row.activity_id, %note, "delivery not sent");
    let attempts = row.attempts + 1;
    let mut active: delivery::ActiveModel = row.into();
    active.attempts = Set(attempts);
    active.locked_until = Set(None);
    active.status = Set("failed".into());
    active.last_error = Set(Some(note));
    active.update(&state.db).await?;
    Ok(())
}

/// Why the policy refuses to deliver to this row's inbox, if it does.
fn refused(policy: &Policy, state: &AppState, row: &delivery::Model) -> Option<String> {
    let inbox = Url::parse(&row.inbox).ok()?;
    let refusal = policy.refusal_for_url(state, &inbox)?;
    Some(format!(
        "not sent: {}",
        refusal.message(&super::host_of(&inbox))
    ))
}

/// Claims and sends one batch; returns how many rows it handled.
pub async fn run_once(config: &FederationConfig<AppState>) -> AppResult<usize> {
    let data = config.to_request_data();
    let rows = claim(&data.db, data.settings.federation.delivery_lease_seconds).await?;
    let count = rows.len();
    let policy = Policy::load(&data.db).await?;
    // One inbox's deliveries go out in order (a vote, then its change); inboxes in parallel.
    let mut by_inbox: std::collections::BTreeMap<String, Vec<delivery::Model>> = Default::default();
    for row in rows {
        if let Some(note) = refused(&policy, &data, &row) {
            refuse(row, note, &data).await?;
            continue;
        }
        by_inbox.entry(row.inbox.clone()).or_default().push(row);
    }
    let sends = by_inbox.into_values().map(|rows| {
        let data = config.to_request_data();
        async move {
            for row in rows {
                let outcome = send(&row, &data).await;
                record(row, outcome, &data).await?;
            }
            AppResult::Ok(())
        }
    });
    for result in futures_util::future::join_all(sends).await {
        result?;
    }
    Ok(count)
}

/// Starts the delivery worker of this process.
pub fn spawn_worker(config: FederationConfig<AppState>) {
    tokio::spawn(async move {
        loop {
            match run_once(&config).await {
                Ok(0) => tokio::time::sleep(Duration::from_millis(200)).await,
                Ok(_) => {}
                Err(err) => {
                    tracing::error!(error = %err, "delivery worker");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
}
