//! Errors of the web pages. A handler returns `WebError`, which becomes a bare response with an
//! `ErrorInfo` marker; the `web_context` middleware, which knows the language and the account,
//! turns the marker into the full HTML page with the same status.
use askama::Template;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::session::Ctx;
use crate::error::AppError;

pub enum WebError {
    App(AppError),
    /// The form's CSRF token is missing or does not match the cookie.
    CsrfExpired,
}

impl From<AppError> for WebError {
    fn from(err: AppError) -> Self {
        WebError::App(err)
    }
}

impl From<askama::Error> for WebError {
    fn from(err: askama::Error) -> Self {
        WebError::App(AppError::Internal(anyhow::anyhow!("template error: {err}")))
    }
}

impl From<PathRejection> for WebError {
    fn from(rejection: PathRejection) -> Self {
        match rejection {
            // `/proposals/abc`: no such page rather than a malformed request.
            PathRejection::FailedToDeserializePathParams(_) => {
                WebError::App(AppError::NotFound("no such page".into()))
            }
            other => WebError::App(AppError::BadInput(other.body_text())),
        }
    }
}

impl From<QueryRejection> for WebError {
    fn from(rejection: QueryRejection) -> Self {
        WebError::App(AppError::BadInput(rejection.body_text()))
    }
}

/// What the middleware needs to render the page.
#[derive(Clone)]
pub struct ErrorInfo {
    pub code: &'static str,
    pub message: String,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, info) = match self {
            WebError::App(err) => {
                err.log_if_internal();
                let message = match &err {
                    // The cause is logged; the page only says that something broke.
                    AppError::Internal(_) => String::new(),
                    other => other.to_string(),
                };
                (
                    err.status(),
                    ErrorInfo {
                        code: err.code(),
                        message,
                    },
                )
            }
            WebError::CsrfExpired => (
                StatusCode::FORBIDDEN,
                ErrorInfo {
                    code: "csrf",
                    message: String::new(),
                },
            ),
        };
        let mut response = (status, info.message.clone()).into_response();
        response.extensions_mut().insert(info);
        response
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    ctx: &'a Ctx,
    title: &'static str,
    detail: String,
    hint: Option<&'static str>,
    show_login: bool,
}

pub fn render_error_page(ctx: &Ctx, status: StatusCode, info: &ErrorInfo) -> Response {
    let t = ctx.t;
    let page = ErrorPage {
        ctx,
        title: t.error_title(info.code, &info.message),
        detail: t.error_detail(&info.message),
        hint: (info.code == "csrf").then_some(t.error_csrf_hint),
        show_login: info.code == "unauthorized" && ctx.user.is_none(),
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "error page template failed");
            (status, info.message.clone()).into_response()
        }
    }
}

/// Renders a page with 200.
pub fn render(page: &impl Template) -> Result<Response, WebError> {
    render_status(StatusCode::OK, page)
}

pub fn render_status(status: StatusCode, page: &impl Template) -> Result<Response, WebError> {
    Ok((status, Html(page.render()?)).into_response())
}

/// The answer to a successful POST (Post/Redirect/Get): `Redirect::to` is a 303 See Other.
pub fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}

/// `Path` whose rejections become error pages instead of plain text.
#[derive(FromRequestParts)]
#[from_request(via(Path), rejection(WebError))]
pub struct WebPath<T>(pub T);

/// `Query` whose rejections become error pages instead of plain text.
#[derive(FromRequestParts)]
#[from_request(via(Query), rejection(WebError))]
pub struct WebQuery<T>(pub T);
