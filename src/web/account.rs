//! Signing up, in and out, public profiles and the language switch.
use askama::Template;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::error::{WebError, WebPath, WebQuery, render, render_status, see_other};
use super::i18n::Lang;
use super::session::{CsrfForm, Ctx, LANG_COOKIE, SESSION_COOKIE, SameSite, safe_next, set_cookie};
use crate::app::AppState;
use crate::domain::Role;
use crate::error::AppError;
use crate::services::accounts::{self, LoginPolicy, NewAccount, SessionKind};
use crate::store::account;

fn with_cookie(mut response: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(value) = cookie {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

// ---- sign in ----

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    ctx: &'a Ctx,
    next: String,
    username: String,
    alert: Option<String>,
}

pub async fn login_form(
    ctx: Ctx,
    WebQuery(query): WebQuery<NextQuery>,
) -> Result<Response, WebError> {
    render(&LoginPage {
        ctx: &ctx,
        next: safe_next(query.next.as_deref()),
        username: String::new(),
        alert: None,
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

pub async fn login(
    ctx: Ctx,
    State(state): State<AppState>,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> Result<Response, WebError> {
    let next = safe_next(form.next.as_deref());
    let policy = LoginPolicy::from_settings(&state.settings.security);
    match accounts::authenticate(&state.db, &policy, &form.username, &form.password).await {
        Ok(account) => {
            let days = state.settings.security.session_days;
            let token =
                accounts::open_session(&state.db, account.id, SessionKind::Web, days).await?;
            // A session open elsewhere in this browser is replaced, not left behind.
            if let Some(old) = &ctx.session_token {
                accounts::close_session(&state.db, old).await?;
            }
            let cookie = set_cookie(
                SESSION_COOKIE,
                &token,
                SameSite::Lax,
                Some(days * 86_400),
                ctx.secure,
            );
            Ok(with_cookie(see_other(&next), cookie))
        }
        // Unknown username, wrong password and locked account read the same.
        Err(AppError::Unauthenticated(_)) => render_status(
            StatusCode::UNAUTHORIZED,
            &LoginPage {
                ctx: &ctx,
                next,
                username: form.username,
                alert: Some(ctx.t.login_failed.to_owned()),
            },
        ),
        // A suspended account, told so only after giving the right password.
        Err(err @ AppError::Forbidden(_)) => render_status(
            StatusCode::FORBIDDEN,
            &LoginPage {
                ctx: &ctx,
                next,
                username: form.username,
                alert: Some(ctx.t.error_line(&err)),
            },
        ),
        Err(err) => Err(err.into()),
    }
}

#[derive(Deserialize)]
pub struct LogoutForm {}

pub async fn logout(
    ctx: Ctx,
    State(state): State<AppState>,
    CsrfForm(_): CsrfForm<LogoutForm>,
) -> Result<Response, WebError> {
    if let Some(token) = &ctx.session_token {
        accounts::close_session(&state.db, token).await?;
    }
    let cookie = set_cookie(SESSION_COOKIE, "", SameSite::Lax, Some(0), ctx.secure);
    Ok(with_cookie(see_other("/"), cookie))
}

// ---- sign up ----

#[derive(Default, Deserialize)]
pub struct SignupForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage<'a> {
    ctx: &'a Ctx,
    open: bool,
    form: &'a SignupForm,
    alert: Option<String>,
}

pub async fn signup_form(ctx: Ctx, State(state): State<AppState>) -> Result<Response, WebError> {
    render(&SignupPage {
        ctx: &ctx,
        open: state.settings.instance.open_registrations,
        form: &SignupForm::default(),
        alert: None,
    })
}

pub async fn signup(
    ctx: Ctx,
    State(state): State<AppState>,
    CsrfForm(form): CsrfForm<SignupForm>,
) -> Result<Response, WebError> {
    let open = state.settings.instance.open_registrations;
    let days = state.settings.security.session_days;
    let created = if !open {
        Err(AppError::Forbidden(
            "this node does not accept new accounts".into(),
        ))
    } else if form.password != form.password_confirm {
        Err(AppError::BadInput(ctx.t.passwords_differ.into()))
    } else {
        let new = NewAccount {
            username: &form.username,
            password: &form.password,
            display_name: Some(form.display_name.as_str()),
            role: Role::Member,
            verified_label: None,
        };
        // Signing up signs in: nobody wants to type the password twice in a row.
        accounts::sign_up(&state.db, new, SessionKind::Web, days).await
    };
    match created {
        Ok((_, token)) => {
            let cookie = set_cookie(
                SESSION_COOKIE,
                &token,
                SameSite::Lax,
                Some(days * 86_400),
                ctx.secure,
            );
            Ok(with_cookie(see_other("/"), cookie))
        }
        Err(AppError::Internal(err)) => Err(AppError::Internal(err).into()),
        Err(err) => render_status(
            err.status(),
            &SignupPage {
                ctx: &ctx,
                open,
                form: &form,
                alert: Some(ctx.t.error_line(&err)),
            },
        ),
    }
}

// ---- profiles ----

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage<'a> {
    ctx: &'a Ctx,
    account: &'a account::Model,
    handle: String,
}

/// `@name@host`, the fediverse handle: the public origin's host (and port, when not the
/// default one).
fn handle_of(origin: &str, username: &str) -> String {
    let host = url::Url::parse(origin)
        .ok()
        .and_then(|url| {
            let host = url.host_str()?.to_owned();
            Some(match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        })
        .unwrap_or_default();
    format!("@{username}@{host}")
}

pub async fn profile(
    ctx: Ctx,
    State(state): State<AppState>,
    WebPath(username): WebPath<String>,
) -> Result<Response, WebError> {
    let account = accounts::find_by_username(&state.db, &username).await?;
    render(&UserPage {
        ctx: &ctx,
        handle: handle_of(&state.origin, &account.username),
        account: &account,
    })
}

// ---- language ----

pub async fn set_language(
    ctx: Ctx,
    WebPath(code): WebPath<String>,
    WebQuery(query): WebQuery<NextQuery>,
) -> Result<Response, WebError> {
    let lang =
        Lang::parse(&code).ok_or_else(|| AppError::NotFound(format!("no language '{code}'")))?;
    let cookie = set_cookie(
        LANG_COOKIE,
        lang.code(),
        SameSite::Lax,
        Some(365 * 86_400),
        ctx.secure,
    );
    let next = safe_next(query.next.as_deref());
    Ok(with_cookie(see_other(&next), cookie))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_keep_a_non_default_port() {
        assert_eq!(
            handle_of("https://brest.example", "alice"),
            "@alice@brest.example"
        );
        assert_eq!(
            handle_of("http://localhost:8080", "bob"),
            "@bob@localhost:8080"
        );
    }

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/proposals/3")), "/proposals/3");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
