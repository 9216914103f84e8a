//! Authorisation on every write of the API: one table of routes × callers × expected status.
//!
//! Each cell runs on a fresh target (a new consultation, proposal, argument, source, comment,
//! follow or vote), so that one caller's success cannot change the next caller's answer. A
//! refusal (any 4xx) must leave every table as it was; a success must change something. A
//! last check compares the table with the OpenAPI document: a new write route without a row
//! here fails the test.
mod common;
#[path = "common/snapshot.rs"]
mod snapshot;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};

use common::{PASSWORD, TestApp};
use palabre::domain::Role;
use palabre::services::accounts::{self, SessionKind};
use palabre::store::{account, comment, consultation, follow};
use reqwest::Method;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde_json::{Value, json};

/// Who sends the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// No `Authorization` header.
    Anonymous,
    /// `alice`, a member who owns the target: she wrote the proposal, argument or source, she
    /// follows, or she is the account concerned. For the other routes, just a member.
    Author,
    /// `bob`, another member: the "wrong user".
    Member,
    /// `modo`, a moderator.
    Moderator,
    /// `orga`, an admin (organiser).
    Admin,
}

/// The columns of the table, in this order.
const CALLERS: [Who; 5] = [
    Who::Anonymous,
    Who::Author,
    Who::Member,
    Who::Moderator,
    Who::Admin,
];

/// What a route acts on; made afresh for every request.
#[derive(Debug, Clone, Copy)]
enum On {
    /// Nothing beyond the open consultation `agora`.
    Nothing,
    /// A new open consultation (`{slug}`).
    Consultation,
    /// A new proposal by alice (`{id}`).
    Proposal,
    /// A new proposal by alice on which alice, bob, modo and orga all voted (`{id}`).
    VotedProposal,
    /// A new argument by alice (`{id}`).
    Argument,
    /// A new source by alice (`{id}`).
    Source,
    /// A new comment by alice, as if it came from the fediverse (`{id}`).
    Comment,
    /// A new follow by alice of a consultation mirrored from another node (`{id}`).
    Follow,
    /// Alice's account, given a verified badge (`{username}`).
    Account,
    /// A blocked server (`{domain}`).
    Domain,
}

/// What the fixture made: the values the path and body need.
struct Target {
    /// A number unique to this request, for names that must not collide.
    n: u32,
    id: i64,
    slug: String,
}

struct Route {
    method: Method,
    path: &'static str,
    on: On,
    body: Option<fn(&Target) -> Value>,
    /// Expected status for Anonymous, Author, Member, Moderator, Admin.
    expect: [u16; 5],
}

fn route(
    method: Method,
    path: &'static str,
    on: On,
    expect: [u16; 5],
    body: Option<fn(&Target) -> Value>,
) -> Route {
    Route {
        method,
        path,
        on,
        body,
        expect,
    }
}

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PUT: Method = Method::PUT;
const PATCH: Method = Method::PATCH;
const DELETE: Method = Method::DELETE;

/// Every write route of the API. Anybody may sign in or up; members take part, and only the
/// author changes or withdraws what they wrote (moderators and admins hide instead); moderators
/// and admins hide; only admins organise (consultations, official answers, badges). Someone
/// else's follow is answered 404, as if it did not exist.
#[rustfmt::skip]
fn routes() -> Vec<Route> {
    use On::*;
    let hide: Option<fn(&Target) -> Value> = Some(|_| json!({"hidden": true}));
    vec![
        //    method  path                                         target        anon author member modo admin
        route(POST,   "/api/v1/auth/token",                        Nothing,      [200, 200, 200, 200, 200],
              Some(|_| json!({"username": "alice", "password": PASSWORD}))),
        route(DELETE, "/api/v1/auth/token",                        Nothing,      [401, 204, 204, 204, 204], None),
        route(DELETE, "/api/v1/auth/tokens",                       Nothing,      [401, 200, 200, 200, 200], None),
        route(POST,   "/api/v1/accounts",                          Nothing,      [201, 201, 201, 201, 201],
              Some(|t| json!({"username": format!("new-{}", t.n), "password": PASSWORD}))),
        route(PUT,    "/api/v1/accounts/{username}/verification",  Account,      [401, 403, 403, 403, 200],
              Some(|_| json!({"label": "Association vérifiée"}))),
        route(DELETE, "/api/v1/accounts/{username}/verification",  Account,      [401, 403, 403, 403, 200], None),
        route(POST,   "/api/v1/consultations",                     Nothing,      [401, 403, 403, 403, 201],
              Some(|t| consultation_body(&format!("new-{}", t.n)))),
        route(PATCH,  "/api/v1/consultations/{slug}",              Consultation, [401, 403, 403, 403, 200],
              Some(|_| json!({"title": "Un autre titre"}))),
        route(POST,   "/api/v1/consultations/{slug}/proposals",    Consultation, [401, 201, 201, 201, 201],
              Some(|_| json!({"title": "Une proposition", "body": "Son texte."}))),
        route(PATCH,  "/api/v1/proposals/{id}",                    Proposal,     [401, 200, 403, 403, 403],
              Some(|_| json!({"title": "Titre changé"}))),
        route(DELETE, "/api/v1/proposals/{id}",                    Proposal,     [401, 204, 403, 403, 403], None),
        route(PUT,    "/api/v1/proposals/{id}/hidden",             Proposal,     [401, 403, 403, 200, 200], hide),
        route(PUT,    "/api/v1/proposals/{id}/answer",             Proposal,     [401, 403, 403, 403, 200],
              Some(|_| json!({"state": "accepted", "answer": "Nous le ferons."}))),
        route(PUT,    "/api/v1/proposals/{id}/vote",               Proposal,     [401, 200, 200, 200, 200],
              Some(|_| json!({"value": "agree"}))),
        route(DELETE, "/api/v1/proposals/{id}/vote",               VotedProposal,[401, 200, 200, 200, 200], None),
        route(POST,   "/api/v1/proposals/{id}/arguments",          Proposal,     [401, 201, 201, 201, 201],
              Some(|_| json!({"stance": "against", "body": "Un argument."}))),
        route(PATCH,  "/api/v1/arguments/{id}",                    Argument,     [401, 200, 403, 403, 403],
              Some(|_| json!({"body": "Argument changé."}))),
        route(DELETE, "/api/v1/arguments/{id}",                    Argument,     [401, 204, 403, 403, 403], None),
        route(PUT,    "/api/v1/arguments/{id}/hidden",             Argument,     [401, 403, 403, 200, 200], hide),
        route(PUT,    "/api/v1/comments/{id}/hidden",              Comment,      [401, 403, 403, 200, 200], hide),
        route(POST,   "/api/v1/proposals/{id}/sources",            Proposal,     [401, 201, 201, 201, 201],
              Some(|_| json!({"title": "Une source", "url": "https://example.org/etude"}))),
        route(PATCH,  "/api/v1/sources/{id}",                      Source,       [401, 200, 403, 403, 403],
              Some(|_| json!({"title": "Source changée"}))),
        route(DELETE, "/api/v1/sources/{id}",                      Source,       [401, 204, 403, 403, 403], None),
        route(PUT,    "/api/v1/sources/{id}/hidden",               Source,       [401, 403, 403, 200, 200], hide),
        // Following a real remote node is the federation tests' business: a malformed target
        // shows that every signed-in caller gets past authorisation, to the validation.
        route(POST,   "/api/v1/follows",                           Nothing,      [401, 400, 400, 400, 400],
              Some(|_| json!({"target": "pas une adresse"}))),
        route(DELETE, "/api/v1/follows/{id}",                      Follow,       [401, 204, 404, 404, 404], None),
        route(POST,   "/api/v1/reports",                           Proposal,     [401, 201, 201, 201, 201],
              Some(|t| json!({"kind": "proposal", "id": t.id, "reason": "Hors sujet"}))),
        // Moderators suspend members (here alice, reinstated before every request); admins
        // also run the federation: blocked and partner servers, allow-list mode.
        route(PUT,    "/api/v1/admin/accounts/{account}/suspension", Nothing,    [401, 403, 403, 200, 200],
              Some(|_| json!({"suspended": true, "reason": "Messages injurieux"}))),
        route(PUT,    "/api/v1/admin/domains/{domain}",            Nothing,      [401, 403, 403, 403, 200],
              Some(|_| json!({"policy": "block", "reason": "Spam"}))),
        route(DELETE, "/api/v1/admin/domains/{domain}",            Domain,       [401, 403, 403, 403, 204], None),
        route(PUT,    "/api/v1/admin/federation/mode",             Nothing,      [401, 403, 403, 403, 200],
              Some(|_| json!({"mode": "allowlist"}))),
        // Admins send again what a server missed; this one never missed anything.
        route(POST,   "/api/v1/admin/deliveries/{server}/retry",   Nothing,      [401, 403, 403, 403, 404], None),
    ]
}

fn consultation_body(slug: &str) -> Value {
    let now = chrono::Utc::now();
    json!({
        "slug": slug,
        "title": format!("Consultation {slug}"),
        "body": "Une question au public.",
        "opens_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
        "closes_at": (now + chrono::Duration::days(30)).to_rfc3339(),
    })
}

struct World {
    app: TestApp,
    ids: [(Who, i32); 4],
    counter: AtomicU32,
}

impl World {
    async fn new() -> Self {
        // The rate limits are tested elsewhere (tests/limits.rs); here they would get in the way.
        let app = TestApp::spawn_with(|settings| {
            for limit in [
                &mut settings.limits.signup,
                &mut settings.limits.login,
                &mut settings.limits.posting,
            ] {
                limit.requests = 0;
            }
        })
        .await;
        let mut ids = Vec::new();
        for (who, name, role) in [
            (Who::Author, "alice", Role::Member),
            (Who::Member, "bob", Role::Member),
            (Who::Moderator, "modo", Role::Moderator),
            (Who::Admin, "orga", Role::Admin),
        ] {
            app.create_user(name, role, None).await;
            let model = account::Entity::find()
                .filter(account::Column::Username.eq(name))
                .one(&app.state.db)
                .await
                .expect("find")
                .expect("account");
            ids.push((who, model.id));
        }
        let world = Self {
            app,
            ids: ids.try_into().expect("four callers"),
            counter: AtomicU32::new(0),
        };
        let admin = world.token(Who::Admin).await;
        world.app.consultation(&admin, "agora", 30).await;
        world
    }

    fn account_id(&self, who: Who) -> i32 {
        self.ids
            .iter()
            .find(|(w, _)| *w == who)
            .map(|(_, id)| *id)
            .expect("a signed-in caller")
    }

    /// A fresh token for every request: some routes revoke the one they are called with.
    async fn token(&self, who: Who) -> String {
        accounts::open_session(
            &self.app.state.db,
            self.account_id(who),
            SessionKind::Api,
            1,
        )
        .await
        .expect("token")
    }

    async fn created(&self, who: Who, path: &str, body: Value) -> Value {
        let token = self.token(who).await;
        let (status, created) = self.app.api(POST, path, Some(&token), Some(body)).await;
        assert!(status.is_success(), "fixture {path}: {status} {created}");
        created
    }

    async fn proposal(&self) -> i64 {
        let created = self
            .created(
                Who::Author,
                "/api/v1/consultations/agora/proposals",
                json!({"title": "La proposition d'Alice", "body": "Son texte."}),
            )
            .await;
        created["id"].as_i64().expect("proposal id")
    }

    /// Makes the fixture `on` and returns what the path and body need.
    async fn target(&self, on: On) -> Target {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let db = &self.app.state.db;
        // Alice may have been suspended by the previous request.
        let alice = account::Entity::find_by_id(self.account_id(Who::Author))
            .one(db)
            .await
            .expect("find")
            .expect("alice");
        if alice.suspended_at.is_some() {
            let mut active = alice.into_active_model();
            active.suspended_at = Set(None);
            active.update(db).await.expect("reinstate");
        }
        let mut target = Target {
            n,
            id: 0,
            slug: "agora".into(),
        };
        match on {
            On::Nothing => {}
            On::Consultation => {
                target.slug = format!("c-{n}");
                self.created(
                    Who::Admin,
                    "/api/v1/consultations",
                    consultation_body(&target.slug),
                )
                .await;
            }
            On::Proposal => target.id = self.proposal().await,
            On::VotedProposal => {
                target.id = self.proposal().await;
                for who in [Who::Author, Who::Member, Who::Moderator, Who::Admin] {
                    let token = self.token(who).await;
                    let (status, body) = self
                        .app
                        .api(
                            PUT,
                            &format!("/api/v1/proposals/{}/vote", target.id),
                            Some(&token),
                            Some(json!({"value": "mixed"})),
                        )
                        .await;
                    assert_eq!(status, 200, "fixture vote: {body}");
                }
            }
            On::Argument | On::Source => {
                let proposal = self.proposal().await;
                let (path, body) = match on {
                    On::Argument => (
                        format!("/api/v1/proposals/{proposal}/arguments"),
                        json!({"stance": "for", "body": "L'argument d'Alice."}),
                    ),
                    _ => (
                        format!("/api/v1/proposals/{proposal}/sources"),
                        json!({"title": "La source d'Alice", "url": "https://example.org/"}),
                    ),
                };
                target.id = self.created(Who::Author, &path, body).await["id"]
                    .as_i64()
                    .expect("id");
            }
            On::Comment => {
                let proposal = self.proposal().await;
                let now = chrono::Utc::now();
                let row = comment::ActiveModel {
                    proposal_id: Set(i32::try_from(proposal).expect("id")),
                    author_id: Set(self.account_id(Who::Author)),
                    body: Set("Un commentaire venu d'ailleurs.".into()),
                    hidden: Set(false),
                    withdrawn: Set(false),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                }
                .insert(db)
                .await
                .expect("comment");
                target.id = i64::from(row.id);
            }
            On::Follow => {
                // A consultation made to look mirrored from ville.example, followed by alice.
                let slug = format!("m-{n}");
                self.created(
                    Who::Admin,
                    "/api/v1/consultations",
                    consultation_body(&slug),
                )
                .await;
                let model = consultation::Entity::find()
                    .filter(consultation::Column::Slug.eq(&slug))
                    .one(db)
                    .await
                    .expect("find")
                    .expect("consultation");
                let origin = "https://ville.example";
                let mut active = model.into_active_model();
                active.slug = Set(format!("{slug}@ville.example"));
                active.ap_id = Set(Some(format!("{origin}/consultations/{slug}")));
                active.inbox = Set(Some(format!("{origin}/consultations/{slug}/inbox")));
                active.mirrored = Set(true);
                let mirrored = active.update(db).await.expect("mirror");
                let row = follow::ActiveModel {
                    follower_id: Set(self.account_id(Who::Author)),
                    consultation_id: Set(mirrored.id),
                    activity_id: Set(format!("{}/activities/follow/{n}", self.app.url)),
                    state: Set("accepted".into()),
                    created_at: Set(chrono::Utc::now()),
                    ..Default::default()
                }
                .insert(db)
                .await
                .expect("follow");
                target.id = i64::from(row.id);
            }
            On::Domain => {
                let token = self.token(Who::Admin).await;
                let (status, body) = self
                    .app
                    .api(
                        PUT,
                        &format!("/api/v1/admin/domains/d-{n}.example"),
                        Some(&token),
                        Some(json!({"policy": "block"})),
                    )
                    .await;
                assert_eq!(status, 200, "fixture block: {body}");
            }
            On::Account => {
                accounts::set_verified(db, None, "alice", Some("Vérifiée"))
                    .await
                    .expect("badge");
            }
        }
        target
    }
}

fn resolve(path: &str, target: &Target) -> String {
    path.replace("{id}", &target.id.to_string())
        .replace("{slug}", &target.slug)
        .replace("{username}", "alice")
        .replace("{account}", "alice")
        .replace("{domain}", &format!("d-{}.example", target.n))
        .replace("{server}", &format!("d-{}.example", target.n))
}

#[tokio::test]
async fn every_write_route_checks_who_is_asking() {
    let world = World::new().await;
    let db = &world.app.state.db;
    let mut failures = Vec::new();
    for route in routes() {
        for (who, expected) in CALLERS.into_iter().zip(route.expect) {
            let target = world.target(route.on).await;
            let token = match who {
                Who::Anonymous => None,
                signed_in => Some(world.token(signed_in).await),
            };
            let path = resolve(route.path, &target);
            let body = route.body.map(|make| make(&target));
            let before = snapshot::snapshot(db).await;
            let (status, answer) = world
                .app
                .api(route.method.clone(), &path, token.as_deref(), body)
                .await;
            let after = snapshot::snapshot(db).await;
            let cell = format!("{} {} as {who:?}", route.method, route.path);
            if status.as_u16() != expected {
                failures.push(format!(
                    "{cell}: expected {expected}, got {status} {answer}"
                ));
            }
            let changed = snapshot::changed_tables(&before, &after);
            if status.is_client_error() && !changed.is_empty() {
                failures.push(format!(
                    "{cell}: refused ({status}) but changed {changed:?}"
                ));
            }
            if status.is_success() && changed.is_empty() {
                failures.push(format!("{cell}: accepted ({status}) but changed nothing"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cells wrong:\n{}",
        failures.len(),
        routes().len() * CALLERS.len(),
        failures.join("\n")
    );
}

/// The table above must name every write route the API documents, and only those.
#[tokio::test]
async fn the_table_covers_every_write_route() {
    let app = TestApp::spawn().await;
    let (status, doc) = app.api(GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, 200);
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, methods)| {
            methods
                .as_object()
                .into_iter()
                .flat_map(|m| m.keys())
                .filter(|m| matches!(m.as_str(), "post" | "put" | "patch" | "delete"))
                .map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect();
    let tested: BTreeSet<String> = routes()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let missing: Vec<_> = documented.difference(&tested).collect();
    let unknown: Vec<_> = tested.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "write routes without a row in tests/authz.rs: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "rows for undocumented routes: {unknown:?}"
    );
}
