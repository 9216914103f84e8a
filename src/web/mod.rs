//! The server-rendered web pages: plain HTML forms, no JavaScript. Handlers are thin: read the
//! request, call `services::`, render a template or redirect (Post/Redirect/Get).
mod account;
mod assets;
mod consultations;
mod contributions;
mod error;
mod follows;
mod i18n;
mod messages;
mod proposal;
mod session;

use axum::Router;
use axum::http::HeaderValue;
use axum::http::header::{CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS};
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::app::AppState;
use crate::ratelimit::{self, Class, LimitLayer};

/// No scripts, no third parties, no framing: the pages need nothing but their own stylesheet.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                   form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(consultations::home))
        .route("/static/style.css", get(assets::style))
        .route("/lang/{code}", get(account::set_language))
        .route(
            "/login",
            get(account::login_form)
                .post(account::login)
                .layer(limit(Class::Login)),
        )
        .route(
            "/signup",
            get(account::signup_form)
                .post(account::signup)
                .layer(limit(Class::Signup)),
        )
        .route("/logout", post(account::logout))
        .route("/users/{username}", get(account::profile))
        .route("/follows", post(follows::create))
        .route("/follows/{id}/delete", post(follows::delete))
        .route("/consultations", post(consultations::create))
        .route("/consultations/new", get(consultations::new_form))
        .route("/consultations/{slug}", get(consultations::show))
        .route(
            "/consultations/{slug}/edit",
            get(consultations::edit_form).post(consultations::update),
        )
        .route(
            "/consultations/{slug}/proposals",
            post(consultations::post_proposal).layer(limit(Class::Posting)),
        )
        .route("/proposals/{id}", get(proposal::show))
        .route(
            "/proposals/{id}/edit",
            get(proposal::edit_form).post(proposal::edit),
        )
        .route("/proposals/{id}/withdraw", post(proposal::withdraw))
        .route("/proposals/{id}/hide", post(proposal::hide))
        .route("/proposals/{id}/answer", post(proposal::answer))
        .route(
            "/proposals/{id}/vote",
            post(proposal::vote).layer(limit(Class::Posting)),
        )
        .route(
            "/proposals/{id}/arguments",
            post(proposal::add_argument).layer(limit(Class::Posting)),
        )
        .route(
            "/proposals/{id}/sources",
            post(proposal::add_source).layer(limit(Class::Posting)),
        )
        .route("/arguments/{id}", get(contributions::show))
        .route(
            "/arguments/{id}/edit",
            get(contributions::edit_form).post(contributions::edit),
        )
        .route("/arguments/{id}/withdraw", post(contributions::withdraw))
        .route("/arguments/{id}/hide", post(contributions::hide_argument))
        .route("/sources/{id}", get(contributions::show_source))
        .route(
            "/sources/{id}/withdraw",
            post(contributions::withdraw_source),
        )
        .route("/sources/{id}/hide", post(contributions::hide_source))
        .fallback(not_found)
        .layer(middleware::from_fn(session::web_context))
        .layer(SetResponseHeaderLayer::overriding(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
}

/// A rate limit refused with the error page; `ratelimit::context` adds its `Retry-After`.
fn limit(class: Class) -> LimitLayer {
    ratelimit::limit(class).refusing_with(|err| error::WebError::from(err).into_response())
}

async fn not_found() -> error::WebError {
    crate::error::AppError::NotFound("no such page".into()).into()
}
