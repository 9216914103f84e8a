//! A proposal's page, laid out like the seed pages, and the forms on it. When a form fails
//! the page is shown again with the error in an alert box (and what was typed), with the
//! error's status, rather than a bare error page.
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::consultations::Gate;
use super::error::{WebError, WebPath, render, render_status, see_other};
use super::session::{CsrfForm, Ctx, consultation_path};
use crate::app::AppState;
use crate::domain::{Actor, ConsultationState, ProposalState, Stance, VoteValue};
use crate::error::{AppError, AppResult};
use crate::services::contributions::{self, NewArgument, NewSource};
use crate::services::proposals::{self, OfficialAnswer, ProposalChanges, ProposalDetail};
use crate::services::views::{ConsultationView, ProposalView};
use crate::services::{consultations, votes};

#[derive(Default, Deserialize)]
pub struct ArgumentForm {
    #[serde(default)]
    pub stance: String,
    #[serde(default)]
    pub body: String,
}

#[derive(Default, Deserialize)]
pub struct SourceForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    description: String,
}

/// What the person typed in the form that failed, to give it back.
#[derive(Default)]
pub struct Drafts {
    argument: ArgumentForm,
    source: SourceForm,
}

pub struct StateOption {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "proposal.html")]
struct ProposalPageT<'a> {
    ctx: &'a Ctx,
    d: &'a ProposalDetail,
    p: &'a ProposalView,
    c: &'a ConsultationView,
    alert: Option<String>,
    drafts: Drafts,
}

impl ProposalPageT<'_> {
    fn gate(&self) -> Gate {
        Gate::of(self.c.state, self.ctx)
    }

    fn is_open(&self) -> bool {
        self.c.state == ConsultationState::Open
    }

    /// Authors change their own contributions only while participation is open.
    fn can_change(&self, author: &str) -> bool {
        self.is_open() && self.ctx.is_me(author)
    }

    fn answered(&self) -> bool {
        self.p.state != ProposalState::Submitted
    }

    fn pressed(&self, value: &str) -> &'static str {
        if self.d.my_vote.is_some_and(|v| v.as_str() == value) {
            "true"
        } else {
            "false"
        }
    }

    fn stance_checked(&self, value: &str) -> bool {
        self.drafts.argument.stance == value
    }

    fn state_options(&self) -> Vec<StateOption> {
        ProposalState::ALL
            .iter()
            .map(|s| StateOption {
                value: s.as_str(),
                label: self.ctx.t.proposal_state(s),
                selected: *s == self.p.state,
            })
            .collect()
    }

    fn answer_text(&self) -> &str {
        self.p.official_answer.as_deref().unwrap_or_default()
    }

    fn duplicate_value(&self) -> String {
        self.p
            .duplicate_of
            .as_ref()
            .map(|d| d.id.to_string())
            .unwrap_or_default()
    }
}

async fn load(
    state: &AppState,
    ctx: &Ctx,
    id: i32,
) -> AppResult<(ProposalDetail, ConsultationView)> {
    let detail = proposals::get(state, ctx.actor(), id).await?;
    let consultation = consultations::get(state, &detail.proposal.consultation).await?;
    Ok((detail, consultation))
}

/// Renders the proposal page; with `failure`, the error goes in the alert box and sets the
/// status. If the page itself cannot be shown, the original error gets the error page.
pub async fn proposal_response(
    state: &AppState,
    ctx: &Ctx,
    id: i32,
    failure: Option<(AppError, Drafts)>,
) -> Result<Response, WebError> {
    let (d, c) = match load(state, ctx, id).await {
        Ok(found) => found,
        Err(err) => return Err(failure.map_or(err, |(original, _)| original).into()),
    };
    let (status, alert, drafts) = match failure {
        Some((err, drafts)) => (err.status(), Some(ctx.t.error_line(&err)), drafts),
        None => (StatusCode::OK, None, Drafts::default()),
    };
    // A failed POST renders this page: its links must point at the page, not the POST route.
    let ctx = ctx.clone().with_path(format!("/proposals/{id}"));
    render_status(
        status,
        &ProposalPageT {
            ctx: &ctx,
            d: &d,
            p: &d.proposal,
            c: &c,
            alert,
            drafts,
        },
    )
}

/// Post/Redirect/Get on success; the page with an alert on a refusal; the error page when the
/// server itself failed.
pub async fn after_post<T>(
    state: &AppState,
    ctx: &Ctx,
    id: i32,
    result: AppResult<T>,
    drafts: Drafts,
    target: impl FnOnce(T) -> String,
) -> Result<Response, WebError> {
    match result {
        Ok(value) => Ok(see_other(&target(value))),
        Err(AppError::Internal(err)) => Err(AppError::Internal(err).into()),
        Err(err) => proposal_response(state, ctx, id, Some((err, drafts))).await,
    }
}

pub async fn show(
    ctx: Ctx,
    State(state): State<AppState>,
    WebPath(id): WebPath<i32>,
) -> Result<Response, WebError> {
    proposal_response(&state, &ctx, id, None).await
}

#[derive(Deserialize)]
pub struct VoteForm {
    #[serde(default)]
    value: String,
}

pub async fn vote(
    ctx: Ctx,
    State(state): State<AppState>,
    WebPath(id): WebPath<i32>,
    CsrfForm(form): CsrfForm<VoteForm>,
) -> Result<Response, WebError> {
    let result = async {
        let actor = ctx.require_actor()?;
        match form.value.as_str() {
            "withdraw" => votes::withdraw(&state, actor, id).await,
            value => votes::cast(&state, actor, id, VoteValue::parse(value)?).await,
        }
    }
    .await;
    let target = |_| format!("/proposals/{id}#votes");
    after_post(&state, &ctx, id, result, Drafts::default(), target).await
}

pub async fn add_argument(
    ctx: Ctx,
    State(state): State<AppState>,
    WebPath(id): WebPath<i32>,
    CsrfForm(form): CsrfForm<ArgumentForm>,
) -> Result<Response, WebError> {
    let result = async {
        let actor = ctx.require_actor()?;
        if form.stance.is_empty() {
            return Err(AppError::BadInput(ctx.t.choose_stance.into()));
        }
        let new = NewArgument {
            stance: Stance::parse(&form.stance)?,
            body: form.body.clone(),
        };
        contributions::add_argument(&state, actor, id, new).await
    }
    .await;
    let drafts = Drafts {
        argument: form,
        ..Drafts::default()
    };
    let target =
        |a: crate::services::views::ArgumentView| format!("/proposals/{id}#argument-{}", a.id);
    after_post(&state, &ctx, id, result, drafts, target).await
}

pub async fn add_source(
    ctx: Ctx,
    State(state): State<AppState>,
    WebPath(id): WebPath<i32>,
    CsrfForm(form): CsrfForm<SourceForm>,
) -> Result<Response, WebError> {
    let result = async {
        let actor = ctx.require_actor()?;
        let new = NewSource {
            title: form.title.clone(),
            url: form.url.clone(),
            description: Some(form.description.clone()),
        };
        contributions::add_source(&state, actor, id, new).await
    }
    .await;
    let drafts = Drafts {
        source: form,
        ..Drafts::default()
    };
    after_post(&state, &ctx, id, result, drafts, |_| {
        format!("/proposals/{id}#sources")
    })
    .await
}

// ---- the author's own proposal ----

#[derive(Default, Deserialize)]
pub struct ProposalEditForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
}

#[derive(Template)]
#[template(path = "proposal_edit.html")]
struct ProposalEditPage<'a> {
    ctx: &'a Ctx,
    p: &'a ProposalView,
    form: ProposalEditForm,
    alert: Option<String>,
}

fn ensure_own(ctx: &Ctx, author: &str) -> AppResult<()> {
    if ctx.is_me(author) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "only the author of this proposal may change or withdraw it".into(),
        ))
    }
}

pub async fn edit_form(
    ctx: Ctx,
    State(state): State<AppState>,
    WebPath(id): WebPath<i32>,
) -> Result<Response, WebError> {
    ctx.require_actor()?;
    let d = proposals::get(&state, ctx.actor(), id).await?;
    ensure_own(&ctx, &d.proposal.author.username)?;
    let form = ProposalEditForm {
        title: d.proposal.title.clone(),
        body: d.proposal.body.clone(),
    };
    render(&ProposalEditPage {
        ctx: &ctx,
        p: &d.proposal,
        form,
        alert: None,
    })
}

pub async fn edit(
    ctx: Ctx,
    State(state): State<AppState>,
    WebPath(id): WebPath<i32>,
    CsrfForm(form): CsrfForm<ProposalEditForm>,
) -> Result<Response, WebError> {
    let actor = *ctx.require_actor()?;
    let changes = ProposalChanges {
        title: Some(form.title.clone()),
        body: Some(form.body.clone()),
    };
    match proposals::update(&state, &actor, id, changes).await {
        Ok(_) => Ok(see_other(&format!("/proposals/{id}"))),
        Err(AppError::Internal(err)) => Err(AppError::Internal(err).into()),
        Err(err) => {
            let d = proposals::get(&state, ctx.actor(), id).await?;
            let page = ProposalEditPage {
                ctx: &ctx,
                p: &d.proposal,
                alert: Some(ctx.t.error_line(&err)),
                form,
            };
            render_status(err.status(), &page)
        }
    }
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn withdraw(
    ctx: Ctx,
    State(state): State<AppState>,
    WebPath(id): WebPath<i32>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Result<Response, WebError> {
    let result = async {
        let actor = ctx.require_actor()?;
        let d = proposals::get(&state, Some(actor), id).await?;
        proposals::withdraw(&state, actor, id).await?;
        Ok(d.proposal.consultation)
    }
    .await;
    let target = |slug: String| consultation_path(&slug);
    after_post(&state, &ctx, id, result, Drafts::default(), target).await
}

// ---- moderators and organisers ----

#[derive(Deserialize)]
pub struct HideForm {
    pub hidden: bool,
    /// The proposal page to come back to (argument and source forms).
    #[serde(default)]
    pub proposal: Option<i32>,
}

pub async fn hide(
    ctx: Ctx,
    State(state): State<AppState>,
    WebPath(id): WebPath<i32>,
    CsrfForm(form): CsrfForm<HideForm>,
) -> Result<Response, WebError> {
    let result = match ctx.require_actor() {
        Ok(actor) => proposals::set_hidden(&state, actor, id, form.hidden).await,
        Err(err) => Err(err),
    };
    after_post(&state, &ctx, id, result, Drafts::default(), |_| {
        format!("/proposals/{id}")
    })
    .await
}

#[derive(Deserialize)]
pub struct AnswerForm {
    #[serde(default)]
    state: String,
    #[serde(default)]
    answer: String,
    #[serde(default)]
    duplicate_of: String,
}

fn parse_answer(form: &AnswerForm) -> AppResult<OfficialAnswer> {
    let duplicate_of = match form.duplicate_of.trim() {
        "" => None,
        raw => Some(raw.parse::<i32>().map_err(|_| {
            AppError::BadInput(format!("duplicate_of must be a proposal id, not '{raw}'"))
        })?),
    };
    Ok(OfficialAnswer {
        state: ProposalState::parse(&form.state)?,
        answer: Some(form.answer.clone()),
        duplicate_of,
    })
}

pub async fn answer(
    ctx: Ctx,
    State(state): State<AppState>,
    WebPath(id): WebPath<i32>,
    CsrfForm(form): CsrfForm<AnswerForm>,
) -> Result<Response, WebError> {
    let result = async {
        let actor: &Actor = ctx.require_actor()?;
        proposals::answer(&state, actor, id, parse_answer(&form)?).await
    }
    .await;
    after_post(&state, &ctx, id, result, Drafts::default(), |_| {
        format!("/proposals/{id}#answer")
    })
    .await
}
