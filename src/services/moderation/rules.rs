//! The server rules (blocked servers, partner servers) and the federation mode, as admins change
//! them, and the overview moderators read them in.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::accounts::{AccountStatus, status};
use super::recount::recount;
use super::{audit, ensure_admin, optional_reason};
use crate::app::AppState;
use crate::domain::Actor;
use crate::error::{AppError, AppResult};
use crate::federation::policy::{
    DomainPolicy, FederationMode, MODE_KEY, Policy, ids_on_server, normalize_domain,
};
use crate::store::{account, instance_policy, node_setting};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DomainRuleView {
    /// The server's host, with its port when it has one.
    pub domain: String,
    pub policy: DomainPolicy,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FederationOverview {
    pub mode: FederationMode,
    /// Blocked servers and partner servers.
    pub domains: Vec<DomainRuleView>,
    /// Suspended local accounts and blocked remote ones.
    pub suspended_accounts: Vec<AccountStatus>,
}

fn to_view(row: instance_policy::Model) -> DomainRuleView {
    DomainRuleView {
        policy: DomainPolicy::parse(&row.policy).unwrap_or(DomainPolicy::Block),
        domain: row.domain,
        reason: row.reason,
        created_at: row.created_at,
    }
}

/// The mode, the server rules and the suspended accounts (moderators and admins).
pub async fn overview(state: &AppState, actor: Option<&Actor>) -> AppResult<FederationOverview> {
    if let Some(actor) = actor {
        actor.ensure_moderator()?;
    }
    let policy = Policy::load(&state.db).await?;
    let domains = instance_policy::Entity::find()
        .order_by_asc(instance_policy::Column::Domain)
        .all(&state.db)
        .await?
        .into_iter()
        .map(to_view)
        .collect();
    let suspended_accounts = account::Entity::find()
        .filter(account::Column::SuspendedAt.is_not_null())
        .order_by_asc(account::Column::Username)
        .all(&state.db)
        .await?
        .iter()
        .map(status)
        .collect();
    Ok(FederationOverview {
        mode: policy.mode,
        domains,
        suspended_accounts,
    })
}

/// Blocks a server, or lists it as a partner (admins). A server has one rule: blocking a
/// partner replaces its `allow`, and the other way round.
pub async fn set_domain_rule(
    state: &AppState,
    actor: Option<&Actor>,
    raw_domain: &str,
    rule: DomainPolicy,
    reason: Option<&str>,
) -> AppResult<DomainRuleView> {
    ensure_admin(actor)?;
    let domain = normalize_domain(raw_domain)?;
    if domain == state.settings.domain() {
        return Err(AppError::BadInput(format!(
            "{domain} is this node's own domain"
        )));
    }
    let reason = optional_reason(reason)?;
    let txn = crate::store::begin_write(&state.db).await?;
    let existing = instance_policy::Entity::find_by_id(domain.clone())
        .one(&txn)
        .await?;
    let row = match existing {
        Some(row) => {
            let changed = row.policy != rule.as_str();
            let mut active: instance_policy::ActiveModel = row.into();
            active.policy = Set(rule.as_str().to_owned());
            active.reason = Set(reason.clone());
            if changed {
                active.created_at = Set(Utc::now());
            }
            active.update(&txn).await?
        }
        None => {
            instance_policy::ActiveModel {
                domain: Set(domain.clone()),
                policy: Set(rule.as_str().to_owned()),
                reason: Set(reason.clone()),
                created_at: Set(Utc::now()),
            }
            .insert(&txn)
            .await?
        }
    };
    let action = match rule {
        DomainPolicy::Block => "block_domain",
        DomainPolicy::Allow => "allow_domain",
    };
    audit(
        &txn,
        actor.map(|a| a.account_id),
        action,
        &domain,
        reason.as_deref(),
    )
    .await?;
    recount(&txn, state, ids_on_server(account::Column::ApId, &domain)).await?;
    txn.commit().await?;
    Ok(to_view(row))
}

/// Lifts a server's `block` (`unblock-domain`) or `allow` (`disallow-domain`) rule, or
/// whichever it has with `None` (admins). A server without that rule is an error: the name was
/// probably mistyped.
pub async fn remove_domain_rule(
    state: &AppState,
    actor: Option<&Actor>,
    raw_domain: &str,
    rule: Option<DomainPolicy>,
) -> AppResult<String> {
    ensure_admin(actor)?;
    let domain = normalize_domain(raw_domain)?;
    let txn = crate::store::begin_write(&state.db).await?;
    let existing = instance_policy::Entity::find_by_id(domain.clone())
        .one(&txn)
        .await?
        .and_then(|row| DomainPolicy::parse(&row.policy))
        .filter(|found| rule.is_none_or(|wanted| wanted == *found));
    let Some(removed) = existing else {
        let what = match rule {
            Some(DomainPolicy::Block) => "blocked",
            Some(DomainPolicy::Allow) => "a partner server",
            None => "blocked nor a partner server",
        };
        return Err(AppError::NotFound(format!("{domain} is not {what}")));
    };
    instance_policy::Entity::delete_by_id(domain.clone())
        .exec(&txn)
        .await?;
    let action = match removed {
        DomainPolicy::Block => "unblock_domain",
        DomainPolicy::Allow => "disallow_domain",
    };
    audit(&txn, actor.map(|a| a.account_id), action, &domain, None).await?;
    recount(&txn, state, ids_on_server(account::Column::ApId, &domain)).await?;
    txn.commit().await?;
    Ok(domain)
}

/// Open federation, or allow-list mode (partners only) (admins).
pub async fn set_mode(
    state: &AppState,
    actor: Option<&Actor>,
    mode: FederationMode,
) -> AppResult<FederationMode> {
    ensure_admin(actor)?;
    let txn = crate::store::begin_write(&state.db).await?;
    let previous = Policy::load(&txn).await?.mode;
    match node_setting::Entity::find_by_id(MODE_KEY.to_owned())
        .one(&txn)
        .await?
    {
        Some(row) => {
            let mut active: node_setting::ActiveModel = row.into();
            active.value = Set(mode.as_str().to_owned());
            active.update(&txn).await?;
        }
        None => {
            node_setting::ActiveModel {
                key: Set(MODE_KEY.to_owned()),
                value: Set(mode.as_str().to_owned()),
            }
            .insert(&txn)
            .await?;
        }
    }
    audit(
        &txn,
        actor.map(|a| a.account_id),
        "federation_mode",
        MODE_KEY,
        Some(mode.as_str()),
    )
    .await?;
    if previous != mode {
        // Every remote account may have changed sides.
        recount(
            &txn,
            state,
            Condition::all().add(account::Column::ApId.is_not_null()),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(mode)
}

/// The number of partner servers (allow-list mode with none federates with nobody).
pub async fn partner_count(state: &AppState) -> AppResult<usize> {
    Ok(instance_policy::Entity::find()
        .filter(instance_policy::Column::Policy.eq(DomainPolicy::Allow.as_str()))
        .all(&state.db)
        .await?
        .len())
}

/// The policy as the command line prints it.
pub fn describe_mode(mode: FederationMode, partners: usize) -> String {
    match (mode, partners) {
        (FederationMode::Open, _) => {
            "open: this node federates with every server that is not blocked".into()
        }
        (FederationMode::Allowlist, 0) => {
            "allowlist: this node federates only with partner servers, and none is listed yet \
             (palabre admin allow-domain HOST)"
                .into()
        }
        (FederationMode::Allowlist, n) => format!(
            "allowlist: this node federates only with its {n} partner server{}",
            if n == 1 { "" } else { "s" }
        ),
    }
}
