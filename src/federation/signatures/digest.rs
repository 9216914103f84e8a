//! `Content-Digest` (RFC 9530): the digest Palabre sends with a signed POST, and the check of
//! the one an incoming request carries against its body.
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sfv::{BareItem, Item, ListEntry};
use sha2::{Digest, Sha256, Sha512};

use super::base::parse_dictionary;
use super::{SignatureError, refuse};

/// `Content-Digest` (RFC 9530) of a body, as Palabre sends it: `sha-256=:…:`.
pub fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", BASE64.encode(Sha256::digest(body)))
}

/// Checks a `Content-Digest` against the body: every SHA-256 or SHA-512 member must match and
/// at least one must be there; other algorithms are ignored.
pub fn check_content_digest(value: &str, body: &[u8]) -> Result<(), SignatureError> {
    let members = parse_dictionary("Content-Digest", value)?;
    let mut checked = 0;
    for (algorithm, entry) in &members {
        let expected: Vec<u8> = match algorithm.as_str() {
            "sha-256" => Sha256::digest(body).to_vec(),
            "sha-512" => Sha512::digest(body).to_vec(),
            _ => continue,
        };
        match entry {
            ListEntry::Item(Item {
                bare_item: BareItem::ByteSequence(given),
                ..
            }) if *given == expected => checked += 1,
            ListEntry::Item(Item {
                bare_item: BareItem::ByteSequence(_),
                ..
            }) => {
                return refuse(format!(
                    "Content-Digest {} does not match the body",
                    algorithm.as_str()
                ));
            }
            _ => return refuse("Content-Digest members must be byte sequences"),
        }
    }
    if checked == 0 {
        return refuse("Content-Digest has no sha-256 or sha-512 member");
    }
    Ok(())
}
