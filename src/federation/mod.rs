//! ActivityPub federation with `activitypub_federation`: accounts are `Person`s, consultations
//! `Group`s (FEP-1b12), the node an `Application`; proposals federate as `Page`s and arguments
//! as `Note`s with a stance. FEDERATION.md documents what is sent and accepted.
pub mod activities;
pub mod actors;
pub mod bounds;
pub mod comments;
pub mod delivery;
pub mod fetch_guard;
pub mod follow_activities;
pub mod follows;
pub mod keys;
pub mod locate;
pub mod objects;
mod outbox;
pub mod participation;
pub mod person_follows;
pub mod policy;
pub mod poll;
pub mod publish;
pub mod replies;
pub mod reports;
pub mod routes;
pub mod shares;
pub mod signatures;
pub mod sources;
pub mod updates;
pub mod verdicts;
pub mod votes;

use activitypub_federation::config::{Data, FederationConfig};
use serde_json::{Value, json};

use crate::app::AppState;

pub type FedData = Data<AppState>;

pub const AS_PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";
/// The namespace of Palabre's vocabulary (docs/fep-consultations.md).
pub const PALABRE_NS: &str = "https://w3id.org/palabre/ns#";

/// The JSON-LD context of everything Palabre serves and sends: ActivityStreams, security
/// (public keys) and Palabre's own terms.
pub fn context() -> Value {
    json!([
        "https://www.w3.org/ns/activitystreams",
        "https://w3id.org/security/v1",
        {
            "palabre": PALABRE_NS,
            "xsd": "http://www.w3.org/2001/XMLSchema#",
            "stance": "palabre:stance",
            "number": {"@id": "palabre:number", "@type": "xsd:integer"},
            "opensAt": {"@id": "palabre:opensAt", "@type": "xsd:dateTime"},
            "closesAt": {"@id": "palabre:closesAt", "@type": "xsd:dateTime"},
            "participation": "palabre:participation",
            "themes": "palabre:themes",
            "proposalState": "palabre:proposalState",
            "officialAnswer": "palabre:officialAnswer",
            "votes": "palabre:votes",
            "agree": {"@id": "palabre:agree", "@type": "xsd:integer"},
            "mixed": {"@id": "palabre:mixed", "@type": "xsd:integer"},
            "disagree": {"@id": "palabre:disagree", "@type": "xsd:integer"},
            "verified": "palabre:verified",
            "isSource": {"@id": "palabre:isSource", "@type": "xsd:boolean"},
            "value": "palabre:value",
            "Vote": "palabre:Vote",
            "postingRestrictedToMods": "https://join-lemmy.org/ns#postingRestrictedToMods"
        }
    ])
}

/// Builds the federation configuration. `allow_local` turns on the library's debug mode:
/// plain http and loopback addresses, for tests with several nodes on one machine. The URL
/// verifier applies the federation policy (blocked servers, allow-list mode) to every fetch
/// and delivery the library makes. Fetches go through a [`fetch_guard::FetchGuard`] that
/// refuses non-public addresses unless `allow_local`.
pub async fn config(state: AppState) -> anyhow::Result<FederationConfig<AppState>> {
    let guard = fetch_guard::FetchGuard::new(state.settings.federation.allow_local);
    config_with(state, guard).await
}

/// [`config`] with the caller's guard on fetches: its addresses, resolver and time limit. The
/// library's own checks stay as `allow_local` sets them (http, explicit ports, its check of the
/// name before each request).
pub async fn config_with(
    state: AppState,
    guard: fetch_guard::FetchGuard,
) -> anyhow::Result<FederationConfig<AppState>> {
    let instance = keys::instance_actor(&state).await?;
    let allow_local = state.settings.federation.allow_local;
    let domain = state.settings.domain();
    let config = FederationConfig::builder()
        .domain(domain)
        .debug(allow_local)
        .http_fetch_limit(50)
        .client(guard.fetch_client(signatures::SignedFetches::new(state.db.clone(), &instance)?)?)
        .request_timeout(guard.timeout())
        // Mastodon's shape of draft-cavage signatures (`rsa-sha256` over `(request-target) host
        // date digest`, with a `Date` header): Mastodon, Fedify and GoToSocial refuse signed
        // GETs without a `Date`, which the library's default (`hs2019`, `(created)`) omits.
        .http_signature_compat(true)
        .signed_fetch_actor(&instance)
        .url_verifier(Box::new(policy::PolicyVerifier::new(state.db.clone())))
        .app_data(state)
        .build()
        .await?;
    Ok(config)
}

/// Stores a remote object, again if a unique index refused it: two copies of one object
/// arriving at once (its `Announce` and a backfill's fetch, or two processes) both find no row
/// and insert; the second run finds the first one's row and updates it instead of failing.
pub(crate) async fn store_racing<T, F, Fut>(mut store: F) -> crate::error::AppResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = crate::error::AppResult<T>>,
{
    // Storing an object may store its author first: each can lose a race once.
    for _ in 0..2 {
        match store().await {
            Err(err) if err.is_unique_violation() => {
                tracing::debug!(error = %err, "stored meanwhile by another request; once more");
            }
            other => return other,
        }
    }
    store().await
}

/// A fresh id for an activity sent from this node: `{origin}/activities/{kind}/{random}`.
pub fn new_activity_id(state: &AppState, kind: &str) -> crate::error::AppResult<url::Url> {
    url::Url::parse(&format!(
        "{}/activities/{kind}/{}",
        state.origin,
        crate::services::accounts::random_token()
    ))
    .map_err(|e| crate::error::AppError::Internal(e.into()))
}

/// The host (with port) of a URL, as shown next to mirrored content: "where it came from".
pub fn host_of(url: &url::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        _ => String::new(),
    }
}

/// Whether a URL is on this node.
pub fn is_local(state: &AppState, url: &url::Url) -> bool {
    url.origin().ascii_serialization() == *state.origin
}

/// Same scheme, host and port. Stricter than the library's host-only comparison, so that two
/// servers on one host (different ports) cannot speak for each other.
pub fn verify_same_origin(a: &url::Url, b: &url::Url) -> crate::error::AppResult<()> {
    if a.origin() == b.origin() {
        Ok(())
    } else {
        Err(crate::error::AppError::Forbidden(format!(
            "{a} and {b} are not on the same server"
        )))
    }
}

/// A contribution stored here by its ActivityPub id: a local one by the number in its path
/// (`{origin}{prefix}{id}`), a remote one by its stored `ap_id`.
pub(crate) async fn find_by_ap_id<E>(
    state: &AppState,
    id: &url::Url,
    prefix: &str,
    ap_id: E::Column,
) -> crate::error::AppResult<Option<E::Model>>
where
    E: sea_orm::EntityTrait,
    <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<i32>,
{
    use sea_orm::{ColumnTrait, QueryFilter};
    Ok(match actors::local_segment(state, id, prefix) {
        Some(local) => match local.parse::<i32>() {
            Ok(pk) => {
                E::find_by_id(pk)
                    .filter(ap_id.is_null())
                    .one(&state.db)
                    .await?
            }
            Err(_) => None,
        },
        None => {
            E::find()
                .filter(ap_id.eq(id.as_str()))
                .one(&state.db)
                .await?
        }
    })
}
