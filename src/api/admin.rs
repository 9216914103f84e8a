//! Administration and moderation: the federation policy (admins), suspensions (moderators and
//! admins) and the audit log (moderators and admins). The rules are `services::moderation`'s.
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::{ApiJson, ApiPath, ApiQuery, ApiUser};
use crate::app::AppState;
use crate::error::{AppResult, ErrorBody};
use crate::federation::policy::{DomainPolicy, FederationMode};
use crate::services::backfills::{self, OwedBackfill};
use crate::services::deliveries::{self, PeerDeliveries};
use crate::services::moderation::{
    self, AccountStatus, AuditEntry, AuditQuery, DomainRuleView, FederationOverview, Scope,
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct DomainRule {
    /// `block` or `allow` (a partner server).
    pub policy: DomainPolicy,
    /// Why, for the other admins.
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ModeChange {
    pub mode: FederationMode,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Suspension {
    /// `true` to suspend (or block, for a remote account), `false` to reinstate.
    pub suspended: bool,
    #[serde(default)]
    pub reason: Option<String>,
}

/// The federation mode, blocked and partner servers, and suspended or blocked accounts
/// (moderators and admins).
#[utoipa::path(get, path = "/api/v1/admin/federation", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = FederationOverview), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn overview(
    State(state): State<AppState>,
    user: ApiUser,
) -> AppResult<Json<FederationOverview>> {
    Ok(Json(moderation::overview(&state, Some(&user.actor)).await?))
}

/// `open` (every server not blocked) or `allowlist` (partner servers only) (admins).
#[utoipa::path(put, path = "/api/v1/admin/federation/mode", tag = "admin",
    request_body = ModeChange, security(("bearer" = [])),
    responses((status = 200, body = FederationOverview), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn set_mode(
    State(state): State<AppState>,
    user: ApiUser,
    ApiJson(body): ApiJson<ModeChange>,
) -> AppResult<Json<FederationOverview>> {
    moderation::set_mode(&state, Some(&user.actor), body.mode).await?;
    Ok(Json(moderation::overview(&state, Some(&user.actor)).await?))
}

/// Block a server, or list it as a partner (admins). `{domain}` is its host, with the port if
/// it has one. A server has one rule: this replaces the one it had.
#[utoipa::path(put, path = "/api/v1/admin/domains/{domain}", tag = "admin",
    params(("domain" = String, Path, description = "host, or host:port")),
    request_body = DomainRule, security(("bearer" = [])),
    responses((status = 200, body = DomainRuleView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn set_domain(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(domain): ApiPath<String>,
    ApiJson(body): ApiJson<DomainRule>,
) -> AppResult<Json<DomainRuleView>> {
    Ok(Json(
        moderation::set_domain_rule(
            &state,
            Some(&user.actor),
            &domain,
            body.policy,
            body.reason.as_deref(),
        )
        .await?,
    ))
}

/// Remove a server's rule, block or partner (admins).
#[utoipa::path(delete, path = "/api/v1/admin/domains/{domain}", tag = "admin",
    params(("domain" = String, Path, description = "host, or host:port")),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, description = "the server has no rule", body = ErrorBody)))]
pub async fn remove_domain(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(domain): ApiPath<String>,
) -> AppResult<StatusCode> {
    moderation::remove_domain_rule(&state, Some(&user.actor), &domain, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Suspend or reinstate an account. `{account}` is a username (`claire`, or `claire@host` for
/// a remote account), or an actor URL (percent-encoded). Moderators suspend members of this
/// node; admins also suspend moderators and admins, and block remote accounts (even ones this
/// node has not met yet, by actor URL or handle).
#[utoipa::path(put, path = "/api/v1/admin/accounts/{account}/suspension", tag = "admin",
    params(("account" = String, Path, description = "username, name@host or actor URL")),
    request_body = Suspension, security(("bearer" = [])),
    responses((status = 200, body = AccountStatus), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn set_suspension(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(account): ApiPath<String>,
    ApiJson(body): ApiJson<Suspension>,
) -> AppResult<Json<AccountStatus>> {
    let (status, _) = moderation::set_suspended(
        &state,
        Some(&user.actor),
        &account,
        Scope::Any,
        body.suspended,
        body.reason.as_deref(),
    )
    .await?;
    Ok(Json(status))
}

/// Every moderation and administration action, newest first, with who did it (moderators and
/// admins; `actor` is `null` for the command line).
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", params(AuditQuery),
    security(("bearer" = [])),
    responses((status = 200, body = [AuditEntry]), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    user: ApiUser,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> AppResult<Json<Vec<AuditEntry>>> {
    Ok(Json(
        moderation::audit_log(&state, &user.actor, &query).await?,
    ))
}

/// Per remote server: deliveries done, still retried, and given up on after
/// `federation.max_attempts`, with the last error (admins).
#[utoipa::path(get, path = "/api/v1/admin/deliveries", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = [PeerDeliveries]), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn deliveries(
    State(state): State<AppState>,
    user: ApiUser,
) -> AppResult<Json<Vec<PeerDeliveries>>> {
    Ok(Json(deliveries::by_peer(&state, Some(&user.actor)).await?))
}

/// The debates of followed consultations still to be read from their nodes (backfills): those
/// retried, and those given up on, with the last error (admins).
#[utoipa::path(get, path = "/api/v1/admin/backfills", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = [OwedBackfill]), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn backfills(
    State(state): State<AppState>,
    user: ApiUser,
) -> AppResult<Json<Vec<OwedBackfill>>> {
    Ok(Json(backfills::owed(&state, Some(&user.actor)).await?))
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct Requeued {
    pub queued: u64,
}

/// Sends again the deliveries a server missed after they were given up on (admins).
#[utoipa::path(post, path = "/api/v1/admin/deliveries/{server}/retry", tag = "admin",
    params(("server" = String, Path, description = "host or host:port")),
    security(("bearer" = [])),
    responses((status = 200, body = Requeued), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn retry_deliveries(
    State(state): State<AppState>,
    user: ApiUser,
    ApiPath(server): ApiPath<String>,
) -> AppResult<Json<Requeued>> {
    let queued = deliveries::retry_failed(&state, Some(&user.actor), &server).await?;
    Ok(Json(Requeued { queued }))
}
