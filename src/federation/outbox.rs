//! A consultation's `outbox`: its latest proposals, as the Group's `Announce(Create(Page))`.
//!
//! Lemmy reads a community's outbox when one of its users first finds the community, to show
//! the posts that came before anyone there subscribed. It reads each item as the `Announce` the
//! community would have sent (0.19 `GroupOutbox.ordered_items: Vec<AnnounceActivity>`) and
//! drops the whole collection if one item is of another shape, so the outbox holds only
//! activities. Palabre nodes backfill from `/context` instead, which lists every contribution.
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{Value, json};

use super::FedData;
use super::actors::{DbGroup, DbPerson};
use super::objects::page_json;
use crate::error::AppResult;
use crate::store::{account, proposal};

/// Lemmy reads at most this many (`FETCH_LIMIT_MAX`); more would only be sent for nothing.
const OUTBOX_PROPOSALS: u64 = 50;

const AS_PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";

/// The outbox of a consultation hosted here, newest proposal first.
pub(super) async fn of_group(data: &FedData, group: &DbGroup) -> AppResult<Value> {
    // What blocked or suspended accounts wrote is hidden here, so not offered to others either.
    let policy = super::policy::Policy::load(&data.db).await?;
    let proposals = proposal::Entity::find()
        .filter(proposal::Column::ConsultationId.eq(group.model.id))
        .filter(proposal::Column::Hidden.eq(false))
        .filter(proposal::Column::Withdrawn.eq(false))
        .filter(policy.author_shown(proposal::Column::AuthorId))
        .order_by_desc(proposal::Column::Id)
        .limit(OUTBOX_PROPOSALS)
        .all(&data.db)
        .await?;
    let author_ids: Vec<i32> = proposals.iter().map(|p| p.author_id).collect();
    let authors = account::Entity::find()
        .filter(account::Column::Id.is_in(author_ids))
        .all(&data.db)
        .await?;
    let outbox = format!("{}/outbox", group.ap_id);
    let mut items = Vec::with_capacity(proposals.len());
    for proposal in &proposals {
        let Some(author) = authors.iter().find(|a| a.id == proposal.author_id) else {
            continue;
        };
        let page = page_json(data, proposal, author, &group.model)?;
        // Stable ids under the outbox: these activities are not stored, only rebuilt.
        let create = json!({
            "type": "Create",
            "id": format!("{outbox}/proposals/{}/create", proposal.id),
            "actor": DbPerson::new(data, author.clone())?.ap_id,
            "object": page,
            "to": [AS_PUBLIC, group.ap_id],
            "cc": [group.followers_url()],
            "audience": group.ap_id,
            "published": proposal.created_at,
        });
        items.push(json!({
            "type": "Announce",
            "id": format!("{outbox}/proposals/{}/announce", proposal.id),
            "actor": group.ap_id,
            "object": create,
            "to": [AS_PUBLIC],
            "cc": [group.followers_url()],
            "published": proposal.created_at,
        }));
    }
    Ok(json!({
        "type": "OrderedCollection",
        "id": outbox,
        "attributedTo": group.ap_id,
        "totalItems": items.len(),
        "orderedItems": items,
    }))
}
