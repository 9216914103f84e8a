//! RFC 9421 HTTP Message Signatures against a third-party implementation: PyPI's
//! `http-message-signatures` (pinned in federation-tests/rfc9421/requirements.txt), driven by
//! federation-tests/rfc9421/sign_verify.py from the virtualenv `federation-tests/rfc9421/setup`
//! makes. Without that virtualenv these tests fail, saying so: they never pass silently.
//!
//! Incoming: activities the Python library signed as Mastodon does are accepted and stored;
//! tampered, foreign, stale or under-covered ones are refused with 401 and change nothing.
//! Outgoing: Palabre's signatures verify with the Python library, and a delivery to an inbox
//! that accepts only RFC 9421 is refused in draft-cavage, retried at once in RFC 9421,
//! accepted, and the next delivery there goes straight in RFC 9421; signed fetches from a
//! server that takes only RFC 9421 knock twice the same way.
// The in-process test app of the main crate: one real node on a random port, as its tests use.
#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use activitypub_federation::traits::{Actor, Object};
use common::TestApp;
use palabre::domain::Role;
use palabre::federation::actors::DbPerson;
use palabre::federation::delivery::{self, Signer};
use palabre::federation::keys;
use palabre::federation::signatures;
use palabre::services::accounts;
use palabre::store::{delivery as delivery_store, follow, received_activity, signature_scheme};
use reqwest::StatusCode;
use rsa::pkcs8::DecodePrivateKey;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

/// This checkout's root, read at run time: a test binary built in another checkout that shares
/// the target directory must use this one's files.
fn root() -> PathBuf {
    let crate_dir = std::env::var("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    crate_dir.parent().map(PathBuf::from).unwrap_or(crate_dir)
}

/// The virtualenv's Python, checked to have the library; a clear failure otherwise.
fn python() -> PathBuf {
    let python = std::env::var_os("PALABRE_RFC9421_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/rfc9421-venv/bin/python"));
    let ready = python.exists()
        && Command::new(&python)
            .args(["-c", "import http_message_signatures"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    assert!(
        ready,
        "the RFC 9421 interoperability tests need PyPI's http-message-signatures in {}: \
         run federation-tests/rfc9421/setup first",
        python.display()
    );
    python
}

fn script() -> PathBuf {
    root().join("federation-tests/rfc9421/sign_verify.py")
}

/// Runs `sign_verify.py` with `args`; returns its exit status and its stdout as JSON.
async fn run_script(args: Vec<String>) -> (bool, Value) {
    let python = python();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script())
            .args(args)
            .output()
            .expect("run sign_verify.py")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let value = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
        panic!(
            "sign_verify.py printed no JSON: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.success(), value)
}

/// Files for one test: keys and bodies handed to the script.
struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }

    fn file(&self, name: &str, contents: &[u8]) -> String {
        let path = self.0.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path.display().to_string()
    }
}

/// The headers the Python library adds to a POST of `body` to `url`, signed with `key_pem`
/// under `keyid`, as Mastodon signs (plus `extra` arguments of `sign`).
async fn python_sign(
    scratch: &Scratch,
    url: &str,
    body: &[u8],
    key_pem: &str,
    keyid: &str,
    extra: &[&str],
) -> Value {
    let mut args = vec![
        "sign".to_owned(),
        "--url".to_owned(),
        url.to_owned(),
        "--body-file".to_owned(),
        scratch.file("body", body),
        "--key-file".to_owned(),
        scratch.file("key.pem", key_pem.as_bytes()),
        "--keyid".to_owned(),
        keyid.to_owned(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let (ok, headers) = run_script(args).await;
    assert!(ok, "signing failed: {headers}");
    headers
}

/// POSTs `body` to `url` with the signed headers (and any `extra` ones); returns the status
/// and the answer's text.
async fn post(
    url: &str,
    headers: &Value,
    body: &[u8],
    extra: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/activity+json")
        .body(body.to_vec());
    for (name, value) in headers.as_object().unwrap() {
        request = request.header(name.as_str(), value.as_str().unwrap());
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

/// A remote node's account with its key pair.
async fn account(app: &TestApp, name: &str) -> DbPerson {
    app.create_user(name, Role::Member, None).await;
    let model = accounts::find_by_username(&app.state.db, name)
        .await
        .unwrap();
    let model = keys::ensure_account_keys(&app.state, model).await.unwrap();
    DbPerson::new(&app.state, model).unwrap()
}

fn key_id(actor: &DbPerson) -> String {
    format!("{}#main-key", actor.ap_id)
}

fn private_pem(actor: &DbPerson) -> String {
    actor.private_key_pem().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activities_signed_by_the_python_library_are_accepted_and_stored() {
    let scratch = Scratch::new();
    let origin = TestApp::spawn_federating().await;
    let remote = TestApp::spawn_federating().await;
    let admin = origin.user_token("orga", Role::Admin).await;
    origin.consultation(&admin, "budget", 30).await;
    let claire = account(&remote, "claire").await;
    let group = format!("{}/consultations/budget", origin.url);

    // A Follow to the shared inbox, signed as Mastodon signs (alg="rsa-v1_5-sha256" given).
    let inbox = format!("{}/inbox", origin.url);
    let body = serde_json::to_vec(&json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "type": "Follow",
        "id": format!("{}/activities/follow/rfc9421", remote.url),
        "actor": claire.ap_id,
        "object": group,
    }))
    .unwrap();
    let headers = python_sign(
        &scratch,
        &inbox,
        &body,
        &private_pem(&claire),
        &key_id(&claire),
        &[],
    )
    .await;
    assert!(
        headers["Signature-Input"]
            .as_str()
            .unwrap()
            .starts_with(r#"sig1=("@method" "@target-uri" "content-digest");created="#),
        "{headers}"
    );
    assert!(
        headers["Content-Digest"]
            .as_str()
            .unwrap()
            .starts_with("sha-256=:")
    );
    let (status, text) = post(&inbox, &headers, &body, &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let follows = follow::Entity::find()
        .filter(follow::Column::State.eq("accepted"))
        .count(&origin.state.db)
        .await
        .unwrap();
    assert_eq!(
        follows, 1,
        "the RFC 9421 signed Follow was stored and accepted"
    );

    // A Create of a proposal to the consultation's inbox, signed without `alg`, with a stale
    // draft-cavage Digest as well: RFC 9421 is preferred, the Digest is not looked at.
    let group_inbox = format!("{group}/inbox");
    let body = serde_json::to_vec(&json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "type": "Create",
        "id": format!("{}/activities/create/rfc9421", remote.url),
        "actor": claire.ap_id,
        "object": {
            "type": "Page",
            "id": format!("{}/proposals/9421", remote.url),
            "attributedTo": claire.ap_id,
            "name": "Signée selon la RFC 9421",
            "content": "<p>Une proposition venue d'ailleurs</p>",
            "audience": group,
            "to": [group, "https://www.w3.org/ns/activitystreams#Public"],
        },
    }))
    .unwrap();
    let headers = python_sign(
        &scratch,
        &group_inbox,
        &body,
        &private_pem(&claire),
        &key_id(&claire),
        &["--no-alg"],
    )
    .await;
    assert!(
        !headers["Signature-Input"]
            .as_str()
            .unwrap()
            .contains("alg=")
    );
    let (status, text) = post(
        &group_inbox,
        &headers,
        &body,
        &[("digest", "SHA-256=bm90IHRoZSBib2R5")],
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let (_, proposals) = origin
        .api(
            reqwest::Method::GET,
            "/api/v1/consultations/budget/proposals",
            None,
            None,
        )
        .await;
    assert_eq!(
        proposals["items"][0]["title"], "Signée selon la RFC 9421",
        "{proposals}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_foreign_stale_or_undercovered_rfc9421_requests_are_refused() {
    let scratch = Scratch::new();
    let origin = TestApp::spawn_federating().await;
    let remote = TestApp::spawn_federating().await;
    let admin = origin.user_token("orga", Role::Admin).await;
    origin.consultation(&admin, "budget", 30).await;
    let claire = account(&remote, "claire").await;
    let inbox = format!("{}/inbox", origin.url);
    let follow_body = |n: u32| {
        serde_json::to_vec(&json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "type": "Follow",
            "id": format!("{}/activities/follow/refused-{n}", remote.url),
            "actor": claire.ap_id,
            "object": format!("{}/consultations/budget", origin.url),
        }))
        .unwrap()
    };
    let claire_pem = private_pem(&claire);
    let claire_key = key_id(&claire);
    let refused = |(status, text): (StatusCode, String), why: &str| {
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {text}");
        assert!(text.contains("RFC 9421 signature refused"), "{why}: {text}");
    };

    // The body changed after signing: its Content-Digest no longer matches...
    let headers = python_sign(
        &scratch,
        &inbox,
        &follow_body(1),
        &claire_pem,
        &claire_key,
        &[],
    )
    .await;
    refused(
        post(&inbox, &headers, &follow_body(2), &[]).await,
        "tampered body",
    );
    // ... and with a Content-Digest made for the new body, the signature does not verify.
    let mut forged = headers.clone();
    forged["Content-Digest"] = json!(signatures::content_digest(&follow_body(2)));
    refused(
        post(&inbox, &forged, &follow_body(2), &[]).await,
        "re-digested body",
    );

    // Signed by another key (the remote node's instance actor) while naming claire's key.
    let instance = keys::instance_actor(&remote.state).await.unwrap();
    let other_pem = instance.private_key_pem().unwrap();
    let headers = python_sign(
        &scratch,
        &inbox,
        &follow_body(3),
        &other_pem,
        &claire_key,
        &[],
    )
    .await;
    refused(
        post(&inbox, &headers, &follow_body(3), &[]).await,
        "other key",
    );
    // Naming a key on another server than the actor's.
    let headers = python_sign(
        &scratch,
        &inbox,
        &follow_body(4),
        &claire_pem,
        "http://localhost:1/users/claire#main-key",
        &[],
    )
    .await;
    refused(
        post(&inbox, &headers, &follow_body(4), &[]).await,
        "key elsewhere",
    );

    // Created two hours ago, or an hour ahead.
    let now = chrono::Utc::now().timestamp();
    for (created, why) in [(now - 7200, "stale"), (now + 3600, "future")] {
        let headers = python_sign(
            &scratch,
            &inbox,
            &follow_body(5),
            &claire_pem,
            &claire_key,
            &["--created", &created.to_string()],
        )
        .await;
        refused(post(&inbox, &headers, &follow_body(5), &[]).await, why);
    }

    // Content-Digest sent but not covered by the signature.
    let headers = python_sign(
        &scratch,
        &inbox,
        &follow_body(6),
        &claire_pem,
        &claire_key,
        &["--components", "@method,@target-uri"],
    )
    .await;
    refused(
        post(&inbox, &headers, &follow_body(6), &[]).await,
        "digest not covered",
    );
    // Signed for another inbox than the one it is sent to.
    let elsewhere = format!("{}/users/orga/inbox", origin.url);
    let headers = python_sign(
        &scratch,
        &elsewhere,
        &follow_body(7),
        &claire_pem,
        &claire_key,
        &[],
    )
    .await;
    refused(
        post(&inbox, &headers, &follow_body(7), &[]).await,
        "other target",
    );

    assert_eq!(
        follow::Entity::find()
            .count(&origin.state.db)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        received_activity::Entity::find()
            .count(&origin.state.db)
            .await
            .unwrap(),
        0,
        "nothing stored from refused requests"
    );

    // The same request, correctly signed, goes through: the refusals were about the signature.
    let headers = python_sign(
        &scratch,
        &inbox,
        &follow_body(8),
        &claire_pem,
        &claire_key,
        &[],
    )
    .await;
    let (status, text) = post(&inbox, &headers, &follow_body(8), &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
}

#[tokio::test]
async fn palabre_signatures_verify_with_the_python_library() {
    let scratch = Scratch::new();
    let app = TestApp::spawn_federating().await;
    let claire = account(&app, "claire").await;
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(&private_pem(&claire)).unwrap();
    let url = url::Url::parse("https://example.com/users/bob/inbox").unwrap();
    let body = br#"{"type":"Follow"}"#;
    let created = chrono::Utc::now().timestamp();
    let signed = signatures::sign_rfc9421(&url, body, &key, &key_id(&claire), created).unwrap();
    let headers = json!({
        "Content-Type": "application/activity+json",
        "Content-Digest": signed.content_digest,
        "Signature-Input": signed.signature_input,
        "Signature": signed.signature,
    });
    let public = scratch.file("public.pem", claire.public_key_pem().as_bytes());
    let verify = |body: &[u8]| {
        vec![
            "verify".to_owned(),
            "--url".to_owned(),
            url.to_string(),
            "--headers-file".to_owned(),
            scratch.file("headers.json", headers.to_string().as_bytes()),
            "--body-file".to_owned(),
            scratch.file("body", body),
            "--public-key-file".to_owned(),
            public.clone(),
        ]
    };
    let (ok, outcome) = run_script(verify(body)).await;
    assert!(ok, "{outcome}");
    assert_eq!(outcome["verified"], true);
    assert_eq!(outcome["keyid"], key_id(&claire));
    assert_eq!(
        outcome["covered"],
        json!(["\"@method\"", "\"@target-uri\"", "\"content-digest\""])
    );
    let (ok, outcome) = run_script(verify(br#"{"type":"Block"}"#)).await;
    assert!(!ok, "a changed body must not verify: {outcome}");
    assert_eq!(outcome["verified"], false);
}

/// The Python inbox (`sign_verify.py serve`), stopped when dropped.
struct PythonInbox {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl PythonInbox {
    async fn start() -> Self {
        Self::serving(None).await
    }

    /// With `actor_key` (a public key PEM), it also serves accounts at `/users/NAME` with that
    /// key, to GETs signed in RFC 9421 only.
    async fn serving(actor_key: Option<&str>) -> Self {
        let python = python();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("inbox.jsonl");
        let mut args = vec![
            "serve".to_owned(),
            "--port".to_owned(),
            "0".to_owned(),
            "--log".to_owned(),
            log.display().to_string(),
        ];
        if let Some(pem) = actor_key {
            let path = dir.path().join("actor-key.pem");
            std::fs::write(&path, pem).unwrap();
            args.extend(["--actor-key".to_owned(), path.display().to_string()]);
        }
        let (child, port) = tokio::task::spawn_blocking(move || {
            use std::io::BufRead;
            let mut child = Command::new(python)
                .arg(script())
                .args(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start sign_verify.py serve");
            let stdout = child.stdout.take().expect("stdout");
            let mut first = String::new();
            std::io::BufReader::new(stdout)
                .read_line(&mut first)
                .expect("read the port");
            let port = serde_json::from_str::<Value>(&first)
                .ok()
                .and_then(|v| v["listening"].as_u64())
                .unwrap_or_else(|| panic!("serve did not start: {first}"));
            (child, port as u16)
        })
        .await
        .unwrap();
        Self {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    fn entries(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

impl Drop for PythonInbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Queues `activity` from `signer` to `inbox` and waits until the worker has handled it.
async fn deliver_and_wait(app: &TestApp, signer: Signer, activity: &Value, inbox: &str) {
    let id = activity["id"].as_str().unwrap();
    delivery::enqueue(
        &app.state.db,
        &url::Url::parse(id).unwrap(),
        signer,
        activity,
        [url::Url::parse(inbox).unwrap()],
    )
    .await
    .unwrap();
    for _ in 0..150 {
        let row = delivery_store::Entity::find()
            .filter(delivery_store::Column::ActivityId.eq(id))
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap();
        match row.status.as_str() {
            "delivered" => return,
            "pending" if row.attempts == 0 => {}
            other => panic!("delivery of {id} is {other}: {:?}", row.last_error),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("delivery of {id} did not happen in 15 s");
}

async fn scheme_of(app: &TestApp, host: &str) -> Option<String> {
    signature_scheme::Entity::find_by_id(host.to_owned())
        .one(&app.state.db)
        .await
        .unwrap()
        .map(|row| row.scheme)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_double_knocks_to_an_rfc9421_only_inbox_and_remembers_it() {
    let inbox_server = PythonInbox::start().await;
    let app = TestApp::spawn_federating().await;
    let claire = account(&app, "claire").await;
    let host = format!("localhost:{}", inbox_server.port);
    let inbox = format!("http://{host}/inbox");
    let activity = |n: u32| {
        json!({
            "type": "Follow",
            "id": format!("{}/activities/follow/knock-{n}", app.url),
            "actor": claire.ap_id,
            "object": format!("http://{host}/actor"),
        })
    };
    assert_eq!(scheme_of(&app, &host).await, None);

    // First delivery: draft-cavage (nothing known) is refused, RFC 9421 at once is accepted.
    deliver_and_wait(&app, Signer::Account(claire.model.id), &activity(1), &inbox).await;
    let log = inbox_server.entries();
    assert_eq!(log.len(), 2, "{log:#?}");
    assert_eq!(log[0]["scheme"], "cavage");
    assert_eq!(log[0]["status"], 401);
    assert_eq!(log[1]["scheme"], "rfc9421");
    assert_eq!(log[1]["status"], 202);
    assert_eq!(log[1]["verified"], true, "{log:#?}");
    assert_eq!(log[1]["keyid"], key_id(&claire));
    assert_eq!(log[1]["activity_id"], activity(1)["id"]);
    assert_eq!(
        log[1]["covered"],
        json!(["\"@method\"", "\"@target-uri\"", "\"content-digest\""])
    );
    assert!(
        log[1]["verified_by"]
            .as_str()
            .unwrap()
            .starts_with("http-message-signatures "),
        "{log:#?}"
    );
    assert_eq!(scheme_of(&app, &host).await.as_deref(), Some("rfc9421"));

    // Second delivery: straight in RFC 9421, one request.
    deliver_and_wait(&app, Signer::Account(claire.model.id), &activity(2), &inbox).await;
    let log = inbox_server.entries();
    assert_eq!(log.len(), 3, "{log:#?}");
    assert_eq!(log[2]["scheme"], "rfc9421");
    assert_eq!(log[2]["status"], 202);
    assert_eq!(log[2]["verified"], true);
    assert_eq!(log[2]["activity_id"], activity(2)["id"]);
    assert_eq!(scheme_of(&app, &host).await.as_deref(), Some("rfc9421"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn palabre_nodes_accept_each_other_s_rfc9421_deliveries() {
    let origin = TestApp::spawn_federating().await;
    let remote = TestApp::spawn_federating().await;
    let admin = origin.user_token("orga", Role::Admin).await;
    origin.consultation(&admin, "budget", 30).await;
    let claire = account(&remote, "claire").await;
    // The remote node remembers that the origin takes RFC 9421 (as after a double knock).
    let origin_host = origin.url.trim_start_matches("http://").to_owned();
    sea_orm::EntityTrait::insert(signature_scheme::ActiveModel {
        host: sea_orm::Set(origin_host.clone()),
        scheme: sea_orm::Set("rfc9421".into()),
        updated_at: sea_orm::Set(chrono::Utc::now()),
    })
    .exec_without_returning(&remote.state.db)
    .await
    .unwrap();
    let follow_activity = json!({
        "type": "Follow",
        "id": format!("{}/activities/follow/palabre-9421", remote.url),
        "actor": claire.ap_id,
        "object": format!("{}/consultations/budget", origin.url),
    });
    deliver_and_wait(
        &remote,
        Signer::Account(claire.model.id),
        &follow_activity,
        &format!("{}/inbox", origin.url),
    )
    .await;
    let stored = follow::Entity::find()
        .count(&origin.state.db)
        .await
        .unwrap();
    assert_eq!(
        stored, 1,
        "the origin verified the RFC 9421 signature and stored the Follow"
    );
    assert_eq!(
        scheme_of(&remote, &origin_host).await.as_deref(),
        Some("rfc9421")
    );
}

/// A server that serves its accounts only to GETs signed in RFC 9421 (authorized fetch without
/// draft-cavage): the node's draft-cavage fetch of an account is refused, fetched again at once
/// in RFC 9421 (verified by the Python library), and the next fetch there goes straight in RFC
/// 9421; the activities that needed those accounts are taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_double_knock_to_an_rfc9421_only_server_and_remember_it() {
    let scratch = Scratch::new();
    let keypair = activitypub_federation::http_signatures::generate_actor_keypair().unwrap();
    let server = PythonInbox::serving(Some(&keypair.public_key)).await;
    let origin = TestApp::spawn_federating().await;
    let admin = origin.user_token("orga", Role::Admin).await;
    origin.consultation(&admin, "budget", 30).await;
    let host = format!("localhost:{}", server.port);
    let group = format!("{}/consultations/budget", origin.url);
    let inbox = format!("{group}/inbox");
    assert_eq!(scheme_of(&origin, &host).await, None);

    for name in ["ana", "ben"] {
        let actor = format!("http://{host}/users/{name}");
        let body = serde_json::to_vec(&json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "type": "Follow",
            "id": format!("{actor}/follows/1"),
            "actor": actor,
            "object": group,
        }))
        .unwrap();
        let keyid = format!("{actor}#main-key");
        let headers = python_sign(&scratch, &inbox, &body, &keypair.private_key, &keyid, &[]).await;
        let (status, text) = post(&inbox, &headers, &body, &[]).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{name}: {text}");
    }

    let gets: Vec<Value> = server
        .entries()
        .into_iter()
        .filter(|entry| entry["method"] == "GET")
        .collect();
    assert_eq!(gets.len(), 3, "{gets:#?}");
    assert_eq!(gets[0]["path"], "/users/ana");
    assert_eq!(gets[0]["scheme"], "cavage");
    assert_eq!(gets[0]["status"], 401);
    assert_eq!(gets[1]["path"], "/users/ana");
    assert_eq!(gets[1]["scheme"], "rfc9421");
    assert_eq!(gets[1]["status"], 200, "{gets:#?}");
    assert_eq!(gets[1]["verified"], true);
    let instance = keys::instance_actor(&origin.state).await.unwrap();
    assert_eq!(gets[1]["keyid"], signatures::main_key_id(instance.id()));
    assert_eq!(
        gets[1]["covered"],
        json!(["\"@method\"", "\"@target-uri\""])
    );
    assert!(
        gets[1]["verified_by"]
            .as_str()
            .unwrap()
            .starts_with("http-message-signatures "),
        "{gets:#?}"
    );
    assert_eq!(gets[2]["path"], "/users/ben", "straight in RFC 9421");
    assert_eq!(gets[2]["scheme"], "rfc9421");
    assert_eq!(gets[2]["status"], 200, "{gets:#?}");
    assert_eq!(scheme_of(&origin, &host).await.as_deref(), Some("rfc9421"));

    let followers = follow::Entity::find()
        .filter(follow::Column::State.eq("accepted"))
        .count(&origin.state.db)
        .await
        .unwrap();
    assert_eq!(followers, 2, "both Follows taken");
}
