//! Replies sent to a consultation hosted on the node: to a parent it does not know, and over
//! the 64 KiB text cap; and draft-cavage signatures that date themselves with `(created)`.
use std::time::Instant;

use palabre::store::follow;
use reqwest::StatusCode;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use super::hostile::{Hostile, deliver_json};
use super::{BOUNDED, argument, arguments, create, node_with_a_proposal, seconds};

#[tokio::test]
async fn a_reply_to_an_unknown_proposal_is_refused_and_its_parent_never_fetched() {
    let node = node_with_a_proposal().await;
    let hostile = Hostile::start().await;
    let mallory = hostile.person("mallory");
    let signer = hostile.signer(&mallory);
    for (n, parent) in [
        ("1", format!("{}/proposals/7", hostile.base)),
        ("2", format!("{}/proposals/9999", node.app.url)),
    ] {
        let reply = argument(
            &format!("{}/notes/{n}", hostile.base),
            &mallory,
            &parent,
            &node.group,
            "<p>Une réponse.</p>",
        );
        let answer =
            deliver_json(&node.app, &signer, &node.inbox, &create(&mallory, n, reply)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    }
    assert!(
        !hostile.was_asked_for("/proposals/7"),
        "{:?}",
        hostile.requests()
    );
    assert_eq!(
        arguments(&node.app, node.proposal).await,
        Vec::<Value>::new()
    );
}

#[tokio::test]
async fn a_reply_over_64_kib_of_text_is_refused_and_one_under_it_is_kept() {
    let node = node_with_a_proposal().await;
    let hostile = Hostile::start().await;
    let mallory = hostile.person("mallory");
    let signer = hostile.signer(&mallory);
    let kib = 1024;
    // Markup-heavy text: the more tags, the more a parser would have to do.
    let html = |bytes: usize| {
        let unit = "<p><b>mot</b> <i>mot</i></p>";
        unit.repeat(bytes / unit.len() + 1)[..bytes].to_owned()
    };
    let reply = |n: &str, content: String| {
        argument(
            &format!("{}/notes/{n}", hostile.base),
            &mallory,
            &node.proposal_url,
            &node.group,
            &content,
        )
    };
    let mut split = reply("split", html(40 * kib));
    split["source"] = json!({"content": "m".repeat(40 * kib), "mediaType": "text/markdown"});
    for (what, object) in [
        ("65 KiB of content", reply("long", html(65 * kib))),
        ("40 KiB of content and 40 KiB of source", split),
    ] {
        let answer = deliver_json(
            &node.app,
            &signer,
            &node.inbox,
            &create(&mallory, what, object),
        )
        .await;
        println!(
            "{what}: {} in {}: {}",
            answer.status,
            seconds(answer.took),
            answer.body
        );
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{what}");
        assert!(answer.took < BOUNDED);
    }
    assert_eq!(
        arguments(&node.app, node.proposal).await,
        Vec::<Value>::new()
    );

    // Under the cap the reply is read; its text is kept up to 20 000 characters, like any body.
    let object = reply("ok", format!("<p>{}</p>", "mot ".repeat(15_000)));
    let answer = deliver_json(
        &node.app,
        &signer,
        &node.inbox,
        &create(&mallory, "ok", object),
    )
    .await;
    println!(
        "60 KiB of content: {} in {}",
        answer.status,
        seconds(answer.took)
    );
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    assert!(answer.took < BOUNDED);
    let stored = arguments(&node.app, node.proposal).await;
    assert_eq!(stored.len(), 1);
    let body = stored[0]["body"].as_str().unwrap();
    assert_eq!(body.chars().count(), 20_000);
    assert!(body.starts_with("mot mot"), "{}", &body[..40]);
}

/// The headers and pseudo-headers a signature covers.
type Covered<'a> = &'a [&'a str];

/// A draft-cavage signature made by hand over `covered`, dated by the `created` and `expires`
/// parameters (Unix seconds) instead of a `Date` header, which is not sent.
fn signed_with_created(
    inbox: &str,
    key_id: &str,
    private_pem: &str,
    covered: &[&str],
    created: Option<i64>,
    expires: Option<i64>,
    body: &[u8],
) -> reqwest::RequestBuilder {
    use base64::Engine;
    use rsa::pkcs8::DecodePrivateKey;
    use sha2::Digest;
    let url = url::Url::parse(inbox).unwrap();
    let host = palabre::federation::host_of(&url);
    let digest = format!(
        "SHA-256={}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body))
    );
    let line = |name: &str| match name {
        "(request-target)" => format!("(request-target): post {}", url.path()),
        "(created)" => format!("(created): {}", created.unwrap_or_default()),
        "(expires)" => format!("(expires): {}", expires.unwrap_or_default()),
        "host" => format!("host: {host}"),
        "digest" => format!("digest: {digest}"),
        other => panic!("unknown header {other}"),
    };
    let signing_string = covered
        .iter()
        .map(|h| line(h))
        .collect::<Vec<_>>()
        .join("\n");
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(private_pem).unwrap();
    let signature = key
        .sign(
            rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            &sha2::Sha256::digest(signing_string.as_bytes()),
        )
        .unwrap();
    let mut params = format!("keyId=\"{key_id}\",algorithm=\"hs2019\"");
    if let Some(created) = created {
        params.push_str(&format!(",created={created}"));
    }
    if let Some(expires) = expires {
        params.push_str(&format!(",expires={expires}"));
    }
    let header = format!(
        "{params},headers=\"{}\",signature=\"{}\"",
        covered.join(" "),
        base64::engine::general_purpose::STANDARD.encode(signature)
    );
    reqwest::Client::new()
        .post(inbox)
        .header("content-type", "application/activity+json")
        .header("digest", digest)
        .header("signature", header)
        .body(body.to_vec())
}

#[tokio::test]
async fn a_cavage_signature_dated_by_created_must_be_fresh_and_unexpired() {
    let node = node_with_a_proposal().await;
    let hostile = Hostile::start().await;
    let mallory = hostile.person("mallory");
    let key_id = format!("{mallory}#main-key");
    let follow = |n: &str| {
        serde_json::to_vec(&json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "type": "Follow",
            "id": format!("{mallory}/activities/follow/{n}"),
            "actor": mallory,
            "object": node.group,
        }))
        .unwrap()
    };
    let now = chrono::Utc::now().timestamp();
    let with_created = ["(request-target)", "host", "(created)", "digest"];
    let with_both = [
        "(request-target)",
        "host",
        "(created)",
        "(expires)",
        "digest",
    ];
    let refused: [(&str, Covered, Option<i64>, Option<i64>); 5] = [
        (
            "created two hours ago (a replay)",
            &with_created,
            Some(now - 7200),
            None,
        ),
        (
            "created ten minutes ahead",
            &with_created,
            Some(now + 600),
            None,
        ),
        (
            "created a year ahead, with no expiry",
            &with_created,
            Some(now + 31_536_000),
            None,
        ),
        (
            "expired a minute ago",
            &with_both,
            Some(now - 120),
            Some(now - 60),
        ),
        ("(created) covered but not given", &with_created, None, None),
    ];
    for (n, (what, covered, created, expires)) in refused.into_iter().enumerate() {
        let started = Instant::now();
        let response = signed_with_created(
            &node.inbox,
            &key_id,
            hostile.private_key_pem(),
            covered,
            created,
            expires,
            &follow(&n.to_string()),
        )
        .send()
        .await
        .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        println!(
            "{what}: {status} in {} ({text})",
            seconds(started.elapsed())
        );
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {text}");
    }
    let follows = || async {
        follow::Entity::find()
            .count(&node.app.state.db)
            .await
            .unwrap()
    };
    assert_eq!(follows().await, 0, "nothing stored from refused requests");
    // Fresh, and fresh with an expiry ahead: accepted, with no Date header at all.
    for (n, covered, expires) in [
        ("fresh", &with_created[..], None),
        ("fresh-expiring", &with_both[..], Some(now + 300)),
    ] {
        let response = signed_with_created(
            &node.inbox,
            &key_id,
            hostile.private_key_pem(),
            covered,
            Some(now),
            expires,
            &follow(n),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{n}");
    }
    assert_eq!(follows().await, 1, "one follow, however often it is sent");
}
