//! The home page, a consultation's page with its proposals, and the organisers' forms.
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

use super::error::{WebError, WebPath, WebQuery, render_status, see_other};
use super::session::{CsrfForm, Ctx, consultation_path, encode};
use crate::app::AppState;
use crate::domain::{ConsultationState, ProposalState};
use crate::error::AppError;
use crate::federation::follows::{self, FollowView};
use crate::services::consultations::{self, ConsultationChanges, NewConsultation};
use crate::services::proposals::{
    self, NewProposal, ProposalListQuery, ProposalPage, ProposalSort,
};
use crate::services::views::{ConsultationView, ProposalView};

/// What stands where a participation form would be.
pub enum Gate {
    Form,
    SignIn,
    Closed,
    Upcoming,
}

impl Gate {
    pub fn of(state: ConsultationState, ctx: &Ctx) -> Self {
        match state {
            ConsultationState::Closed => Gate::Closed,
            ConsultationState::Upcoming => Gate::Upcoming,
            ConsultationState::Open if ctx.user.is_some() => Gate::Form,
            ConsultationState::Open => Gate::SignIn,
        }
    }
}

// ---- home ----

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    ctx: &'a Ctx,
    description: &'a str,
    sections: Vec<(&'static str, &'static str, Vec<ConsultationView>)>,
    /// The signed-in person's follows of other nodes' consultations; `None` for visitors.
    follows: Option<Vec<FollowRow>>,
    follow_alert: Option<Alert>,
    /// What was typed in the follow form, given back when it failed.
    target: String,
}

pub struct FollowRow {
    pub id: i32,
    pub href: String,
    pub title: String,
    pub handle: String,
    pub state: String,
    /// For the stylesheet only: a known state or `other`.
    pub state_class: &'static str,
}

/// An alert box with a heading, for failures whose cause the person may act on.
pub struct Alert {
    pub title: &'static str,
    pub detail: String,
    pub hint: Option<&'static str>,
}

impl Alert {
    pub fn of(ctx: &Ctx, err: &AppError) -> Self {
        let t = ctx.t;
        let message = err.to_string();
        Alert {
            title: t.error_title(err.code(), &message),
            detail: t.error_detail(&message),
            hint: (err.code() == "bad_gateway").then_some(t.error_remote_hint),
        }
    }
}

fn follow_row(ctx: &Ctx, all: &[ConsultationView], follow: &FollowView) -> FollowRow {
    let title = all
        .iter()
        .find(|c| c.slug == follow.consultation)
        .map_or_else(|| follow.consultation.clone(), |c| c.title.clone());
    FollowRow {
        id: follow.id,
        href: consultation_path(&follow.consultation),
        title,
        handle: follow.consultation.clone(),
        state: ctx.t.follow_state_label(&follow.state),
        state_class: match follow.state.as_str() {
            "pending" => "pending",
            "accepted" => "accepted",
            _ => "other",
        },
    }
}

/// A failed form of the home page: the error and what was typed.
pub struct HomeFailure {
    pub err: AppError,
    pub target: String,
}

pub async fn home_response(
    state: &AppState,
    ctx: &Ctx,
    failure: Option<HomeFailure>,
) -> Result<Response, WebError> {
    let all = consultations::list(state, None).await?;
    let t = ctx.t;
    let of = |wanted: ConsultationState| -> Vec<ConsultationView> {
        all.iter().filter(|c| c.state == wanted).cloned().collect()
    };
    let sections = vec![
        ("open", t.open_consultations, of(ConsultationState::Open)),
        (
            "upcoming",
            t.upcoming_consultations,
            of(ConsultationState::Upcoming),
        ),
        (
            "closed",
            t.closed_consultations,
            of(ConsultationState::Closed),
        ),
    ];
    let follows = match ctx.actor() {
        Some(actor) => Some(
            follows::list(state, actor)
                .await?
                .iter()
                .map(|f| follow_row(ctx, &all, f))
                .collect(),
        ),
        None => None,
    };
    let (status, follow_alert, target) = match failure {
        Some(HomeFailure { err, target }) => (err.status(), Some(Alert::of(ctx, &err)), target),
        None => (StatusCode::OK, None, String::new()),
    };
    render_status(
        status,
        &HomePage {
            ctx,
            description: &state.settings.instance.description,
            sections,
            follows,
            follow_alert,
            target,
        },
    )
}

pub async fn home(ctx: Ctx, State(state): State<AppState>) -> Result<Response, WebError> {
    home_response(&state, &ctx, None).await
}

// ---- one consultation ----

#[derive(Default, Deserialize)]
pub struct ProposalForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
}

pub struct SortLink {
    pub href: String,
    pub label: &'static str,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "consultation.html")]
struct ConsultationPageT<'a> {
    ctx: &'a Ctx,
    c: &'a ConsultationView,
    page: &'a ProposalPage,
    query: &'a ProposalListQuery,
    alert: Option<String>,
    draft: ProposalForm,
}

fn sort_code(sort: ProposalSort) -> &'static str {
    match sort {
        ProposalSort::Newest => "newest",
        ProposalSort::Votes => "votes",
        ProposalSort::Arguments => "arguments",
    }
}

impl ConsultationPageT<'_> {
    fn gate(&self) -> Gate {
        Gate::of(self.c.state, self.ctx)
    }

    fn sort_links(&self) -> Vec<SortLink> {
        let t = self.ctx.t;
        [
            (ProposalSort::Newest, t.sort_newest),
            (ProposalSort::Votes, t.sort_votes),
            (ProposalSort::Arguments, t.sort_arguments),
        ]
        .into_iter()
        .map(|(sort, label)| SortLink {
            href: format!(
                "{}?sort={}#proposals",
                consultation_path(&self.c.slug),
                sort_code(sort)
            ),
            label,
            current: sort == self.query.sort,
        })
        .collect()
    }

    fn next_href(&self) -> Option<String> {
        self.page.next_cursor.as_ref().map(|cursor| {
            format!(
                "{}?sort={}&cursor={}#proposals",
                consultation_path(&self.c.slug),
                sort_code(self.query.sort),
                encode(cursor)
            )
        })
    }

    fn first_href(&self) -> Option<String> {
        self.query.cursor.as_ref().map(|_| {
            format!(
                "{}?sort={}#proposals",
                consultation_path(&self.c.slug),
                sort_code(self.query.sort)
            )
        })
    }

    fn answered(&self, p: &ProposalView) -> bool {
        p.state != ProposalState::Submitted
    }

    /// The consultation's page on its own node. The address comes from that node: only a web
    /// link is shown, never another scheme.
    fn origin_link(&self) -> Option<&str> {
        self.c
            .origin_url
            .as_deref()
            .filter(|url| url.starts_with("https://") || url.starts_with("http://"))
    }

    /// Organisers change and answer only the consultations hosted here.
    fn organiser_controls(&self) -> bool {
        self.ctx.is_admin() && self.c.origin.is_none()
    }
}

async fn consultation_response(
    state: &AppState,
    ctx: &Ctx,
    slug: &str,
    query: &ProposalListQuery,
    failure: Option<(AppError, ProposalForm)>,
) -> Result<Response, WebError> {
    let c = consultations::get(state, slug).await?;
    let page = proposals::list(state, ctx.actor(), slug, query).await?;
    let (status, alert, draft) = match failure {
        Some((err, draft)) => (err.status(), Some(ctx.t.error_line(&err)), draft),
        None => (StatusCode::OK, None, ProposalForm::default()),
    };
    render_status(
        status,
        &ConsultationPageT {
            ctx,
            c: &c,
            page: &page,
            query,
            alert,
            draft,
        },
    )
}

pub async fn show(
    ctx: Ctx,
    State(state): State<AppState>,
    WebPath(slug): WebPath<String>,
    WebQuery(query): WebQuery<ProposalListQuery>,
) -> Result<Response, WebError> {
    consultation_response(&state, &ctx, &slug, &query, None).await
}

pub async fn post_proposal(
    ctx: Ctx,
    State(state): State<AppState>,
    WebPath(slug): WebPath<String>,
    CsrfForm(form): CsrfForm<ProposalForm>,
) -> Result<Response, WebError> {
    let new = NewProposal {
        title: form.title.clone(),
        body: form.body.clone(),
    };
    let result = match ctx.require_actor() {
        Ok(actor) => proposals::create(&state, actor, &slug, new).await,
        Err(err) => Err(err),
    };
    match result {
        Ok(view) => Ok(see_other(&format!("/proposals/{}", view.id))),
        Err(AppError::Internal(err)) => Err(AppError::Internal(err).into()),
        Err(err) => {
            let ctx = ctx.with_path(consultation_path(&slug));
            let query = ProposalListQuery::default();
            consultation_response(&state, &ctx, &slug, &query, Some((err, form))).await
        }
    }
}

// ---- organisers' form ----

#[derive(Default, Deserialize)]
pub struct ConsultationForm {
    #[serde(default)]
    slug: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    themes: String,
    #[serde(default)]
    opens_at: String,
    #[serde(default)]
    closes_at: String,
}

#[derive(Template)]
#[template(path = "consultation_form.html")]
struct ConsultationFormPage<'a> {
    ctx: &'a Ctx,
    /// `None` when creating, the slug when editing.
    editing: Option<&'a str>,
    form: &'a ConsultationForm,
    alert: Option<String>,
}

impl ConsultationFormPage<'_> {
    fn heading(&self) -> &'static str {
        match self.editing {
            Some(_) => self.ctx.t.edit_consultation,
            None => self.ctx.t.new_consultation_heading,
        }
    }

    fn action(&self) -> String {
        match self.editing {
            Some(slug) => format!("{}/edit", consultation_path(slug)),
            None => "/consultations".into(),
        }
    }
}

const LOCAL_FORMAT: &str = "%Y-%m-%dT%H:%M";

fn local_value(at: &DateTime<Utc>) -> String {
    at.format(LOCAL_FORMAT).to_string()
}

/// `datetime-local` sends no time zone; the form says the times are UTC.
fn parse_local(ctx: &Ctx, field: &str, raw: &str) -> Result<DateTime<Utc>, AppError> {
    let raw = raw.trim();
    NaiveDateTime::parse_from_str(raw, LOCAL_FORMAT)
        .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S"))
        .map(|naive| naive.and_utc())
        .map_err(|_| AppError::BadInput(format!("{field}: {} ({raw})", ctx.t.invalid_date)))
}

fn split_themes(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

fn form_page(
    ctx: &Ctx,
    editing: Option<&str>,
    form: &ConsultationForm,
    err: Option<AppError>,
) -> Result<Response, WebError> {
    let status = err.as_ref().map_or(StatusCode::OK, AppError::status);
    let alert = err.as_ref().map(|e| ctx.t.error_line(e));
    render_status(
        status,
        &ConsultationFormPage {
            ctx,
            editing,
            form,
            alert,
        },
    )
}

pub async fn new_form(ctx: Ctx) -> Result<Response, WebError> {
    ctx.require_actor()?.ensure_organiser()?;
    form_page(&ctx, None, &ConsultationForm::default(), None)
}

pub async fn create(
    ctx: Ctx,
    State(state): State<AppState>,
    CsrfForm(form): CsrfForm<ConsultationForm>,
) -> Result<Response, WebError> {
    let actor = *ctx.require_actor()?;
    actor.ensure_organiser()?;
    let attempt = async {
        let new = NewConsultation {
            slug: form.slug.clone(),
            title: form.title.clone(),
            body: form.body.clone(),
            themes: split_themes(&form.themes),
            opens_at: parse_local(&ctx, "opens_at", &form.opens_at)?,
            closes_at: parse_local(&ctx, "closes_at", &form.closes_at)?,
        };
        consultations::create(&state, &actor, new).await
    };
    match attempt.await {
        Ok(view) => Ok(see_other(&consultation_path(&view.slug))),
        Err(AppError::Internal(err)) => Err(AppError::Internal(err).into()),
        Err(err) => form_page(&ctx, None, &form, Some(err)),
    }
}

pub async fn edit_form(
    ctx: Ctx,
    State(state): State<AppState>,
    WebPath(slug): WebPath<String>,
) -> Result<Response, WebError> {
    ctx.require_actor()?.ensure_organiser()?;
    let c = consultations::get(&state, &slug).await?;
    if c.origin.is_some() {
        // The same refusal as the service's, before offering a form it would refuse.
        return Err(AppError::Forbidden(
            "this consultation is hosted on another node: it is changed there".into(),
        )
        .into());
    }
    let form = ConsultationForm {
        slug: c.slug.clone(),
        title: c.title.clone(),
        body: c.body.clone(),
        themes: c.themes.join(", "),
        opens_at: local_value(&c.opens_at),
        closes_at: local_value(&c.closes_at),
    };
    form_page(&ctx, Some(&c.slug), &form, None)
}

pub async fn update(
    ctx: Ctx,
    State(state): State<AppState>,
    WebPath(slug): WebPath<String>,
    CsrfForm(form): CsrfForm<ConsultationForm>,
) -> Result<Response, WebError> {
    let actor = *ctx.require_actor()?;
    actor.ensure_organiser()?;
    let attempt = async {
        let changes = ConsultationChanges {
            title: Some(form.title.clone()),
            body: Some(form.body.clone()),
            themes: Some(split_themes(&form.themes)),
            opens_at: Some(parse_local(&ctx, "opens_at", &form.opens_at)?),
            closes_at: Some(parse_local(&ctx, "closes_at", &form.closes_at)?),
        };
        consultations::update(&state, &actor, &slug, changes).await
    };
    match attempt.await {
        Ok(view) => Ok(see_other(&consultation_path(&view.slug))),
        Err(AppError::Internal(err)) => Err(AppError::Internal(err).into()),
        Err(err) => form_page(&ctx, Some(&slug), &form, Some(err)),
    }
}
