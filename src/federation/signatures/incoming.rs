//! Incoming: the keys and algorithms an RFC 9421 signature is verified with, what Palabre
//! requires of it on an inbox POST, the inbox pipeline ([`receive`]), and the `Date` check of
//! draft-cavage requests (which the library verifies otherwise).
use activitypub_federation::error::Error as FedError;
use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::protocol::context::WithContext;
use activitypub_federation::protocol::verification::verify_domains_match;
use activitypub_federation::traits::{Activity, Actor};
use axum::extract::Request;
use axum::http::HeaderMap;
use chrono::Utc;
use either::Either;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use sha2::{Digest, Sha256, Sha512};
use url::Url;

use super::base::{
    MessageSignature, SignedRequest, combined_field, parse_signatures, signature_base,
};
use super::digest::check_content_digest;
use super::{SignatureError, refuse};
use crate::error::{AppError, AppResult};
use crate::federation::FedData;
use crate::federation::activities::InboxActivity;
use crate::federation::actors::{DbGroup, DbPerson};

/// An RFC 9421 signature is refused when `created` is older than this (seconds).
pub const MAX_AGE_SECONDS: i64 = 3600;
/// ... or more than this in the future (seconds), which allows for clocks a little ahead.
/// The same tolerance applies to `expires`, and to the `Date` of a draft-cavage request.
pub const MAX_SKEW_SECONDS: i64 = 300;
/// Inbox bodies larger than this are refused, as by the library (1 MiB).
pub const MAX_BODY_SIZE: usize = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Keys and algorithms
// ---------------------------------------------------------------------------------------------

/// A public key an actor publishes: RSA (every fediverse server today) or Ed25519.
pub enum PublicKey {
    Rsa(RsaPublicKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

/// Reads a public key PEM: SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`, RSA or Ed25519) or
/// PKCS#1 (`BEGIN RSA PUBLIC KEY`).
pub fn parse_public_key(pem: &str) -> Result<PublicKey, SignatureError> {
    if let Ok(key) = RsaPublicKey::from_public_key_pem(pem) {
        return Ok(PublicKey::Rsa(key));
    }
    if let Ok(key) = RsaPublicKey::from_pkcs1_pem(pem) {
        return Ok(PublicKey::Rsa(key));
    }
    if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_pem(pem) {
        return Ok(PublicKey::Ed25519(key));
    }
    refuse("the actor's public key is neither RSA nor Ed25519")
}

/// Verifies `signature` over `base` with `key`. Without `alg`, the key decides:
/// `rsa-v1_5-sha256` for RSA, `ed25519` for Ed25519. With `alg`, it must fit the key; RSA keys
/// also verify `rsa-pss-sha512`.
pub fn verify_signature(
    key: &PublicKey,
    alg: Option<&str>,
    base: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    let verified = match (key, alg) {
        (PublicKey::Rsa(key), None | Some("rsa-v1_5-sha256")) => key
            .verify(
                Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(base),
                signature,
            )
            .is_ok(),
        (PublicKey::Rsa(key), Some("rsa-pss-sha512")) => {
            let verifier = rsa::pss::VerifyingKey::<Sha512>::new_with_salt_len(key.clone(), 64);
            match rsa::pss::Signature::try_from(signature) {
                Ok(sig) => verifier.verify(base, &sig).is_ok(),
                Err(_) => false,
            }
        }
        (PublicKey::Ed25519(key), None | Some("ed25519")) => {
            match ed25519_dalek::Signature::from_slice(signature) {
                Ok(sig) => key.verify_strict(base, &sig).is_ok(),
                Err(_) => false,
            }
        }
        (PublicKey::Rsa(_), Some(other)) => {
            return refuse(format!("algorithm {other} does not fit an RSA key"));
        }
        (PublicKey::Ed25519(_), Some(other)) => {
            return refuse(format!("algorithm {other} does not fit an Ed25519 key"));
        }
    };
    if verified {
        Ok(())
    } else {
        refuse("the signature does not verify with the actor's key")
    }
}

// ---------------------------------------------------------------------------------------------
// Incoming: policy and the inbox pipeline
// ---------------------------------------------------------------------------------------------

/// What Palabre requires of an RFC 9421 signature on an inbox POST, apart from the signature
/// itself: `@method`; `@target-uri`, or `@authority` with `@path` or `@request-target`;
/// `content-digest`; `keyid`; `created` no older than an hour and no more than five minutes
/// ahead; `expires`, if any, not past (with the same five minutes).
pub fn check_policy(signature: &MessageSignature, now: i64) -> Result<(), SignatureError> {
    if !signature.covers("@method") {
        return refuse("@method is not covered");
    }
    let target = signature.covers("@target-uri")
        || (signature.covers("@authority")
            && (signature.covers("@path") || signature.covers("@request-target")));
    if !target {
        return refuse("neither @target-uri nor @authority with @path is covered");
    }
    if !signature.covers("content-digest") {
        return refuse("content-digest is not covered");
    }
    if signature.keyid()?.is_none() {
        return refuse("no keyid parameter");
    }
    let Some(created) = signature.created()? else {
        return refuse("no created parameter");
    };
    if created > now + MAX_SKEW_SECONDS {
        return refuse("created is in the future");
    }
    if created < now - MAX_AGE_SECONDS {
        return refuse("created is more than an hour ago");
    }
    if let Some(expires) = signature.expires()?
        && expires < now - MAX_SKEW_SECONDS
    {
        return refuse("the signature has expired");
    }
    Ok(())
}

/// What a draft-cavage signature on an inbox POST must cover, on top of the library's check
/// of the signature itself: the method and path, the host, the time and the body's digest, so
/// that a signature cannot be replayed on another path, another node, much later, or with
/// another body. The `Date`, and the `created` parameter, must lie within an hour past and
/// five minutes ahead; `expires` must not be past. (The library alone lets an absent or
/// unsigned `Date` and a `created` in the future through, and its refusals of a stale
/// `created` or a past `expires` would reach the sender as 502, not 401.)
pub fn check_cavage_policy(headers: &HeaderMap) -> AppResult<()> {
    let refuse = |why: &str| Err(AppError::Unauthenticated(why.to_owned()));
    let Some(signature) = headers.get("signature").and_then(|s| s.to_str().ok()) else {
        return refuse("the request is not signed (no Signature header)");
    };
    let params = signature_params(signature);
    let named = |wanted: &str| -> Vec<&str> {
        params
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(wanted))
            .map(|(_, value)| value.as_str())
            .collect()
    };
    let lists = named("headers");
    let [list] = lists.as_slice() else {
        return refuse("the signature must name its covered headers exactly once");
    };
    let covered: Vec<String> = list
        .split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    for required in ["(request-target)", "host", "digest"] {
        if !covered.iter().any(|h| h == required) {
            return refuse(&format!("the signature does not cover {required}"));
        }
    }
    let signs_date = covered.iter().any(|h| h == "date");
    let signs_created = covered.iter().any(|h| h == "(created)");
    if !signs_date && !signs_created {
        return refuse("the signature covers neither date nor (created)");
    }
    let now = Utc::now().timestamp();
    if signs_date {
        let date = headers
            .get("date")
            .and_then(|d| d.to_str().ok())
            .and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok())
            .map(|d| d.timestamp());
        match date {
            None => return refuse("the request's Date is missing or unreadable"),
            Some(date) if date > now + MAX_SKEW_SECONDS => {
                return refuse("the request's Date is in the future");
            }
            Some(date) if date < now - MAX_AGE_SECONDS => {
                return refuse("the request's Date is more than an hour old (replayed?)");
            }
            Some(_) => {}
        }
    }
    match named("created").as_slice() {
        [] if signs_created => {
            return refuse("the signature covers (created) but gives no created parameter");
        }
        [] => {}
        [one] => match one.parse::<i64>() {
            Ok(created) if created > now + MAX_SKEW_SECONDS => {
                return refuse("the signature's created is in the future");
            }
            Ok(created) if created < now - MAX_AGE_SECONDS => {
                return refuse("the signature's created is more than an hour old (replayed?)");
            }
            Ok(_) => {}
            Err(_) => return refuse("the signature's created is not a number of seconds"),
        },
        _ => return refuse("the signature gives created more than once"),
    }
    match named("expires").as_slice() {
        [] => {}
        // A decimal is allowed there (draft-cavage 2.1.5).
        [one] => match one.parse::<f64>() {
            Ok(expires) if expires < now as f64 => return refuse("the signature has expired"),
            Ok(_) => {}
            Err(_) => return refuse("the signature's expires is not a number of seconds"),
        },
        _ => return refuse("the signature gives expires more than once"),
    }
    Ok(())
}

/// The `name="value"` parameters of a draft-cavage `Signature` header, reading quoted values
/// whole (a comma inside `keyId="..."` does not start a parameter).
fn signature_params(header: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        let Some((name, after)) = rest.split_once('=') else {
            break;
        };
        let name = name.trim().trim_start_matches(',').trim().to_owned();
        let after = after.trim_start();
        let (value, remaining) = match after.strip_prefix('"') {
            Some(quoted) => match quoted.split_once('"') {
                Some((value, remaining)) => (value.to_owned(), remaining),
                None => (quoted.to_owned(), ""),
            },
            None => match after.split_once(',') {
                Some((value, remaining)) => (value.trim().to_owned(), remaining),
                None => (after.trim().to_owned(), ""),
            },
        };
        params.push((name, value));
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    params
}

/// The URL a request to this node was sent to: the public origin (a reverse proxy in front
/// may have changed scheme and host) with the request's path and query.
pub fn target_url(origin: &str, uri: &axum::http::Uri) -> AppResult<Url> {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    Url::parse(&format!("{origin}{path}"))
        .map_err(|e| AppError::BadInput(format!("request target: {e}")))
}

/// The library's checks of an activity's id before it fetches anything
/// (`FederationConfig::verify_url_and_domain`, not public): same host as the actor, an allowed
/// URL, not from this node.
async fn verify_activity_id(id: &Url, actor: &Url, data: &FedData) -> AppResult<()> {
    verify_domains_match(id, actor)?;
    let allow_local = data.settings.federation.allow_local;
    match id.scheme() {
        "https" => {}
        "http" if allow_local => {}
        "http" => {
            return Err(
                FedError::UrlVerificationError("Http urls are only allowed in debug mode").into(),
            );
        }
        _ => return Err(FedError::UrlVerificationError("Invalid url scheme").into()),
    }
    if crate::federation::is_local(data, id) {
        return Err(FedError::UrlVerificationError("Activity was sent from local instance").into());
    }
    let Some(domain) = id.domain() else {
        return Err(FedError::UrlVerificationError("Url must have a domain").into());
    };
    if !domain
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return Err(FedError::UrlVerificationError("Invalid characters in domain").into());
    }
    if !allow_local {
        if id.port().is_some() {
            return Err(FedError::UrlVerificationError("Explicit port is not allowed").into());
        }
        // Resolves the host and refuses private addresses (a no-op in debug mode).
        data.is_valid_ip(id).await?;
    }
    Ok(())
}

/// Receives an inbox POST signed with RFC 9421: checks the signature as FEDERATION.md
/// describes, then runs the activity through the same steps as the library's
/// `receive_activity` after its own signature check (`Activity::verify`, then `receive`).
/// Nothing is stored unless the signature verifies.
pub async fn receive(request: Request, data: &FedData) -> AppResult<()> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY_SIZE)
        .await
        .map_err(|e| AppError::BadInput(format!("cannot read the request body: {e}")))?;
    let signatures = parse_signatures(&parts.headers)?;
    // The first signature is the one checked; a request signed twice by the same sender
    // gains nothing from a second check.
    let Some(signature) = signatures.into_iter().next() else {
        return Err(SignatureError("no signature".into()).into());
    };
    check_policy(&signature, Utc::now().timestamp())?;
    let Some(digest) = combined_field(&parts.headers, "content-digest")? else {
        return Err(SignatureError("no Content-Digest header".into()).into());
    };
    check_content_digest(&digest, &body)?;
    let keyid = signature.keyid()?.unwrap_or_default();
    let key_url =
        Url::parse(keyid).map_err(|_| SignatureError(format!("keyid {keyid} is not a URL")))?;

    let activity: WithContext<InboxActivity> =
        serde_json::from_slice(&body).map_err(|err| FedError::ParseReceivedActivity {
            err,
            id: serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("id")?.as_str().and_then(|id| Url::parse(id).ok())),
        })?;
    let actor_id = activity.actor().clone();
    verify_activity_id(activity.id(), &actor_id, data).await?;
    // The key must be the actor's own: on its server, and the signature is checked with the
    // key the actor publishes (whatever keyid says, it cannot name someone else's key).
    if key_url.origin() != actor_id.origin() {
        return Err(SignatureError(format!(
            "keyid {keyid} is not on the server of the actor {actor_id}"
        ))
        .into());
    }
    let actor = ObjectId::<Either<DbPerson, DbGroup>>::from(actor_id)
        .dereference(data)
        .await?;
    let key = parse_public_key(actor.public_key_pem())?;
    let target = target_url(&data.origin, &parts.uri)?;
    let base = signature_base(
        &SignedRequest {
            method: parts.method.as_str(),
            target_uri: &target,
            headers: &parts.headers,
        },
        &signature,
    )?;
    verify_signature(
        &key,
        signature.alg()?,
        base.as_bytes(),
        &signature.signature,
    )?;

    // The library's own wording, so that logs read the same whichever scheme signed.
    tracing::debug!("Receiving activity {} (RFC 9421 signature)", activity.id());
    activity.verify(data).await?;
    activity.receive(data).await?;
    Ok(())
}
