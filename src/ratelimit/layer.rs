//! The wiring into the router: `context` around the whole router finds the client and adds
//! `Retry-After` on the way out; `LimitLayer` on the limited routes counts and refuses.
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use super::inbox::remote_host;
use super::{Class, Limiter, ip_key};
use crate::app::AppState;
use crate::error::AppError;

/// What `context` leaves in the request for the `LimitLayer`s.
#[derive(Clone)]
struct RequestLimits {
    limiter: Arc<Limiter>,
    client: Option<IpAddr>,
    /// Set by a refusal; `context` turns it into the `Retry-After` header on the way out. Web
    /// error pages are rebuilt by the web middleware, which would drop a header set earlier.
    retry_after: Arc<OnceLock<u64>>,
}

/// Middleware around the whole router: finds the client's address and gives the limited
/// routes the counters; on the way out, adds `Retry-After` to a refusal.
pub async fn context(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let client = peer.map(|peer| state.limiter.client_ip(peer, req.headers()));
    let slot = Arc::new(OnceLock::new());
    req.extensions_mut().insert(RequestLimits {
        limiter: state.limiter.clone(),
        client,
        retry_after: slot.clone(),
    });
    let mut response = next.run(req).await;
    if let Some(seconds) = slot.get() {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(*seconds));
    }
    response
}

/// Counts the requests of one class on the routes it is layered on. Only requests that change
/// something count: GET, HEAD and OPTIONS on the same route pass untouched.
#[derive(Clone, Copy)]
pub struct LimitLayer {
    class: Class,
    refuse: fn(AppError) -> Response,
}

/// A limit whose refusals are the API's JSON error (`too_many_requests`).
pub fn limit(class: Class) -> LimitLayer {
    LimitLayer {
        class,
        refuse: <AppError as IntoResponse>::into_response,
    }
}

impl LimitLayer {
    /// The same limit, refused in another form (the web's error page).
    pub fn refusing_with(self, refuse: fn(AppError) -> Response) -> Self {
        Self { refuse, ..self }
    }
}

impl<S> Layer<S> for LimitLayer {
    type Service = Limited<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Limited {
            inner,
            layer: *self,
        }
    }
}

#[derive(Clone)]
pub struct Limited<S> {
    inner: S,
    layer: LimitLayer,
}

impl<S> Service<Request> for Limited<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The service that was polled ready is the one to call; a fresh clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer;
        Box::pin(async move {
            match admit(layer, req).await {
                Ok(req) => inner.call(req).await,
                Err(refusal) => Ok(refusal),
            }
        })
    }
}

async fn admit(layer: LimitLayer, req: Request) -> Result<Request, Response> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(req);
    }
    let Some(limits) = req.extensions().get::<RequestLimits>().cloned() else {
        // Serving limited routes without `context` would silently drop every limit.
        return Err((layer.refuse)(AppError::Internal(anyhow::anyhow!(
            "rate-limit context middleware missing"
        ))));
    };
    let client = limits.client.map(ip_key);
    let (key, req) = match layer.class {
        Class::Inbox => match remote_host(req).await {
            Ok((Some(host), req)) => (Some(format!("host:{host}")), req),
            // Nothing names a server: the sender's address is what can be counted.
            Ok((None, req)) => (client, req),
            Err(err) => return Err((layer.refuse)(err)),
        },
        _ => (client, req),
    };
    // Without a peer address (a server not started by `app::serve_on`) every such client
    // shares one counter rather than escaping the limit.
    let key = key.unwrap_or_else(|| "unknown".to_owned());
    match limits.limiter.hit(layer.class, &key, Instant::now()) {
        Ok(()) => Ok(req),
        Err(refused) => {
            if refused.first {
                tracing::warn!(class = layer.class.name(), client = %key, retry_after = refused.retry_after, "rate limit reached");
            }
            let _ = limits.retry_after.set(refused.retry_after);
            Err((layer.refuse)(AppError::TooManyRequests {
                retry_after: refused.retry_after,
            }))
        }
    }
}
