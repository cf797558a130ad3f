//! The risk bot on the bot kit: one run scores the revisions of a push with the current model,
//! adds the coverage of the lines they change when the API has a coverage report of their parent,
//! and uploads the assessments (idempotent: the same push scored again by the same model changes
//! nothing).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use shipit_shared::api_client::ApiClient;
use shipit_shared::api_types::coverage::PathQuery;
use shipit_shared::api_types::risk::{
    AssessmentUpload, ChangedLinesCoverage, FunctionChangeSet, NewAssessment, RiskBand, RiskModelInfo, RiskReason,
    limits,
};
use shipit_shared::bot::{Bot, Context, Report};

use crate::config::{RepositorySettings, RiskSettings};
use crate::dataset::{CacheChoice, Dataset, DatasetOptions};
use crate::error::RiskError;
use crate::features::NAMES;
use crate::history::{self, ReadOptions, WalkOptions};
use crate::model::{Band, Model};

/// A run for the pushed `revisions` of `repository` (`REPOSITORY`, `REVISIONS`).
#[derive(Clone, Debug)]
pub struct RiskBot {
    pub repository: String,
    pub revisions: Vec<String>,
}

impl Bot for RiskBot {
    const NAME: &'static str = "risk";
    type Settings = RiskSettings;
    type Error = RiskError;

    fn parameters(&self) -> Map<String, Value> {
        let mut parameters = Map::new();
        parameters.insert("REPOSITORY".into(), self.repository.clone().into());
        parameters.insert("REVISIONS".into(), self.revisions.join(" ").into());
        parameters
    }

    async fn run(&self, context: &Context<RiskSettings>) -> Result<Report, RiskError> {
        let settings = &context.settings;
        settings.validate()?;
        let api = context.api()?;
        if self.revisions.is_empty() {
            return Err(RiskError::Config("no revision to score (REVISIONS is empty)".to_owned()));
        }
        let repository = settings.repository(&self.repository)?.clone();
        let local = prepare_repository(settings, &repository).await?;
        let model = Model::load(&settings.model)?;
        let total = self.revisions.len() as i64;
        context.progress(0, total, "scoring", Map::new()).await;

        let scored = {
            let (local, revisions, settings, model) =
                (local.clone(), self.revisions.clone(), settings.clone(), model.clone());
            tokio::task::spawn_blocking(move || assess(&local, &revisions, &settings, &model))
                .await
                .map_err(|error| RiskError::Task(format!("the scoring task failed: {error}")))??
        };
        let mut assessments = scored.assessments;
        if settings.coverage {
            add_coverage(api, &repository.coverage_name(), &mut assessments, &scored.changed_lines).await;
        }
        let mut counts = Map::new();
        counts.insert("revisions".into(), self.revisions.len().into());
        counts.insert("assessed".into(), assessments.len().into());
        for band in [RiskBand::Low, RiskBand::Medium, RiskBand::High] {
            let count = assessments.iter().filter(|assessment| assessment.band == band).count();
            counts.insert(band.as_str().into(), count.into());
        }
        let (mut inserted, mut updated) = (0u64, 0u64);
        for chunk in assessments.chunks(limits::MAX_ASSESSMENTS) {
            let upload = AssessmentUpload {
                repository: self.repository.clone(),
                model: model_info(&model),
                run_id: context.run_id(),
                assessments: chunk.to_vec(),
            };
            let result = api.upload_risk_assessments(&upload).await?;
            inserted += result.inserted;
            updated += result.updated;
        }
        context.progress(total, total, "scored and uploaded", Map::new()).await;
        counts.insert("inserted".into(), inserted.into());
        counts.insert("updated".into(), updated.into());
        tracing::info!(counts = ?counts, model.version = %model.version, "risk run done");
        Ok(Report::with_failures(scored.failures, counts))
    }
}

/// The repository to read: the configured path, or the bare clone under `cache_dir`, fetched now.
async fn prepare_repository(settings: &RiskSettings, repository: &RepositorySettings) -> Result<PathBuf, RiskError> {
    if let Some(path) = &repository.path {
        return Ok(path.clone());
    }
    let url = repository.url.clone().unwrap_or_default();
    let slug: String =
        repository.name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    let directory = settings.cache_dir.join("repositories").join(slug);
    let target = directory.clone();
    tokio::task::spawn_blocking(move || shipit_shared::repository_cache::update(&url, &target))
        .await
        .map_err(|error| RiskError::Task(format!("the fetch task failed: {error}")))??;
    Ok(directory)
}

/// The model as the API records it.
pub fn model_info(model: &Model) -> RiskModelInfo {
    RiskModelInfo {
        version: model.version.clone(),
        kind: model.kind.clone(),
        trained_until: DateTime::<Utc>::from_timestamp(model.training.until, 0).unwrap_or_default(),
        features: model.features.clone(),
        evaluation: model.evaluation.clone(),
    }
}

/// What scoring a push gave.
pub struct Scored {
    pub assessments: Vec<NewAssessment>,
    /// Per assessment: the parent and, per file, the parent's lines the change modifies or
    /// deletes (or, for pure insertions, the line before them).
    pub changed_lines: Vec<Vec<(String, Vec<u32>)>>,
    /// Revisions that could not be scored, one line each.
    pub failures: Vec<String>,
}

/// Scores `revisions` of the repository at `local` (blocking: git and the features).
pub fn assess(local: &Path, revisions: &[String], settings: &RiskSettings, model: &Model) -> Result<Scored, RiskError> {
    let repository = history::open(local)?;
    let mut failures = Vec::new();
    let mut wanted = Vec::new();
    for revision in revisions {
        match history::resolve(&repository, revision) {
            Ok(oid) => wanted.push((revision.clone(), oid)),
            Err(error) => failures.push(format!("{revision}: {error}")),
        }
    }
    let cache = settings.cache_dir.join("changes").join(format!(
        "{}.jsonl",
        crate::cache::default_path(&history::git_dir(&repository))
            .file_stem()
            .map_or_else(|| "repository".to_owned(), |stem| stem.to_string_lossy().into_owned())
    ));
    let options = DatasetOptions {
        walk: WalkOptions { extra: wanted.iter().map(|(_, oid)| *oid).collect(), ..WalkOptions::default() },
        read: ReadOptions { functions: settings.functions, ..ReadOptions::default() },
        cache: CacheChoice::File(cache),
    };
    let mut dataset = Dataset::build(local, &options)?;
    let labels = match &settings.labels {
        Some(path) => crate::labels::Labels::read(path, &dataset)?,
        None => crate::labels::from_trailers(&dataset).0,
    };
    labels.add_history_to(&mut dataset);
    let mut assessments = Vec::new();
    let mut changed_lines = Vec::new();
    for (revision, oid) in wanted {
        let id = oid.to_string();
        let Some(position) = dataset.index.get(&id).copied() else {
            tracing::info!(revision, "a merge: not scored");
            continue;
        };
        let (change, row) = (&dataset.changes[position], &dataset.rows[position]);
        let score = model.score(row, settings.reasons);
        let commit = repository.find_commit(oid).map_err(RiskError::git(format!("cannot read {id}")))?;
        let parent = commit.parent_id(0).ok().map(|parent| parent.to_string());
        let values = row.values();
        let features: Map<String, Value> =
            NAMES.iter().zip(values).map(|(name, value)| ((*name).to_owned(), json!(value))).collect();
        let functions: Vec<FunctionChangeSet> = change
            .files
            .iter()
            .filter_map(|file| {
                let sets = file.functions.as_ref()?;
                (!sets.added.is_empty() || !sets.removed.is_empty() || !sets.modified.is_empty()).then(|| {
                    FunctionChangeSet {
                        path: file.path.clone(),
                        added: sets.added.clone(),
                        removed: sets.removed.clone(),
                        modified: sets.modified.clone(),
                    }
                })
            })
            .take(limits::MAX_FUNCTION_FILES)
            .collect();
        let reasons = score
            .up
            .iter()
            .chain(&score.down)
            .map(|reason| RiskReason {
                feature: reason.feature.clone(),
                value: reason.value,
                contribution: reason.contribution,
                text: reason.text.clone(),
            })
            .collect();
        changed_lines.push(history::changed_old_lines(&repository, oid)?);
        assessments.push(NewAssessment {
            revision: id,
            parent,
            author: change.author.clone(),
            author_time: DateTime::<Utc>::from_timestamp(change.author_time, 0).unwrap_or_default(),
            subject: change.subject.chars().take(limits::MAX_TEXT_CHARS).collect(),
            probability: score.probability,
            band: match score.band {
                Band::Low => RiskBand::Low,
                Band::Medium => RiskBand::Medium,
                Band::High => RiskBand::High,
            },
            reasons,
            features,
            functions,
            coverage: None,
        });
    }
    Ok(Scored { assessments, changed_lines, failures })
}

/// Adds, to each assessment whose parent has a coverage report, the coverage of its changed
/// lines. The coverage is a nicety: failures to read it are logged and the assessment goes without.
async fn add_coverage(
    api: &ApiClient,
    coverage_repository: &str,
    assessments: &mut [NewAssessment],
    changed_lines: &[Vec<(String, Vec<u32>)>],
) {
    for (assessment, files) in assessments.iter_mut().zip(changed_lines) {
        let Some(parent) = assessment.parent.clone() else { continue };
        let (mut instrumented, mut covered, mut report) = (0u64, 0u64, None);
        for (path, lines) in files {
            let query = PathQuery {
                repository: coverage_repository.to_owned(),
                changeset: Some(parent.clone()),
                path: Some(path.clone()),
                suite: None,
                platform: None,
            };
            match api.coverage_file(&query).await {
                Ok(Some(file)) => {
                    let hits = file.coverage.unwrap_or_default();
                    for line in lines {
                        match hits.get(*line as usize - 1) {
                            Some(count) if *count > 0 => {
                                instrumented += 1;
                                covered += 1;
                            }
                            Some(0) => instrumented += 1,
                            _ => {}
                        }
                    }
                    report = Some(file.changeset);
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(revision = %assessment.revision, path, %error, "cannot read the coverage of the parent");
                    break;
                }
            }
        }
        if let Some(report_revision) = report {
            assessment.coverage = Some(ChangedLinesCoverage {
                report_revision,
                instrumented,
                covered,
                coverage_percent: (instrumented > 0).then(|| covered as f64 * 100.0 / instrumented as f64),
            });
        }
    }
}
