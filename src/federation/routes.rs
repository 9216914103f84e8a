//! Federation endpoints: WebFinger, NodeInfo, inboxes, and the ActivityStreams JSON of actors
//! and objects. Object URLs serve JSON to `Accept: application/activity+json` (or the
//! ActivityStreams `ld+json` profile) and HTML to browsers, at the same URL: `negotiate`
//! routes the former to the `/ap/...` handlers below before axum's routing runs.
use activitypub_federation::axum::inbox::{ActivityData, receive_activity};
use activitypub_federation::axum::json::FederationJson;
use activitypub_federation::config::Data;
use activitypub_federation::fetch::webfinger::{
    Webfinger, build_webfinger_response_with_type, extract_webfinger_name,
};
use activitypub_federation::protocol::context::WithContext;
use activitypub_federation::protocol::tombstone::Tombstone;
use activitypub_federation::traits::Object;
use axum::Router;
use axum::extract::{Path, Query, Request};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use either::Either;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use super::activities::InboxActivity;
use super::actors::{DbGroup, DbPerson};
use super::objects::{DbArgument, DbProposal};
use super::{FedData, context, keys};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::ratelimit::{Class, limit};
use crate::store::{account, argument, consultation, follow, handle, proposal};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/webfinger", get(webfinger))
        .route("/.well-known/nodeinfo", get(nodeinfo_links))
        .route("/nodeinfo/2.1", get(nodeinfo))
        .route("/inbox", post(inbox).layer(limit(Class::Inbox)))
        .route(
            "/users/{name}/inbox",
            post(inbox).layer(limit(Class::Inbox)),
        )
        .route(
            "/consultations/{slug}/inbox",
            post(inbox).layer(limit(Class::Inbox)),
        )
        .route("/actor/inbox", post(inbox).layer(limit(Class::Inbox)))
        .route("/actor", get(instance_actor))
        .route("/ap/users/{name}", get(person))
        .route("/ap/consultations/{slug}", get(group))
        .route("/ap/proposals/{id}", get(page))
        .route("/ap/proposals/{id}/poll", get(poll))
        .route("/ap/comments/{id}", get(comment_note))
        .route("/ap/arguments/{id}", get(note))
        .route("/ap/sources/{id}", get(source_note))
        .route("/users/{name}/outbox", get(empty_outbox))
        .route("/users/{name}/followers", get(person_followers))
        .route("/consultations/{slug}/outbox", get(group_outbox))
        .route("/consultations/{slug}/context", get(group_context))
        .route("/consultations/{slug}/followers", get(group_followers))
}

/// Rewrites ActivityStreams requests for object URLs to the `/ap/...` handlers.
pub fn negotiate(mut request: Request) -> Request {
    if !matches!(*request.method(), Method::GET | Method::HEAD) || !wants_activity_json(&request) {
        return request;
    }
    let path = request.uri().path();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let served = matches!(
        segments.as_slice(),
        ["users", _]
            | ["proposals", _]
            | ["proposals", _, "poll"]
            | ["arguments", _]
            | ["sources", _]
            | ["comments", _]
    ) || matches!(segments.as_slice(), ["consultations", slug] if *slug != "new");
    if served && let Ok(uri) = format!("/ap{path}").parse::<Uri>() {
        *request.uri_mut() = uri;
    }
    request
}

fn wants_activity_json(request: &Request) -> bool {
    request
        .headers()
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|accept| {
            accept.contains("application/activity+json")
                || (accept.contains("application/ld+json") && accept.contains("activitystreams"))
        })
}

#[derive(Deserialize)]
pub(crate) struct WebfingerQuery {
    pub(crate) resource: String,
}

/// Whom a WebFinger `resource` names on this node, before any lookup.
#[derive(Debug, PartialEq, Eq)]
pub enum WebfingerName<'a> {
    /// The node's own actor, which answers to its host name as Mastodon's does
    /// (`acct:host@host`).
    Instance,
    /// An account or a consultation, by its handle.
    Handle(&'a str),
}

/// Reads `acct:name@domain` for this node's domain; `host` is the public URL's host name.
pub fn webfinger_name<'a, T: Clone>(
    resource: &'a str,
    data: &Data<T>,
    host: &str,
) -> AppResult<WebfingerName<'a>> {
    let name = extract_webfinger_name(resource, data)
        .map_err(|_| AppError::NotFound(format!("no such account on this node: {resource}")))?;
    Ok(if name == host {
        WebfingerName::Instance
    } else {
        WebfingerName::Handle(name)
    })
}

async fn webfinger(
    Query(query): Query<WebfingerQuery>,
    data: FedData,
) -> AppResult<axum::Json<Webfinger>> {
    let host = data
        .settings
        .server
        .public_url
        .host_str()
        .unwrap_or_default();
    let named = webfinger_name(&query.resource, &data, host)?;
    let (url, kind) = if let WebfingerName::Handle(name) = named {
        let found = handle::Entity::find_by_id(name.to_owned())
            .one(&data.db)
            .await?
            .ok_or_else(|| {
                AppError::NotFound(format!("no such account on this node: {}", query.resource))
            })?;
        match found.kind.as_str() {
            "consultation" => (data.consultation_url(name), "Group"),
            _ => (data.account_url(name), "Person"),
        }
    } else {
        (format!("{}/actor", data.origin), "Application")
    };
    let url = Url::parse(&url).map_err(|e| AppError::Internal(e.into()))?;
    Ok(axum::Json(build_webfinger_response_with_type(
        query.resource,
        vec![(url, Some(kind))],
    )))
}

async fn nodeinfo_links(data: FedData) -> axum::Json<Value> {
    axum::Json(json!({
        "links": [{
            "rel": "http://nodeinfo.diaspora.software/ns/schema/2.1",
            "href": format!("{}/nodeinfo/2.1", data.origin),
        }]
    }))
}

async fn nodeinfo(data: FedData) -> AppResult<Response> {
    let users = account::Entity::find()
        .filter(account::Column::ApId.is_null())
        .count(&data.db)
        .await?;
    let proposals = proposal::Entity::find()
        .filter(proposal::Column::ApId.is_null())
        .filter(proposal::Column::Withdrawn.eq(false))
        .count(&data.db)
        .await?;
    let arguments = argument::Entity::find()
        .filter(argument::Column::ApId.is_null())
        .filter(argument::Column::Withdrawn.eq(false))
        .count(&data.db)
        .await?;
    let body = json!({
        "version": "2.1",
        "software": {
            "name": "palabre",
            "version": env!("CARGO_PKG_VERSION"),
            "homepage": format!("{}/", data.origin),
        },
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": data.settings.instance.open_registrations,
        "usage": {
            "users": {"total": users},
            "localPosts": proposals,
            "localComments": arguments,
        },
        "metadata": {"nodeName": data.settings.instance.name},
    });
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(
            "application/json; profile=\"http://nodeinfo.diaspora.software/ns/schema/2.1#\"",
        ),
    );
    Ok(response)
}

/// Every inbox, personal or shared: the signature is checked against the actor's key before
/// anything is stored, then the activity's own rules. A request with an RFC 9421 signature
/// (`Signature-Input`) is checked by `signatures::receive`, which is preferred when a request
/// carries both kinds; any other by the library (draft-cavage `Signature` and `Digest`).
async fn inbox(data: FedData, request: Request) -> Result<StatusCode, Response> {
    // Blocked servers and accounts, and non-partners in allow-list mode: 403 before anything.
    let request = super::policy::screen_inbox(&data, request).await?;
    let outcome = if super::signatures::is_rfc9421(request.headers()) {
        super::signatures::receive(request, &data).await
    } else if let Err(err) = super::signatures::check_cavage_policy(request.headers()) {
        Err(err)
    } else {
        let activity =
            <ActivityData as axum::extract::FromRequest<()>>::from_request(request, &()).await?;
        receive_activity::<WithContext<InboxActivity>, Either<DbPerson, DbGroup>, AppState>(
            activity, &data,
        )
        .await
    };
    outcome.map_err(|err| {
        tracing::info!(error = %err, "inbox refused an activity");
        err.into_response()
    })?;
    Ok(StatusCode::ACCEPTED)
}

fn activity_json<T: serde::Serialize>(object: T) -> Response {
    let mut response = FederationJson(WithContext::new(object, context())).into_response();
    response
        .headers_mut()
        .insert(axum::http::header::VARY, HeaderValue::from_static("Accept"));
    response
}

fn tombstone(id: Url) -> Response {
    let mut response = activity_json(Tombstone::new(id));
    *response.status_mut() = StatusCode::GONE;
    response
}

async fn instance_actor(data: FedData) -> AppResult<Response> {
    let actor = keys::instance_actor(&data).await?;
    Ok(activity_json(actor.to_json(&data)?))
}

async fn person(Path(name): Path<String>, data: FedData) -> AppResult<Response> {
    let model = account::Entity::find()
        .filter(account::Column::Username.eq(&name))
        .filter(account::Column::ApId.is_null())
        .one(&data.db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no account '{name}'")))?;
    Ok(activity_json(
        DbPerson::new(&data, model)?.into_json(&data).await?,
    ))
}

async fn local_group(data: &FedData, slug: &str) -> AppResult<DbGroup> {
    let model = consultation::Entity::find()
        .filter(consultation::Column::Slug.eq(slug))
        .filter(consultation::Column::ApId.is_null())
        .one(&data.db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no consultation '{slug}'")))?;
    DbGroup::new(data, model)
}

async fn group(Path(slug): Path<String>, data: FedData) -> AppResult<Response> {
    let group = local_group(&data, &slug).await?;
    Ok(activity_json(group.into_json(&data).await?))
}

async fn page(Path(id): Path<i32>, data: FedData) -> AppResult<Response> {
    let model = proposal::Entity::find_by_id(id)
        .filter(proposal::Column::ApId.is_null())
        .one(&data.db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no proposal {id}")))?;
    let object = DbProposal::new(&data, model)?;
    if object.model.hidden {
        return Err(AppError::NotFound(format!("no proposal {id}")));
    }
    if object.model.withdrawn {
        return Ok(tombstone(object.ap_id));
    }
    Ok(activity_json(object.into_json(&data).await?))
}

async fn poll(Path(id): Path<i32>, data: FedData) -> AppResult<Response> {
    let question = super::poll::served(&data, id)
        .await?
        .ok_or_else(|| super::poll::not_found(id))?;
    Ok(activity_json(question))
}

async fn comment_note(Path(id): Path<i32>, data: FedData) -> AppResult<Response> {
    let model = crate::store::comment::Entity::find_by_id(id)
        .filter(crate::store::comment::Column::ApId.is_null())
        .one(&data.db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no comment {id}")))?;
    let object = super::comments::DbComment::new(&data, model)?;
    if object.model.hidden {
        return Err(AppError::NotFound(format!("no comment {id}")));
    }
    if object.model.withdrawn {
        return Ok(tombstone(object.ap_id));
    }
    Ok(activity_json(object.into_json(&data).await?))
}

async fn note(Path(id): Path<i32>, data: FedData) -> AppResult<Response> {
    let model = argument::Entity::find_by_id(id)
        .filter(argument::Column::ApId.is_null())
        .one(&data.db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no argument {id}")))?;
    let object = DbArgument::new(&data, model)?;
    if object.model.hidden {
        return Err(AppError::NotFound(format!("no argument {id}")));
    }
    if object.model.withdrawn {
        return Ok(tombstone(object.ap_id));
    }
    Ok(activity_json(object.into_json(&data).await?))
}

async fn source_note(Path(id): Path<i32>, data: FedData) -> AppResult<Response> {
    let model = crate::store::source::Entity::find_by_id(id)
        .filter(crate::store::source::Column::ApId.is_null())
        .one(&data.db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no source {id}")))?;
    let object = super::sources::DbSource::new(&data, model)?;
    if object.model.hidden {
        return Err(AppError::NotFound(format!("no source {id}")));
    }
    if object.model.withdrawn {
        return Ok(tombstone(object.ap_id));
    }
    Ok(activity_json(object.into_json(&data).await?))
}

/// Accounts cannot be followed yet (consultations can): an empty collection.
async fn person_followers(Path(name): Path<String>, data: FedData) -> AppResult<Response> {
    let model = account::Entity::find()
        .filter(account::Column::Username.eq(&name))
        .filter(account::Column::ApId.is_null())
        .one(&data.db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no account '{name}'")))?;
    Ok(activity_json(json!({
        "type": "Collection",
        "id": format!("{}/followers", data.account_url(&name)),
        "totalItems": super::person_follows::count(&data.db, model.id).await?,
    })))
}

async fn empty_outbox(Path(name): Path<String>, data: FedData) -> AppResult<Response> {
    Ok(activity_json(json!({
        "type": "OrderedCollection",
        "id": format!("{}/outbox", data.account_url(&name)),
        "totalItems": 0,
        "orderedItems": [],
    })))
}

async fn group_outbox(Path(slug): Path<String>, data: FedData) -> AppResult<Response> {
    let group = local_group(&data, &slug).await?;
    Ok(activity_json(super::outbox::of_group(&data, &group).await?))
}

/// The consultation's debate as a collection of its proposals' and arguments' ids (FEP-7888
/// `context`): the latest 500 proposals, newest first, then the latest 500 of their arguments.
async fn group_context(Path(slug): Path<String>, data: FedData, uri: Uri) -> AppResult<Response> {
    let group = local_group(&data, &slug).await?;
    let policy = super::policy::Policy::load(&data.db).await?;
    let proposals = super::outbox::visible_proposals(&data, &policy, group.model.id, 500).await?;
    let ids: Vec<i32> = proposals.iter().map(|p| p.id).collect();
    let proposal_ids = ids.clone();
    let arguments = argument::Entity::find()
        .filter(argument::Column::ProposalId.is_in(ids))
        .filter(argument::Column::Hidden.eq(false))
        .filter(argument::Column::Withdrawn.eq(false))
        .filter(policy.author_shown(argument::Column::AuthorId))
        .order_by_desc(argument::Column::Id)
        .limit(500)
        .all(&data.db)
        .await?;
    // Contributions sent from other nodes belong to the debate too, under their own ids.
    let mut items = Vec::with_capacity(proposals.len() + arguments.len());
    for p in proposals {
        items.push(DbProposal::new(&data, p)?.ap_id.to_string());
    }
    for a in arguments {
        items.push(DbArgument::new(&data, a)?.ap_id.to_string());
    }
    let sources = crate::store::source::Entity::find()
        .filter(crate::store::source::Column::ProposalId.is_in(proposal_ids))
        .filter(crate::store::source::Column::Hidden.eq(false))
        .filter(crate::store::source::Column::Withdrawn.eq(false))
        .filter(policy.author_shown(crate::store::source::Column::AuthorId))
        .order_by_desc(crate::store::source::Column::Id)
        .limit(500)
        .all(&data.db)
        .await?;
    for s in sources {
        items.push(super::sources::DbSource::new(&data, s)?.ap_id.to_string());
    }
    Ok(activity_json(json!({
        "type": "OrderedCollection",
        "id": format!("{}{}", data.origin, uri.path()),
        "attributedTo": group.ap_id,
        "totalItems": items.len(),
        "orderedItems": items,
    })))
}

async fn group_followers(Path(slug): Path<String>, data: FedData) -> AppResult<Response> {
    let group = local_group(&data, &slug).await?;
    let total = follow::Entity::find()
        .filter(follow::Column::ConsultationId.eq(group.model.id))
        .filter(follow::Column::State.eq("accepted"))
        .count(&data.db)
        .await?;
    // Who follows is not published, only how many (Lemmy needs the empty `items`).
    Ok(activity_json(json!({
        "type": "Collection",
        "id": group.followers_url(),
        "totalItems": total,
        "items": [],
    })))
}
