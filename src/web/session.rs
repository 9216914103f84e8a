//! Cookies, the signed-in account, the language and the CSRF token of a web request.
//!
//! A middleware (`web_context`) reads what needs no database (language, CSRF cookie) and, on
//! the way out, sets a fresh CSRF cookie and turns error markers into full error pages. The
//! `Ctx` extractor adds the signed-in account. `CsrfForm` is the one place where a POST's
//! token is checked.
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::header::{CACHE_CONTROL, COOKIE, SET_COOKIE, VARY};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use serde::de::DeserializeOwned;

use super::error::{ErrorInfo, WebError, render_error_page};
use super::i18n::Lang;
use super::messages::Messages;
use crate::app::AppState;
use crate::domain::Actor;
use crate::error::AppError;
use crate::services::accounts::{self, SessionKind, actor_of};
use crate::store::account;

pub const SESSION_COOKIE: &str = "palabre_session";
pub const CSRF_COOKIE: &str = "palabre_csrf";
pub const LANG_COOKIE: &str = "lang";
/// The hidden input every POST form carries.
pub const CSRF_FIELD: &str = "csrf";

/// The value of one cookie of the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

#[derive(Debug, Clone, Copy)]
pub enum SameSite {
    Lax,
    Strict,
}

/// A `Set-Cookie` value. Every cookie of ours is host-only, HttpOnly and on the whole site;
/// `max_age` of `None` makes a browser-session cookie, `Some(0)` deletes it.
pub fn set_cookie(
    name: &str,
    value: &str,
    same_site: SameSite,
    max_age: Option<i64>,
    secure: bool,
) -> Option<HeaderValue> {
    let mut text = format!("{name}={value}; Path=/; HttpOnly");
    text.push_str(match same_site {
        SameSite::Lax => "; SameSite=Lax",
        SameSite::Strict => "; SameSite=Strict",
    });
    if let Some(seconds) = max_age {
        text.push_str(&format!("; Max-Age={seconds}"));
    }
    if secure {
        text.push_str("; Secure");
    }
    HeaderValue::from_str(&text).ok()
}

/// Tokens are compared without an early exit so that timing does not reveal how much matched.
pub fn same_token(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the middleware learnt before the handler runs.
#[derive(Clone)]
struct Basics {
    lang: Lang,
    csrf: String,
    path: String,
}

/// Where the `Ctx` extractor leaves the request's context, so that the middleware can render an
/// error page with the same language, account and token as the page would have had.
#[derive(Clone, Default)]
struct CtxSlot(Arc<OnceLock<Ctx>>);

/// Everything a page needs besides its own data.
#[derive(Clone)]
pub struct Ctx {
    pub lang: Lang,
    pub t: &'static Messages,
    pub csrf: String,
    pub user: Option<SignedIn>,
    pub site_name: String,
    /// Path and query of this page, for the language switch and "sign in" links to come back.
    pub path: String,
    /// The session secret, kept to close it on logout.
    pub session_token: Option<String>,
    /// Whether our cookies get the `Secure` flag (the node is served over https).
    pub secure: bool,
}

#[derive(Clone)]
pub struct SignedIn {
    pub account: account::Model,
    pub actor: Actor,
}

impl Ctx {
    fn new(
        basics: Basics,
        site_name: String,
        user: Option<SignedIn>,
        token: Option<String>,
        secure: bool,
    ) -> Self {
        Self {
            secure,
            lang: basics.lang,
            t: basics.lang.messages(),
            csrf: basics.csrf,
            user,
            site_name,
            path: basics.path,
            session_token: token,
        }
    }

    pub fn actor(&self) -> Option<&Actor> {
        self.user.as_ref().map(|u| &u.actor)
    }

    pub fn require_actor(&self) -> Result<&Actor, AppError> {
        self.actor()
            .ok_or_else(|| AppError::Unauthenticated("sign in first".into()))
    }

    pub fn is_admin(&self) -> bool {
        self.actor().is_some_and(Actor::is_admin)
    }

    pub fn is_moderator(&self) -> bool {
        self.actor().is_some_and(Actor::is_moderator)
    }

    /// Whether `username` is the signed-in person (views carry usernames, not ids).
    pub fn is_me(&self, username: &str) -> bool {
        self.user
            .as_ref()
            .is_some_and(|u| u.account.username == username)
    }

    pub fn with_path(mut self, path: String) -> Self {
        self.path = path;
        self
    }

    /// "Sign in" link that brings the person back here afterwards.
    pub fn login_href(&self) -> String {
        let next = if self.path.starts_with("/login") || self.path.starts_with("/signup") {
            "/"
        } else {
            &self.path
        };
        format!("/login?next={}", encode(next))
    }

    pub fn lang_switch_href(&self) -> String {
        format!(
            "/lang/{}?next={}",
            self.lang.other().code(),
            encode(&self.path)
        )
    }

    pub fn other_lang(&self) -> &'static str {
        self.lang.other().code()
    }

    pub fn consultation_href(&self, slug: &str) -> String {
        consultation_path(slug)
    }

    pub fn css_href(&self) -> &'static str {
        super::assets::STYLE_HREF.as_str()
    }
}

pub fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// One segment of a path. Mirrored consultations are named `name@host:port` by their remote
/// node, so `@` and `:` (valid in a segment) stay readable while anything that could end the
/// segment, the path or the attribute is escaped.
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~@:".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The page of the consultation `slug`.
pub fn consultation_path(slug: &str) -> String {
    format!("/consultations/{}", path_segment(slug))
}

/// A redirect target from a form or query: only a path on this site, so that a crafted link
/// cannot send someone elsewhere after signing in.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let basics =
            parts.extensions.get::<Basics>().cloned().ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!("web_context middleware missing"))
            })?;
        let token = cookie(&parts.headers, SESSION_COOKIE).map(str::to_owned);
        let account = match &token {
            Some(token) => {
                accounts::account_for_session(&state.db, token, SessionKind::Web).await?
            }
            None => None,
        };
        if let (Some(account), Some(token)) = (&account, &token)
            && let Err(suspended) = accounts::ensure_not_suspended(account)
        {
            // Refused once with a page that says why; the session is closed, so the browser
            // goes on as an anonymous reader instead of meeting this page everywhere.
            accounts::close_session(&state.db, token).await?;
            return Err(suspended.into());
        }
        let user = account.map(|account| SignedIn {
            actor: actor_of(&account),
            account,
        });
        let token = user.as_ref().and(token);
        let ctx = Ctx::new(
            basics,
            state.settings.instance.name.clone(),
            user,
            token,
            state.settings.secure_cookies(),
        );
        if let Some(slot) = parts.extensions.get::<CtxSlot>() {
            let _ = slot.0.set(ctx.clone());
        }
        Ok(ctx)
    }
}

/// A form whose `csrf` field matched the `palabre_csrf` cookie; anything else is refused
/// before the handler sees it.
pub struct CsrfForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, _state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, 1024 * 1024)
            .await
            .map_err(|_| AppError::BadInput("the form is too large or unreadable".into()))?;
        let sent = url::form_urlencoded::parse(&bytes)
            .find(|(key, _)| key == CSRF_FIELD)
            .map(|(_, value)| value.into_owned());
        let expected = cookie(&parts.headers, CSRF_COOKIE);
        match (sent, expected) {
            (Some(sent), Some(expected)) if same_token(&sent, expected) => {}
            _ => return Err(WebError::CsrfExpired),
        }
        let req = Request::from_parts(parts, Body::from(bytes));
        let Form(value) = Form::<T>::from_request(req, &())
            .await
            .map_err(|rejection: FormRejection| AppError::BadInput(rejection.body_text()))?;
        Ok(CsrfForm(value))
    }
}

/// The web pages' middleware: language and CSRF token in, error pages and cookies out.
pub async fn web_context(mut req: Request, next: Next) -> Response {
    let headers = req.headers();
    let lang = Lang::negotiate(cookie(headers, LANG_COOKIE), headers);
    let existing = cookie(headers, CSRF_COOKIE)
        .filter(|v| v.len() >= 32 && v.len() <= 64)
        .map(str::to_owned);
    let fresh = existing.is_none().then(accounts::random_token);
    let csrf = existing.or_else(|| fresh.clone()).unwrap_or_default();
    // After a POST the path would lead back to a POST-only route; the home page is safer.
    let path = if req.method() == Method::GET {
        req.uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into())
    } else {
        "/".into()
    };
    let slot = CtxSlot::default();
    req.extensions_mut().insert(Basics {
        lang,
        csrf: csrf.clone(),
        path: path.clone(),
    });
    req.extensions_mut().insert(slot.clone());

    let mut response = next.run(req).await;

    let ctx = slot.0.get();
    if let Some(info) = response.extensions_mut().remove::<ErrorInfo>() {
        // Without a context (its extractor failed) the page still renders, only anonymously.
        let fallback = || {
            Ctx::new(
                Basics { lang, csrf, path },
                "Palabre".into(),
                None,
                None,
                false,
            )
        };
        let ctx = ctx.cloned().unwrap_or_else(fallback);
        response = render_error_page(&ctx, response.status(), &info);
    }
    let headers = response.headers_mut();
    // Only pages built with a context can show a form, and only the context knows whether the
    // cookie must be `Secure`.
    if let (Some(token), Some(ctx)) = (fresh, ctx)
        && let Some(value) = set_cookie(CSRF_COOKIE, &token, SameSite::Strict, None, ctx.secure)
    {
        headers.append(SET_COOKIE, value);
    }
    // Pages carry a per-browser token and account details: never store them in a cache. Only
    // the stylesheet sets its own caching.
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.append(VARY, HeaderValue::from_static("Cookie, Accept-Language"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suspension_message_is_translated() {
        let french = super::super::messages::FR.error_detail(accounts::SUSPENDED);
        assert!(french.starts_with("Ce compte est suspendu"), "{french}");
    }

    #[test]
    fn consultation_paths_keep_handles_readable_and_escape_the_rest() {
        assert_eq!(consultation_path("mobilite"), "/consultations/mobilite");
        assert_eq!(
            consultation_path("budget@ville.example:8443"),
            "/consultations/budget@ville.example:8443"
        );
        assert_eq!(
            consultation_path("a/b?c#d e\"é"),
            "/consultations/a%2Fb%3Fc%23d%20e%22%C3%A9"
        );
    }
}
