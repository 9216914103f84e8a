//! Tallies after a rule change: suspending an account or blocking a server hides what it wrote
//! and voted at once, so the proposals it touched are recounted in the same transaction.
use std::collections::BTreeSet;

use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::app::AppState;
use crate::error::AppResult;
use crate::federation::policy::Policy;
use crate::federation::publish::{self, Changed};
use crate::services::refresh_tally;
use crate::store::{account, argument, consultation, proposal, source, vote};

/// Recounts the proposals that the accounts matching `accounts` argued on, backed with sources
/// or voted on: a rule change shows or hides what they did, and counts must follow at once.
/// Proposals of consultations hosted here whose tallies moved tell their followers (the
/// Group's `Update`), as after any vote.
pub(super) async fn recount(
    db: &impl ConnectionTrait,
    state: &AppState,
    accounts: Condition,
) -> AppResult<()> {
    let ids = || {
        Query::select()
            .column(account::Column::Id)
            .from(account::Entity)
            .cond_where(accounts.clone())
            .to_owned()
    };
    let mut proposals: BTreeSet<i32> = BTreeSet::new();
    proposals.extend(
        vote::Entity::find()
            .select_only()
            .column(vote::Column::ProposalId)
            .filter(vote::Column::AccountId.in_subquery(ids()))
            .into_tuple::<i32>()
            .all(db)
            .await?,
    );
    proposals.extend(
        argument::Entity::find()
            .select_only()
            .column(argument::Column::ProposalId)
            .filter(argument::Column::AuthorId.in_subquery(ids()))
            .into_tuple::<i32>()
            .all(db)
            .await?,
    );
    proposals.extend(
        source::Entity::find()
            .select_only()
            .column(source::Column::ProposalId)
            .filter(source::Column::AuthorId.in_subquery(ids()))
            .into_tuple::<i32>()
            .all(db)
            .await?,
    );
    let policy = Policy::load(db).await?;
    for id in proposals {
        let Some(before) = proposal::Entity::find_by_id(id).one(db).await? else {
            continue;
        };
        refresh_tally(db, id).await?;
        let Some(after) = proposal::Entity::find_by_id(id).one(db).await? else {
            continue;
        };
        let moved = (
            before.agree,
            before.mixed,
            before.disagree,
            before.argument_count,
        ) != (
            after.agree,
            after.mixed,
            after.disagree,
            after.argument_count,
        ) || before.source_count != after.source_count;
        let hosted_here = consultation::Entity::find_by_id(after.consultation_id)
            .one(db)
            .await?
            .is_some_and(|c| c.ap_id.is_none());
        // A proposal whose own author is hidden is not announced again.
        let author_shown = account::Entity::find_by_id(after.author_id)
            .filter(policy.author_shown(account::Column::Id))
            .one(db)
            .await?
            .is_some();
        if moved && hosted_here && author_shown && !after.hidden && !after.withdrawn {
            publish::updated(db, state, Changed::Proposal(id)).await?;
        }
    }
    Ok(())
}
