//! Integration tests of the API against a real PostgreSQL, all in one test binary.

mod auth;
mod cli;
mod client;
mod coverage;
mod errors;
mod events;
mod hardening;
mod health;
mod hooks;
mod migrations;
mod oidc_sign_in;
mod openapi;
mod persons;
mod pipelines;
mod release_pipeline;
mod risk;
mod runner;
mod runs;
mod scheduler;
mod static_analysis;
mod step_services;
mod ui;
mod uplift;

use reqwest::Response;
use shipit_shared::api_types::{PROBLEM_JSON, Problem};

/// Asserts that `response` is a problem+json answer with `status`, and returns the problem.
async fn problem(response: Response, status: u16) -> Problem {
    assert_eq!(response.status().as_u16(), status, "unexpected status");
    let content_type = response.headers().get("content-type").map(|value| value.to_str().unwrap().to_owned());
    assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));
    let problem: Problem = response.json().await.unwrap();
    assert_eq!(problem.status, status);
    problem
}
