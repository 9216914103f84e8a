//! The JSON API under `/api/v1`, described by the OpenAPI document at
//! `/api/v1/openapi.json`. Handlers are thin: parse, authenticate, call `services::`.
mod accounts;
mod admin;
mod consultations;
mod contributions;
mod extract;
mod follows;
mod proposals;
mod reports;

use axum::Json;
use axum::Router;
use axum::routing::{get, post, put};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::app::AppState;
use crate::ratelimit::{Class, limit};

pub use extract::{ApiJson, ApiUser, MaybeApiUser};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Palabre API",
        description = "Consultations, proposals, arguments, sources and votes of one Palabre node.",
        license(name = "AGPL-3.0-or-later")
    ),
    paths(
        accounts::create_token,
        accounts::revoke_token,
        accounts::revoke_all_tokens,
        accounts::sign_up,
        accounts::get_account,
        accounts::set_verification,
        accounts::remove_verification,
        consultations::list,
        consultations::create,
        consultations::get_one,
        consultations::update,
        proposals::list,
        proposals::create,
        proposals::get_one,
        proposals::update,
        proposals::withdraw,
        proposals::set_hidden,
        proposals::answer,
        proposals::cast_vote,
        proposals::withdraw_vote,
        contributions::list_arguments,
        contributions::add_argument,
        contributions::get_argument,
        contributions::update_argument,
        contributions::withdraw_argument,
        contributions::set_argument_hidden,
        contributions::set_comment_hidden,
        contributions::list_sources,
        contributions::add_source,
        contributions::update_source,
        contributions::withdraw_source,
        contributions::set_source_hidden,
        follows::create,
        follows::list,
        follows::delete,
        reports::create,
        reports::list,
        admin::overview,
        admin::set_mode,
        admin::set_domain,
        admin::remove_domain,
        admin::set_suspension,
        admin::audit,
        admin::deliveries,
        admin::retry_deliveries,
        admin::backfills,
    ),
    components(schemas(crate::error::ErrorBody)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi_json))
        .route(
            "/api/v1/auth/token",
            post(accounts::create_token)
                .layer(limit(Class::Login))
                .delete(accounts::revoke_token),
        )
        .route(
            "/api/v1/auth/tokens",
            axum::routing::delete(accounts::revoke_all_tokens),
        )
        .route(
            "/api/v1/accounts",
            post(accounts::sign_up).layer(limit(Class::Signup)),
        )
        .route("/api/v1/accounts/{username}", get(accounts::get_account))
        .route(
            "/api/v1/accounts/{username}/verification",
            put(accounts::set_verification).delete(accounts::remove_verification),
        )
        .route(
            "/api/v1/consultations",
            get(consultations::list).post(consultations::create),
        )
        .route(
            "/api/v1/consultations/{slug}",
            get(consultations::get_one).patch(consultations::update),
        )
        .route(
            "/api/v1/consultations/{slug}/proposals",
            get(proposals::list)
                .post(proposals::create)
                .layer(limit(Class::Posting)),
        )
        .route(
            "/api/v1/proposals/{id}",
            get(proposals::get_one)
                .patch(proposals::update)
                .delete(proposals::withdraw),
        )
        .route("/api/v1/proposals/{id}/hidden", put(proposals::set_hidden))
        .route("/api/v1/proposals/{id}/answer", put(proposals::answer))
        .route(
            "/api/v1/proposals/{id}/vote",
            put(proposals::cast_vote)
                .delete(proposals::withdraw_vote)
                .layer(limit(Class::Posting)),
        )
        .route(
            "/api/v1/proposals/{id}/arguments",
            get(contributions::list_arguments)
                .post(contributions::add_argument)
                .layer(limit(Class::Posting)),
        )
        .route(
            "/api/v1/arguments/{id}",
            get(contributions::get_argument)
                .patch(contributions::update_argument)
                .delete(contributions::withdraw_argument),
        )
        .route(
            "/api/v1/arguments/{id}/hidden",
            put(contributions::set_argument_hidden),
        )
        .route(
            "/api/v1/comments/{id}/hidden",
            put(contributions::set_comment_hidden),
        )
        .route(
            "/api/v1/proposals/{id}/sources",
            get(contributions::list_sources)
                .post(contributions::add_source)
                .layer(limit(Class::Posting)),
        )
        .route(
            "/api/v1/sources/{id}",
            axum::routing::patch(contributions::update_source)
                .delete(contributions::withdraw_source),
        )
        .route(
            "/api/v1/sources/{id}/hidden",
            put(contributions::set_source_hidden),
        )
        .route("/api/v1/follows", post(follows::create).get(follows::list))
        .route(
            "/api/v1/reports",
            post(reports::create)
                .get(reports::list)
                .layer(limit(Class::Posting)),
        )
        .route(
            "/api/v1/follows/{id}",
            axum::routing::delete(follows::delete),
        )
        .route("/api/v1/admin/federation", get(admin::overview))
        .route("/api/v1/admin/federation/mode", put(admin::set_mode))
        .route(
            "/api/v1/admin/domains/{domain}",
            put(admin::set_domain).delete(admin::remove_domain),
        )
        .route(
            "/api/v1/admin/accounts/{account}/suspension",
            put(admin::set_suspension),
        )
        .route("/api/v1/admin/audit", get(admin::audit))
        .route("/api/v1/admin/deliveries", get(admin::deliveries))
        .route("/api/v1/admin/backfills", get(admin::backfills))
        .route(
            "/api/v1/admin/deliveries/{server}/retry",
            post(admin::retry_deliveries),
        )
        // Unknown API routes answer in JSON; every other unknown path gets the web's 404 page.
        .route("/api/{*rest}", axum::routing::any(api_not_found))
}

async fn api_not_found() -> crate::error::AppError {
    crate::error::AppError::NotFound("no such API route".into())
}

/// Body of the moderation routes.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct HiddenFlag {
    pub hidden: bool,
}
