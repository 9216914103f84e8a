//! Outgoing: RFC 9421 signing ([`sign_rfc9421`]) and [`deliver`], which signs a delivery with
//! the scheme the remote host last accepted and double-knocks with the other one on 401 or 403.
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::Duration;

use activitypub_federation::FEDERATION_CONTENT_TYPE;
use activitypub_federation::traits::Actor;
use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::Utc;
use http_signature_normalization_reqwest::prelude::{Config as CavageConfig, SignError, SignExt};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, EntityTrait, Set};
use sfv::{BareItem, Item, Key, Parameters};
use sha2::{Digest, Sha256};
use url::Url;

use super::SignatureError;
use super::base::{MessageSignature, SignedRequest, signature_base};
use super::digest::content_digest;
use crate::error::{AppError, AppResult};
use crate::federation::FedData;
use crate::store::signature_scheme;

/// The label of the signature Palabre sends, as Mastodon's.
pub const LABEL: &str = "sig1";
/// What Palabre signs on a POST, as Mastodon does.
pub const SIGNED_COMPONENTS: [&str; 3] = ["@method", "@target-uri", "content-digest"];
/// What Palabre signs on a GET (a fetch), as Mastodon does.
pub const SIGNED_GET_COMPONENTS: [&str; 2] = ["@method", "@target-uri"];
/// Draft-cavage signatures Palabre makes expire after an hour, as the library's.
const CAVAGE_EXPIRES_AFTER: Duration = Duration::from_secs(3600);
/// The library's request timeout (its default, which Palabre does not change).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A way of signing HTTP requests; stored per remote host as "cavage" or "rfc9421".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Cavage,
    Rfc9421,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Cavage => "cavage",
            Scheme::Rfc9421 => "rfc9421",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "cavage" => Some(Scheme::Cavage),
            "rfc9421" => Some(Scheme::Rfc9421),
            _ => None,
        }
    }

    pub fn other(self) -> Self {
        match self {
            Scheme::Cavage => Scheme::Rfc9421,
            Scheme::Rfc9421 => Scheme::Cavage,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Outgoing: signing and double-knocking
// ---------------------------------------------------------------------------------------------

/// The headers an RFC 9421 signed POST carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rfc9421Headers {
    pub content_digest: String,
    pub signature_input: String,
    pub signature: String,
}

/// Signs a POST of `body` to `target_uri` as Mastodon does: `sig1`, covering `@method`,
/// `@target-uri` and `content-digest`, with `created` and `keyid` (no `alg`: the key says it),
/// RSASSA-PKCS1-v1_5 with SHA-256.
pub fn sign_rfc9421(
    target_uri: &Url,
    body: &[u8],
    key: &RsaPrivateKey,
    keyid: &str,
    created: i64,
) -> Result<Rfc9421Headers, SignatureError> {
    let content_digest = content_digest(body);
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-digest",
        content_digest
            .parse()
            .map_err(|_| SignatureError("bad Content-Digest".into()))?,
    );
    let (signature_input, signature) = sign_components(
        &SignedRequest {
            method: "POST",
            target_uri,
            headers: &headers,
        },
        &SIGNED_COMPONENTS,
        key,
        keyid,
        created,
    )?;
    Ok(Rfc9421Headers {
        content_digest,
        signature_input,
        signature,
    })
}

/// Signs a GET of `target_uri` as Mastodon signs its fetches: `sig1` over `@method` and
/// `@target-uri`, with `created` and `keyid`. Returns `Signature-Input` and `Signature`.
pub fn sign_rfc9421_get(
    target_uri: &Url,
    key: &RsaPrivateKey,
    keyid: &str,
    created: i64,
) -> Result<(String, String), SignatureError> {
    sign_components(
        &SignedRequest {
            method: "GET",
            target_uri,
            headers: &HeaderMap::new(),
        },
        &SIGNED_GET_COMPONENTS,
        key,
        keyid,
        created,
    )
}

/// One `sig1` signature of `components` of `request`; returns the `Signature-Input` and
/// `Signature` field values.
fn sign_components(
    request: &SignedRequest,
    components: &[&str],
    key: &RsaPrivateKey,
    keyid: &str,
    created: i64,
) -> Result<(String, String), SignatureError> {
    let string = |value: &str| {
        sfv::String::from_string(value.to_owned())
            .map_err(|(e, _)| SignatureError(format!("{value} cannot be signed: {e}")))
    };
    let key_name = |name: &str| {
        Key::from_string(name.to_owned()).map_err(|(e, _)| SignatureError(e.to_string()))
    };
    let components = components
        .iter()
        .map(|c| Ok(Item::new(string(c)?)))
        .collect::<Result<Vec<_>, SignatureError>>()?;
    let mut params = Parameters::new();
    params.insert(
        key_name("created")?,
        BareItem::from(sfv::Integer::try_from(created).map_err(|e| SignatureError(e.to_string()))?),
    );
    params.insert(key_name("keyid")?, BareItem::from(string(keyid)?));
    let signature = MessageSignature {
        label: LABEL.to_owned(),
        components,
        params,
        signature: Vec::new(),
    };
    let base = signature_base(request, &signature)?;
    let signed = key
        .sign(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(base.as_bytes()),
        )
        .map_err(|e| SignatureError(format!("signing failed: {e}")))?;
    Ok((
        format!("{LABEL}={}", signature.signature_params()?),
        format!("{LABEL}=:{}:", BASE64.encode(signed)),
    ))
}

/// What can go wrong while sending one signed request.
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("draft-cavage signing failed: {0}")]
    Sign(#[from] SignError),
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    #[error("signing failed: {0}")]
    Rsa(#[from] rsa::Error),
    #[error("{0}")]
    Signature(#[from] SignatureError),
    #[error("{0}")]
    Other(String),
}

/// The HTTP client for deliveries: the fetch client's guard (`fetch_guard`), so that deliveries
/// too connect only to addresses checked to be public unless `[federation] allow_local`, follow
/// no redirects, ignore proxies and give up after 10 s.
fn client(allow_local: bool) -> Option<&'static reqwest::Client> {
    static CLIENTS: [OnceLock<Option<reqwest::Client>>; 2] = [OnceLock::new(), OnceLock::new()];
    CLIENTS[usize::from(allow_local)]
        .get_or_init(|| {
            // Never a client without these limits: no client, no delivery.
            crate::federation::fetch_guard::FetchGuard::new(allow_local)
                .with_timeout(REQUEST_TIMEOUT)
                .client()
                .ok()
        })
        .as_ref()
}

/// Parsed private keys by actor, so that a fan-out does not parse the same PEM per inbox.
pub(super) fn private_key(actor_id: &Url, pem: &str) -> Result<Arc<RsaPrivateKey>, rsa::Error> {
    type Cache = Mutex<HashMap<Url, (String, Arc<RsaPrivateKey>)>>;
    static KEYS: LazyLock<Cache> = LazyLock::new(Default::default);
    if let Ok(keys) = KEYS.lock()
        && let Some((cached_pem, key)) = keys.get(actor_id)
        && cached_pem == pem
    {
        return Ok(key.clone());
    }
    let key = match RsaPrivateKey::from_pkcs8_pem(pem) {
        Ok(key) => key,
        Err(_) => RsaPrivateKey::from_pkcs1_pem(pem).map_err(rsa::Error::Pkcs1)?,
    };
    let key = Arc::new(key);
    if let Ok(mut keys) = KEYS.lock() {
        // Bounded: a node has few signing actors; forgetting them all now and then is cheap.
        if keys.len() >= 1000 {
            keys.clear();
        }
        keys.insert(actor_id.clone(), (pem.to_owned(), key.clone()));
    }
    Ok(key)
}

/// The id of an actor's key, as the library and Palabre's actor documents name it.
pub fn main_key_id(actor_id: &Url) -> String {
    format!("{actor_id}#main-key")
}

pub(super) fn http_date() -> String {
    Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Sends one signed POST; returns the status and (the start of) the answer's body.
async fn send_once(
    scheme: Scheme,
    allow_local: bool,
    actor_id: &Url,
    key: Arc<RsaPrivateKey>,
    inbox: &Url,
    body: &[u8],
) -> Result<(reqwest::StatusCode, String), SendError> {
    let client = client(allow_local)
        .ok_or_else(|| SendError::Other("cannot build the HTTP client for deliveries".into()))?;
    let builder = client
        .post(inbox.as_str())
        .timeout(REQUEST_TIMEOUT)
        .header("content-type", FEDERATION_CONTENT_TYPE)
        .header("host", crate::federation::host_of(inbox))
        .header("date", http_date());
    let key_id = main_key_id(actor_id);
    let request = match scheme {
        // What the library's `SendActivityTask::sign_and_send` does, with the same crate and
        // settings, but keeping the answer's status (the library reports 401 as delivered).
        Scheme::Cavage => {
            builder
                .signature_with_digest(
                    // Mastodon's shape, as for the library's signed GETs (`federation::config`).
                    CavageConfig::new()
                        .mastodon_compat()
                        .set_expiration(CAVAGE_EXPIRES_AFTER),
                    key_id,
                    Sha256::new(),
                    body.to_vec(),
                    move |signing_string| {
                        let hashed = Sha256::digest(signing_string.as_bytes());
                        Ok::<_, SendError>(
                            BASE64.encode(key.sign(Pkcs1v15Sign::new::<Sha256>(), &hashed)?),
                        )
                    },
                )
                .await?
        }
        Scheme::Rfc9421 => {
            let signed = sign_rfc9421(inbox, body, &key, &key_id, Utc::now().timestamp())?;
            builder
                .header("content-digest", signed.content_digest)
                .header("signature-input", signed.signature_input)
                .header("signature", signed.signature)
                .body(body.to_vec())
                .build()?
        }
    };
    let mut response = client.execute(request).await?;
    let status = response.status();
    // The answer is only logged: read a little of it, never an unbounded body.
    let mut text = Vec::new();
    while text.len() < 4096
        && let Some(chunk) = response.chunk().await?
    {
        text.extend_from_slice(&chunk);
    }
    text.truncate(4096);
    Ok((status, String::from_utf8_lossy(&text).into_owned()))
}

/// The scheme a host last accepted, if any.
pub(super) async fn remembered(db: &DatabaseConnection, host: &str) -> AppResult<Option<Scheme>> {
    Ok(signature_scheme::Entity::find_by_id(host.to_owned())
        .one(db)
        .await?
        .and_then(|row| Scheme::parse(&row.scheme)))
}

pub(super) async fn remember(db: &DatabaseConnection, host: &str, scheme: Scheme) -> AppResult<()> {
    signature_scheme::Entity::insert(signature_scheme::ActiveModel {
        host: Set(host.to_owned()),
        scheme: Set(scheme.as_str().to_owned()),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(signature_scheme::Column::Host)
            .update_columns([
                signature_scheme::Column::Scheme,
                signature_scheme::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Signs and sends `body` (an activity) to `inbox` as `actor`, with the scheme the inbox's host
/// last accepted (draft-cavage when unknown). A 401 or 403 answer gets one immediate retry with
/// the other scheme; the scheme of a 2xx answer is remembered for the host. Answers are judged
/// as by the library: 2xx is delivered, other 4xx (but 408 and 429) a final refusal (logged,
/// not retried), anything else an error to retry later.
pub async fn deliver<A: Actor>(
    data: &FedData,
    actor: &A,
    activity_id: &Url,
    inbox: &Url,
    body: Vec<u8>,
) -> AppResult<()> {
    let Some(pem) = actor.private_key_pem() else {
        return Err(AppError::Internal(anyhow::anyhow!(
            "actor {} has no private key to sign with",
            actor.id()
        )));
    };
    let key = private_key(actor.id(), &pem)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("cannot read the signing key: {e}")))?;
    let host = crate::federation::host_of(inbox);
    let known = remembered(&data.db, &host).await?;
    let allow_local = data.settings.federation.allow_local;
    let failed = |e: SendError| {
        AppError::Remote(format!(
            "Activity {activity_id} to {inbox} failed to send: {e}"
        ))
    };

    let mut scheme = known.unwrap_or(Scheme::Cavage);
    let (mut status, mut text) =
        send_once(scheme, allow_local, actor.id(), key.clone(), inbox, &body)
            .await
            .map_err(failed)?;
    if matches!(status.as_u16(), 401 | 403) {
        tracing::info!(%inbox, %status, refused = scheme.as_str(), "signature refused; trying the other scheme");
        scheme = scheme.other();
        (status, text) = send_once(scheme, allow_local, actor.id(), key, inbox, &body)
            .await
            .map_err(failed)?;
    }
    if status.is_success() {
        if known != Some(scheme) {
            remember(&data.db, &host, scheme).await?;
        }
        tracing::debug!(%activity_id, %inbox, scheme = scheme.as_str(), "delivered");
        return Ok(());
    }
    if status.is_client_error()
        && status != reqwest::StatusCode::REQUEST_TIMEOUT
        && status != reqwest::StatusCode::TOO_MANY_REQUESTS
    {
        tracing::info!(%activity_id, %inbox, %status, %text, "activity refused; not retried");
        return Ok(());
    }
    Err(AppError::Remote(format!(
        "Activity {activity_id} to {inbox} failure with status {status}: {text}"
    )))
}
