//! Votes: one per person and proposal, changeable and withdrawable while the consultation is
//! open.
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::proposals::load_for_participation;
use super::refresh_tally;
use super::views::VoteCounts;
use crate::app::AppState;
use crate::domain::{Actor, VoteValue};
use crate::error::AppResult;
use crate::store::{proposal, vote};

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CastVote {
    pub value: VoteValue,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VoteResult {
    /// The caller's vote after the change (`null` once withdrawn).
    pub my_vote: Option<VoteValue>,
    /// The proposal's tallies after the change.
    pub votes: VoteCounts,
}

pub async fn own_vote(
    db: &impl ConnectionTrait,
    proposal_id: i32,
    account_id: i32,
) -> AppResult<Option<VoteValue>> {
    let found = vote::Entity::find()
        .filter(vote::Column::ProposalId.eq(proposal_id))
        .filter(vote::Column::AccountId.eq(account_id))
        .one(db)
        .await?;
    Ok(found.and_then(|v| VoteValue::parse(&v.value).ok()))
}

async fn tallies(db: &impl ConnectionTrait, proposal_id: i32) -> AppResult<VoteCounts> {
    let p = proposal::Entity::find_by_id(proposal_id).one(db).await?;
    Ok(p.map(|p| VoteCounts {
        agree: p.agree,
        mixed: p.mixed,
        disagree: p.disagree,
    })
    .unwrap_or_default())
}

/// Casts or changes the caller's vote. Voting the same way twice changes nothing.
pub async fn cast(
    state: &AppState,
    actor: &Actor,
    proposal_id: i32,
    value: VoteValue,
) -> AppResult<VoteResult> {
    let txn = state.db.begin().await?;
    let (_, consultation) = load_for_participation(&txn, proposal_id, actor).await?;
    super::proposals::ensure_hosted_here(&consultation)?;
    let existing = vote::Entity::find()
        .filter(vote::Column::ProposalId.eq(proposal_id))
        .filter(vote::Column::AccountId.eq(actor.account_id))
        .one(&txn)
        .await?;
    let now = Utc::now();
    match existing {
        Some(current) if current.value == value.as_str() => {}
        Some(current) => {
            let mut active: vote::ActiveModel = current.into();
            active.value = Set(value.as_str().to_owned());
            active.updated_at = Set(now);
            active.update(&txn).await?;
        }
        None => {
            vote::ActiveModel {
                proposal_id: Set(proposal_id),
                account_id: Set(actor.account_id),
                value: Set(value.as_str().to_owned()),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
        }
    }
    refresh_tally(&txn, proposal_id).await?;
    let votes = tallies(&txn, proposal_id).await?;
    txn.commit().await?;
    Ok(VoteResult {
        my_vote: Some(value),
        votes,
    })
}

pub async fn withdraw(state: &AppState, actor: &Actor, proposal_id: i32) -> AppResult<VoteResult> {
    let txn = state.db.begin().await?;
    let (_, consultation) = load_for_participation(&txn, proposal_id, actor).await?;
    super::proposals::ensure_hosted_here(&consultation)?;
    vote::Entity::delete_many()
        .filter(vote::Column::ProposalId.eq(proposal_id))
        .filter(vote::Column::AccountId.eq(actor.account_id))
        .exec(&txn)
        .await?;
    refresh_tally(&txn, proposal_id).await?;
    let votes = tallies(&txn, proposal_id).await?;
    txn.commit().await?;
    Ok(VoteResult {
        my_vote: None,
        votes,
    })
}
