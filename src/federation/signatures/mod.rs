//! HTTP signatures in both schemes the fediverse uses: RFC 9421 HTTP Message Signatures
//! (`Signature-Input` + `Signature`, as recent Mastodon sends them) and draft-cavage
//! (`Signature` + `Digest`, what `activitypub_federation` checks and makes).
//!
//! Incoming: an inbox request with `Signature-Input` is checked here ([`receive`]); any other
//! goes to the library. Outgoing: [`deliver`] signs a delivery with the scheme the remote host
//! last accepted (table `signature_schemes`, draft-cavage by default) and, when the host answers
//! 401 or 403, tries the other scheme once at once ("double-knocking"), remembering it if it
//! works. Signed GET fetches are the library's, in draft-cavage, and knock twice the same way
//! ([`SignedFetches`], a layer of the fetch client). FEDERATION.md, section
//! "HTTP signatures", is the reference for what is accepted and sent.
//!
//! The parts: `base` reads `Signature-Input` and `Signature` and builds the signature base
//! (RFC 9421 §2.5); `digest` makes and checks `Content-Digest`; `incoming` verifies an inbox
//! request (keys, algorithms, policy, the inbox pipeline) and the draft-cavage `Date`;
//! `outgoing` signs deliveries and double-knocks, remembering each host's scheme; `fetches`
//! does the same for signed GETs.
use crate::error::AppError;

mod base;
mod digest;
mod fetches;
mod incoming;
mod outgoing;
#[cfg(test)]
mod tests;

pub use base::{MessageSignature, SignedRequest, is_rfc9421, parse_signatures, signature_base};
pub use digest::{check_content_digest, content_digest};
pub use fetches::SignedFetches;
pub use incoming::{
    MAX_AGE_SECONDS, MAX_BODY_SIZE, MAX_SKEW_SECONDS, PublicKey, check_cavage_policy, check_policy,
    parse_public_key, receive, target_url, verify_signature,
};
pub use outgoing::{
    LABEL, Rfc9421Headers, SIGNED_COMPONENTS, SIGNED_GET_COMPONENTS, Scheme, deliver, main_key_id,
    sign_rfc9421, sign_rfc9421_get,
};

/// Why a signature, or the request it signs, is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SignatureError(pub String);

fn refuse<T>(message: impl Into<String>) -> Result<T, SignatureError> {
    Err(SignatureError(message.into()))
}

impl From<SignatureError> for AppError {
    fn from(err: SignatureError) -> Self {
        AppError::Unauthenticated(format!("RFC 9421 signature refused: {err}"))
    }
}
