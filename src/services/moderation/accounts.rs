//! Suspending local accounts and blocking remote ones, including remote accounts this node has
//! never met (blocked before they reach it).
use activitypub_federation::fetch::webfinger::webfinger_resolve_actor;
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, Set};
use serde::Serialize;
use url::Url;
use utoipa::ToSchema;

use super::recount::recount;
use super::{audit, ensure_admin, optional_reason};
use crate::app::AppState;
use crate::domain::{Actor, Role};
use crate::error::{AppError, AppResult};
use crate::federation::actors::DbPerson;
use crate::federation::policy::normalize_domain;
use crate::store::account;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountStatus {
    /// The account's name on this node: `name` for a local account, `name@host` for a remote one.
    pub username: String,
    /// Its ActivityPub id, for a remote account.
    pub ap_id: Option<String>,
    /// Suspended (a local account) or blocked (a remote one) since then; `null` when not.
    pub suspended_at: Option<DateTime<Utc>>,
}

pub(super) fn status(account: &account::Model) -> AccountStatus {
    AccountStatus {
        username: account.username.clone(),
        ap_id: account.ap_id.clone(),
        suspended_at: account.suspended_at,
    }
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
