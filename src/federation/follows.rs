//! Following a consultation hosted on another node: resolve it (handle or URL), store it as a
//! mirror (`name@host`), send `Follow`; its `Announce`s then fill the mirror.
use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::fetch::webfinger::webfinger_resolve_actor;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
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

/// How much of an existing debate a new follower fetches: enough to show it, bounded so that a
/// collection that pages forever or a huge debate cannot keep the node busy.
const BACKFILL_PAGES: usize = 10;
const BACKFILL_ITEMS: usize = 300;

/// After our follow is accepted: fetches the consultation's existing proposals and arguments
/// from its `context` collection, in the background.
pub fn spawn_backfill(data: &FedData, group: DbGroup) {
    let data = data.reset_request_count();
    tokio::spawn(async move {
        if let Err(err) = backfill(&data, &group).await {
            tracing::warn!(consultation = %group.ap_id, error = %err, "backfill stopped");
        }
    });
}

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
