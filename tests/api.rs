//! The JSON API, driven over real HTTP against the real app with an isolated database.
mod common;

use common::TestApp;
use palabre::domain::Role;
use reqwest::Method;
use reqwest::StatusCode;
use serde_json::{Value, json};

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PUT: Method = Method::PUT;
const PATCH: Method = Method::PATCH;
const DELETE: Method = Method::DELETE;

struct Debate {
    app: TestApp,
    admin: String,
    alice: String,
    bob: String,
    slug: String,
}

async fn debate() -> Debate {
    let app = TestApp::spawn().await;
    let admin = app.user_token("orga", Role::Admin).await;
    let alice = app.user_token("alice", Role::Member).await;
    let bob = app.user_token("bob", Role::Member).await;
    app.consultation(&admin, "brest", 30).await;
    Debate {
        app,
        admin,
        alice,
        bob,
        slug: "brest".into(),
    }
}

impl Debate {
    async fn propose(&self, token: &str, title: &str) -> Value {
        let (status, body) = self
            .app
            .api(
                POST,
                &format!("/api/v1/consultations/{}/proposals", self.slug),
                Some(token),
                Some(json!({"title": title, "body": "Le **corps** de la proposition."})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    async fn argue(&self, token: &str, proposal: i64, stance: &str, text: &str) -> Value {
        let (status, body) = self
            .app
            .api(
                POST,
                &format!("/api/v1/proposals/{proposal}/arguments"),
                Some(token),
                Some(json!({"stance": stance, "body": text})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    async fn proposal(&self, token: Option<&str>, id: i64) -> (StatusCode, Value) {
        self.app
            .api(GET, &format!("/api/v1/proposals/{id}"), token, None)
            .await
    }

    async fn close(&self) {
        let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
        let (status, body) = self
            .app
            .api(
                PATCH,
                &format!("/api/v1/consultations/{}", self.slug),
                Some(&self.admin),
                Some(json!({"closes_at": past})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["state"], "closed");
    }
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "an error needs a message: {body}"
    );
}

#[tokio::test]
async fn organisers_create_consultations_whose_state_follows_their_dates() {
    let d = debate().await;
    let app = &d.app;
    let now = chrono::Utc::now();
    let upcoming = json!({
        "slug": "budget", "title": "Budget participatif", "body": "À venir",
        "opens_at": (now + chrono::Duration::days(3)).to_rfc3339(),
        "closes_at": (now + chrono::Duration::days(30)).to_rfc3339(),
    });
    let (status, body) = app
        .api(POST, "/api/v1/consultations", None, Some(upcoming.clone()))
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = app
        .api(
            POST,
            "/api/v1/consultations",
            Some(&d.alice),
            Some(upcoming.clone()),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = app
        .api(
            POST,
            "/api/v1/consultations",
            Some(&d.admin),
            Some(upcoming),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["state"], "upcoming");
    assert_eq!(body["url"], format!("{}/consultations/budget", app.url));

    // Proposals wait for the opening.
    let (status, body) = app
        .api(
            POST,
            "/api/v1/consultations/budget/proposals",
            Some(&d.alice),
            Some(json!({"title": "Trop tôt", "body": "?"})),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "consultation_not_open");

    // The organiser moves the dates: it opens.
    let (status, body) = app
        .api(
            PATCH,
            "/api/v1/consultations/budget",
            Some(&d.admin),
            Some(json!({"opens_at": (now - chrono::Duration::hours(1)).to_rfc3339()})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "open");
    let (status, _) = app
        .api(
            PATCH,
            "/api/v1/consultations/budget",
            Some(&d.alice),
            Some(json!({"title": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Dates must move forward; slugs follow the handle rules and share a namespace with users.
    let (status, body) = app
        .api(
            PATCH,
            "/api/v1/consultations/budget",
            Some(&d.admin),
            Some(json!({"closes_at": (now - chrono::Duration::days(9)).to_rfc3339()})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    for (slug, expected, code) in [
        ("Budget", StatusCode::BAD_REQUEST, "bad_request"),
        ("alice", StatusCode::CONFLICT, "conflict"),
        ("brest", StatusCode::CONFLICT, "conflict"),
    ] {
        let (status, body) = app
            .api(
                POST,
                "/api/v1/consultations",
                Some(&d.admin),
                Some(json!({
                    "slug": slug, "title": "t", "body": "b",
                    "opens_at": now.to_rfc3339(),
                    "closes_at": (now + chrono::Duration::days(1)).to_rfc3339(),
                })),
            )
            .await;
        assert_error(status, &body, expected, code);
    }

    let (status, list) = app.api(GET, "/api/v1/consultations", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let slugs: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs.len(), 2, "{list}");
    let (_, open) = app
        .api(GET, "/api/v1/consultations?state=open", None, None)
        .await;
    assert_eq!(open.as_array().unwrap().len(), 2);
    let (status, body) = app
        .api(GET, "/api/v1/consultations?state=later", None, None)
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, body) = app
        .api(GET, "/api/v1/consultations/nowhere", None, None)
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn the_whole_debate_proposals_arguments_sources_and_votes() {
    let d = debate().await;
    let first = d.propose(&d.alice, "Mettre en réseau les agents").await;
    let second = d.propose(&d.bob, "Ouvrir des laboratoires").await;
    assert!(second["number"].as_i64() > first["number"].as_i64());
    assert_eq!(first["author"]["username"], "alice");
    assert!(
        first["body_html"]
            .as_str()
            .unwrap()
            .contains("<strong>corps</strong>")
    );
    let id = first["id"].as_i64().unwrap();

    let pro = d
        .argue(&d.bob, id, "for", "Cela favorise la co-création.")
        .await;
    d.argue(&d.admin, id, "for", "La coopération peut être amplifiée.")
        .await;
    let contra = d
        .argue(&d.alice, id, "against", "Risque de confusion public/privé.")
        .await;
    // Arguments share the node's numbering with proposals, in posting order.
    assert!(pro["number"].as_i64() > second["number"].as_i64());
    assert!(contra["number"].as_i64() > pro["number"].as_i64());

    let (status, source) = d
        .app
        .api(POST, &format!("/api/v1/proposals/{id}/sources"), Some(&d.bob),
             Some(json!({"title": "Rapport", "url": "https://example.org/rapport", "description": "Mesure 35"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{source}");

    for (token, value) in [
        (&d.alice, "agree"),
        (&d.bob, "mixed"),
        (&d.admin, "disagree"),
    ] {
        let (status, body) = d
            .app
            .api(
                PUT,
                &format!("/api/v1/proposals/{id}/vote"),
                Some(token),
                Some(json!({"value": value})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["my_vote"], value);
    }
    // Voting twice counts once; changing one's vote moves it.
    d.app
        .api(
            PUT,
            &format!("/api/v1/proposals/{id}/vote"),
            Some(&d.alice),
            Some(json!({"value": "agree"})),
        )
        .await;
    let (_, after_change) = d
        .app
        .api(
            PUT,
            &format!("/api/v1/proposals/{id}/vote"),
            Some(&d.bob),
            Some(json!({"value": "agree"})),
        )
        .await;
    assert_eq!(
        after_change["votes"],
        json!({"agree": 2, "mixed": 0, "disagree": 1})
    );
    let (_, after_withdraw) = d
        .app
        .api(
            DELETE,
            &format!("/api/v1/proposals/{id}/vote"),
            Some(&d.admin),
            None,
        )
        .await;
    assert_eq!(
        after_withdraw["votes"],
        json!({"agree": 2, "mixed": 0, "disagree": 0})
    );
    assert_eq!(after_withdraw["my_vote"], Value::Null);

    let (status, page) = d.proposal(None, id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["arguments_for"].as_array().unwrap().len(), 2);
    assert_eq!(page["arguments_against"].as_array().unwrap().len(), 1);
    assert_eq!(
        page["counts"],
        json!({"arguments_for": 2, "arguments_against": 1, "sources": 1})
    );
    assert_eq!(page["sources"][0]["url"], "https://example.org/rapport");
    assert_eq!(
        page["votes"],
        json!({"agree": 2, "mixed": 0, "disagree": 0})
    );
    assert_eq!(page["my_vote"], Value::Null);
    let (_, mine) = d.proposal(Some(&d.alice), id).await;
    assert_eq!(mine["my_vote"], "agree");

    let (_, against) = d
        .app
        .api(
            GET,
            &format!("/api/v1/proposals/{id}/arguments?stance=against"),
            None,
            None,
        )
        .await;
    let against = against.as_array().unwrap();
    assert_eq!(against.len(), 1);
    assert_eq!(against[0]["stance"], "against");
    let (_, sources) = d
        .app
        .api(GET, &format!("/api/v1/proposals/{id}/sources"), None, None)
        .await;
    assert_eq!(sources.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn only_authors_edit_or_withdraw_and_numbers_are_never_reused() {
    let d = debate().await;
    let proposal = d.propose(&d.alice, "Proposition d'Alice").await;
    let id = proposal["id"].as_i64().unwrap();
    let argument = d.argue(&d.alice, id, "for", "Mon argument").await;
    let arg = argument["id"].as_i64().unwrap();
    let path = format!("/api/v1/arguments/{arg}");

    let (status, body) = d
        .app
        .api(PATCH, &path, Some(&d.bob), Some(json!({"body": "piraté"})))
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = d.app.api(DELETE, &path, Some(&d.bob), None).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = d
        .app
        .api(PATCH, &path, None, Some(json!({"body": "anonyme"})))
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = d
        .app
        .api(
            PATCH,
            &format!("/api/v1/proposals/{id}"),
            Some(&d.bob),
            Some(json!({"title": "piraté"})),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");

    let (status, body) = d
        .app
        .api(
            PATCH,
            &path,
            Some(&d.alice),
            Some(json!({"body": "Mon argument, précisé", "stance": "against"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["stance"], "against");
    assert_eq!(
        body["number"], argument["number"],
        "editing keeps the number"
    );
    let (_, page) = d.proposal(None, id).await;
    assert_eq!(page["counts"]["arguments_for"], 0);
    assert_eq!(page["counts"]["arguments_against"], 1);
    assert_eq!(
        page["arguments_against"][0]["body"],
        "Mon argument, précisé"
    );

    let (status, _) = d.app.api(DELETE, &path, Some(&d.alice), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = d.app.api(GET, &path, None, None).await;
    assert_error(status, &body, StatusCode::GONE, "gone");
    let (_, page) = d.proposal(None, id).await;
    assert_eq!(page["counts"]["arguments_against"], 0);

    let (status, _) = d
        .app
        .api(
            DELETE,
            &format!("/api/v1/proposals/{id}"),
            Some(&d.alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = d.proposal(None, id).await;
    assert_error(status, &body, StatusCode::GONE, "gone");
    let next = d.propose(&d.bob, "Après le retrait").await;
    assert!(
        next["number"].as_i64() > argument["number"].as_i64(),
        "numbers are never reused"
    );
    let (_, list) = d
        .app
        .api(GET, "/api/v1/consultations/brest/proposals", None, None)
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_closed_consultation_refuses_every_change_and_stays_readable() {
    let d = debate().await;
    let proposal = d.propose(&d.alice, "Avant la clôture").await;
    let id = proposal["id"].as_i64().unwrap();
    let argument = d.argue(&d.bob, id, "for", "Argument d'avant").await;
    let arg = argument["id"].as_i64().unwrap();
    let (_, source) = d
        .app
        .api(
            POST,
            &format!("/api/v1/proposals/{id}/sources"),
            Some(&d.bob),
            Some(json!({"title": "Source", "url": "https://example.org/s"})),
        )
        .await;
    let src = source["id"].as_i64().unwrap();
    d.app
        .api(
            PUT,
            &format!("/api/v1/proposals/{id}/vote"),
            Some(&d.bob),
            Some(json!({"value": "agree"})),
        )
        .await;
    d.close().await;

    let attempts: Vec<(Method, String, &str, Option<Value>)> = vec![
        (
            POST,
            "/api/v1/consultations/brest/proposals".into(),
            &d.alice,
            Some(json!({"title": "t", "body": "b"})),
        ),
        (
            PATCH,
            format!("/api/v1/proposals/{id}"),
            &d.alice,
            Some(json!({"title": "changé"})),
        ),
        (DELETE, format!("/api/v1/proposals/{id}"), &d.alice, None),
        (
            POST,
            format!("/api/v1/proposals/{id}/arguments"),
            &d.alice,
            Some(json!({"stance": "against", "body": "trop tard"})),
        ),
        (
            PATCH,
            format!("/api/v1/arguments/{arg}"),
            &d.bob,
            Some(json!({"body": "changé"})),
        ),
        (DELETE, format!("/api/v1/arguments/{arg}"), &d.bob, None),
        (
            POST,
            format!("/api/v1/proposals/{id}/sources"),
            &d.alice,
            Some(json!({"title": "t", "url": "https://example.org"})),
        ),
        (
            PATCH,
            format!("/api/v1/sources/{src}"),
            &d.bob,
            Some(json!({"title": "changé"})),
        ),
        (DELETE, format!("/api/v1/sources/{src}"), &d.bob, None),
        (
            PUT,
            format!("/api/v1/proposals/{id}/vote"),
            &d.alice,
            Some(json!({"value": "disagree"})),
        ),
        (
            PUT,
            format!("/api/v1/proposals/{id}/vote"),
            &d.bob,
            Some(json!({"value": "disagree"})),
        ),
        (DELETE, format!("/api/v1/proposals/{id}/vote"), &d.bob, None),
    ];
    for (method, path, token, body) in attempts {
        let (status, response) = d.app.api(method.clone(), &path, Some(token), body).await;
        assert_error(
            status,
            &response,
            StatusCode::CONFLICT,
            "consultation_not_open",
        );
        assert!(
            response["message"].as_str().unwrap().contains("closed"),
            "{method} {path}: {response}"
        );
    }

    let (status, page) = d.proposal(None, id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["title"], "Avant la clôture");
    assert_eq!(page["arguments_for"][0]["body"], "Argument d'avant");
    assert_eq!(page["sources"][0]["title"], "Source");
    assert_eq!(
        page["votes"],
        json!({"agree": 1, "mixed": 0, "disagree": 0})
    );
    let (_, consultation) = d
        .app
        .api(GET, "/api/v1/consultations/brest", None, None)
        .await;
    assert_eq!(consultation["state"], "closed");
    assert_eq!(consultation["proposal_count"], 1);
}

#[tokio::test]
async fn moderators_hide_content_which_leaves_the_counts() {
    let d = debate().await;
    d.app.create_user("modo", Role::Moderator, None).await;
    let modo = d.app.token("modo").await;
    let proposal = d.propose(&d.alice, "À modérer").await;
    let id = proposal["id"].as_i64().unwrap();
    let kept = d.argue(&d.bob, id, "for", "Argument correct").await;
    let spam = d.argue(&d.bob, id, "for", "Publicité").await;
    let spam_id = spam["id"].as_i64().unwrap();

    let (status, body) = d
        .app
        .api(
            PUT,
            &format!("/api/v1/arguments/{spam_id}/hidden"),
            Some(&d.alice),
            Some(json!({"hidden": true})),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = d
        .app
        .api(
            PUT,
            &format!("/api/v1/arguments/{spam_id}/hidden"),
            Some(&modo),
            Some(json!({"hidden": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["hidden"], true);

    let (_, public) = d.proposal(None, id).await;
    assert_eq!(public["counts"]["arguments_for"], 1);
    assert_eq!(public["arguments_for"].as_array().unwrap().len(), 1);
    assert_eq!(public["arguments_for"][0]["id"], kept["id"]);
    let (_, moderated) = d.proposal(Some(&modo), id).await;
    assert_eq!(
        moderated["counts"]["arguments_for"], 1,
        "hidden content is not counted, even for moderators"
    );
    let shown: Vec<bool> = moderated["arguments_for"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["hidden"].as_bool().unwrap())
        .collect();
    assert_eq!(shown.len(), 2, "moderators still see hidden arguments");
    assert!(shown.contains(&true));
    let (status, _) = d
        .app
        .api(GET, &format!("/api/v1/arguments/{spam_id}"), None, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A hidden proposal disappears for the public and from the consultation's count.
    let (status, _) = d
        .app
        .api(
            PUT,
            &format!("/api/v1/proposals/{id}/hidden"),
            Some(&d.admin),
            Some(json!({"hidden": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = d.proposal(None, id).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = d
        .app
        .api(GET, "/api/v1/consultations/brest/proposals", None, None)
        .await;
    assert!(list["items"].as_array().unwrap().is_empty());
    let (_, list) = d
        .app
        .api(
            GET,
            "/api/v1/consultations/brest/proposals",
            Some(&modo),
            None,
        )
        .await;
    assert_eq!(list["items"][0]["hidden"], true);
    let (_, consultation) = d
        .app
        .api(GET, "/api/v1/consultations/brest", None, None)
        .await;
    assert_eq!(consultation["proposal_count"], 0);
    let (status, body) = d.argue_raw(&d.bob, id).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

impl Debate {
    async fn argue_raw(&self, token: &str, id: i64) -> (StatusCode, Value) {
        self.app
            .api(
                POST,
                &format!("/api/v1/proposals/{id}/arguments"),
                Some(token),
                Some(json!({"stance": "for", "body": "x"})),
            )
            .await
    }
}

#[tokio::test]
async fn organisers_answer_proposals_and_mark_duplicates() {
    let d = debate().await;
    let original = d.propose(&d.alice, "Original").await;
    let copy = d.propose(&d.bob, "Copie").await;
    let (oid, cid) = (
        original["id"].as_i64().unwrap(),
        copy["id"].as_i64().unwrap(),
    );
    let answer = json!({"state": "accepted", "answer": "Nous la **mettons en œuvre**."});
    let (status, body) = d
        .app
        .api(
            PUT,
            &format!("/api/v1/proposals/{oid}/answer"),
            Some(&d.alice),
            Some(answer.clone()),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = d
        .app
        .api(
            PUT,
            &format!("/api/v1/proposals/{oid}/answer"),
            Some(&d.admin),
            Some(answer),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "accepted");
    assert!(
        body["official_answer_html"]
            .as_str()
            .unwrap()
            .contains("<strong>mettons en œuvre</strong>")
    );

    let (status, body) = d
        .app
        .api(
            PUT,
            &format!("/api/v1/proposals/{cid}/answer"),
            Some(&d.admin),
            Some(json!({"state": "answered", "duplicate_of": oid})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["duplicate_of"]["number"], original["number"]);
    let (status, body) = d
        .app
        .api(
            PUT,
            &format!("/api/v1/proposals/{cid}/answer"),
            Some(&d.admin),
            Some(json!({"state": "maybe"})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");

    // Answers are given after the closing too: that is when they usually come.
    d.close().await;
    let (status, body) = d
        .app
        .api(
            PUT,
            &format!("/api/v1/proposals/{cid}/answer"),
            Some(&d.admin),
            Some(json!({"state": "rejected", "answer": "Déjà couverte par l'originale."})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, list) = d
        .app
        .api(GET, "/api/v1/consultations/brest/proposals", None, None)
        .await;
    let states: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["rejected", "accepted"]);
}

#[tokio::test]
async fn bad_input_gets_400_with_a_message() {
    let d = debate().await;
    let proposal = d.propose(&d.alice, "Cible").await;
    let id = proposal["id"].as_i64().unwrap();
    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (
            POST,
            "/api/v1/consultations/brest/proposals".into(),
            Some(json!({"title": "   ", "body": "b"})),
        ),
        (
            POST,
            "/api/v1/consultations/brest/proposals".into(),
            Some(json!({"body": "sans titre"})),
        ),
        (
            POST,
            "/api/v1/consultations/brest/proposals".into(),
            Some(json!({"title": "x".repeat(201), "body": "b"})),
        ),
        (
            POST,
            format!("/api/v1/proposals/{id}/arguments"),
            Some(json!({"stance": "maybe", "body": "b"})),
        ),
        (
            POST,
            format!("/api/v1/proposals/{id}/arguments"),
            Some(json!({"stance": "for", "body": ""})),
        ),
        (
            POST,
            format!("/api/v1/proposals/{id}/sources"),
            Some(json!({"title": "t", "url": "javascript:alert(1)"})),
        ),
        (
            POST,
            format!("/api/v1/proposals/{id}/sources"),
            Some(json!({"title": "t", "url": "pas une url"})),
        ),
        (
            PUT,
            format!("/api/v1/proposals/{id}/vote"),
            Some(json!({"value": "yes"})),
        ),
        (
            GET,
            "/api/v1/consultations/brest/proposals?limit=0".into(),
            None,
        ),
        (
            GET,
            "/api/v1/consultations/brest/proposals?cursor=nope".into(),
            None,
        ),
        (
            GET,
            "/api/v1/consultations/brest/proposals?sort=random".into(),
            None,
        ),
        (GET, "/api/v1/proposals/abc".into(), None),
    ];
    for (method, path, body) in cases {
        let (status, response) = d.app.api(method.clone(), &path, Some(&d.alice), body).await;
        assert_error(status, &response, StatusCode::BAD_REQUEST, "bad_request");
    }
    // Not JSON at all.
    let response = d
        .app
        .client
        .post(format!(
            "{}/api/v1/consultations/brest/proposals",
            d.app.url
        ))
        .bearer_auth(&d.alice)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "bad_request");
    // Nothing was stored by any of these.
    let (_, list) = d
        .app
        .api(GET, "/api/v1/consultations/brest/proposals", None, None)
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (_, page) = d.proposal(None, id).await;
    assert_eq!(
        page["counts"],
        json!({"arguments_for": 0, "arguments_against": 0, "sources": 0})
    );
}

#[tokio::test]
async fn proposals_sort_and_paginate_without_gaps_or_duplicates() {
    let d = debate().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            d.propose(&d.alice, &format!("Proposition {i}")).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    // Proposal 1 gets two votes, proposal 3 one vote; proposal 4 two arguments.
    for token in [&d.alice, &d.bob] {
        d.app
            .api(
                PUT,
                &format!("/api/v1/proposals/{}/vote", ids[1]),
                Some(token),
                Some(json!({"value": "agree"})),
            )
            .await;
    }
    d.app
        .api(
            PUT,
            &format!("/api/v1/proposals/{}/vote", ids[3]),
            Some(&d.bob),
            Some(json!({"value": "disagree"})),
        )
        .await;
    d.argue(&d.bob, ids[4], "for", "un").await;
    d.argue(&d.bob, ids[4], "against", "deux").await;

    let collect = |sort: &'static str| {
        let app = &d.app;
        async move {
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let mut path = format!("/api/v1/consultations/brest/proposals?sort={sort}&limit=2");
                if let Some(c) = &cursor {
                    path.push_str(&format!("&cursor={c}"));
                }
                let (status, page) = app.api(GET, &path, None, None).await;
                assert_eq!(status, StatusCode::OK, "{page}");
                seen.extend(
                    page["items"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| p["id"].as_i64().unwrap()),
                );
                match page["next_cursor"].as_str() {
                    Some(next) => cursor = Some(next.to_owned()),
                    None => break,
                }
            }
            seen
        }
    };
    let newest = collect("newest").await;
    assert_eq!(newest, ids.iter().rev().copied().collect::<Vec<_>>());
    let by_votes = collect("votes").await;
    assert_eq!(by_votes.len(), 5);
    assert_eq!(&by_votes[..2], &[ids[1], ids[3]]);
    let by_arguments = collect("arguments").await;
    assert_eq!(by_arguments[0], ids[4]);
    let mut sorted = by_arguments.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        5,
        "every proposal exactly once: {by_arguments:?}"
    );
}

#[tokio::test]
async fn sign_up_tokens_and_verified_badges() {
    let d = debate().await;
    let app = &d.app;
    let (status, body) = app
        .api(
            POST,
            "/api/v1/accounts",
            None,
            Some(json!({"username": "claire", "password": "assez-long-oui"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .api(
            POST,
            "/api/v1/accounts",
            None,
            Some(json!({"username": "claire", "password": "assez-long-oui"})),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    let (status, body) = app
        .api(
            POST,
            "/api/v1/accounts",
            None,
            Some(json!({"username": "brest", "password": "assez-long-oui"})),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    let (status, body) = app
        .api(
            POST,
            "/api/v1/accounts",
            None,
            Some(json!({"username": "dave", "password": "court"})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");

    // Wrong password and unknown user read the same.
    let (s1, b1) = app
        .api(
            POST,
            "/api/v1/auth/token",
            None,
            Some(json!({"username": "claire", "password": "mauvais-mot"})),
        )
        .await;
    let (s2, b2) = app
        .api(
            POST,
            "/api/v1/auth/token",
            None,
            Some(json!({"username": "personne", "password": "mauvais-mot"})),
        )
        .await;
    assert_error(s1, &b1, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!((s1, &b1), (s2, &b2));

    let (status, body) = app
        .api(
            POST,
            "/api/v1/auth/token",
            None,
            Some(json!({"username": "claire", "password": "assez-long-oui"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let claire = body["token"].as_str().unwrap().to_owned();
    let proposal = d.propose(&claire, "Proposition de Claire").await;
    assert_eq!(proposal["author"]["verified"], Value::Null);

    let (status, _) = app
        .api(
            PUT,
            "/api/v1/accounts/claire/verification",
            Some(&d.alice),
            Some(json!({"label": "Faux"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app
        .api(
            PUT,
            "/api/v1/accounts/claire/verification",
            Some(&d.admin),
            Some(json!({"label": "Ville de Brest"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, page) = d.proposal(None, proposal["id"].as_i64().unwrap()).await;
    assert_eq!(page["author"]["verified"], "Ville de Brest");

    let (status, _) = app
        .api(DELETE, "/api/v1/auth/token", Some(&claire), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app
        .api(
            POST,
            "/api/v1/consultations/brest/proposals",
            Some(&claire),
            Some(json!({"title": "t", "body": "b"})),
        )
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, _) = app
        .api(
            GET,
            "/api/v1/consultations/brest/proposals",
            Some("garbage"),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a bad token is refused, not ignored"
    );
}

#[tokio::test]
async fn the_openapi_document_describes_the_routes() {
    let app = TestApp::spawn().await;
    let (status, doc) = app.api(GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/auth/token", "post"),
        ("/api/v1/consultations", "post"),
        ("/api/v1/consultations/{slug}", "patch"),
        ("/api/v1/consultations/{slug}/proposals", "get"),
        ("/api/v1/proposals/{id}", "delete"),
        ("/api/v1/proposals/{id}/arguments", "post"),
        ("/api/v1/arguments/{id}", "patch"),
        ("/api/v1/proposals/{id}/sources", "post"),
        ("/api/v1/proposals/{id}/vote", "put"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    assert!(doc["components"]["schemas"]["ProposalDetail"].is_object());
}

#[tokio::test]
async fn reports_reach_the_moderation_queue() {
    let d = debate().await;
    d.app.create_user("modo", Role::Moderator, None).await;
    let modo = d.app.token("modo").await;
    let proposal = d.propose(&d.alice, "Cible d'un signalement").await;
    let argument = d
        .argue(
            &d.alice,
            proposal["id"].as_i64().unwrap(),
            "for",
            "Propos déplacés",
        )
        .await;
    let (status, body) = d
        .app
        .api(
            POST,
            "/api/v1/reports",
            Some(&d.bob),
            Some(json!({"kind": "argument", "id": argument["id"], "reason": "Injurieux"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = d
        .app
        .api(
            POST,
            "/api/v1/reports",
            Some(&d.bob),
            Some(json!({"kind": "argument", "id": 999999, "reason": "?"})),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = d
        .app
        .api(
            POST,
            "/api/v1/reports",
            Some(&d.bob),
            Some(json!({"kind": "proposal", "id": proposal["id"], "reason": " "})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, body) = d
        .app
        .api(
            POST,
            "/api/v1/reports",
            None,
            Some(json!({"kind": "proposal", "id": proposal["id"], "reason": "x"})),
        )
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");

    let (status, body) = d
        .app
        .api(GET, "/api/v1/reports", Some(&d.alice), None)
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, queue) = d.app.api(GET, "/api/v1/reports", Some(&modo), None).await;
    assert_eq!(status, StatusCode::OK);
    let queue = queue.as_array().unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0]["reporter"], "bob");
    assert_eq!(queue[0]["reason"], "Injurieux");
    assert_eq!(queue[0]["object"], argument["url"]);
    assert_eq!(queue[0]["forwarded"], false);
}

#[tokio::test]
async fn one_person_voting_many_times_at_once_counts_once() {
    let d = debate().await;
    let proposal = d.propose(&d.alice, "Vote simultané").await;
    let path = format!("/api/v1/proposals/{}/vote", proposal["id"]);
    let votes = (0..8).map(|i| {
        let value = if i % 2 == 0 { "agree" } else { "disagree" };
        d.app
            .api(PUT, &path, Some(&d.bob), Some(json!({"value": value})))
    });
    // join_all polls them together, so the requests really overlap.
    for (status, body) in futures_util::future::join_all(votes).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (_, page) = d.proposal(None, proposal["id"].as_i64().unwrap()).await;
    let votes = &page["votes"];
    let total = votes["agree"].as_i64().unwrap()
        + votes["mixed"].as_i64().unwrap()
        + votes["disagree"].as_i64().unwrap();
    assert_eq!(total, 1, "{votes}");
}

// ---- sign-in defences: lockout, no enumeration, revocation, suspension ----

/// A node with the lockout after `max_failures` and without the rate limits, which are tested
/// in tests/limits.rs and would otherwise stop these tests' many attempts first.
async fn guarded(max_failures: u32) -> TestApp {
    TestApp::spawn_with(|settings| {
        settings.security.login_max_failures = max_failures;
        settings.security.login_lockout_seconds = 900;
        for limit in [
            &mut settings.limits.signup,
            &mut settings.limits.login,
            &mut settings.limits.posting,
        ] {
            limit.requests = 0;
        }
    })
    .await
}

async fn login(app: &TestApp, username: &str, password: &str) -> (StatusCode, Value) {
    app.api(
        POST,
        "/api/v1/auth/token",
        None,
        Some(json!({"username": username, "password": password})),
    )
    .await
}

async fn account_row(app: &TestApp, username: &str) -> palabre::store::account::Model {
    use palabre::store::account;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    account::Entity::find()
        .filter(account::Column::Username.eq(username))
        .one(&app.state.db)
        .await
        .expect("find")
        .expect("account")
}

/// Changes an account's row directly, as a moderator's suspension or the clock would.
async fn update_account(
    app: &TestApp,
    username: &str,
    change: impl FnOnce(&mut palabre::store::account::ActiveModel),
) {
    use sea_orm::{ActiveModelTrait, IntoActiveModel};
    let mut active = account_row(app, username).await.into_active_model();
    change(&mut active);
    active.update(&app.state.db).await.expect("update account");
}

#[tokio::test]
async fn repeated_failures_lock_the_account_and_every_refusal_reads_the_same() {
    use sea_orm::Set;
    let app = guarded(3).await;
    app.create_user("claire", Role::Member, None).await;
    let (unknown_status, unknown) = login(&app, "personne", "mauvais-mot").await;
    assert_error(
        unknown_status,
        &unknown,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_eq!(
        unknown["message"],
        "wrong username or password, or too many attempts: try again later"
    );

    // Two failures, then success: the count starts again from zero.
    for _ in 0..2 {
        assert_eq!(
            login(&app, "claire", "mauvais-mot").await,
            (unknown_status, unknown.clone())
        );
    }
    assert_eq!(account_row(&app, "claire").await.failed_logins, 2);
    assert_eq!(
        login(&app, "claire", common::PASSWORD).await.0,
        StatusCode::OK
    );
    let row = account_row(&app, "claire").await;
    assert_eq!((row.failed_logins, row.locked_until), (0, None));
    for _ in 0..2 {
        login(&app, "claire", "mauvais-mot").await;
    }
    assert_eq!(
        login(&app, "claire", common::PASSWORD).await.0,
        StatusCode::OK,
        "two failures after a success are not three in a row"
    );

    // Three in a row lock it: even the right password is refused, exactly like a wrong one
    // or an unknown name.
    for _ in 0..3 {
        assert_eq!(
            login(&app, "claire", "mauvais-mot").await,
            (unknown_status, unknown.clone())
        );
    }
    let locked = account_row(&app, "claire").await;
    let until = locked.locked_until.expect("locked");
    let lockout = until - chrono::Utc::now();
    assert!(
        lockout > chrono::Duration::seconds(890) && lockout <= chrono::Duration::seconds(900),
        "{lockout}"
    );
    assert_eq!(
        login(&app, "claire", common::PASSWORD).await,
        (unknown_status, unknown.clone())
    );
    assert_eq!(
        account_row(&app, "claire").await.locked_until,
        Some(until),
        "attempts during the lockout do not extend it"
    );

    // Once the lockout is over, the right password works again and clears it.
    update_account(&app, "claire", |a| {
        a.locked_until = Set(Some(chrono::Utc::now() - chrono::Duration::seconds(1)));
    })
    .await;
    assert_eq!(
        login(&app, "claire", common::PASSWORD).await.0,
        StatusCode::OK
    );
    let row = account_row(&app, "claire").await;
    assert_eq!((row.failed_logins, row.locked_until), (0, None));
}

#[tokio::test]
async fn guesses_sent_all_at_once_are_all_counted() {
    let app = guarded(10).await;
    app.create_user("claire", Role::Member, None).await;
    // Ten wrong guesses at once: each must be counted (no lost update between concurrent
    // attempts), so the tenth locks the account and the right password is then refused.
    let guesses = (0..10).map(|i| {
        let app = &app;
        async move { login(app, "claire", &format!("essai-{i}")).await.0 }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED));
    assert!(account_row(&app, "claire").await.locked_until.is_some());
    assert_eq!(
        login(&app, "claire", common::PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_lockout_can_be_turned_off() {
    let app = guarded(0).await;
    app.create_user("claire", Role::Member, None).await;
    for _ in 0..8 {
        login(&app, "claire", "mauvais-mot").await;
    }
    assert_eq!(account_row(&app, "claire").await.locked_until, None);
    assert_eq!(
        login(&app, "claire", common::PASSWORD).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn revoking_every_token_signs_out_everywhere_at_once() {
    use palabre::services::accounts::{self, SessionKind};
    let app = guarded(5).await;
    let first = app.user_token("claire", Role::Member).await;
    let second = app.token("claire").await;
    let other = app.user_token("bruno", Role::Member).await;
    let claire = account_row(&app, "claire").await;
    let web = accounts::open_session(&app.state.db, claire.id, SessionKind::Web, 1)
        .await
        .expect("web session");

    let (status, body) = app.api(DELETE, "/api/v1/auth/tokens", None, None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = app
        .api(DELETE, "/api/v1/auth/tokens", Some(&first), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["revoked"], 3, "two tokens and one web session");

    for token in [&first, &second] {
        let (status, body) = app.api(GET, "/api/v1/follows", Some(token), None).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let session = accounts::account_for_session(&app.state.db, &web, SessionKind::Web)
        .await
        .expect("lookup");
    assert!(session.is_none(), "the web session is closed too");
    let (status, _) = app.api(GET, "/api/v1/follows", Some(&other), None).await;
    assert_eq!(status, StatusCode::OK, "someone else's token is untouched");
    let (status, _) = login(&app, "claire", common::PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "signing in again works");
}

#[tokio::test]
async fn suspended_accounts_can_neither_sign_in_nor_use_their_tokens() {
    use sea_orm::Set;
    let app = guarded(5).await;
    let admin = app.user_token("orga", Role::Admin).await;
    app.consultation(&admin, "brest", 30).await;
    let token = app.user_token("claire", Role::Member).await;
    update_account(&app, "claire", |a| {
        a.suspended_at = Set(Some(chrono::Utc::now()));
    })
    .await;

    let suspended =
        "this account is suspended: it can neither sign in nor use its sessions and tokens";
    for (method, path, body) in [
        (
            POST,
            "/api/v1/consultations/brest/proposals",
            Some(json!({"title": "t", "body": "b"})),
        ),
        (GET, "/api/v1/follows", None),
        // Even where a token is optional: it is refused, not ignored.
        (GET, "/api/v1/consultations/brest/proposals", None),
    ] {
        let (status, answer) = app.api(method, path, Some(&token), body).await;
        assert_error(status, &answer, StatusCode::FORBIDDEN, "forbidden");
        assert_eq!(answer["message"], suspended);
    }
    let (status, answer) = login(&app, "claire", common::PASSWORD).await;
    assert_error(status, &answer, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(answer["message"], suspended);
    // Without the password, nothing tells that the account exists, let alone its suspension.
    let (wrong, _) = login(&app, "claire", "mauvais-mot").await;
    let (unknown, _) = login(&app, "personne", "mauvais-mot").await;
    assert_eq!(
        (wrong, unknown),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );

    // Reinstated: the tokens from before work again.
    update_account(&app, "claire", |a| a.suspended_at = Set(None)).await;
    let (status, _) = app.api(GET, "/api/v1/follows", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
}
