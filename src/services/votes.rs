//! Votes: one per person and proposal, changeable and withdrawable while the consultation is
//! open.
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::proposals::load_for_participation;
use super::refresh_tally;
use super::views::VoteCounts;
use crate::app::AppState;
use crate::domain::{Actor, VoteValue};
use crate::error::AppResult;
use crate::federation::publish::Changed;
use crate::federation::{publish, votes};
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

/// Casts or changes the caller's vote. Voting the same way twice changes nothing. On a
/// consultation hosted elsewhere the vote is kept here (to show the caller's choice) and sent
/// to the origin, which alone counts it; the tallies shown are the origin's.
pub async fn cast(
    state: &AppState,
    actor: &Actor,
    proposal_id: i32,
    value: VoteValue,
) -> AppResult<VoteResult> {
    // Two requests of one person at once both find no vote and both insert: the database's
    // one-vote-per-person index refuses the second, which then runs again and sees the first.
    for _ in 0..2 {
        match cast_once(state, actor, proposal_id, value).await {
            Err(err) if err.is_unique_violation() => continue,
            other => return other,
        }
    }
    cast_once(state, actor, proposal_id, value).await
}

async fn cast_once(
    state: &AppState,
    actor: &Actor,
    proposal_id: i32,
    value: VoteValue,
) -> AppResult<VoteResult> {
    let txn = crate::store::begin_write(&state.db).await?;
    let (_, consultation) = load_for_participation(&txn, proposal_id, actor).await?;
    let existing = vote::Entity::find()
        .filter(vote::Column::ProposalId.eq(proposal_id))
        .filter(vote::Column::AccountId.eq(actor.account_id))
        .one(&txn)
        .await?;
    let now = Utc::now();
    let (previous, current) = match existing {
        Some(current) if current.value == value.as_str() => {
            txn.commit().await?;
            return Ok(VoteResult {
                my_vote: Some(value),
                votes: tallies(&state.db, proposal_id).await?,
            });
        }
        Some(current) => {
            let previous = current.clone();
            let mut active: vote::ActiveModel = current.into();
            active.value = Set(value.as_str().to_owned());
            active.updated_at = Set(now);
            (Some(previous), active.update(&txn).await?)
        }
        None => {
            let row = vote::ActiveModel {
                proposal_id: Set(proposal_id),
                account_id: Set(actor.account_id),
                value: Set(value.as_str().to_owned()),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
            (None, row)
        }
    };
    if consultation.ap_id.is_some() {
        votes::send_vote(&txn, state, previous.as_ref(), Some(&current)).await?;
    } else {
        refresh_tally(&txn, proposal_id).await?;
        publish::updated(&txn, state, Changed::Proposal(proposal_id)).await?;
    }
    let votes = tallies(&txn, proposal_id).await?;
    txn.commit().await?;
    Ok(VoteResult {
        my_vote: Some(value),
        votes,
    })
}

pub async fn withdraw(state: &AppState, actor: &Actor, proposal_id: i32) -> AppResult<VoteResult> {
    let txn = crate::store::begin_write(&state.db).await?;
    let (_, consultation) = load_for_participation(&txn, proposal_id, actor).await?;
    let existing = vote::Entity::find()
        .filter(vote::Column::ProposalId.eq(proposal_id))
        .filter(vote::Column::AccountId.eq(actor.account_id))
        .one(&txn)
        .await?;
    if let Some(row) = &existing {
        vote::Entity::delete_by_id(row.id).exec(&txn).await?;
        if consultation.ap_id.is_some() {
            votes::send_vote(&txn, state, Some(row), None).await?;
        } else {
            refresh_tally(&txn, proposal_id).await?;
            publish::updated(&txn, state, Changed::Proposal(proposal_id)).await?;
        }
    }
    let votes = tallies(&txn, proposal_id).await?;
    txn.commit().await?;
    Ok(VoteResult {
        my_vote: None,
        votes,
    })
}
