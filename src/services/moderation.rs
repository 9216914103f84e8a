//! Moderation and federation policy, as people change them: admins block or allow servers and
//! switch allow-list mode, moderators suspend accounts (admins also block remote ones), and
//! every such action is written to the audit log with who did it. What a rule *means* (who may
//! federate, whose content is hidden) is decided in one place, `federation::policy`; this module
//! only changes the rules, and recounts what they hide.
//!
//! The parts: `rules` changes the server rules and the federation mode, `accounts` suspends
//! and blocks accounts, `recount` brings the tallies in line after either. The audit log, which
//! every change writes to, is here.
use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::domain::Actor;
use crate::error::{AppError, AppResult};
use crate::store::{account, audit_log};

mod accounts;
mod recount;
mod rules;

pub use accounts::{AccountStatus, Scope, set_suspended};
pub use rules::{
    DomainRuleView, FederationOverview, describe_mode, overview, partner_count, remove_domain_rule,
    set_domain_rule, set_mode,
};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i32,
    /// The username of the moderator or admin who acted; `null` for the command line.
    pub actor: Option<String>,
    /// `hide`, `unhide`, `suspend`, `unsuspend`, `block_account`, `unblock_account`,
    /// `block_domain`, `unblock_domain`, `allow_domain`, `disallow_domain`, `federation_mode`,
    /// `verify`, `unverify`.
    pub action: String,
    /// What it was done to: a URL, a username, a server or the mode.
    pub target: String,
    /// The reason given, or the new value.
    pub detail: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// 1 to 500, default 100.
    pub limit: Option<u64>,
    /// Only entries older than this id (the `id` of the last entry of the previous page).
    pub before: Option<i32>,
}

fn optional_reason(reason: Option<&str>) -> AppResult<Option<String>> {
    match reason.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => Ok(Some(super::required_text("reason", text, 1000)?)),
    }
}

/// Writes one line of the audit log, in the caller's transaction: the action and its record
/// are stored together or not at all. `actor` is `None` for the command line.
pub(crate) async fn audit(
    db: &impl ConnectionTrait,
    actor: Option<i32>,
    action: &str,
    target: &str,
    detail: Option<&str>,
) -> AppResult<()> {
    audit_log::ActiveModel {
        actor_id: Set(actor),
        action: Set(action.to_owned()),
        target: Set(target.to_owned()),
        detail: Set(detail.map(str::to_owned)),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Records a change of verification badge in the audit log (`verify` with the label, or
/// `unverify`) and hands the account back, so that `accounts::set_verified` needs one line.
pub(crate) async fn verification_changed(
    db: &impl ConnectionTrait,
    actor: Option<&Actor>,
    account: account::Model,
) -> AppResult<account::Model> {
    let action = match account.verified_label {
        Some(_) => "verify",
        None => "unverify",
    };
    audit(
        db,
        actor.map(|a| a.account_id),
        action,
        &account.username,
        account.verified_label.as_deref(),
    )
    .await?;
    Ok(account)
}

/// Admins only; `None` is the command line, run by whoever runs the node.
fn ensure_admin(actor: Option<&Actor>) -> AppResult<()> {
    match actor {
        Some(actor) => actor.ensure_organiser(),
        None => Ok(()),
    }
}

/// The audit log, newest first (moderators and admins).
pub async fn audit_log(
    state: &AppState,
    actor: &Actor,
    query: &AuditQuery,
) -> AppResult<Vec<AuditEntry>> {
    actor.ensure_moderator()?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(AppError::BadInput("limit must be between 1 and 500".into()));
    }
    let mut select = audit_log::Entity::find();
    if let Some(before) = query.before {
        select = select.filter(audit_log::Column::Id.lt(before));
    }
    let rows = select
        .order_by_desc(audit_log::Column::Id)
        .limit(limit)
        .all(&state.db)
        .await?;
    let ids: BTreeSet<i32> = rows.iter().filter_map(|r| r.actor_id).collect();
    let names: std::collections::HashMap<i32, String> = account::Entity::find()
        .filter(account::Column::Id.is_in(ids))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|a| (a.id, a.username))
        .collect();
    Ok(rows
        .into_iter()
        .map(|row| AuditEntry {
            id: row.id,
            actor: row.actor_id.and_then(|id| names.get(&id).cloned()),
            action: row.action,
            target: row.target,
            detail: row.detail,
            created_at: row.created_at,
        })
        .collect())
}
