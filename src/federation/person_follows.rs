//! People on other servers (Mastodon, say) following an account of this node: accepted at once,
//! and sent what the account writes here (`Create`/`Update`/`Delete` from the account itself, as
//! Mastodon expects from someone one follows).
use activitypub_federation::traits::{Actor, Object};
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
};
use serde_json::{Value, json};
use url::Url;

use super::actors::DbPerson;
use super::delivery::{self, Signer};
use super::{AS_PUBLIC, FedData};
use crate::app::AppState;
use crate::error::AppResult;
use crate::store::{account, account_follow};

/// The local account a URL names, if any.
pub async fn local_account(data: &FedData, id: &Url) -> AppResult<Option<DbPerson>> {
    Ok(DbPerson::read_from_id(id.clone(), data)
        .await?
        .filter(DbPerson::is_local))
}

/// Records the follow (once) and accepts it; `follow` is the activity as received.
pub async fn accept(
    data: &FedData,
    followed: &DbPerson,
    follower: &DbPerson,
    follow_id: &Url,
    follow: Value,
) -> AppResult<()> {
    let existing = account_follow::Entity::find()
        .filter(account_follow::Column::FollowerId.eq(follower.model.id))
        .filter(account_follow::Column::AccountId.eq(followed.model.id))
        .one(&data.db)
        .await?;
    if existing.is_none() {
        account_follow::ActiveModel {
            follower_id: Set(follower.model.id),
            account_id: Set(followed.model.id),
            activity_id: Set(follow_id.to_string()),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&data.db)
        .await?;
    }
    let id = super::new_activity_id(data, "accept")?;
    let accept = json!({
        "type": "Accept",
        "id": id,
        "actor": followed.ap_id,
        "object": follow,
    });
    delivery::enqueue(
        &data.db,
        &id,
        Signer::Account(followed.model.id),
        &accept,
        [follower.shared_inbox_or_inbox()],
    )
    .await
}

pub async fn undo(data: &FedData, followed: &DbPerson, follower: &DbPerson) -> AppResult<()> {
    account_follow::Entity::delete_many()
        .filter(account_follow::Column::FollowerId.eq(follower.model.id))
        .filter(account_follow::Column::AccountId.eq(followed.model.id))
        .exec(&data.db)
        .await?;
    Ok(())
}

pub async fn count(db: &impl ConnectionTrait, account_id: i32) -> AppResult<u64> {
    Ok(account_follow::Entity::find()
        .filter(account_follow::Column::AccountId.eq(account_id))
        .count(db)
        .await?)
}

/// Tells the followers of a local author about one of the author's contributions.
pub async fn tell_followers(
    db: &impl ConnectionTrait,
    state: &AppState,
    author: &account::Model,
    kind: &str,
    object: Value,
) -> AppResult<()> {
    if author.ap_id.is_some() {
        return Ok(());
    }
    let follows = account_follow::Entity::find()
        .filter(account_follow::Column::AccountId.eq(author.id))
        .all(db)
        .await?;
    if follows.is_empty() {
        return Ok(());
    }
    let ids: Vec<i32> = follows.iter().map(|f| f.follower_id).collect();
    let followers = account::Entity::find()
        .filter(account::Column::Id.is_in(ids))
        .all(db)
        .await?;
    let inboxes = followers
        .into_iter()
        .map(|a| Ok(DbPerson::new(state, a)?.shared_inbox_or_inbox()))
        .collect::<AppResult<Vec<Url>>>()?;
    let person = DbPerson::new(state, author.clone())?;
    let id = super::new_activity_id(state, &kind.to_lowercase())?;
    let activity = json!({
        "type": kind,
        "id": id,
        "actor": person.ap_id,
        "object": object,
        "to": [AS_PUBLIC],
        "cc": [format!("{}/followers", person.ap_id)],
    });
    delivery::enqueue(db, &id, Signer::Account(author.id), &activity, inboxes).await
}
