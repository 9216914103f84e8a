//! Following a consultation hosted on another node: resolve it (handle or URL), store it as a
//! mirror (`name@host`), send `Follow`; its `Announce`s then fill the mirror, and a backfill
//! reads the debate that was there before. The backfill is owed durably (`backfills`, written
//! with the `Accept`) and retried until it has gone through the collection once.
use std::time::Duration;

use activitypub_federation::config::FederationConfig;
use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::fetch::webfinger::webfinger_resolve_actor;
use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use url::Url;
use utoipa::ToSchema;

use super::FedData;
use super::actors::{DbGroup, DbPerson};
use super::delivery::{self, Signer};
use crate::app::AppState;
use crate::domain::Actor;
use crate::error::{AppError, AppResult};
use crate::store::backfill as backfills;
use crate::store::{account, consultation, follow};

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewFollow {
    /// A handle `name@host` (with or without a leading `@`) or the consultation's actor URL.
    pub target: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FollowView {
    pub id: i32,
    /// The followed consultation's actor id.
    pub target: String,
    /// Its slug on this node (`name@host`): use it with the consultation routes.
    pub consultation: String,
    /// `pending` until the consultation's node accepts, then `accepted`.
    pub state: String,
}

fn view(row: &follow::Model, group: &consultation::Model) -> FollowView {
    FollowView {
        id: row.id,
        target: group.ap_id.clone().unwrap_or_default(),
        consultation: group.slug.clone(),
        state: row.state.clone(),
    }
}

async fn resolve(data: &FedData, target: &str) -> AppResult<DbGroup> {
    let target = target.trim();
    // The federation policy first, with its own message (403), before anything is fetched.
    let policy = super::policy::Policy::load(&data.db).await?;
    if target.starts_with("http://") || target.starts_with("https://") {
        let id = ObjectId::<DbGroup>::parse(target)
            .map_err(|e| AppError::BadInput(format!("target is not a valid URL: {e}")))?;
        policy.check_url(data, id.inner())?;
        return id.dereference(data).await;
    }
    let handle = target.trim_start_matches('@');
    match handle.split_once('@') {
        Some((name, host)) if !name.is_empty() && !host.is_empty() => {
            let host = super::policy::normalize_domain(host)?;
            if let Some(refusal) = policy.refusal(&host).filter(|_| host != data.domain()) {
                return Err(AppError::Forbidden(refusal.message(&host)));
            }
            webfinger_resolve_actor::<AppState, DbGroup>(handle, data).await
        }
        _ => Err(AppError::BadInput(
            "target must be a handle name@host or an actor URL".into(),
        )),
    }
}

pub async fn follow(data: &FedData, follower: &Actor, target: &str) -> AppResult<FollowView> {
    let group = resolve(data, target).await?;
    // WebFinger may name an actor on another server than the handle's.
    super::policy::Policy::load(&data.db)
        .await?
        .check_url(data, &group.ap_id)?;
    if group.is_local() {
        return Err(AppError::BadInput(
            "that consultation is hosted on this node: no need to follow it".into(),
        ));
    }
    if let Some(row) = follow::Entity::find()
        .filter(follow::Column::FollowerId.eq(follower.account_id))
        .filter(follow::Column::ConsultationId.eq(group.model.id))
        .one(&data.db)
        .await?
    {
        return Ok(view(&row, &group.model));
    }
    let person = account::Entity::find_by_id(follower.account_id)
        .one(&data.db)
        .await?
        .ok_or_else(|| AppError::NotFound("account".into()))?;
    let person = DbPerson::new(data, person)?;
    let activity_id = super::new_activity_id(data, "follow")?;
    let activity = json!({
        "type": "Follow",
        "id": activity_id,
        "actor": person.ap_id,
        "object": group.ap_id,
        "to": [group.ap_id],
    });
    let inbox = activitypub_federation::traits::Actor::inbox(&group);
    let txn = crate::store::begin_write(&data.db).await?;
    consultation::Entity::update_many()
        .col_expr(
            consultation::Column::Mirrored,
            sea_orm::sea_query::Expr::value(true),
        )
        .filter(consultation::Column::Id.eq(group.model.id))
        .exec(&txn)
        .await?;
    let row = follow::ActiveModel {
        follower_id: Set(follower.account_id),
        consultation_id: Set(group.model.id),
        activity_id: Set(activity_id.to_string()),
        state: Set("pending".into()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    delivery::enqueue(
        &txn,
        &activity_id,
        Signer::Account(follower.account_id),
        &activity,
        [inbox],
    )
    .await?;
    txn.commit().await?;
    Ok(view(&row, &group.model))
}

/// The caller's follows of remote consultations.
pub async fn list(state: &AppState, follower: &Actor) -> AppResult<Vec<FollowView>> {
    let rows = follow::Entity::find()
        .filter(follow::Column::FollowerId.eq(follower.account_id))
        .all(&state.db)
        .await?;
    let mut views = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(group) = consultation::Entity::find_by_id(row.consultation_id)
            .one(&state.db)
            .await?
            .filter(|g| g.ap_id.is_some())
        {
            views.push(view(&row, &group));
        }
    }
    Ok(views)
}

/// Stops following: sends `Undo(Follow)` and forgets the follow. The mirrored content stays.
pub async fn unfollow(state: &AppState, follower: &Actor, id: i32) -> AppResult<()> {
    let row = follow::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|f| f.follower_id == follower.account_id)
        .ok_or_else(|| AppError::NotFound(format!("no follow {id} of yours")))?;
    let group = consultation::Entity::find_by_id(row.consultation_id)
        .one(&state.db)
        .await?
        .filter(|g| g.ap_id.is_some())
        .ok_or_else(|| AppError::NotFound(format!("no follow {id} of yours")))?;
    let group = DbGroup::new(state, group)?;
    let person = account::Entity::find_by_id(follower.account_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::NotFound("account".into()))?;
    let person = DbPerson::new(state, person)?;
    let undo_id = super::new_activity_id(state, "undo")?;
    let undo = json!({
        "type": "Undo",
        "id": undo_id,
        "actor": person.ap_id,
        "object": {
            "type": "Follow",
            "id": row.activity_id,
            "actor": person.ap_id,
            "object": group.ap_id,
        },
        "to": [group.ap_id],
    });
    let inbox = activitypub_federation::traits::Actor::inbox(&group);
    let txn = crate::store::begin_write(&state.db).await?;
    delivery::enqueue(
        &txn,
        &undo_id,
        Signer::Account(follower.account_id),
        &undo,
        [inbox],
    )
    .await?;
    follow::Entity::delete_by_id(row.id).exec(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// Records, in the caller's transaction (the one that accepts our follow), that the
/// consultation's existing debate is owed to this node. Owed again from the start if it already
/// was, or had been given up: a new follow deserves a fresh set of attempts.
pub async fn owe_backfill(txn: &impl ConnectionTrait, consultation_id: i32) -> AppResult<()> {
    let now = Utc::now();
    backfills::Entity::insert(backfills::ActiveModel {
        consultation_id: Set(consultation_id),
        status: Set(PENDING.into()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        locked_until: Set(None),
        last_error: Set(None),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(backfills::Column::ConsultationId)
            // `locked_until` is left alone: a run under way keeps its lease.
            .update_columns([
                backfills::Column::Status,
                backfills::Column::Attempts,
                backfills::Column::NextAttemptAt,
                backfills::Column::LastError,
            ])
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// Runs the backfill owed to `consultation_id` at once, in the background, so that a new
/// follower does not wait for the worker's next round; the row stays until the run has gone
/// through the collection, so a crash or a failure leaves it to the worker.
pub fn start_backfill(data: &FedData, consultation_id: i32) {
    let data = data.reset_request_count();
    tokio::spawn(async move {
        match claim(&data, consultation_id).await {
            Ok(Some(row)) => run_claimed(&data, row).await,
            // Another process took it first, or it is not due.
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(consultation_id, error = %err, "backfill not started");
            }
        }
    });
}

/// Starts this process's backfill worker: it runs the backfills that are due (failed runs
/// whose backoff is over, runs lost with a process that died) and retries or gives up.
pub fn spawn_backfill_worker(config: FederationConfig<AppState>) {
    tokio::spawn(async move {
        // A backfill is rarely due: the worker polls at the retry base, within bounds, so that
        // compressed test schedules stay compressed and production does not poll five times a
        // second for nothing.
        let base = config
            .to_request_data()
            .settings
            .federation
            .retry_base_seconds;
        let idle = Duration::from_secs_f64(if base.is_finite() {
            base.clamp(0.2, 5.0)
        } else {
            5.0
        });
        loop {
            match run_due(&config).await {
                Ok(0) => tokio::time::sleep(idle).await,
                Ok(_) => {}
                Err(err) => {
                    tracing::error!(error = %err, "backfill worker");
                    tokio::time::sleep(idle.max(Duration::from_secs(1))).await;
                }
            }
        }
    });
}

const PENDING: &str = "pending";
const FAILED: &str = "failed";
/// Due backfills one round of the worker takes; each is a handful of requests to one origin.
const BACKFILL_BATCH: u64 = 4;

fn lease_seconds(data: &FedData) -> i64 {
    data.settings.federation.delivery_lease_seconds.max(1)
}

/// Due and not held by a live process.
fn due(now: chrono::DateTime<Utc>) -> Condition {
    Condition::all()
        .add(backfills::Column::Status.eq(PENDING))
        .add(backfills::Column::NextAttemptAt.lte(now))
        .add(
            Condition::any()
                .add(backfills::Column::LockedUntil.is_null())
                .add(backfills::Column::LockedUntil.lt(now)),
        )
}

/// Takes the backfill of `consultation_id` for a lease, if it is due and nobody holds it. One
/// conditional UPDATE is the claim on both databases: on PostgreSQL a second process doing the
/// same waits for the row, re-reads it, finds it leased and changes nothing.
async fn claim(data: &FedData, consultation_id: i32) -> AppResult<Option<backfills::Model>> {
    let now = Utc::now();
    let lease = now + chrono::Duration::seconds(lease_seconds(data));
    let claimed = backfills::Entity::update_many()
        .col_expr(backfills::Column::LockedUntil, Expr::value(lease))
        .filter(backfills::Column::ConsultationId.eq(consultation_id))
        .filter(due(now))
        .exec(&data.db)
        .await?;
    if claimed.rows_affected == 0 {
        return Ok(None);
    }
    Ok(backfills::Entity::find_by_id(consultation_id)
        .one(&data.db)
        .await?)
}

/// Claims and runs the due backfills; returns how many it ran.
async fn run_due(config: &FederationConfig<AppState>) -> AppResult<usize> {
    let data = config.to_request_data();
    let candidates = backfills::Entity::find()
        .filter(due(Utc::now()))
        .order_by_asc(backfills::Column::NextAttemptAt)
        .limit(BACKFILL_BATCH)
        .all(&data.db)
        .await?;
    let mut claimed = Vec::new();
    for candidate in candidates {
        if let Some(row) = claim(&data, candidate.consultation_id).await? {
            claimed.push(row);
        }
    }
    let count = claimed.len();
    futures_util::future::join_all(claimed.into_iter().map(|row| {
        let data = config.to_request_data();
        async move { run_claimed(&data, row).await }
    }))
    .await;
    Ok(count)
}

/// How a run ended, when it did not fail.
enum Ran {
    /// Went through the collection (items that failed to fetch skipped): the row goes.
    Done,
    /// Nobody here follows the consultation any more, or it is gone: the row goes too.
    Unwanted,
    /// Never to be run: the reason, kept for the admins.
    Refused(String),
}

async fn run_claimed(data: &FedData, row: backfills::Model) {
    let consultation_id = row.consultation_id;
    let outcome = run_leased(data, consultation_id).await;
    if let Err(err) = record(data, row, outcome).await {
        tracing::error!(consultation_id, error = %err, "backfill outcome not recorded");
    }
}

async fn run_leased(data: &FedData, consultation_id: i32) -> AppResult<Ran> {
    let Some(model) = consultation::Entity::find_by_id(consultation_id)
        .one(&data.db)
        .await?
        .filter(|c| c.ap_id.is_some())
    else {
        return Ok(Ran::Unwanted);
    };
    // Everyone here stopped following meanwhile: the debate is no longer wanted.
    let followed = follow::Entity::find()
        .filter(follow::Column::ConsultationId.eq(consultation_id))
        .filter(follow::Column::State.eq("accepted"))
        .one(&data.db)
        .await?
        .is_some();
    if !followed {
        return Ok(Ran::Unwanted);
    }
    let group = DbGroup::new(data, model)?;
    if let Some(refusal) = super::policy::Policy::load(&data.db)
        .await?
        .refusal_for_url(data, &group.ap_id)
    {
        return Ok(Ran::Refused(refusal.message(&super::host_of(&group.ap_id))));
    }
    let work = backfill(data, &group);
    tokio::pin!(work);
    // The lease is pushed back while the run lasts (up to 10 pages and 300 fetches, each of up
    // to the fetch time limit), so that it can be short and a dead process's backfill is taken
    // over soon after.
    let lease = lease_seconds(data);
    let mut beat = tokio::time::interval(Duration::from_millis((lease as u64) * 1000 / 3));
    beat.tick().await;
    loop {
        tokio::select! {
            outcome = &mut work => return outcome.map(|()| Ran::Done),
            _ = beat.tick() => {
                let until = Utc::now() + chrono::Duration::seconds(lease);
                if let Err(err) = backfills::Entity::update_many()
                    .col_expr(backfills::Column::LockedUntil, Expr::value(until))
                    .filter(backfills::Column::ConsultationId.eq(consultation_id))
                    .exec(&data.db)
                    .await
                {
                    tracing::warn!(consultation_id, error = %err, "backfill lease not renewed");
                }
            }
        }
    }
}

async fn record(data: &FedData, row: backfills::Model, outcome: AppResult<Ran>) -> AppResult<()> {
    let federation = &data.settings.federation;
    let consultation_id = row.consultation_id;
    let attempts = row.attempts + 1;
    let (status, next, error) = match outcome {
        Ok(ran @ (Ran::Done | Ran::Unwanted)) => {
            if matches!(ran, Ran::Done) {
                tracing::info!(consultation_id, attempts, "backfill done");
            } else {
                tracing::info!(consultation_id, "backfill dropped: no longer followed here");
            }
            backfills::Entity::delete_by_id(consultation_id)
                .exec(&data.db)
                .await?;
            return Ok(());
        }
        Ok(Ran::Refused(note)) => {
            tracing::warn!(consultation_id, %note, "backfill given up");
            (FAILED, row.next_attempt_at, note)
        }
        // The consultation was deleted at its origin: nothing will ever be there to read.
        Err(err @ AppError::Gone(_)) => {
            tracing::warn!(consultation_id, error = %err, "backfill given up");
            (FAILED, row.next_attempt_at, err.to_string())
        }
        Err(err) if attempts >= federation.max_attempts => {
            tracing::warn!(consultation_id, attempts, error = %err, "backfill given up");
            (FAILED, row.next_attempt_at, err.to_string())
        }
        Err(err) => {
            let next = Utc::now() + delivery::retry_delay(federation, attempts);
            tracing::warn!(
                consultation_id,
                attempts,
                error = %err,
                %next,
                "backfill failed, will retry"
            );
            (PENDING, next, err.to_string())
        }
    };
    backfills::Entity::update_many()
        .col_expr(backfills::Column::Status, Expr::value(status))
        .col_expr(backfills::Column::Attempts, Expr::value(attempts))
        .col_expr(backfills::Column::NextAttemptAt, Expr::value(next))
        .col_expr(
            backfills::Column::LockedUntil,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .col_expr(backfills::Column::LastError, Expr::value(error))
        .filter(backfills::Column::ConsultationId.eq(consultation_id))
        .exec(&data.db)
        .await?;
    Ok(())
}

/// How much of an existing debate a new follower fetches: enough to show it, bounded so that a
/// collection that pages forever or a huge debate cannot keep the node busy.
const BACKFILL_PAGES: usize = 10;
const BACKFILL_ITEMS: usize = 300;

fn item_ids(page: &serde_json::Value) -> Vec<Url> {
    let items = page
        .get("orderedItems")
        .or_else(|| page.get("items"))
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default();
    items
        .iter()
        .filter_map(|item| match item {
            serde_json::Value::String(id) => Url::parse(id).ok(),
            other => other
                .get("id")
                .and_then(|v| v.as_str())
                .and_then(|id| Url::parse(id).ok()),
        })
        .collect()
}

fn link(page: &serde_json::Value, key: &str) -> Option<Url> {
    match page.get(key)? {
        serde_json::Value::String(url) => Url::parse(url).ok(),
        other => other
            .get("id")
            .and_then(|v| v.as_str())
            .and_then(|u| Url::parse(u).ok()),
    }
}

async fn backfill(data: &FedData, group: &DbGroup) -> AppResult<()> {
    use super::objects::{DbArgument, DbProposal};
    use super::sources::DbSource;
    use activitypub_federation::fetch::fetch_object_http;

    let collection = Url::parse(&format!("{}/context", group.ap_id))
        .map_err(|e| AppError::Internal(e.into()))?;
    let first = fetch_object_http::<AppState, serde_json::Value>(&collection, data)
        .await?
        .object;
    let mut ids = item_ids(&first);
    let mut next = link(&first, "first").or_else(|| link(&first, "next"));
    let mut pages = 1;
    while let Some(url) = next.take() {
        if pages >= BACKFILL_PAGES || ids.len() >= BACKFILL_ITEMS {
            break;
        }
        let page =
            fetch_object_http::<AppState, serde_json::Value>(&url, &data.reset_request_count())
                .await?
                .object;
        ids.extend(item_ids(&page));
        next = link(&page, "next");
        pages += 1;
    }
    ids.truncate(BACKFILL_ITEMS);
    // Proposals before their replies, whatever the collection's order: a reply's proposal is
    // never fetched on the reply's word, so it must be here first. Palabre's own ids say what
    // they are; other software's (Lemmy's `/post/1`) are asked for their type.
    let mut proposals = Vec::new();
    let mut replies = Vec::new();
    for id in ids {
        let is_proposal = if id.path().contains("/proposals/") {
            true
        } else if id.path().contains("/arguments/") || id.path().contains("/sources/") {
            false
        } else {
            fetch_object_http::<AppState, serde_json::Value>(&id, &data.reset_request_count())
                .await
                .is_ok_and(|fetched| fetched.object.get("type") == Some(&"Page".into()))
        };
        if is_proposal {
            proposals.push(id);
        } else {
            replies.push(id);
        }
    }
    for id in proposals {
        let fresh = data.reset_request_count();
        if let Err(err) = ObjectId::<DbProposal>::from(id.clone())
            .dereference(&fresh)
            .await
        {
            tracing::debug!(%id, error = %err, "backfill: proposal skipped");
        }
    }
    for id in replies {
        let fresh = data.reset_request_count();
        let outcome = if id.path().contains("/sources/") {
            ObjectId::<DbSource>::from(id.clone())
                .dereference(&fresh)
                .await
                .map(|_| ())
        } else {
            ObjectId::<DbArgument>::from(id.clone())
                .dereference(&fresh)
                .await
                .map(|_| ())
        };
        if let Err(err) = outcome {
            tracing::debug!(%id, error = %err, "backfill: reply skipped");
        }
    }
    Ok(())
}
