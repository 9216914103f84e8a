//! Who this node federates with: the one place that answers "is this server, or this account,
//! allowed to talk to us and to be talked to?". Admins block a server (`block`), or run the node
//! in allow-list mode, where only partner servers (`allow`) federate. Accounts are blocked one
//! by one by setting `suspended_at` (a suspended local account, a blocked remote one).
//!
//! Every door asks here: the inbox ([`screen_inbox`], before anything is parsed, fetched or
//! stored), every fetch and delivery of the federation library ([`PolicyVerifier`], its
//! `url_verifier`), the delivery worker (rows for a refused server are not sent), following a
//! remote consultation, and the lists and counts of `services::` ([`Policy::author_shown`]),
//! which leave out what blocked accounts and servers wrote.
//!
//! The policy is read from the database each time: the command line changes it from another
//! process, and a block must hold from the next request on.
use std::collections::BTreeSet;

use activitypub_federation::config::UrlVerifier;
use activitypub_federation::error::Error as FedError;
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use sea_orm::sea_query::{Expr, LikeExpr, Query, SelectStatement};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;
use utoipa::ToSchema;

use super::{FedData, host_of};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::store::{account, instance_policy, node_setting};

/// The `node_settings` key of the federation mode.
pub const MODE_KEY: &str = "federation_mode";

/// `open`: every server federates except blocked ones. `allowlist`: only partner servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FederationMode {
    #[default]
    Open,
    Allowlist,
}

impl FederationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            FederationMode::Open => "open",
            FederationMode::Allowlist => "allowlist",
        }
    }

    pub fn parse(raw: &str) -> AppResult<Self> {
        match raw.trim() {
            "open" => Ok(FederationMode::Open),
            "allowlist" => Ok(FederationMode::Allowlist),
            other => Err(AppError::BadInput(format!(
                "unknown federation mode '{other}': use 'open' or 'allowlist'"
            ))),
        }
    }
}

/// What a row of `instance_policies` says about a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DomainPolicy {
    /// Its activities are refused, its content hidden, nothing is fetched from or sent to it.
    Block,
    /// A partner: in allow-list mode, the only servers this node federates with.
    Allow,
}

impl DomainPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            DomainPolicy::Block => "block",
            DomainPolicy::Allow => "allow",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "block" => Some(DomainPolicy::Block),
            "allow" => Some(DomainPolicy::Allow),
            _ => None,
        }
    }
}

/// Why this node does not federate with a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Blocked,
    NotPartner,
}

impl Refusal {
    /// For the library's errors, which only take static text.
    pub fn static_message(self) -> &'static str {
        match self {
            Refusal::Blocked => "this server is blocked by this node's federation policy",
            Refusal::NotPartner => {
                "this node federates only with its partner servers (allow-list mode)"
            }
        }
    }

    pub fn message(self, host: &str) -> String {
        match self {
            Refusal::Blocked => {
                format!("this node does not federate with {host}: the server is blocked")
            }
            Refusal::NotPartner => format!(
                "this node federates only with its partner servers, and {host} is not one of them"
            ),
        }
    }
}

/// The server of a URL as rules name it: `host_of` without the trailing dot of an absolute name.
/// `evil.example.` is the same server as `evil.example` (DNS and TLS accept it for it), so a
/// rule must not be dodged by adding the dot.
pub fn rule_host(url: &Url) -> String {
    let host = match url.host() {
        None => return String::new(),
        // Read again without the dots, as `normalize_domain` reads a name: `9999..` is a name
        // to the URL parser, `9999` an IPv4 address.
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.');
            url::Host::parse(name).map_or_else(|_| name.to_owned(), |host| host.to_string())
        }
        Some(address) => address.to_string(),
    };
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// The host (with its port, as `rule_host` gives it) an admin typed: `example.org`,
/// `example.org:8443`, or a URL on that server. Lowercased and checked, so that a rule matches
/// the hosts of the URLs it is compared with.
pub fn normalize_domain(raw: &str) -> AppResult<String> {
    let raw = raw.trim();
    let bad = |why: &str| AppError::BadInput(format!("'{raw}' is not a server name: {why}"));
    if raw.is_empty() {
        return Err(bad("it is empty"));
    }
    if raw.contains("://") {
        let url = Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
        if url.host_str().is_none() {
            return Err(bad("the URL has no host"));
        }
        // Read again as a server name: a URL of another scheme than http(s) keeps its host as
        // written (`foo://EVIL.example`), which no rule would match.
        return normalize_domain(&rule_host(&url));
    }
    // `host` or `host:port`; IPv6 addresses in brackets keep their colons.
    let (host, port) = match raw.rsplit_once(':') {
        Some((host, port))
            if !host.ends_with(':') && (!host.contains(':') || host.ends_with(']')) =>
        {
            let port: u16 = port
                .parse()
                .map_err(|_| bad("the port must be a number from 1 to 65535"))?;
            (host, Some(port))
        }
        _ => (raw, None),
    };
    let host = host.trim_end_matches('.');
    let parsed = match url::Host::parse(host).map_err(|e| bad(&e.to_string()))? {
        // The parser decodes `%2E`: dots that only then end the name go as well, and what is
        // left is read again (`1.%2E` is the address `0.0.0.1`, as `1.` is), so that a
        // normalized name normalizes to itself.
        url::Host::Domain(domain) if domain.ends_with('.') => match domain.trim_end_matches('.') {
            "" => return Err(bad("it is empty")),
            name => url::Host::parse(name).map_err(|e| bad(&e.to_string()))?,
        },
        other => other,
    };
    if let url::Host::Domain(domain) = &parsed
        && !domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err(bad("only letters, digits, '.', '-' and '_' are allowed"));
    }
    Ok(match port {
        Some(port) => format!("{parsed}:{port}"),
        None => parsed.to_string(),
    })
}

/// The federation policy as stored: the mode and the server rules.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub mode: FederationMode,
    blocked: BTreeSet<String>,
    allowed: BTreeSet<String>,
}

impl Policy {
    pub async fn load(db: &impl ConnectionTrait) -> AppResult<Self> {
        let mode = match node_setting::Entity::find_by_id(MODE_KEY.to_owned())
            .one(db)
            .await?
        {
            // An unreadable value (edited by hand) fails closed: only partners federate.
            Some(row) => FederationMode::parse(&row.value).unwrap_or(FederationMode::Allowlist),
            None => FederationMode::Open,
        };
        let mut policy = Policy {
            mode,
            ..Default::default()
        };
        for row in instance_policy::Entity::find().all(db).await? {
            match DomainPolicy::parse(&row.policy) {
                Some(DomainPolicy::Block) => policy.blocked.insert(row.domain),
                Some(DomainPolicy::Allow) => policy.allowed.insert(row.domain),
                None => false,
            };
        }
        Ok(policy)
    }

    /// Why this node does not federate with `host` (`host_of` form), or `None` when it does.
    /// The node's own host is never passed here: local URLs are always fine.
    pub fn refusal(&self, host: &str) -> Option<Refusal> {
        if self.blocked.contains(host) {
            Some(Refusal::Blocked)
        } else if self.mode == FederationMode::Allowlist && !self.allowed.contains(host) {
            Some(Refusal::NotPartner)
        } else {
            None
        }
    }

    /// `refusal` for a URL; URLs of this node always pass.
    pub fn refusal_for_url(&self, state: &AppState, url: &Url) -> Option<Refusal> {
        if super::is_local(state, url) {
            return None;
        }
        self.refusal(&rule_host(url))
    }

    /// 403 with a message naming the server, for a URL this node does not federate with.
    pub fn check_url(&self, state: &AppState, url: &Url) -> AppResult<()> {
        match self.refusal_for_url(state, url) {
            Some(refusal) => Err(AppError::Forbidden(refusal.message(&host_of(url)))),
            None => Ok(()),
        }
    }

    /// Rows whose `column` (an ActivityPub id) is on a server this node does not federate
    /// with; `None` when there is no such server.
    fn refused_ids<C: ColumnTrait>(&self, column: C) -> Option<Condition> {
        let on = |domain: &str| ids_on_server(column, domain);
        match self.mode {
            FederationMode::Open if self.blocked.is_empty() => None,
            FederationMode::Open => Some(
                self.blocked
                    .iter()
                    .fold(Condition::any(), |any, domain| any.add(on(domain))),
            ),
            FederationMode::Allowlist => {
                let mut partner = Condition::any();
                for domain in &self.allowed {
                    partner = partner.add(on(domain));
                }
                let mut refused = Condition::all().add(column.is_not_null());
                if !self.allowed.is_empty() {
                    refused = refused.add(partner.not());
                }
                Some(refused)
            }
        }
    }

    /// The accounts whose content is hidden: suspended local accounts, blocked remote ones, and
    /// every account of a server this node does not federate with.
    pub fn muted_accounts(&self) -> SelectStatement {
        let mut muted = Condition::any().add(account::Column::SuspendedAt.is_not_null());
        if let Some(refused) = self.refused_ids(account::Column::ApId) {
            muted = muted.add(refused);
        }
        Query::select()
            .column(account::Column::Id)
            .from(account::Entity)
            .cond_where(muted)
            .to_owned()
    }

    /// A filter on an author (or voter, or sharer) column: only what muted accounts did not
    /// write. Lists, counts and tallies use it, so hidden authors count nowhere.
    pub fn author_shown<C: ColumnTrait>(&self, column: C) -> Expr {
        column.not_in_subquery(self.muted_accounts())
    }

    /// Whether what this account wrote is shown (it is neither suspended nor blocked, nor on a
    /// server this node does not federate with).
    pub async fn account_shown(
        &self,
        db: &impl ConnectionTrait,
        account_id: i32,
    ) -> AppResult<bool> {
        use sea_orm::QueryFilter;
        Ok(account::Entity::find_by_id(account_id)
            .filter(self.author_shown(account::Column::Id))
            .one(db)
            .await?
            .is_some())
    }

    /// A filter on consultations: mirrors of a Group on a server this node does not federate
    /// with are not shown (the node's own consultations always are).
    pub fn consultation_shown(&self) -> Condition {
        use crate::store::consultation;
        match self.refused_ids(consultation::Column::ApId) {
            // `NOT (NULL LIKE …)` is NULL, not true: local ones are named explicitly.
            Some(refused) => Condition::any()
                .add(consultation::Column::ApId.is_null())
                .add(refused.not()),
            None => Condition::all(),
        }
    }
}

/// Rows whose `column` (an ActivityPub id) is on the server `domain` (`rule_host` form), its
/// host written with or without the trailing dot.
pub fn ids_on_server<C: ColumnTrait>(column: C, domain: &str) -> Condition {
    let absolute = match domain.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{host}.:{port}")
        }
        _ => format!("{domain}."),
    };
    let mut any = Condition::any();
    for scheme in ["https", "http"] {
        for domain in [domain, absolute.as_str()] {
            let pattern = server_pattern(scheme, domain);
            any = any.add(column.like(LikeExpr::new(pattern).escape('!')));
        }
    }
    any
}

/// `LIKE` pattern of every id on `scheme://domain/`, with `!` as the escape character of the
/// wildcards (`_` may occur in a host name): a backslash is not an escape character in every
/// database.
fn server_pattern(scheme: &str, domain: &str) -> String {
    format!("{scheme}://{}/%", like_escaped(domain))
}

/// `text` for a LIKE pattern with `!` as its escape character (`LikeExpr::escape('!')`): its
/// wildcards match only themselves.
pub(crate) fn like_escaped(text: &str) -> String {
    text.chars()
        .flat_map(|c| match c {
            '!' | '%' | '_' => vec!['!', c],
            c => vec![c],
        })
        .collect()
}

/// Whether the accounts with these ActivityPub ids include a blocked (or suspended) one; the
/// first such id.
async fn blocked_account(data: &FedData, people: &[Url]) -> AppResult<Option<Url>> {
    for person in people {
        let found =
            <super::actors::DbPerson as activitypub_federation::traits::Object>::read_from_id(
                person.clone(),
                data,
            )
            .await?
            .map(|p| p.model);
        if found.is_some_and(|a| a.suspended_at.is_some()) {
            return Ok(Some(person.clone()));
        }
    }
    Ok(None)
}

/// What an incoming activity involves: the people who speak (`actor`, and the `actor` and
/// `attributedTo` of everything it embeds), and the other objects it names.
#[derive(Default)]
pub(crate) struct Involved {
    people: Vec<Url>,
    objects: Vec<Url>,
}

/// How deep embedded objects are looked into: `Announce(Create(Note))` is three levels, an
/// `Undo(Announce(Create(Note)))` four.
const MAX_DEPTH: usize = 5;

fn urls_in(value: Option<&Value>, into: &mut Vec<Url>) {
    match value {
        Some(Value::String(s)) => into.extend(Url::parse(s).ok()),
        Some(Value::Object(map)) => urls_in(map.get("id"), into),
        Some(Value::Array(items)) => {
            for item in items.iter().take(50) {
                urls_in(Some(item), into);
            }
        }
        _ => {}
    }
}

pub(crate) fn involved(value: &Value, depth: usize, found: &mut Involved) {
    let Value::Object(map) = value else {
        return;
    };
    if depth > MAX_DEPTH {
        return;
    }
    urls_in(map.get("actor"), &mut found.people);
    urls_in(map.get("attributedTo"), &mut found.people);
    if depth > 0 {
        urls_in(map.get("id"), &mut found.objects);
    }
    match map.get("object") {
        Some(object @ Value::Object(_)) => involved(object, depth + 1, found),
        Some(Value::Array(items)) => {
            for item in items.iter().take(50) {
                match item {
                    Value::Object(_) => involved(item, depth + 1, found),
                    other => urls_in(Some(other), &mut found.objects),
                }
            }
        }
        other => urls_in(other, &mut found.objects),
    }
}

/// The inbox's door, before the signature is checked: an activity whose actor, or the author
/// of anything it embeds (a followed Group announcing a blocked account's post), is blocked or
/// on a server this node does not federate with is refused with 403, and nothing is fetched or
/// stored. Turning a request away needs no proof of who sent it; accepting one still does, so
/// everything else runs after this as before. Returns the request, body intact, otherwise.
pub async fn screen_inbox(data: &FedData, request: Request) -> Result<Request, Response> {
    let (parts, body) = request.into_parts();
    let max = super::signatures::MAX_BODY_SIZE;
    let bytes = axum::body::to_bytes(body, max).await.map_err(|e| {
        let message = format!("cannot read the request body (at most {max} bytes): {e}");
        (
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            axum::Json(crate::error::ErrorBody {
                error: "payload_too_large",
                message,
            }),
        )
            .into_response()
    })?;
    // Unparsable JSON is the parser's to refuse (400), after this.
    if let Ok(activity) = serde_json::from_slice::<Value>(&bytes) {
        if let Err(err) = screen(data, &activity).await {
            tracing::info!(
                error = %err,
                activity = activity.get("id").and_then(serde_json::Value::as_str).unwrap_or_default(),
                "inbox refused an activity: federation policy"
            );
            return Err(err.into_response());
        }
        // Overlong ids would be fetched and stored (a 500 on PostgreSQL): 400 before that.
        super::bounds::check_id_lengths(&activity).map_err(IntoResponse::into_response)?;
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

async fn screen(data: &FedData, activity: &Value) -> AppResult<()> {
    let mut found = Involved::default();
    involved(activity, 0, &mut found);
    let policy = Policy::load(&data.db).await?;
    // Ids without a host (`urn:`, `tag:`) name no server to refuse.
    for url in found.people.iter().chain(&found.objects) {
        if url.host_str().is_some() {
            policy.check_url(data, url)?;
        }
    }
    if let Some(person) = blocked_account(data, &found.people).await? {
        return Err(AppError::Forbidden(format!(
            "the account {person} is blocked on this node"
        )));
    }
    Ok(())
}

/// The library's `url_verifier`: called before every fetch (actors, objects, collections,
/// WebFinger) and every delivery it prepares, never for URLs of this node.
#[derive(Clone)]
pub struct PolicyVerifier {
    db: DatabaseConnection,
}

impl PolicyVerifier {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait::async_trait]
impl UrlVerifier for PolicyVerifier {
    async fn verify(&self, url: &Url) -> Result<(), FedError> {
        let policy = Policy::load(&self.db)
            .await
            .map_err(|e| FedError::Other(format!("cannot read the federation policy: {e}")))?;
        match policy.refusal(&rule_host(url)) {
            None => Ok(()),
            Some(refusal) => {
                tracing::info!(%url, reason = refusal.static_message(), "not fetched nor sent");
                Err(FedError::UrlVerificationError(refusal.static_message()))
            }
        }
    }
}

#[cfg(test)]
mod tests;
