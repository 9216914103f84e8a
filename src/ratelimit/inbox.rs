//! Inbox deliveries are counted per remote server, not per address: which server a delivery
//! comes from is read here from its signature's key id, or else its `actor`.
use axum::extract::Request;
use serde::Deserialize;

use crate::error::AppError;

/// The same bound as the router's `RequestBodyLimitLayer`, for inbox bodies read here.
const BODY_LIMIT: usize = 1024 * 1024;

/// The server an inbox delivery comes from, as cheaply as possible: the host of the signature's
/// key id (draft-cavage `Signature` or RFC 9421 `Signature-Input`), else of the activity's
/// `actor`. Nothing is verified here; this only decides which counter the request goes to.
pub(super) async fn remote_host(req: Request) -> Result<(Option<String>, Request), AppError> {
    let from_signature = ["signature-input", "signature"]
        .iter()
        .flat_map(|name| req.headers().get_all(*name).iter())
        .filter_map(|value| value.to_str().ok())
        .find_map(key_id_host);
    if from_signature.is_some() {
        return Ok((from_signature, req));
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|err| {
            if over_the_limit(&err) {
                AppError::TooLarge(format!(
                    "cannot read the request body (at most {BODY_LIMIT} bytes)"
                ))
            } else {
                AppError::BadInput("the request body cannot be read".into())
            }
        })?;
    let host = serde_json::from_slice::<ActorOnly>(&bytes)
        .ok()
        .and_then(|activity| activity.actor)
        .and_then(|actor| match actor {
            serde_json::Value::String(id) => Some(id),
            serde_json::Value::Object(mut object) => match object.remove("id") {
                Some(serde_json::Value::String(id)) => Some(id),
                _ => None,
            },
            _ => None,
        })
        .and_then(|id| url_host(&id));
    Ok((
        host,
        Request::from_parts(parts, axum::body::Body::from(bytes)),
    ))
}

/// Whether reading a body failed on its length: the router's own limit and this one wrap the
/// same error in layers of boxes.
fn over_the_limit(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(err) = cause {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = err.source();
    }
    false
}

#[derive(Deserialize)]
struct ActorOnly {
    actor: Option<serde_json::Value>,
}

/// The host of `keyId="..."` (draft-cavage) or `keyid="..."` (RFC 9421) in a header value.
pub(crate) fn key_id_host(header: &str) -> Option<String> {
    // ASCII lowercasing keeps byte offsets, so positions found in the copy hold in the original.
    let start = header.to_ascii_lowercase().find("keyid=\"")? + "keyid=\"".len();
    let end = header[start..].find('"')?;
    url_host(&header[start..start + end])
}

/// A URL's host with its port when it has a non-default one, as servers are told apart
/// elsewhere (`Settings::domain`).
fn url_host(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remote_host_comes_from_the_key_id() {
        assert_eq!(
            key_id_host(
                r#"keyId="https://Mastodon.Example/users/a#main-key",algorithm="rsa-sha256""#
            ),
            Some("mastodon.example".into())
        );
        assert_eq!(
            key_id_host(
                r#"sig1=("@method");created=1;keyid="https://node.example:8443/actor#key""#
            ),
            Some("node.example:8443".into())
        );
        assert_eq!(key_id_host(r#"keyid="not a url""#), None);
        assert_eq!(key_id_host("nothing"), None);
    }
}
