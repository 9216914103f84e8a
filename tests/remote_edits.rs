//! A remote author's edit of a contribution to a consultation hosted here is stored together
//! with the `Update` queued for the consultation's followers, or not at all: a database fault
//! between the two must not leave the edit stored and the followers never told (the sender's
//! retry would then change nothing, and find nothing to relay). Two real apps on loopback; the
//! fault is real: a trigger makes every insert into the delivery queue fail.
mod common;

use common::{TestApp, eventually, send_signed};
use palabre::domain::Role;
use palabre::federation::actors::DbPerson;
use palabre::federation::keys;
use palabre::services::accounts;
use palabre::store::delivery;
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";

/// A consultation hosted on `origin` with a proposal, and Claire, on `remote`, following it.
struct Debate {
    origin: TestApp,
    remote: TestApp,
    claire: DbPerson,
    group: String,
    inbox: String,
    proposal: i64,
    proposal_url: String,
}

async fn debate() -> Debate {
    let origin = TestApp::spawn_federating().await;
    let remote = TestApp::spawn_federating().await;
    let admin = origin.user_token("orga", Role::Admin).await;
    let autrice = origin.user_token("autrice", Role::Member).await;
    origin.consultation(&admin, "budget", 30).await;
    let (status, proposal) = origin
        .api(
            Method::POST,
            "/api/v1/consultations/budget/proposals",
            Some(&autrice),
            Some(json!({"title": "Un budget participatif", "body": "Pour les quartiers."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{proposal}");
    remote.create_user("claire", Role::Member, None).await;
    let claire = accounts::find_by_username(&remote.state.db, "claire")
        .await
        .unwrap();
    let claire = keys::ensure_account_keys(&remote.state, claire)
        .await
        .unwrap();
    let claire = DbPerson::new(&remote.state, claire).unwrap();
    let group = format!("{}/consultations/budget", origin.url);
    let inbox = format!("{group}/inbox");
    let follow = json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "type": "Follow",
        "id": format!("{}/activities/follow/1", remote.url),
        "actor": claire.ap_id,
        "object": group,
    });
    assert_eq!(
        send_signed(&remote, &claire, &inbox, &follow, None).await,
        StatusCode::ACCEPTED
    );
    Debate {
        proposal: proposal["id"].as_i64().unwrap(),
        proposal_url: proposal["url"].as_str().unwrap().to_owned(),
        origin,
        remote,
        claire,
        group,
        inbox,
    }
}

impl Debate {
    fn activity(&self, kind: &str, n: &str, object: Value) -> Value {
        json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "type": kind,
            "id": format!("{}/activities/{}/{n}", self.remote.url, kind.to_lowercase()),
            "actor": self.claire.ap_id,
            "object": object,
        })
    }

    async fn send(&self, activity: &Value) -> StatusCode {
        send_signed(&self.remote, &self.claire, &self.inbox, activity, None).await
    }

    fn argument(&self, content: &str) -> Value {
        json!({
            "type": "Note",
            "id": format!("{}/notes/1", self.remote.url),
            "attributedTo": self.claire.ap_id,
            "inReplyTo": self.proposal_url,
            "content": content,
            "stance": "for",
            "audience": self.group,
            "to": [PUBLIC, self.group],
        })
    }

    fn page(&self, content: &str) -> Value {
        json!({
            "type": "Page",
            "id": format!("{}/proposals/9", self.remote.url),
            "attributedTo": self.claire.ap_id,
            "name": "Un marché le dimanche",
            "content": content,
            "audience": self.group,
            "to": [self.group, PUBLIC],
        })
    }

    fn source(&self, summary: &str) -> Value {
        json!({
            "type": "Note",
            "id": format!("{}/sources/1", self.remote.url),
            "attributedTo": self.claire.ap_id,
            "inReplyTo": self.proposal_url,
            "name": "Le rapport",
            "summary": summary,
            "content": "<p>Le rapport</p>",
            "attachment": [{"type": "Link", "href": "https://example.org/rapport"}],
            "isSource": true,
            "audience": self.group,
            "to": [PUBLIC, self.group],
        })
    }

    fn comment(&self, content: &str) -> Value {
        json!({
            "type": "Note",
            "id": format!("{}/comments/1", self.remote.url),
            "attributedTo": self.claire.ap_id,
            "inReplyTo": self.proposal_url,
            "content": content,
            "audience": self.group,
            "to": [PUBLIC, self.group],
        })
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.origin.api(Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn argument_text(&self) -> String {
        let list = self
            .get(&format!("/api/v1/proposals/{}/arguments", self.proposal))
            .await;
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 1, "{list:?}");
        list[0]["body"].as_str().unwrap().to_owned()
    }

    async fn proposal_text(&self) -> String {
        let list = self.get("/api/v1/consultations/budget/proposals").await;
        let theirs = list["items"]
            .as_array()
            .unwrap_or_else(|| panic!("{list}"))
            .iter()
            .find(|p| p["title"] == "Un marché le dimanche")
            .unwrap_or_else(|| panic!("{list}"));
        let id = theirs["id"].as_i64().unwrap();
        let page = self.get(&format!("/api/v1/proposals/{id}")).await;
        page["body"].as_str().unwrap().to_owned()
    }

    async fn source_text(&self) -> String {
        let list = self
            .get(&format!("/api/v1/proposals/{}/sources", self.proposal))
            .await;
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 1, "{list:?}");
        list[0]["description"].as_str().unwrap().to_owned()
    }

    async fn comment_text(&self) -> String {
        let page = self
            .get(&format!("/api/v1/proposals/{}", self.proposal))
            .await;
        let comments = page["comments"].as_array().unwrap();
        assert_eq!(comments.len(), 1, "{comments:?}");
        comments[0]["body"].as_str().unwrap().to_owned()
    }

    /// Updates queued for the followers that carry `text`.
    async fn updates_saying(&self, text: &str) -> u64 {
        delivery::Entity::find()
            .filter(delivery::Column::ActivityId.contains("/activities/update/"))
            .filter(delivery::Column::Payload.contains(text))
            .count(&self.origin.state.db)
            .await
            .unwrap()
    }

    /// From now on every insert into the delivery queue fails, as on a full disk.
    async fn break_the_queue(&self) {
        self.origin.inserts_fail("deliveries", true).await;
    }

    async fn repair_the_queue(&self) {
        self.origin.inserts_fail("deliveries", false).await;
    }
}

/// What an edit of one kind of contribution looks like, and where its text is read back.
#[derive(Clone, Copy)]
enum Kind {
    Argument,
    Proposal,
    Source,
    Comment,
}

impl Kind {
    fn object(self, d: &Debate, text: &str) -> Value {
        match self {
            Kind::Argument => d.argument(&format!("<p>{text}</p>")),
            Kind::Proposal => d.page(&format!("<p>{text}</p>")),
            Kind::Source => d.source(text),
            Kind::Comment => d.comment(&format!("<p>{text}</p>")),
        }
    }

    async fn text(self, d: &Debate) -> String {
        match self {
            Kind::Argument => d.argument_text().await,
            Kind::Proposal => d.proposal_text().await,
            Kind::Source => d.source_text().await,
            Kind::Comment => d.comment_text().await,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Argument => "argument",
            Kind::Proposal => "proposal",
            Kind::Source => "source",
            Kind::Comment => "comment",
        }
    }
}

/// Posts a contribution of `kind`, edits it while the queue is broken (refused, nothing
/// changed), then resends the very same Update once the queue works (stored and relayed).
async fn edit_during_a_fault(d: &Debate, kind: Kind) {
    let what = kind.name();
    // Texts of its own per kind: the Updates queued for one kind do not count for the next.
    let first = format!("Place Jaures, le matin ({what}).");
    let edited = format!("Place Jaures, de 8 h a 13 h ({what}).");
    let create = d.activity("Create", what, kind.object(d, &first));
    assert_eq!(d.send(&create).await, StatusCode::ACCEPTED, "{what}");
    assert_eq!(kind.text(d).await, first, "{what}");

    d.break_the_queue().await;
    let update = d.activity("Update", what, kind.object(d, &edited));
    let status = d.send(&update).await;
    assert!(
        status.is_server_error(),
        "{what}: a failed write answers 5xx so that the sender retries, got {status}"
    );
    if d.origin.state.db.get_database_backend() == DbBackend::Postgres {
        // The trigger raises PostgreSQL's own "disk full": a fault to wait out.
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}");
    }
    assert_eq!(
        kind.text(d).await,
        first,
        "{what}: an edit that could not be announced is not stored either"
    );
    assert_eq!(d.updates_saying(&edited).await, 0, "{what}");

    d.repair_the_queue().await;
    assert_eq!(d.send(&update).await, StatusCode::ACCEPTED, "{what}");
    assert_eq!(kind.text(d).await, edited, "{what}");
    assert!(
        d.updates_saying(&edited).await > 0,
        "{what}: the resent edit is relayed to the consultation's followers"
    );
}

#[tokio::test]
async fn an_edit_whose_announcement_failed_is_announced_when_resent() {
    let d = debate().await;
    edit_during_a_fault(&d, Kind::Argument).await;
}

#[tokio::test]
async fn edits_of_proposals_sources_and_comments_are_stored_and_announced_together() {
    let d = debate().await;
    for kind in [Kind::Proposal, Kind::Source, Kind::Comment] {
        edit_during_a_fault(&d, kind).await;
    }
}

/// A mirror that lost a proposal's `Announce` gets the proposal from the Group's next `Update`
/// of it, instead of refusing the `Update` (404) and missing it for good.
#[tokio::test]
async fn a_mirror_that_missed_a_proposal_gets_it_from_its_next_update() {
    let origin = TestApp::spawn_federating().await;
    let mirror = TestApp::spawn_federating().await;
    let admin = origin.user_token("orga", Role::Admin).await;
    origin.consultation(&admin, "budget", 30).await;
    let claire = mirror.user_token("claire", Role::Member).await;
    let handle = format!("budget@{}", origin.url.trim_start_matches("http://"));
    mirror.follow_accepted(&claire, &handle).await;
    let (status, proposal) = origin
        .api(
            Method::POST,
            "/api/v1/consultations/budget/proposals",
            Some(&admin),
            Some(json!({"title": "Des bancs", "body": "Sur la place."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{proposal}");
    let listed = format!("/api/v1/consultations/{handle}/proposals");
    let titles = || async {
        let (_, list) = mirror.api(Method::GET, &listed, None, None).await;
        list["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|p| p["title"].as_str().map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    eventually("the proposal on the mirror", || async {
        (titles().await == ["Des bancs"]).then_some(())
    })
    .await;
    // As if its Announce had never arrived.
    palabre::store::proposal::Entity::delete_many()
        .exec(&mirror.state.db)
        .await
        .unwrap();
    assert!(titles().await.is_empty());

    let (status, body) = origin
        .api(
            Method::PATCH,
            &format!("/api/v1/proposals/{}", proposal["id"]),
            Some(&admin),
            Some(json!({"title": "Des bancs ombragés"})),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    eventually("the edited proposal on the mirror", || async {
        (titles().await == ["Des bancs ombragés"]).then_some(())
    })
    .await;
    // The mirror stores the edit before it answers, so the origin may not have recorded the
    // answer yet when the mirror shows it.
    eventually("the Update recorded as delivered, not refused", || async {
        delivery::Entity::find()
            .all(&origin.state.db)
            .await
            .unwrap()
            .iter()
            .any(|d| {
                d.payload.contains("ombragés")
                    && d.payload.contains("\"Update\"")
                    && d.status == "delivered"
            })
            .then_some(())
    })
    .await;
}

/// An older edit that arrives after a newer one (a retry overtaken by the next edit) does not
/// bring the old text back; a newer one still applies.
#[tokio::test]
async fn an_older_edit_arriving_late_does_not_undo_a_newer_one() {
    let d = debate().await;
    let written = chrono::Utc::now() - chrono::Duration::minutes(10);
    let at = |minutes: i64| (written + chrono::Duration::minutes(minutes)).to_rfc3339();
    let version = |text: &str, minutes: Option<i64>| {
        let mut note = d.argument(&format!("<p>{text}</p>"));
        note["published"] = json!(at(0));
        if let Some(minutes) = minutes {
            note["updated"] = json!(at(minutes));
        }
        note
    };
    let create = d.activity("Create", "ordre", version("Premier jet.", None));
    assert_eq!(d.send(&create).await, StatusCode::ACCEPTED);
    let second = d.activity("Update", "ordre-2", version("Deuxième version.", Some(2)));
    assert_eq!(d.send(&second).await, StatusCode::ACCEPTED);
    assert_eq!(d.argument_text().await, "Deuxième version.");

    let first = d.activity("Update", "ordre-1", version("Première version.", Some(1)));
    assert_eq!(
        d.send(&first).await,
        StatusCode::ACCEPTED,
        "taken, and ignored"
    );
    assert_eq!(d.argument_text().await, "Deuxième version.");
    assert_eq!(
        d.updates_saying("Première version.").await,
        0,
        "not relayed"
    );

    let third = d.activity("Update", "ordre-3", version("Troisième version.", Some(3)));
    assert_eq!(d.send(&third).await, StatusCode::ACCEPTED);
    assert_eq!(d.argument_text().await, "Troisième version.");
}

/// A comment whose author adds a stance hashtag becomes an argument, counted, still theirs; an
/// edit that would credit it to another account of their server is refused.
#[tokio::test]
async fn a_comment_edited_with_a_stance_becomes_its_author_s_argument() {
    let d = debate().await;
    let comment = d.comment("<p>Et les écoles ?</p>");
    assert_eq!(
        d.send(&d.activity("Create", "k1", comment.clone())).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(d.comment_text().await, "Et les écoles ?");

    let mut argument = comment;
    argument["content"] = json!("<p>Et les écoles ? #pour</p>");
    argument["stance"] = json!("for");
    argument["updated"] = json!(chrono::Utc::now().to_rfc3339());
    let mut forged = argument.clone();
    forged["attributedTo"] = json!(format!("{}/users/bob", d.remote.url));
    assert_eq!(
        d.send(&d.activity("Update", "k2", forged)).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(d.comment_text().await, "Et les écoles ?", "unchanged");

    assert_eq!(
        d.send(&d.activity("Update", "k3", argument)).await,
        StatusCode::ACCEPTED
    );
    let page = d.get(&format!("/api/v1/proposals/{}", d.proposal)).await;
    assert_eq!(page["counts"]["arguments_for"], 1, "{page}");
    assert_eq!(page["comments"], json!([]), "{page}");
    let author = &page["arguments_for"][0]["author"]["username"];
    assert!(author.as_str().unwrap().starts_with("claire@"), "{page}");
    assert_eq!(
        d.updates_saying("#pour").await,
        1,
        "relayed to the followers"
    );
}
