//! Use cases. Each one loads what it needs, asks `domain::` whether it is allowed, and writes in
//! one transaction. The web pages, the JSON API and the CLI all call these functions, so a rule
//! holds the same way whichever door a person comes through.
pub mod accounts;
pub mod backfills;
pub mod consultations;
pub mod contributions;
pub mod deliveries;
pub mod moderation;
pub mod proposals;
pub mod reports;
pub mod views;
pub mod votes;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

use crate::domain::{Stance, VoteValue};
use crate::error::{AppError, AppResult};
use crate::store::{argument, consultation, proposal, source, vote};

/// Text fields: trimmed, required, bounded, so that no one posts an empty proposal or a novel
/// in a title.
pub(crate) fn required_text(field: &str, raw: &str, max_chars: usize) -> AppResult<String> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(AppError::BadInput(format!("{field} must not be empty")));
    }
    if text.chars().count() > max_chars {
        return Err(AppError::BadInput(format!(
            "{field} must be at most {max_chars} characters long"
        )));
    }
    Ok(text.to_owned())
}

pub(crate) const TITLE_MAX: usize = 200;
pub(crate) const BODY_MAX: usize = 20_000;

/// Recounts a proposal's visible arguments, sources and votes and stores the counts on it.
/// Called in the same transaction as every change that can move them, so counts never drift
/// from the rows (hidden and withdrawn contributions do not count, nor what suspended or
/// blocked accounts and blocked servers wrote or voted: `federation::policy`).
pub(crate) async fn refresh_tally(db: &impl ConnectionTrait, proposal_id: i32) -> AppResult<()> {
    // Concurrent changes to one proposal recount one after the other: on PostgreSQL the row
    // lock orders them (the last to count sees every committed vote); SQLite already runs one
    // writer at a time. `FOR NO KEY UPDATE`, not `FOR UPDATE`: the insert of a vote or an
    // argument has already taken a key-share lock on this row (its foreign key), which
    // `FOR UPDATE` waits for, so two such transactions deadlocked (seen under load).
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        proposal::Entity::find_by_id(proposal_id)
            .lock(sea_orm::sea_query::LockType::NoKeyUpdate)
            .one(db)
            .await?;
    }
    let policy = crate::federation::policy::Policy::load(db).await?;
    let visible_arguments = |stance: Stance| {
        argument::Entity::find()
            .filter(argument::Column::ProposalId.eq(proposal_id))
            .filter(argument::Column::Stance.eq(stance.as_str()))
            .filter(argument::Column::Hidden.eq(false))
            .filter(argument::Column::Withdrawn.eq(false))
            .filter(policy.author_shown(argument::Column::AuthorId))
    };
    let votes_for = |value: VoteValue| {
        vote::Entity::find()
            .filter(vote::Column::ProposalId.eq(proposal_id))
            .filter(vote::Column::Value.eq(value.as_str()))
            .filter(policy.author_shown(vote::Column::AccountId))
    };
    let arguments_for = visible_arguments(Stance::For).count(db).await? as i32;
    let arguments_against = visible_arguments(Stance::Against).count(db).await? as i32;
    let source_count = source::Entity::find()
        .filter(source::Column::ProposalId.eq(proposal_id))
        .filter(source::Column::Hidden.eq(false))
        .filter(source::Column::Withdrawn.eq(false))
        .filter(policy.author_shown(source::Column::AuthorId))
        .count(db)
        .await? as i32;
    // Votes on a proposal of a mirrored consultation are counted by the consultation's origin,
    // which publishes the tallies; only consultations hosted here count their own vote rows.
    let mut mirrored = None;
    if let Some(p) = proposal::Entity::find_by_id(proposal_id).one(db).await?
        && let Some(c) = consultation::Entity::find_by_id(p.consultation_id)
            .one(db)
            .await?
        && c.ap_id.is_some()
    {
        mirrored = Some(p);
    }
    let (agree, mixed, disagree) = match &mirrored {
        Some(p) => (p.agree, p.mixed, p.disagree),
        None => (
            votes_for(VoteValue::Agree).count(db).await? as i32,
            votes_for(VoteValue::Mixed).count(db).await? as i32,
            votes_for(VoteValue::Disagree).count(db).await? as i32,
        ),
    };
    let set = |value: i32| Expr::value(value);
    proposal::Entity::update_many()
        .col_expr(proposal::Column::ArgumentsFor, set(arguments_for))
        .col_expr(proposal::Column::ArgumentsAgainst, set(arguments_against))
        .col_expr(
            proposal::Column::ArgumentCount,
            set(arguments_for + arguments_against),
        )
        .col_expr(proposal::Column::SourceCount, set(source_count))
        .col_expr(proposal::Column::Agree, set(agree))
        .col_expr(proposal::Column::Mixed, set(mixed))
        .col_expr(proposal::Column::Disagree, set(disagree))
        .col_expr(proposal::Column::VoteCount, set(agree + mixed + disagree))
        .filter(proposal::Column::Id.eq(proposal_id))
        .exec(db)
        .await?;
    Ok(())
}
