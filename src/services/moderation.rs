//! Moderation and federation policy, as people change them: admins block or allow servers and
//! switch allow-list mode, moderators suspend accounts (admins also block remote ones), and
//! every such action is written to the audit log with who did it. What a rule *means* (who may
//! federate, whose content is hidden) is decided in one place, `federation::policy`; this module
//! only changes the rules, and recounts what they hide.
use std::collections::BTreeSet;

use activitypub_federation::fetch::webfinger::webfinger_resolve_actor;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use url::Url;
use utoipa::{IntoParams, ToSchema};

use super::refresh_tally;
use crate::app::AppState;
use crate::domain::{Actor, Role};
use crate::error::{AppError, AppResult};
use crate::federation::actors::DbPerson;
use crate::federation::policy::{
    DomainPolicy, FederationMode, MODE_KEY, Policy, ids_on_server, normalize_domain,
};
use crate::federation::publish::{self, Changed};
use crate::store::{
    account, argument, audit_log, consultation, instance_policy, node_setting, proposal, source,
    vote,
};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DomainRuleView {
    /// The server's host, with its port when it has one.
    pub domain: String,
    pub policy: DomainPolicy,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountStatus {
    /// The account's name on this node: `name` for a local account, `name@host` for a remote one.
    pub username: String,
    /// Its ActivityPub id, for a remote account.
    pub ap_id: Option<String>,
    /// Suspended (a local account) or blocked (a remote one) since then; `null` when not.
    pub suspended_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FederationOverview {
    pub mode: FederationMode,
    /// Blocked servers and partner servers.
    pub domains: Vec<DomainRuleView>,
    /// Suspended local accounts and blocked remote ones.
    pub suspended_accounts: Vec<AccountStatus>,
}

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

fn to_view(row: instance_policy::Model) -> DomainRuleView {
    DomainRuleView {
        policy: DomainPolicy::parse(&row.policy).unwrap_or(DomainPolicy::Block),
        domain: row.domain,
        reason: row.reason,
        created_at: row.created_at,
    }
}

fn status(account: &account::Model) -> AccountStatus {
    AccountStatus {
        username: account.username.clone(),
        ap_id: account.ap_id.clone(),
        suspended_at: account.suspended_at,
    }
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

/// The account a moderator names: a username (`claire`, or `claire@host` for a remote account
/// already known here), a handle `@claire@host`, or an actor URL.
async fn find_account(state: &AppState, target: &str) -> AppResult<Option<account::Model>> {
    let target = target.trim();
    if target.starts_with("http://") || target.starts_with("https://") {
        let url = Url::parse(target)
            .map_err(|e| AppError::BadInput(format!("'{target}' is not a valid URL: {e}")))?;
        if let Some(username) = crate::federation::actors::local_segment(state, &url, "/users/") {
            return local_account(state, username).await;
        }
        return Ok(account::Entity::find()
            .filter(account::Column::ApId.eq(url.as_str()))
            .one(&state.db)
            .await?);
    }
    let name = target.trim_start_matches('@');
    if let Some((local, host)) = name.split_once('@')
        && normalize_domain(host).is_ok_and(|h| h == state.settings.domain())
    {
        return local_account(state, local).await;
    }
    Ok(account::Entity::find()
        .filter(account::Column::Username.eq(name))
        .one(&state.db)
        .await?)
}

async fn local_account(state: &AppState, username: &str) -> AppResult<Option<account::Model>> {
    Ok(account::Entity::find()
        .filter(account::Column::Username.eq(username))
        .filter(account::Column::ApId.is_null())
        .one(&state.db)
        .await?)
}

/// A remote account not seen yet, to block before it reaches this node. An actor URL becomes a
/// placeholder row (no network needed, and a blocked server is never asked); a handle is
/// resolved with WebFinger. The placeholder is fetched for real the first time it is needed
/// after an unblock, because it looks never refreshed.
async fn unknown_remote_account(state: &AppState, target: &str) -> AppResult<account::Model> {
    let target = target.trim();
    if target.starts_with("http://") || target.starts_with("https://") {
        let url = Url::parse(target)
            .map_err(|e| AppError::BadInput(format!("'{target}' is not a valid URL: {e}")))?;
        if url.host_str().is_none() {
            return Err(AppError::BadInput(format!("'{target}' names no server")));
        }
        let preferred = url
            .path_segments()
            .and_then(|mut segments| segments.rfind(|s| !s.is_empty()))
            .unwrap_or("actor");
        let model = account::ActiveModel {
            username: Set(crate::federation::actors::remote_handle(preferred, &url)),
            display_name: Set(preferred.chars().take(100).collect()),
            role: Set(Role::Member.as_str().to_owned()),
            created_at: Set(Utc::now()),
            ap_id: Set(Some(url.to_string())),
            last_refreshed_at: Set(Some(DateTime::<Utc>::UNIX_EPOCH)),
            ..Default::default()
        }
        .insert(&state.db)
        .await?;
        return Ok(model);
    }
    let handle = target.trim_start_matches('@');
    let Some((name, host)) = handle.split_once('@') else {
        return Err(AppError::NotFound(format!("no account named '{target}'")));
    };
    if name.is_empty() || normalize_domain(host).is_err() {
        return Err(AppError::BadInput(format!(
            "'{target}' is neither a username, a handle name@host nor an actor URL"
        )));
    }
    let data = crate::federation::config(state.clone())
        .await
        .map_err(AppError::Internal)?
        .to_request_data();
    let person = webfinger_resolve_actor::<AppState, DbPerson>(handle, &data)
        .await
        .map_err(|e| {
            AppError::NotFound(format!(
                "{handle} is not known here and could not be looked up ({e}): \
                 give its actor URL (https://…/users/{name}) to block it anyway"
            ))
        })?;
    Ok(person.model)
}

/// Which accounts a command may name: `suspend` is for accounts of this node, `block-account`
/// for remote ones; the API takes either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Any,
    Local,
    Remote,
}

/// Suspends (or reinstates) an account. A suspended local account can no longer sign in nor
/// use its tokens; a blocked remote account's activities are refused (403). Either way, what
/// it wrote is hidden and its votes no longer count. Moderators suspend local members;
/// admins also suspend moderators and admins, and block remote accounts. Returns the account
/// and whether anything changed.
pub async fn set_suspended(
    state: &AppState,
    actor: Option<&Actor>,
    target: &str,
    scope: Scope,
    suspended: bool,
    reason: Option<&str>,
) -> AppResult<(AccountStatus, bool)> {
    if let Some(actor) = actor {
        actor.ensure_moderator()?;
    }
    let reason = optional_reason(reason)?;
    let found = find_account(state, target).await?;
    let account = match found {
        Some(account) => account,
        // Only admins reach out for an account this node has never met.
        None if suspended && scope != Scope::Local => {
            ensure_admin(actor)?;
            unknown_remote_account(state, target).await?
        }
        None => return Err(AppError::NotFound(format!("no account named '{target}'"))),
    };
    let remote = account.ap_id.is_some();
    match (scope, remote) {
        (Scope::Local, true) => {
            return Err(AppError::BadInput(format!(
                "'{target}' is an account of another server: block it with block-account"
            )));
        }
        (Scope::Remote, false) => {
            return Err(AppError::BadInput(format!(
                "'{target}' is an account of this node: suspend it with suspend"
            )));
        }
        _ => {}
    }
    if let Some(actor) = actor {
        if actor.account_id == account.id {
            return Err(AppError::BadInput(
                "you cannot suspend or reinstate yourself".into(),
            ));
        }
        let staff = Role::parse(&account.role).is_ok_and(|r| r != Role::Member);
        if remote || staff {
            actor.ensure_organiser().map_err(|_| {
                AppError::Forbidden(
                    "only admins may block remote accounts or suspend moderators and admins".into(),
                )
            })?;
        }
    }
    if account.suspended_at.is_some() == suspended {
        return Ok((status(&account), false));
    }
    let action = match (remote, suspended) {
        (false, true) => "suspend",
        (false, false) => "unsuspend",
        (true, true) => "block_account",
        (true, false) => "unblock_account",
    };
    let target_name = account.ap_id.clone().unwrap_or(account.username.clone());
    let id = account.id;
    let txn = crate::store::begin_write(&state.db).await?;
    let mut active: account::ActiveModel = account.into();
    active.suspended_at = Set(suspended.then(Utc::now));
    let account = active.update(&txn).await?;
    audit(
        &txn,
        actor.map(|a| a.account_id),
        action,
        &target_name,
        reason.as_deref(),
    )
    .await?;
    recount(
        &txn,
        state,
        Condition::all().add(account::Column::Id.eq(id)),
    )
    .await?;
    txn.commit().await?;
    Ok((status(&account), true))
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

/// Recounts the proposals that the accounts matching `accounts` argued on, backed with sources
/// or voted on: a rule change shows or hides what they did, and counts must follow at once.
/// Proposals of consultations hosted here whose tallies moved tell their followers (the
/// Group's `Update`), as after any vote.
async fn recount(
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
