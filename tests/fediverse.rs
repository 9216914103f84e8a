//! Real-world payloads: what Mastodon, Pleroma/Akkoma, Misskey, GoToSocial and Lemmy send, in
//! their own shapes (`tests/fixtures/fediverse/`, written from their source code; README there
//! says which file each comes from). Each fixture is delivered, signed by its actor's key, to a
//! real node's inbox, whose actor documents a small server here serves; the test then checks
//! what a user of the node would see: an argument, a comment, a vote, a share, a report...
mod common;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use activitypub_federation::http_signatures::generate_actor_keypair;
use axum::extract::State;
use axum::http::{StatusCode as AxumStatus, Uri, header};
use axum::response::IntoResponse;
use common::{TestApp, send_signed};
use palabre::domain::Role;
use palabre::federation::actors::InstanceActor;
use palabre::store::{account, argument, comment, follow, proposal, report, share, vote};
use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

/// Where each software's accounts live (some fixtures hard-code the usernames in URLs).
fn actor_paths(software: &str) -> (&'static str, &'static str) {
    match software {
        "mastodon" => ("/users/alice", "/actor"),
        "pleroma" => ("/users/bruno", "/internal/fetch"),
        "misskey" => ("/users/9zq7k2m4p1", "/users/9zq7k2m4p0"),
        "gotosocial" => ("/users/dominique", "/users/localhost"),
        "lemmy" => ("/u/emile", "/"),
        other => panic!("unknown software {other}"),
    }
}

type Documents = Arc<RwLock<HashMap<String, Value>>>;

async fn serve_document(State(documents): State<Documents>, uri: Uri) -> axum::response::Response {
    let found = documents
        .read()
        .ok()
        .and_then(|d| d.get(uri.path()).cloned());
    match found {
        Some(document) => (
            [(header::CONTENT_TYPE, "application/activity+json")],
            document.to_string(),
        )
            .into_response(),
        None => AxumStatus::NOT_FOUND.into_response(),
    }
}

/// A server of one software: its actor documents and the key that signs for them.
struct Remote {
    base: String,
    actor: String,
    instance_actor: String,
    documents: Documents,
    private_key: String,
    public_key: String,
}

impl Remote {
    async fn start(software: &str) -> Remote {
        let documents: Documents = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new()
            .fallback(serve_document)
            .with_state(documents.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let base = format!("http://localhost:{port}");
        let (actor, instance) = actor_paths(software);
        let keys = generate_actor_keypair().unwrap();
        Remote {
            actor: format!("{base}{actor}"),
            instance_actor: format!("{base}{instance}"),
            base,
            documents,
            private_key: keys.private_key,
            public_key: keys.public_key,
        }
    }

    fn signer(&self, actor: &str) -> InstanceActor {
        InstanceActor {
            ap_id: actor.parse().unwrap(),
            public_key: self.public_key.clone(),
            private_key: self.private_key.clone(),
            name: String::new(),
        }
    }
}

/// The ids a fixture fills in.
struct Names {
    values: Vec<(&'static str, String)>,
}

impl Names {
    fn fill(&self, template: &str) -> Value {
        let mut text = template.to_owned();
        for (placeholder, value) in &self.values {
            text = text.replace(placeholder, value);
        }
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture is not JSON: {e}\n{text}"))
    }
}

fn read(file: &str) -> String {
    // At run time: a binary built in another checkout sharing the target directory reads this
    // checkout's fixtures.
    let root = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    std::fs::read_to_string(format!("{root}/tests/fixtures/fediverse/{file}")).unwrap()
}

fn object_id(activity: &Value) -> String {
    match &activity["object"] {
        Value::String(id) => id.clone(),
        object => object["id"].as_str().unwrap_or_default().to_owned(),
    }
}

/// What the node shows of the sender and the fixture's object.
struct Seen {
    arguments_for: u64,
    arguments_against: u64,
    comments: u64,
    vote: Option<String>,
    shares: u64,
    reports: u64,
    follower: bool,
    proposals: u64,
}

async fn seen(app: &TestApp, actor: &str, proposal_id: i32) -> Seen {
    let db = &app.state.db;
    let account = account::Entity::find()
        .filter(account::Column::ApId.eq(actor))
        .one(db)
        .await
        .unwrap();
    let Some(account) = account else {
        return Seen {
            arguments_for: 0,
            arguments_against: 0,
            comments: 0,
            vote: None,
            shares: 0,
            reports: report::Entity::find().count(db).await.unwrap(),
            follower: false,
            proposals: proposal::Entity::find().count(db).await.unwrap(),
        };
    };
    let arguments = |stance: &'static str| {
        argument::Entity::find()
            .filter(argument::Column::AuthorId.eq(account.id))
            .filter(argument::Column::Stance.eq(stance))
            .filter(argument::Column::Withdrawn.eq(false))
            .count(db)
    };
    Seen {
        arguments_for: arguments("for").await.unwrap(),
        arguments_against: arguments("against").await.unwrap(),
        comments: comment::Entity::find()
            .filter(comment::Column::AuthorId.eq(account.id))
            .filter(comment::Column::Withdrawn.eq(false))
            .count(db)
            .await
            .unwrap(),
        vote: vote::Entity::find()
            .filter(vote::Column::AccountId.eq(account.id))
            .filter(vote::Column::ProposalId.eq(proposal_id))
            .one(db)
            .await
            .unwrap()
            .map(|v| v.value),
        shares: share::Entity::find()
            .filter(share::Column::ActorId.eq(account.id))
            .count(db)
            .await
            .unwrap(),
        reports: report::Entity::find().count(db).await.unwrap(),
        follower: follow::Entity::find()
            .filter(follow::Column::FollowerId.eq(account.id))
            .count(db)
            .await
            .unwrap()
            > 0,
        proposals: proposal::Entity::find().count(db).await.unwrap(),
    }
}

/// The body of the argument or comment with this id, and whether it was withdrawn.
async fn reply_state(app: &TestApp, id: &str) -> Option<(String, bool)> {
    let db = &app.state.db;
    if let Some(a) = argument::Entity::find()
        .filter(argument::Column::ApId.eq(id))
        .one(db)
        .await
        .unwrap()
    {
        return Some((a.body, a.withdrawn));
    }
    comment::Entity::find()
        .filter(comment::Column::ApId.eq(id))
        .one(db)
        .await
        .unwrap()
        .map(|c| (c.body, c.withdrawn))
}

#[tokio::test]
async fn what_five_fediverse_servers_send_is_understood() {
    let app = TestApp::spawn_federating().await;
    let orga = app.user_token("orga", Role::Admin).await;
    let autrice = app.user_token("autrice", Role::Member).await;
    app.consultation(&orga, "budget", 30).await;
    let (_, proposal) = app
        .api(
            Method::POST,
            "/api/v1/consultations/budget/proposals",
            Some(&autrice),
            Some(json!({"title": "Un budget participatif", "body": "Pour les quartiers."})),
        )
        .await;
    let proposal_id = proposal["id"].as_i64().unwrap() as i32;
    let proposal_url = proposal["url"].as_str().unwrap().to_owned();
    let (_, argument) = app
        .api(
            Method::POST,
            &format!("/api/v1/proposals/{proposal_id}/arguments"),
            Some(&autrice),
            Some(json!({"stance": "for", "body": "Les habitants savent."})),
        )
        .await;
    let group = format!("{}/consultations/budget", app.url);
    let inbox = format!("{}/inbox", app.url);
    let manifest: Vec<Value> = serde_json::from_str(&read("manifest.json")).unwrap();

    let mut remotes: HashMap<String, Remote> = HashMap::new();
    let mut sent: HashMap<String, Value> = HashMap::new();
    let mut failures = Vec::new();
    for (n, entry) in manifest.iter().enumerate() {
        let software = entry["software"].as_str().unwrap().to_owned();
        let file = entry["file"].as_str().unwrap();
        if !remotes.contains_key(&software) {
            remotes.insert(software.clone(), Remote::start(&software).await);
        }
        let remote = &remotes[&software];
        let previous = entry["after"].as_str().and_then(|f| sent.get(f)).cloned();
        let previous = previous.as_ref();
        let names = Names {
            values: vec![
                ("{{ACTOR_BASE}}", remote.base.clone()),
                (
                    "{{ACTOR_HOST}}",
                    remote.base.trim_start_matches("http://").to_owned(),
                ),
                ("{{INSTANCE_ACTOR}}", remote.instance_actor.clone()),
                ("{{ACTOR}}", remote.actor.clone()),
                ("{{N}}", format!("{}", 1000 + n)),
                ("{{GROUP_INBOX}}", format!("{group}/inbox")),
                ("{{GROUP_FOLLOWERS}}", format!("{group}/followers")),
                ("{{GROUP}}", group.clone()),
                ("{{QUESTION}}", format!("{proposal_url}/poll")),
                ("{{PROPOSAL_AUTHOR}}", format!("{}/users/autrice", app.url)),
                ("{{PROPOSAL}}", proposal_url.clone()),
                ("{{ARGUMENT}}", argument["url"].as_str().unwrap().to_owned()),
                (
                    "{{PREVIOUS_ACTIVITY}}",
                    previous
                        .and_then(|p| p["id"].as_str())
                        .unwrap_or_default()
                        .to_owned(),
                ),
                ("{{PREVIOUS}}", previous.map(object_id).unwrap_or_default()),
                (
                    "{{PUBLIC_KEY_PEM}}",
                    serde_json::to_string(&remote.public_key)
                        .unwrap()
                        .trim_matches('"')
                        .to_owned(),
                ),
            ],
        };
        let actor_file = entry["actor"].as_str().unwrap();
        let actor_document = names.fill(&read(actor_file));
        let actor_id = actor_document["id"].as_str().unwrap().to_owned();
        let path = url::Url::parse(&actor_id).unwrap().path().to_owned();
        remote
            .documents
            .write()
            .unwrap()
            .insert(path, actor_document);
        let activity = names.fill(&read(file));
        let before = seen(&app, &remote.actor, proposal_id).await;
        let previous_state = match previous {
            Some(p) => reply_state(&app, &object_id(p)).await,
            None => None,
        };
        let status = send_signed(&app, &remote.signer(&actor_id), &inbox, &activity, None).await;
        let after = seen(&app, &remote.actor, proposal_id).await;
        let expect = &entry["expect"];
        let mut check = |ok: bool, what: &str| {
            if !ok {
                failures.push(format!("{file} ({status}): {what}; expected {expect}"));
            }
        };
        if let Some(code) = expect.get("refused") {
            check(
                status.as_u16() as u64 == code.as_u64().unwrap(),
                "refused with that status",
            );
            check(
                after.arguments_for == before.arguments_for
                    && after.arguments_against == before.arguments_against
                    && after.comments == before.comments,
                "nothing stored",
            );
            continue;
        }
        check(status.as_u16() == 202, "accepted");
        sent.insert(file.to_owned(), activity.clone());
        if let Some(stance) = expect.get("argument").and_then(Value::as_str) {
            let (b, a) = match stance {
                "for" => (before.arguments_for, after.arguments_for),
                _ => (before.arguments_against, after.arguments_against),
            };
            check(a == b + 1, "one more argument on that side");
            check(after.comments == before.comments, "no comment");
        }
        if expect.get("comment").is_some() {
            check(after.comments == before.comments + 1, "one more comment");
            check(
                after.arguments_for + after.arguments_against
                    == before.arguments_for + before.arguments_against,
                "not counted as an argument",
            );
            let body = reply_state(&app, &object_id(&activity))
                .await
                .map(|(b, _)| b)
                .unwrap_or_default();
            let html = palabre::render::markdown_to_html(&body);
            check(
                !html.contains("<script")
                    && !html.contains("href=\"javascript")
                    && !html.contains("<img"),
                "remote HTML sanitised",
            );
        }
        if expect.get("edited").is_some() {
            let now = reply_state(&app, &object_id(&activity)).await;
            check(
                now.is_some() && now.map(|(b, _)| b) != previous_state.map(|(b, _)| b),
                "the text changed",
            );
        }
        if expect.get("withdrawn").is_some() {
            let id = previous.map(object_id).unwrap_or_default();
            let now = reply_state(&app, &id).await;
            check(now.is_some_and(|(_, w)| w), "withdrawn");
        }
        if let Some(value) = expect.get("vote") {
            check(after.vote.as_deref() == value.as_str(), "the vote counted");
        }
        if let Some(count) = expect.get("share").and_then(Value::as_u64) {
            check(after.shares == count, "shares");
        }
        if expect.get("report").is_some() {
            check(after.reports == before.reports + 1, "a report in the queue");
        }
        if let Some(follower) = expect.get("follower").and_then(Value::as_bool) {
            check(after.follower == follower, "follower");
        }
        if expect.get("proposal").is_some() {
            check(after.proposals == before.proposals + 1, "a new proposal");
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures not handled as expected:\n{}",
        failures.len(),
        manifest.len(),
        failures.join("\n")
    );
}
