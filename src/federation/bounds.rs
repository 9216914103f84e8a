//! Bounds on what an incoming activity may name. Ids and links are stored, and indexed: an id
//! of 100 000 bytes would be kept whole on SQLite and make PostgreSQL fail (500), since an
//! index entry holds at most about 2 700 bytes. The inbox refuses such an activity with 400
//! before anything is parsed further, fetched or stored (`policy::screen_inbox`).
use serde_json::Value;
use url::Url;

use crate::error::{AppError, AppResult};

/// The longest id or link accepted, in bytes, as written and once normalised (a URL parser
/// percent-encodes non-ASCII characters, which can triple the length). No server sends ids
/// this long.
pub const ID_MAX_BYTES: usize = 2_000;

/// The properties whose values are ids or links, at any depth.
const ID_KEYS: &[&str] = &[
    "id",
    "actor",
    "object",
    "target",
    "origin",
    "attributedTo",
    "inReplyTo",
    "audience",
    "context",
    "conversation",
    "to",
    "cc",
    "bto",
    "bcc",
    "url",
    "href",
    "inbox",
    "outbox",
    "followers",
    "following",
    "sharedInbox",
];

/// Refuses an activity (already parsed, so at most 128 levels deep) that names an id or a link
/// longer than [`ID_MAX_BYTES`] anywhere in it.
pub fn check_id_lengths(activity: &Value) -> AppResult<()> {
    match activity {
        Value::Object(map) => {
            for (key, value) in map {
                if ID_KEYS.contains(&key.as_str()) {
                    check_ids_in(key, value)?;
                }
                check_id_lengths(value)?;
            }
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(check_id_lengths),
        _ => Ok(()),
    }
}

fn check_ids_in(key: &str, value: &Value) -> AppResult<()> {
    let too_long = |bytes: usize| {
        Err(AppError::BadInput(format!(
            "the {key} named in this activity is too long: {bytes} bytes, at most {ID_MAX_BYTES}"
        )))
    };
    match value {
        Value::String(text) if text.len() > ID_MAX_BYTES => too_long(text.len()),
        Value::String(text) => match Url::parse(text) {
            Ok(url) if url.as_str().len() > ID_MAX_BYTES => too_long(url.as_str().len()),
            _ => Ok(()),
        },
        Value::Array(items) => items.iter().try_for_each(|item| check_ids_in(key, item)),
        // Embedded objects are walked by `check_id_lengths` itself.
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_and_links_longer_than_the_bound_are_refused_anywhere() {
        let long = format!("https://a.example/{}", "x".repeat(ID_MAX_BYTES));
        let fine = json!({
            "id": "https://a.example/1", "actor": "https://a.example/u",
            "object": {"id": "https://a.example/2", "content": "x".repeat(10 * ID_MAX_BYTES),
                       "to": ["https://www.w3.org/ns/activitystreams#Public"]},
        });
        check_id_lengths(&fine).unwrap();
        for (what, activity) in [
            ("the activity's id", json!({"id": long})),
            ("an embedded id", json!({"object": {"id": long}})),
            (
                "an addressee",
                json!({"object": {"cc": ["https://a.example/f", long]}}),
            ),
            ("a tag's link", json!({"object": {"tag": [{"href": long}]}})),
            // 350 characters (700 bytes), 2 100 bytes once percent-encoded.
            (
                "a link made long by encoding",
                json!({"inReplyTo": format!("https://a.example/{}", "é".repeat(350))}),
            ),
        ] {
            let refused = check_id_lengths(&activity).unwrap_err();
            assert!(refused.to_string().contains("too long"), "{what}");
        }
    }
}
