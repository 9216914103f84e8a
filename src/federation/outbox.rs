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
use super::objects::{page_json, url};
use super::policy::Policy;
use super::publish::{author_create, group_activity};
use crate::error::AppResult;
use crate::store::{account, proposal};

/// Lemmy reads at most this many (`FETCH_LIMIT_MAX`); more would only be sent for nothing.
const OUTBOX_PROPOSALS: u64 = 50;

/// The newest visible proposals of a consultation, at most `limit`. What blocked or suspended
/// accounts wrote is hidden here, so not offered to others either.
pub(super) async fn visible_proposals(
    data: &FedData,
    policy: &Policy,
    consultation_id: i32,
    limit: u64,
) -> AppResult<Vec<proposal::Model>> {
    Ok(proposal::Entity::find()
        .filter(proposal::Column::ConsultationId.eq(consultation_id))
        .filter(proposal::Column::Hidden.eq(false))
        .filter(proposal::Column::Withdrawn.eq(false))
        .filter(policy.author_shown(proposal::Column::AuthorId))
        .order_by_desc(proposal::Column::Id)
        .limit(limit)
        .all(&data.db)
        .await?)
}

/// The outbox of a consultation hosted here, newest proposal first.
pub(super) async fn of_group(data: &FedData, group: &DbGroup) -> AppResult<Value> {
    let policy = Policy::load(&data.db).await?;
    let proposals = visible_proposals(data, &policy, group.model.id, OUTBOX_PROPOSALS).await?;
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
        let page = serde_json::to_value(page_json(data, proposal, author, &group.model)?)
            .map_err(anyhow::Error::from)?;
        // Stable ids under the outbox: these activities are not stored, only rebuilt.
        let activity_id = |what: &str| url(&format!("{outbox}/proposals/{}/{what}", proposal.id));
        let author_id = DbPerson::new(data, author.clone())?.ap_id;
        let mut create = author_create(group, &author_id, &activity_id("create")?, page);
        create["published"] = json!(proposal.created_at);
        let mut announce = group_activity(group, "Announce", &activity_id("announce")?, create);
        announce["published"] = json!(proposal.created_at);
        items.push(announce);
    }
    Ok(json!({
        "type": "OrderedCollection",
        "id": outbox,
        "attributedTo": group.ap_id,
        "totalItems": items.len(),
        "orderedItems": items,
    }))
}
