//! Labels from Bugzilla, as bugbug makes them: a bug of type `defect` with `regressed_by` was
//! introduced by the landings of the regressor bugs; it became known when the defect's own fix
//! landed (its first commit naming it), or, without one, at the last commit of the history.
//! Commits name their bugs in the subject (`Bug 123 - …`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use shipit_shared::http::UpstreamClient;
use url::Url;

use crate::dataset::Dataset;
use crate::error::RiskError;
use crate::labels::{Label, Labels, bug_numbers};

/// Bugs asked for in one request.
const BATCH: usize = 200;

#[derive(Deserialize)]
struct BugList {
    #[serde(default)]
    bugs: Vec<BugFields>,
}

#[derive(Deserialize)]
struct BugFields {
    id: i64,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    regressed_by: Vec<i64>,
}

/// The labels of the history from the bugs its commits name.
pub async fn labels(http: &UpstreamClient, bugzilla: &Url, dataset: &Dataset) -> Result<Labels, RiskError> {
    // Each bug's landing commits, in the order of the history.
    let mut landings: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (position, change) in dataset.changes.iter().enumerate() {
        for bug in bug_numbers(&change.subject) {
            landings.entry(bug).or_default().push(position);
        }
    }
    let bugs: Vec<i64> = landings.keys().copied().collect();
    let mut regressions: Vec<(i64, Vec<i64>)> = Vec::new();
    for batch in bugs.chunks(BATCH) {
        let mut url = bugzilla
            .join("rest/bug")
            .map_err(|error| RiskError::Config(format!("bugzilla URL {bugzilla}: {error}")))?;
        let ids: Vec<String> = batch.iter().map(i64::to_string).collect();
        url.query_pairs_mut().append_pair("id", &ids.join(",")).append_pair("include_fields", "id,type,regressed_by");
        let answer: BugList = http
            .send_json(http.client().get(url.clone()))
            .await
            .map_err(|error| RiskError::Bugzilla { request: url.path().to_owned(), detail: error.to_string() })?;
        for bug in answer.bugs {
            if bug.kind.as_deref() == Some("defect") && !bug.regressed_by.is_empty() {
                regressions.push((bug.id, bug.regressed_by));
            }
        }
    }
    let last_time = dataset.changes.last().map_or(0, |change| change.commit_time);
    let mut labels = BTreeSet::new();
    for (defect, regressors) in regressions {
        let fix =
            landings.get(&defect).and_then(|positions| positions.first()).map(|position| &dataset.changes[*position]);
        let (fix_id, fix_time) =
            fix.map_or((String::new(), last_time), |change| (change.id.clone(), change.commit_time));
        for regressor in regressors {
            for position in landings.get(&regressor).into_iter().flatten() {
                let commit = &dataset.changes[*position];
                labels.insert(Label {
                    commit: commit.id.clone(),
                    fix: fix_id.clone(),
                    fix_time,
                    method: "bugzilla".to_owned(),
                });
            }
        }
    }
    tracing::info!(bugs = bugs.len(), labels = labels.len(), "labels from Bugzilla");
    Ok(Labels { labels: labels.into_iter().collect() })
}
