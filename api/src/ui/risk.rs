//! The risk page: the riskiest recent changes with the reasons of their score, filtered by band
//! and date, and the model versions with their evaluation.

use axum::extract::State;
use axum::response::Html;
use maud::{Markup, html};
use serde::Deserialize;
use shipit_shared::api_types::risk::{Assessment, AssessmentQuery, RiskBand};

use super::layout::{self, Shell, badge, href, short, when};
use super::{UiResult, Viewer, bad_request, non_empty, start_of_day};
use crate::auth::Reader;
use crate::db;
use crate::extract::QueryParams;
use crate::routes::risk;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub(super) struct RiskFilters {
    #[serde(default)]
    repository: String,
    #[serde(default)]
    band: String,
    /// `YYYY-MM-DD`: changes authored since that day.
    #[serde(default)]
    since: String,
    #[serde(default)]
    after: String,
}

/// `GET /ui/risk?repository=&band=&since=&after=`.
pub(super) async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    QueryParams(filters): QueryParams<RiskFilters>,
) -> UiResult<Html<String>> {
    let repositories = db::risk::repositories(&state.pool, 100).await?;
    let repository =
        if filters.repository.is_empty() { repositories.first().cloned() } else { Some(filters.repository.clone()) };
    let band = match filters.band.as_str() {
        "" => None,
        text => Some(
            RiskBand::parse(text).ok_or_else(|| bad_request(format!("band: {text:?} is not low, medium or high")))?,
        ),
    };
    let since = start_of_day("since", &filters.since)?;
    let page = match &repository {
        Some(repository) => {
            let query = AssessmentQuery {
                repository: repository.clone(),
                since,
                band,
                min_score: None,
                model: None,
                limit: Some(50),
                after: non_empty(&filters.after),
            };
            Some(risk::list_assessments(State(state.clone()), Reader, QueryParams(query)).await?.0)
        }
        None => None,
    };
    let models = risk::list_models(State(state), Reader).await?.0;
    let repository = repository.unwrap_or_default();
    let body = html! {
        h1 { "Risk" }
        form method="get" action="/ui/risk" class="filters" {
            label for="repository" { "Repository" }
            select id="repository" name="repository" {
                @for name in &repositories { option value=(name) selected[*name == repository] { (name) } }
            }
            label for="band" { "Band" }
            select id="band" name="band" {
                option value="" { "any band" }
                @for name in ["high", "medium", "low"] { option value=(name) selected[name == filters.band] { (name) } }
            }
            label for="since" { "Authored since" }
            input id="since" name="since" type="date" value=(filters.since);
            button type="submit" { "Show" }
        }
        @match &page {
            None => p class="muted" { "No change assessed yet." },
            Some(page) if page.assessments.is_empty() => p class="muted" { "No change matches." },
            Some(page) => {
                ol class="cards" {
                    @for assessment in &page.assessments { li { (card(assessment)) } }
                }
                @if let Some(next) = &page.next {
                    p { a href=(href("/ui/risk", &[("repository", &repository), ("band", &filters.band), ("since", &filters.since), ("after", next)])) { "Less risky changes" } }
                }
            }
        }
        h2 { "Models" }
        @if models.is_empty() {
            p class="muted" { "No model has made an assessment yet." }
        } @else {
            table {
                thead { tr { th scope="col" { "Version" } th scope="col" { "Kind" } th scope="col" { "Trained until" } th scope="col" class="number" { "Assessments" } th scope="col" { "Evaluation" } } }
                tbody {
                    @for model in &models {
                        tr {
                            td { code { (model.model.version) } }
                            td { (model.model.kind) }
                            td { (model.model.trained_until.format("%Y-%m-%d")) }
                            td class="number" { (model.assessments) }
                            td { @if let Some(evaluation) = &model.model.evaluation { (evaluation_summary(evaluation)) } }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&Shell { title: "Risk", section: "risk", viewer: &viewer }, body))
}

fn card(stored: &Assessment) -> Markup {
    let assessment = &stored.assessment;
    let functions: usize =
        assessment.functions.iter().map(|set| set.added.len() + set.removed.len() + set.modified.len()).sum();
    html! {
        article class="card" {
            h3 {
                (badge(assessment.band.as_str())) " "
                span class="number" { (format!("{:.0} %", assessment.probability * 100.0)) } " "
                code { (short(&assessment.revision)) } " " (assessment.subject)
            }
            p class="muted" { (assessment.author) " · " (when(assessment.author_time)) " · model " code { (stored.model_version) } }
            @if !assessment.reasons.is_empty() {
                ul class="reasons" {
                    @for reason in &assessment.reasons {
                        li class=(if reason.contribution >= 0.0 { "up" } else { "down" }) {
                            (if reason.contribution >= 0.0 { "▲ " } else { "▼ " }) (reason.text)
                        }
                    }
                }
            }
            p {
                @if let Some(coverage) = &assessment.coverage {
                    "Changed lines covered: "
                    @if let Some(percent) = coverage.coverage_percent { (format!("{percent:.0} %")) " (" (coverage.covered) " of " (coverage.instrumented) ")" } @else { "none instrumented" }
                    " · "
                }
                (count(functions, "function", "functions")) " changed in " (count(assessment.functions.len(), "file", "files"))
            }
        }
    }
}

/// The headline figures of a model's evaluation, when it has them.
fn evaluation_summary(evaluation: &serde_json::Value) -> Markup {
    let figure = |key: &str| evaluation.pointer(key).and_then(serde_json::Value::as_f64);
    let auc = figure("/model/roc_auc").or_else(|| figure("/roc_auc"));
    let popt = figure("/model/popt").or_else(|| figure("/popt"));
    html! {
        @if let Some(auc) = auc { "ROC AUC " (format!("{auc:.3}")) }
        @if let Some(popt) = popt { " · Popt " (format!("{popt:.3}")) }
        @if auc.is_none() && popt.is_none() { (layout::json(evaluation)) }
    }
}

/// `1 file`, `2 files`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
