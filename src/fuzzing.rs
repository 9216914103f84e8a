//! The code the fuzz targets in `fuzz/` run, one function per target, so that the fuzzer and
//! the regression test (`tests/fuzz_regressions.rs`) call exactly the same production parsers
//! with exactly the same checks. docs/fuzzing.md explains how to run them.
//!
//! Each function takes the raw bytes a hostile peer (or user) controls and returns `Err` with a
//! description when a property that must hold for every input is broken. A panic is a finding
//! as well. Input that a parser refuses is fine: refusing is what it is for.
use std::sync::OnceLock;

use activitypub_federation::config::{Data, FederationConfig};
use activitypub_federation::fetch::webfinger::Webfinger;
use activitypub_federation::protocol::context::WithContext;
use axum::extract::Query;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use url::Url;

use crate::federation::activities::{Announced, Contribution, InboxActivity};
use crate::federation::actors::clean_name;
use crate::federation::objects::Note;
use crate::federation::policy::{Involved, involved, normalize_domain, rule_host};
use crate::federation::replies::REPLY_TEXT_MAX_BYTES;
use crate::federation::routes::{WebfingerName, WebfingerQuery, webfinger_name};
use crate::federation::signatures::{
    self, MessageSignature, SignedRequest, check_cavage_policy, check_content_digest, check_policy,
    content_digest, parse_public_key, parse_signatures, signature_base,
};
use crate::render::{html_to_text, markdown_to_html, remote_html_to_markdown, sanitize_html};
use crate::services::BODY_MAX;

pub mod html;

/// What a target reports: `Err` names the broken property and the output that broke it.
pub type Verdict = Result<(), String>;

/// The entry function of a target: the input bytes, and whether every property held.
pub type Target = fn(&[u8]) -> Verdict;

/// Every target, by the name of its directory under `fuzz/corpus/` and `fuzz/regressions/`.
pub const TARGETS: [(&str, Target); 4] = [
    ("inbox_json", inbox_json),
    ("signature_headers", signature_headers),
    ("markdown_html", markdown_html),
    ("webfinger", webfinger),
];

fn violated(what: &str, detail: impl std::fmt::Debug) -> Verdict {
    Err(format!("{what}: {detail:?}"))
}

// ---------------------------------------------------------------------------------------------
// inbox_json: the body of an inbox POST
// ---------------------------------------------------------------------------------------------

/// The body of an inbox POST, read as the inbox reads it: the federation policy's look at the
/// JSON (before any signature check), then the activity parser of both signature schemes
/// (`WithContext<InboxActivity>`, with the reply-size cap inside `Contribution`), then the
/// pure readings of a reply: poll answer or not, stance hashtags, Markdown, rendered HTML.
pub fn inbox_json(body: &[u8]) -> Verdict {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        let mut found = Involved::default();
        involved(&value, 0, &mut found);
    }
    let Ok(activity) = serde_json::from_slice::<WithContext<InboxActivity>>(body) else {
        return Ok(());
    };
    match activity.inner() {
        InboxActivity::Create(create) => contribution(&create.object),
        InboxActivity::UpdateObject(update) => contribution(&update.object),
        InboxActivity::Announce(announce) => match &announce.object {
            Announced::Create(create) => contribution(&create.object),
            Announced::Contribution(c) => contribution(c),
            Announced::Link(_) | Announced::Embedded { .. } => Ok(()),
        },
        InboxActivity::UpdateGroup(update) => {
            let group = &update.object;
            for name in group.name.iter().chain(&group.themes) {
                let clean = clean_name(name, 200);
                if clean.chars().any(char::is_control) || clean.chars().count() > 200 {
                    return violated("a remote name keeps control characters or length", clean);
                }
            }
            Ok(())
        }
        InboxActivity::Flag(flag) => {
            let reported = flag.reported();
            let mut unique = reported.clone();
            unique.sort();
            unique.dedup();
            if reported.len() > 20 || unique.len() != reported.len() {
                return violated("a Flag reports more than 20 objects or one twice", reported);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn contribution(contribution: &Contribution) -> Verdict {
    let (note, kind) = match contribution {
        Contribution::Note(n) => (n, "argument"),
        Contribution::Comment(n) => (n, "comment"),
        Contribution::PollAnswer(n) => (n, "poll answer"),
        Contribution::Page(_) | Contribution::Source(_) => return Ok(()),
    };
    reply(note, kind)
}

fn reply(note: &Note, kind: &str) -> Verdict {
    if note.is_too_long() {
        return violated(
            &format!("a reply over {REPLY_TEXT_MAX_BYTES} bytes was parsed"),
            note.content.len(),
        );
    }
    let poll = note.is_poll_answer();
    let stance = note.effective_stance();
    let expected = match (poll, stance) {
        (true, _) => "poll answer",
        (false, Some(_)) => "argument",
        (false, None) => "comment",
    };
    if kind != expected {
        return violated(
            &format!("a {expected} was read as a {kind}"),
            note.id.inner().as_str(),
        );
    }
    let markdown = note.markdown();
    if markdown.chars().count() > BODY_MAX {
        return violated("a reply's Markdown is longer than BODY_MAX", markdown.len());
    }
    let rendered = markdown_to_html(&markdown);
    html::check_markdown_html(&rendered)
}

// ---------------------------------------------------------------------------------------------
// signature_headers: draft-cavage and RFC 9421 headers
// ---------------------------------------------------------------------------------------------

/// Public keys whose private halves were thrown away when they were made: no input can carry
/// a signature that verifies with them.
const RSA_KEY: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA0Caa1kzjK3nX7Oqt8cvy
lqJuf6TH67OWW8yM1EZkwXs6WnOUQWoabb9hHysihFf6rfjtYbkw3dgoAKUahorx
8B9ehha0phx8nlufaQNSVGc5lr7lq2ffAO8mjxow/Lk6+YPiJdLH2z1Tgvf7om1/
3mZkxwd19yJjwc8Gc5N7AztaOFv3AC3OAHZpEXUJnLS0SGL9ohFOK1eb68rXNlzn
Xp3pufemzYP/KJGZe6VeORqie1GXyJaBj1x/36svRttyIIC4woA/sRNc1pML5TP2
sba+2tAXBe8yddNDnta5Y4hzrvloJmfen5kBe+hgQNb6h9Mm0USVeEzt5leQiXYm
WQIDAQAB
-----END PUBLIC KEY-----";
const ED25519_KEY: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAsan3GDQ096+6h+76NVJd1ix0DGbmWX9l4woF1W2aSdM=
-----END PUBLIC KEY-----";

/// The origin the fuzzed requests are sent to.
const ORIGIN: &str = "https://palabre.example";
/// A fixed "now" for the freshness checks, so that a run can be replayed: 2026-11-25.
const NOW: i64 = 1_795_600_000;

/// A request head as text, the way it reaches the inbox: `METHOD target` on the first line,
/// then `name: value` lines, an empty line, and the body. Lines that are not valid HTTP are
/// left out, as a server would refuse them before Palabre sees them.
struct RawRequest {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl RawRequest {
    fn parse(data: &[u8]) -> Self {
        let split = data.windows(2).position(|w| w == b"\n\n");
        let (head, body) = match split {
            Some(at) => (&data[..at], &data[at + 2..]),
            None => (data, &[][..]),
        };
        let mut lines = head
            .split(|b| *b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let first = lines.next().unwrap_or_default();
        let mut words = first.splitn(2, |b| *b == b' ');
        let method = words
            .next()
            .and_then(|m| Method::from_bytes(m).ok())
            .unwrap_or(Method::POST);
        let uri = words
            .next()
            .and_then(|t| Uri::try_from(t).ok())
            .unwrap_or_else(|| Uri::from_static("/inbox"));
        let mut headers = HeaderMap::new();
        for line in lines {
            let Some(colon) = line.iter().position(|b| *b == b':') else {
                continue;
            };
            let value = line[colon + 1..].trim_ascii();
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(line[..colon].trim_ascii()),
                HeaderValue::from_bytes(value),
            ) {
                headers.append(name, value);
            }
        }
        RawRequest {
            method,
            uri,
            headers,
            body: body.to_vec(),
        }
    }
}

/// An inbox request's signature headers, read as the inbox reads them before the actor's key
/// is known: the rate limiter's look at `keyId`, the draft-cavage policy, and for RFC 9421 the
/// structured fields, the policy, `Content-Digest`, the signature base, and verification with
/// keys no input can match. The body is also read as an actor's public key PEM.
pub fn signature_headers(data: &[u8]) -> Verdict {
    let request = RawRequest::parse(data);
    let headers = &request.headers;
    for value in ["signature", "signature-input"]
        .iter()
        .flat_map(|name| headers.get_all(*name))
        .filter_map(|v| v.to_str().ok())
    {
        let _ = crate::ratelimit::key_id_host(value);
    }
    let _ = check_cavage_policy(headers);
    if let Ok(body) = std::str::from_utf8(&request.body) {
        let _ = parse_public_key(body);
    }
    if check_content_digest(&content_digest(&request.body), &request.body).is_err() {
        return violated("a body's own Content-Digest is refused", request.body.len());
    }
    if let Some(digest) = headers.get("content-digest").and_then(|v| v.to_str().ok()) {
        let _ = check_content_digest(digest, &request.body);
    }
    if !signatures::is_rfc9421(headers) {
        return Ok(());
    }
    let Ok(found) = parse_signatures(headers) else {
        return Ok(());
    };
    let target = signatures::target_url(ORIGIN, &request.uri).ok();
    for signature in &found {
        let _ = check_policy(signature, NOW);
        let _ = (signature.created(), signature.expires(), signature.alg());
        reparsed_params(signature)?;
        let Some(target) = &target else {
            continue;
        };
        let signed = SignedRequest {
            method: request.method.as_str(),
            target_uri: target,
            headers,
        };
        let Ok(base) = signature_base(&signed, signature) else {
            continue;
        };
        if base.split('\n').count() != signature.components.len() + 1
            || !base.contains("\"@signature-params\": (")
        {
            return violated("a signature base with extra or missing lines", base);
        }
        for pem in [RSA_KEY, ED25519_KEY] {
            let key = parse_public_key(pem).map_err(|e| format!("test key: {e}"))?;
            let alg = signature.alg().unwrap_or(None);
            if signatures::verify_signature(&key, alg, base.as_bytes(), &signature.signature)
                .is_ok()
            {
                return violated("a signature verified with a key nobody holds", base);
            }
        }
    }
    Ok(())
}

/// The `@signature-params` line is the serialized `Signature-Input` member: read again, it
/// must give back the same components and parameters, or signer and verifier would disagree.
fn reparsed_params(signature: &MessageSignature) -> Verdict {
    let params = signature
        .signature_params()
        .map_err(|e| format!("parameters of a parsed signature cannot be serialized: {e}"))?;
    let mut headers = HeaderMap::new();
    let input = HeaderValue::from_str(&format!("sig={params}"));
    let sig = HeaderValue::from_static("sig=:AAAA:");
    let Ok(input) = input else {
        return violated("serialized parameters are not a header value", params);
    };
    headers.insert("signature-input", input);
    headers.insert("signature", sig);
    match parse_signatures(&headers).as_deref() {
        Ok([again])
            if again.components == signature.components && again.params == signature.params =>
        {
            Ok(())
        }
        other => violated(
            "@signature-params does not read back the same",
            (params, other),
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// markdown_html: Markdown and HTML from authors and other servers
// ---------------------------------------------------------------------------------------------

/// Text as an author or another server writes it, through every renderer: Markdown to HTML,
/// the HTML sanitiser, remote HTML to Markdown (then rendered), and HTML to plain text. The
/// output must be safe to put in a page, and each renderer must keep its promise (see
/// `html`).
pub fn markdown_html(data: &[u8]) -> Verdict {
    let text = String::from_utf8_lossy(data);
    let sanitized = sanitize_html(&text);
    html::check_sanitized(&sanitized).map_err(|e| format!("sanitize_html: {e}"))?;
    same_text_when_read_again(&sanitized)?;
    let rendered = markdown_to_html(&text);
    html::check_markdown_html(&rendered).map_err(|e| format!("markdown_to_html: {e}"))?;
    let markdown = remote_html_to_markdown(&text);
    let shown = markdown_to_html(&markdown);
    html::check_remote_reply(&shown)
        .map_err(|e| format!("remote_html_to_markdown: {e}; Markdown {markdown:?}"))?;
    let _ = html_to_text(&text);
    // Plain text written as HTML reads back as itself (the parser's own newline and NUL
    // handling aside).
    let plain = html_to_text(&html::escape(&text));
    let expected = html::as_parsed(&text);
    if plain != expected {
        return violated(
            "html_to_text does not give back escaped text",
            (expected, plain),
        );
    }
    Ok(())
}

/// The browser reads the sanitiser's output again. Its tree may differ (ammonia takes out
/// elements and keeps their content, so `<p>` can end up inside `<span>`, which a parser
/// never builds), and the checks above hold for every tag written in it whatever the tree.
/// What must not change is which characters are text: text turning into markup, or markup
/// into text, is how "mutation XSS" gets through sanitisers. The characters are compared
/// sorted, as a table moves its stray text before it.
fn same_text_when_read_again(sanitized: &str) -> Verdict {
    let again = sanitize_html(sanitized);
    let mut before: Vec<char> = html::text_of(sanitized)?.chars().collect();
    let mut after: Vec<char> = html::text_of(&again)?.chars().collect();
    before.sort_unstable();
    after.sort_unstable();
    if before != after {
        return violated(
            "the sanitized HTML has other text when it is read again",
            (sanitized, again),
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// webfinger: the `resource` of a WebFinger query, server names, a remote WebFinger answer
// ---------------------------------------------------------------------------------------------

/// The host and federation domain of the fuzzed node.
const HOST: &str = "palabre.example";

/// A federation configuration for `webfinger_name`, which needs the node's domain. It is built
/// once, on a runtime kept for the life of the process (building starts the library's queue).
fn federation_data() -> Option<&'static Data<()>> {
    static DATA: OnceLock<Option<(tokio::runtime::Runtime, Data<()>)>> = OnceLock::new();
    DATA.get_or_init(|| {
        crate::install_crypto_provider();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        let config = runtime.block_on(async {
            FederationConfig::builder()
                .domain(HOST)
                .app_data(())
                .build()
                .await
                .ok()
        })?;
        let data = config.to_request_data();
        Some((runtime, data))
    })
    .as_ref()
    .map(|(_, data)| data)
}

/// What WebFinger on this node parses: the query string of `/.well-known/webfinger` (axum's
/// `Query`, then `webfinger_name`); server names as admins and users type them
/// (`normalize_domain`, used for policy rules and handles); a remote WebFinger answer (the
/// library's `Webfinger`, as its resolver reads it).
pub fn webfinger(data: &[u8]) -> Verdict {
    let fed = federation_data().ok_or("cannot build the federation configuration")?;
    let mut path = b"/.well-known/webfinger?".to_vec();
    path.extend_from_slice(data);
    if let Ok(uri) = Uri::try_from(path)
        && let Ok(Query(query)) = Query::<WebfingerQuery>::try_from_uri(&uri)
    {
        match webfinger_name(&query.resource, fed, HOST) {
            Ok(WebfingerName::Instance) if query.resource != format!("acct:{HOST}@{HOST}") => {
                return violated("the node's actor answers another resource", query.resource);
            }
            Ok(WebfingerName::Handle(name))
                if name.is_empty() || query.resource != format!("acct:{name}@{HOST}") =>
            {
                return violated("a handle read from another resource", query.resource);
            }
            _ => {}
        }
    }
    let text = String::from_utf8_lossy(data);
    for raw in std::iter::once(text.as_ref()).chain(text.split(['@', '\n'])) {
        server_name(raw)?;
    }
    let _ = serde_json::from_slice::<Webfinger>(data);
    Ok(())
}

/// A server name as typed (`normalize_domain`) must be stable, and must be the name URLs on
/// that server are compared with (`rule_host`), or a rule would not match its own server.
fn server_name(raw: &str) -> Verdict {
    let Ok(name) = normalize_domain(raw) else {
        return Ok(());
    };
    match normalize_domain(&name) {
        Ok(again) if again == name => {}
        other => return violated("normalize_domain is not stable", (raw, &name, other)),
    }
    // Rules are compared with the hosts of http(s) URLs only: what is fetched and delivered.
    let urls: Vec<Url> = if raw.contains("://") {
        Url::parse(raw.trim())
            .into_iter()
            .filter(|url| matches!(url.scheme(), "http" | "https"))
            .collect()
    } else {
        ["https", "http"]
            .iter()
            .filter_map(|scheme| Url::parse(&format!("{scheme}://{}/", raw.trim())).ok())
            .filter(|url| url.path() == "/")
            .collect()
    };
    if !urls.is_empty() && !urls.iter().any(|url| rule_host(url) == name) {
        let hosts: Vec<String> = urls.iter().map(rule_host).collect();
        return violated(
            "a rule for a server does not match that server's URLs",
            (raw, name, hosts),
        );
    }
    Ok(())
}
