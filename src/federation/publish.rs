//! What a change to a contribution sends, and to whom. Called by `services::` (and the inbox)
//! inside the transaction of the change itself, so a contribution and its activities are
//! stored together or not at all (the delivery queue is an outbox).
//!
//! One routing rule for every change: in a consultation hosted here, its Group tells the
//! followers (`Announce(Create)`, `Update`, `Delete`); in a consultation hosted elsewhere, the
//! author of a contribution written here tells that consultation's node (`Create`, `Update`,
//! `Delete`), which applies its rules and relays.
use activitypub_federation::traits::Actor;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use url::Url;

use super::AS_PUBLIC;
use super::actors::{DbGroup, DbPerson};
use super::comments::{DbComment, comment_json};
use super::delivery::{self, Signer};
use super::objects::{DbArgument, DbProposal, note_json, page_json};
use super::sources::{DbSource, source_json};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::store::{account, argument, comment, consultation, follow, proposal, source};

/// Which contribution changed.
#[derive(Debug, Clone, Copy)]
pub enum Changed {
    Proposal(i32),
    Argument(i32),
    Source(i32),
    Comment(i32),
}

/// The inboxes of a local consultation's accepted followers, shared inboxes preferred.
pub(crate) async fn follower_inboxes(
    db: &impl ConnectionTrait,
    state: &AppState,
    consultation_id: i32,
) -> AppResult<Vec<Url>> {
    let follows = follow::Entity::find()
        .filter(follow::Column::ConsultationId.eq(consultation_id))
        .filter(follow::Column::State.eq("accepted"))
        .all(db)
        .await?;
    let ids: Vec<i32> = follows.iter().map(|f| f.follower_id).collect();
    let followers = account::Entity::find()
        .filter(account::Column::Id.is_in(ids))
        .filter(account::Column::ApId.is_not_null())
        .all(db)
        .await?;
    followers
        .into_iter()
        .map(|a| Ok(DbPerson::new(state, a)?.shared_inbox_or_inbox()))
        .collect()
}

/// A contribution as it federates: its JSON, its id, its author and its consultation.
struct Loaded {
    json: Value,
    id: Url,
    author: account::Model,
    group: consultation::Model,
    written_here: bool,
    /// Neither it nor its proposal is hidden or withdrawn: edits of what moderators hid are
    /// never relayed.
    visible: bool,
}

async fn find<E: EntityTrait>(db: &impl ConnectionTrait, id: i32, what: &str) -> AppResult<E::Model>
where
    <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<i32>,
{
    E::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound(what.into()))
}

async fn load(db: &impl ConnectionTrait, state: &AppState, changed: Changed) -> AppResult<Loaded> {
    let to_json = |v: Result<Value, serde_json::Error>| v.map_err(anyhow::Error::from);
    let (proposal_id, author_id) = match changed {
        Changed::Proposal(id) => {
            let p = find::<proposal::Entity>(db, id, "proposal").await?;
            (p.id, p.author_id)
        }
        Changed::Argument(id) => {
            let a = find::<argument::Entity>(db, id, "argument").await?;
            (a.proposal_id, a.author_id)
        }
        Changed::Source(id) => {
            let s = find::<source::Entity>(db, id, "source").await?;
            (s.proposal_id, s.author_id)
        }
        Changed::Comment(id) => {
            let c = find::<comment::Entity>(db, id, "comment").await?;
            (c.proposal_id, c.author_id)
        }
    };
    let (author, proposal, group) = super::locate::parts(db, author_id, proposal_id).await?;
    let proposal_visible = !proposal.hidden && !proposal.withdrawn;
    let (json, id, written_here, own_visible) = match changed {
        Changed::Proposal(_) => (
            to_json(serde_json::to_value(page_json(
                state, &proposal, &author, &group,
            )?))?,
            DbProposal::new(state, proposal.clone())?.ap_id,
            proposal.ap_id.is_none(),
            true,
        ),
        Changed::Argument(id) => {
            let a = find::<argument::Entity>(db, id, "argument").await?;
            let json = note_json(state, &a, &author, &proposal, &group)?;
            (
                to_json(serde_json::to_value(json))?,
                DbArgument::new(state, a.clone())?.ap_id,
                a.ap_id.is_none(),
                !a.hidden && !a.withdrawn,
            )
        }
        Changed::Source(id) => {
            let s = find::<source::Entity>(db, id, "source").await?;
            let json = source_json(state, &s, &author, &proposal, &group)?;
            (
                to_json(serde_json::to_value(json))?,
                DbSource::new(state, s.clone())?.ap_id,
                s.ap_id.is_none(),
                !s.hidden && !s.withdrawn,
            )
        }
        Changed::Comment(id) => {
            let c = find::<comment::Entity>(db, id, "comment").await?;
            let json = comment_json(state, &c, &author, &proposal, &group)?;
            (
                to_json(serde_json::to_value(json))?,
                DbComment::new(state, c.clone())?.ap_id,
                c.ap_id.is_none(),
                !c.hidden && !c.withdrawn,
            )
        }
    };
    Ok(Loaded {
        json,
        id,
        author,
        group,
        written_here,
        visible: proposal_visible && own_visible,
    })
}

/// From the author of a contribution written here to the Group of the consultation hosted
/// elsewhere that it belongs to.
async fn author_to_origin(
    db: &impl ConnectionTrait,
    state: &AppState,
    loaded: &Loaded,
    kind: &str,
    object: Value,
) -> AppResult<()> {
    let group = DbGroup::new(state, loaded.group.clone())?;
    let author_id = DbPerson::new(state, loaded.author.clone())?.ap_id;
    let id = super::new_activity_id(state, &kind.to_lowercase())?;
    let activity = json!({
        "type": kind,
        "id": id,
        "actor": author_id,
        "object": object,
        "to": [group.ap_id, AS_PUBLIC],
        "cc": [group.followers_url()],
    });
    let inbox = group.inbox();
    delivery::enqueue(
        db,
        &id,
        Signer::Account(loaded.author.id),
        &activity,
        [inbox],
    )
    .await
}

/// From a consultation hosted here to its followers.
async fn group_to_followers(
    db: &impl ConnectionTrait,
    state: &AppState,
    group: &consultation::Model,
    kind: &str,
    object: Value,
) -> AppResult<()> {
    let inboxes = follower_inboxes(db, state, group.id).await?;
    if inboxes.is_empty() {
        return Ok(());
    }
    let actor = DbGroup::new(state, group.clone())?;
    let id = super::new_activity_id(state, &kind.to_lowercase())?;
    let activity = group_activity(&actor, kind, &id, object);
    delivery::enqueue(db, &id, Signer::Consultation(group.id), &activity, inboxes).await
}

/// An activity of a consultation hosted here, addressed to the public and its followers.
pub(crate) fn group_activity(group: &DbGroup, kind: &str, id: &Url, object: Value) -> Value {
    json!({
        "type": kind,
        "id": id,
        "actor": group.ap_id,
        "object": object,
        "to": [AS_PUBLIC],
        "cc": [group.followers_url()],
    })
}

/// The author's `Create` of a contribution to `group`, as the Group announces it (FEP-1b12).
pub(crate) fn author_create(group: &DbGroup, author: &Url, id: &Url, object: Value) -> Value {
    json!({
        "type": "Create",
        "id": id,
        "actor": author,
        "object": object,
        "to": [AS_PUBLIC, group.ap_id],
        "cc": [group.followers_url()],
    })
}

/// A new contribution: the Group announces the author's `Create` (FEP-1b12), or the author
/// sends it to the consultation's own node.
pub async fn created(
    db: &impl ConnectionTrait,
    state: &AppState,
    changed: Changed,
) -> AppResult<()> {
    let loaded = load(db, state, changed).await?;
    // Hidden or withdrawn (its proposal too) by the time it is announced: a Create sent again
    // for it (`announce_if_lost`) must not show it to followers.
    if !loaded.visible {
        return Ok(());
    }
    if loaded.group.ap_id.is_some() {
        if loaded.written_here {
            author_to_origin(db, state, &loaded, "Create", loaded.json.clone()).await?;
            return author_followers(db, state, &loaded, "Create", loaded.json.clone()).await;
        }
        return Ok(());
    }
    let group = DbGroup::new(state, loaded.group.clone())?;
    let author_id = DbPerson::new(state, loaded.author.clone())?.ap_id;
    let id = super::new_activity_id(state, "create")?;
    let create = author_create(&group, &author_id, &id, loaded.json.clone());
    group_to_followers(db, state, &loaded.group, "Announce", create).await?;
    for_microblogs(db, state, changed, &loaded, "Create").await?;
    author_followers(db, state, &loaded, "Create", loaded.json.clone()).await
}

/// People elsewhere who follow the author (from Mastodon, say) see what the author writes
/// here, whichever consultation it is in.
async fn author_followers(
    db: &impl ConnectionTrait,
    state: &AppState,
    loaded: &Loaded,
    kind: &str,
    object: Value,
) -> AppResult<()> {
    if !loaded.written_here {
        return Ok(());
    }
    super::person_follows::tell_followers(db, state, &loaded.author, kind, object).await
}

/// The polls of a local consultation whose dates changed: Mastodon closes a poll at its
/// `endTime`, so closing early (or reopening) must reach every poll.
pub(crate) async fn polls_changed(
    db: &impl ConnectionTrait,
    state: &AppState,
    consultation_id: i32,
) -> AppResult<()> {
    let visible = proposal::Entity::find()
        .filter(proposal::Column::ConsultationId.eq(consultation_id))
        .filter(proposal::Column::Hidden.eq(false))
        .filter(proposal::Column::Withdrawn.eq(false))
        .all(db)
        .await?;
    for proposal in visible {
        if let Some((question, group)) = super::poll::for_activity(db, state, proposal.id).await? {
            group_to_followers(db, state, &group, "Update", question).await?;
        }
    }
    Ok(())
}

/// What Mastodon-like servers can show, next to what Palabre and Lemmy read: a proposal's
/// poll (`Create`/`Update`/`Delete` of its `Question`, by the Group), and replies announced
/// as bare objects (Mastodon cannot process `Announce(Create)`). FEDERATION.md explains.
async fn for_microblogs(
    db: &impl ConnectionTrait,
    state: &AppState,
    changed: Changed,
    loaded: &Loaded,
    kind: &str,
) -> AppResult<()> {
    match changed {
        Changed::Proposal(id) => {
            let Some((question, group)) = super::poll::for_activity(db, state, id).await? else {
                return Ok(());
            };
            let object = if kind == "Delete" {
                json!({"type": "Tombstone", "id": question["id"]})
            } else {
                question
            };
            group_to_followers(db, state, &group, kind, object).await
        }
        _ if kind == "Create" => {
            group_to_followers(db, state, &loaded.group, "Announce", loaded.json.clone()).await
        }
        _ => Ok(()),
    }
}

/// A contribution as it federates now: tells an edit that changes something from an `Update`
/// resent unchanged, which is not relayed again.
pub(crate) async fn federated_json(
    db: &impl ConnectionTrait,
    state: &AppState,
    changed: Changed,
) -> AppResult<Value> {
    let mut json = load(db, state, changed).await?.json;
    // A new date alone changes nothing anyone sees.
    if let Value::Object(map) = &mut json {
        map.remove("updated");
    }
    Ok(json)
}

/// An edit, new tallies or an official answer: the new version of the contribution.
pub async fn updated(
    db: &impl ConnectionTrait,
    state: &AppState,
    changed: Changed,
) -> AppResult<()> {
    let loaded = load(db, state, changed).await?;
    if !loaded.visible {
        return Ok(());
    }
    if loaded.group.ap_id.is_some() {
        if loaded.written_here {
            author_to_origin(db, state, &loaded, "Update", loaded.json.clone()).await?;
            return author_followers(db, state, &loaded, "Update", loaded.json.clone()).await;
        }
        return Ok(());
    }
    group_to_followers(db, state, &loaded.group, "Update", loaded.json.clone()).await?;
    for_lemmy(db, state, &loaded, "Update", loaded.json.clone()).await?;
    for_microblogs(db, state, changed, &loaded, "Update").await?;
    author_followers(db, state, &loaded, "Update", loaded.json.clone()).await
}

/// Lemmy takes an `Update` or `Delete` only from a person (the author), relayed by the
/// community's `Announce`, as its own communities do; Palabre nodes read the Group's own
/// activity and ignore this one.
async fn for_lemmy(
    db: &impl ConnectionTrait,
    state: &AppState,
    loaded: &Loaded,
    kind: &str,
    object: Value,
) -> AppResult<()> {
    let group = DbGroup::new(state, loaded.group.clone())?;
    let author = DbPerson::new(state, loaded.author.clone())?;
    let object = if kind == "Delete" {
        json!(loaded.id)
    } else {
        object
    };
    let inner = json!({
        "type": kind,
        "id": super::new_activity_id(state, &kind.to_lowercase())?,
        "actor": author.ap_id,
        "object": object,
        "to": [AS_PUBLIC],
        "cc": [group.ap_id],
        "audience": group.ap_id,
    });
    group_to_followers(db, state, &loaded.group, "Announce", inner).await
}

/// A contribution written here that the consultation's origin refused (`Reject`: closed, or
/// not open to it): it is withdrawn here, and the author's followers elsewhere, who saw its
/// `Create`, get a `Delete`. The origin, which refused it, is not told again.
pub async fn refused(
    db: &impl ConnectionTrait,
    state: &AppState,
    changed: Changed,
) -> AppResult<()> {
    let loaded = load(db, state, changed).await?;
    let tombstone = json!({"type": "Tombstone", "id": loaded.id});
    author_followers(db, state, &loaded, "Delete", tombstone).await
}

/// A withdrawal, or hiding by the moderators of the consultation's own node: a `Tombstone`.
pub async fn deleted(
    db: &impl ConnectionTrait,
    state: &AppState,
    changed: Changed,
) -> AppResult<()> {
    let loaded = load(db, state, changed).await?;
    let tombstone = json!({"type": "Tombstone", "id": loaded.id});
    if loaded.group.ap_id.is_some() {
        if loaded.written_here {
            author_to_origin(db, state, &loaded, "Delete", tombstone.clone()).await?;
            return author_followers(db, state, &loaded, "Delete", tombstone).await;
        }
        return Ok(());
    }
    group_to_followers(db, state, &loaded.group, "Delete", tombstone.clone()).await?;
    for_lemmy(db, state, &loaded, "Delete", tombstone.clone()).await?;
    for_microblogs(db, state, changed, &loaded, "Delete").await?;
    author_followers(db, state, &loaded, "Delete", tombstone).await
}
