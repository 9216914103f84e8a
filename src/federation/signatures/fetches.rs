//! Signed fetches double-knock as deliveries do. The library signs every fetch in draft-cavage
//! with the node's instance actor; a server that answers 401 or 403 gets the same GET once more
//! at once, signed in RFC 9421, and the scheme that worked is remembered for its host in the
//! table deliveries use (`signature_schemes`), so a host known for RFC 9421 gets it first.
use std::sync::Arc;

use activitypub_federation::traits::Actor;
use axum::http::HeaderValue;
use chrono::Utc;
use reqwest_middleware::{Middleware, Next};
use rsa::RsaPrivateKey;
use sea_orm::DatabaseConnection;

use super::SignatureError;
use super::outgoing::{Scheme, main_key_id, private_key, remember, remembered, sign_rfc9421_get};
use crate::error::{AppError, AppResult};

/// The fetch client's signing step (a `reqwest_middleware` layer), holding the key of the
/// actor that signs fetches.
#[derive(Clone)]
pub struct SignedFetches {
    db: DatabaseConnection,
    key_id: String,
    key: Arc<RsaPrivateKey>,
}

impl SignedFetches {
    pub fn new(db: DatabaseConnection, signer: &impl Actor) -> AppResult<Self> {
        let pem = signer.private_key_pem().ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!("{} has no private key", signer.id()))
        })?;
        let key = private_key(signer.id(), &pem)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("cannot read the fetch key: {e}")))?;
        Ok(Self {
            db,
            key_id: main_key_id(signer.id()),
            key,
        })
    }

    /// `request` as signed in `scheme`: the library's draft-cavage signature as it came, or an
    /// RFC 9421 signature in its place.
    fn signed(
        &self,
        mut request: reqwest::Request,
        scheme: Scheme,
    ) -> Result<reqwest::Request, SignatureError> {
        if scheme == Scheme::Rfc9421 {
            let (input, signature) = sign_rfc9421_get(
                request.url(),
                &self.key,
                &self.key_id,
                Utc::now().timestamp(),
            )?;
            let value = |text: String| {
                HeaderValue::try_from(text).map_err(|e| SignatureError(e.to_string()))
            };
            let headers = request.headers_mut();
            // The draft-cavage digest of the empty body means nothing without its signature.
            headers.remove("digest");
            headers.insert("signature-input", value(input)?);
            headers.insert("signature", value(signature)?);
        }
        Ok(request)
    }
}

#[async_trait::async_trait]
impl Middleware for SignedFetches {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut axum::http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        // Only the library's signed GETs; anything else passes as it is.
        if request.method() != reqwest::Method::GET || !request.headers().contains_key("signature")
        {
            return next.run(request, extensions).await;
        }
        let failed = |e: SignatureError| reqwest_middleware::Error::Middleware(e.into());
        let host = crate::federation::host_of(request.url());
        // Without the memory (a database error) the fetch still goes, as to an unknown host.
        let known = remembered(&self.db, &host).await.unwrap_or_else(|e| {
            tracing::warn!(%host, error = %e, "cannot read the host's signature scheme");
            None
        });
        let first = known.unwrap_or(Scheme::Cavage);
        let again = request.try_clone();
        let response = next
            .clone()
            .run(self.signed(request, first).map_err(failed)?, extensions)
            .await?;
        let (Some(again), 401 | 403) = (again, response.status().as_u16()) else {
            return Ok(response);
        };
        tracing::info!(url = %again.url(), status = %response.status(), refused = first.as_str(),
            "signed fetch refused; trying the other scheme");
        let second = first.other();
        let response = next
            .run(self.signed(again, second).map_err(failed)?, extensions)
            .await?;
        if response.status().is_success()
            && let Err(e) = remember(&self.db, &host, second).await
        {
            tracing::warn!(%host, error = %e, "cannot remember the host's signature scheme");
        }
        Ok(response)
    }
}
