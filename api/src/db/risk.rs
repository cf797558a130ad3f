//! Queries on the risk tables: model versions and the assessments they made.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use serde_json::Value;
use shipit_shared::api_types::risk::{
    Assessment, AssessmentUpload, AssessmentUploadResult, NewAssessment, RiskBand, RiskModel, RiskModelInfo,
};
use tokio_postgres::Row;

use super::DbError;

/// A model seen for the first time is recorded; one seen again keeps its row, and gains an
/// evaluation when it had none.
const UPSERT_MODEL: &str = "INSERT INTO risk_models (version, kind, trained_until, features, evaluation) \
     VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (version) DO UPDATE SET evaluation = COALESCE(EXCLUDED.evaluation, risk_models.evaluation) \
     WHERE risk_models.evaluation IS NULL AND EXCLUDED.evaluation IS NOT NULL";

/// One assessment; an assessment of the same key is replaced only when something differs, so
/// the same upload again is answered as unchanged (no row returned).
const UPSERT_ASSESSMENT: &str = "INSERT INTO risk_assessments \
         (repository, revision, model_version, parent, author, author_time, subject, probability, band, \
          reasons, features, functions, coverage, run_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
     ON CONFLICT (repository, revision, model_version) DO UPDATE SET parent = EXCLUDED.parent, \
         author = EXCLUDED.author, author_time = EXCLUDED.author_time, subject = EXCLUDED.subject, \
         probability = EXCLUDED.probability, band = EXCLUDED.band, reasons = EXCLUDED.reasons, \
         features = EXCLUDED.features, functions = EXCLUDED.functions, coverage = EXCLUDED.coverage, \
         run_id = EXCLUDED.run_id, uploaded_at = now() \
     WHERE (risk_assessments.parent, risk_assessments.author, risk_assessments.author_time, \
            risk_assessments.subject, risk_assessments.probability, risk_assessments.band, \
            risk_assessments.reasons, risk_assessments.features, risk_assessments.functions, \
            risk_assessments.coverage) \
       IS DISTINCT FROM (EXCLUDED.parent, EXCLUDED.author, EXCLUDED.author_time, EXCLUDED.subject, \
            EXCLUDED.probability, EXCLUDED.band, EXCLUDED.reasons, EXCLUDED.features, EXCLUDED.functions, \
            EXCLUDED.coverage) \
     RETURNING (xmax = 0) AS inserted";

const COLUMNS: &str = "id, repository, revision, model_version, parent, author, author_time, subject, probability, \
     band, reasons, features, functions, coverage, run_id, uploaded_at";

/// A revision's assessments (by id or prefix), newest model first.
fn select_revision() -> String {
    format!(
        "SELECT {COLUMNS} FROM risk_assessments a \
         WHERE repository = $1 AND revision LIKE $2 || '%' \
         ORDER BY (SELECT first_seen FROM risk_models m WHERE m.version = a.model_version) DESC, id DESC LIMIT $3"
    )
}

/// A page of assessments, riskiest first, then most recent, after the cursor `($5, $6, $7)`.
fn select_page() -> String {
    format!(
        "SELECT {COLUMNS} FROM risk_assessments \
         WHERE repository = $1 AND ($2::timestamptz IS NULL OR author_time >= $2) \
           AND ($3::text IS NULL OR band = $3) AND ($4::float8 IS NULL OR probability >= $4) \
           AND ($5::float8 IS NULL OR (probability, author_time, id) < ($5, $6, $7)) \
           AND ($8::text IS NULL OR model_version = $8) \
         ORDER BY probability DESC, author_time DESC, id DESC LIMIT $9"
    )
}

const SELECT_MODELS: &str = "SELECT m.version, m.kind, m.trained_until, m.features, m.evaluation, m.first_seen, \
         count(a.id) AS assessments, COALESCE(max(a.uploaded_at), m.first_seen) AS last_used \
     FROM risk_models m LEFT JOIN risk_assessments a ON a.model_version = m.version \
     GROUP BY m.version ORDER BY m.first_seen DESC, m.version DESC";

const SELECT_REPOSITORIES: &str = "SELECT repository FROM risk_assessments \
     GROUP BY repository ORDER BY max(uploaded_at) DESC LIMIT $1";

/// The repositories that have assessments, the most recently assessed first.
pub async fn repositories(pool: &Pool, limit: i64) -> Result<Vec<String>, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(SELECT_REPOSITORIES).await?;
    Ok(client.query(&statement, &[&limit]).await?.iter().map(|row| row.get(0)).collect())
}

/// Records the upload in one transaction: the model, then each assessment.
pub async fn store(pool: &Pool, upload: &AssessmentUpload) -> Result<AssessmentUploadResult, DbError> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let model = &upload.model;
    let upsert_model = transaction.prepare_cached(UPSERT_MODEL).await?;
    let features = serde_json::to_value(&model.features).unwrap_or(Value::Null);
    transaction
        .execute(&upsert_model, &[&model.version, &model.kind, &model.trained_until, &features, &model.evaluation])
        .await?;
    let upsert = transaction.prepare_cached(UPSERT_ASSESSMENT).await?;
    let mut result = AssessmentUploadResult::default();
    for assessment in &upload.assessments {
        let reasons = serde_json::to_value(&assessment.reasons).unwrap_or(Value::Null);
        let features = Value::Object(assessment.features.clone());
        let functions = serde_json::to_value(&assessment.functions).unwrap_or(Value::Null);
        let coverage =
            assessment.coverage.as_ref().map(|coverage| serde_json::to_value(coverage).unwrap_or(Value::Null));
        let row = transaction
            .query_opt(
                &upsert,
                &[
                    &upload.repository,
                    &assessment.revision,
                    &model.version,
                    &assessment.parent,
                    &assessment.author,
                    &assessment.author_time,
                    &assessment.subject,
                    &assessment.probability,
                    &assessment.band.as_str(),
                    &reasons,
                    &features,
                    &functions,
                    &coverage,
                    &upload.run_id,
                ],
            )
            .await?;
        match row {
            Some(row) if row.get::<_, bool>("inserted") => result.inserted += 1,
            Some(_) => result.updated += 1,
            None => result.unchanged += 1,
        }
    }
    transaction.commit().await?;
    Ok(result)
}

/// The assessments of a revision (a full id or a prefix), newest model first.
pub async fn revision(pool: &Pool, repository: &str, revision: &str, limit: i64) -> Result<Vec<Assessment>, DbError> {
    let client = pool.get().await?;
    let select = client.prepare_cached(&select_revision()).await?;
    let rows = client.query(&select, &[&repository, &revision, &limit]).await?;
    rows.iter().map(to_assessment).collect()
}

/// Filters and the cursor of a page of assessments.
#[derive(Debug, Default)]
pub struct PageQuery<'a> {
    pub repository: &'a str,
    pub since: Option<DateTime<Utc>>,
    pub band: Option<RiskBand>,
    pub min_score: Option<f64>,
    pub model_version: Option<&'a str>,
    /// The last row of the previous page: probability, author time, id.
    pub after: Option<(f64, DateTime<Utc>, i64)>,
    pub limit: i64,
}

/// A page of assessments, riskiest first.
pub async fn page(pool: &Pool, query: &PageQuery<'_>) -> Result<Vec<Assessment>, DbError> {
    let client = pool.get().await?;
    let select = client.prepare_cached(&select_page()).await?;
    let band = query.band.map(RiskBand::as_str);
    let (after_probability, after_time, after_id) = match query.after {
        Some((probability, time, id)) => (Some(probability), Some(time), Some(id)),
        None => (None, None, None),
    };
    let rows = client
        .query(
            &select,
            &[
                &query.repository,
                &query.since,
                &band,
                &query.min_score,
                &after_probability,
                &after_time,
                &after_id,
                &query.model_version,
                &query.limit,
            ],
        )
        .await?;
    rows.iter().map(to_assessment).collect()
}

/// Every model version, newest first, with how many assessments it made.
pub async fn models(pool: &Pool) -> Result<Vec<RiskModel>, DbError> {
    let client = pool.get().await?;
    let select = client.prepare_cached(SELECT_MODELS).await?;
    let rows = client.query(&select, &[]).await?;
    rows.iter()
        .map(|row| {
            let features: Value = row.get("features");
            Ok(RiskModel {
                model: RiskModelInfo {
                    version: row.get("version"),
                    kind: row.get("kind"),
                    trained_until: row.get("trained_until"),
                    features: serde_json::from_value(features).map_err(|error| DbError::Corrupt(error.to_string()))?,
                    evaluation: row.get("evaluation"),
                },
                assessments: row.get("assessments"),
                first_seen: row.get("first_seen"),
                last_used: row.get("last_used"),
            })
        })
        .collect()
}

fn to_assessment(row: &Row) -> Result<Assessment, DbError> {
    let corrupt = |error: serde_json::Error| DbError::Corrupt(error.to_string());
    let band: &str = row.get("band");
    let features: Value = row.get("features");
    let coverage: Option<Value> = row.get("coverage");
    Ok(Assessment {
        id: row.get("id"),
        repository: row.get("repository"),
        model_version: row.get("model_version"),
        assessment: NewAssessment {
            revision: row.get("revision"),
            parent: row.get("parent"),
            author: row.get("author"),
            author_time: row.get("author_time"),
            subject: row.get("subject"),
            probability: row.get("probability"),
            band: RiskBand::parse(band).ok_or_else(|| DbError::Corrupt(format!("risk band `{band}`")))?,
            reasons: serde_json::from_value(row.get("reasons")).map_err(corrupt)?,
            features: match features {
                Value::Object(map) => map,
                other => return Err(DbError::Corrupt(format!("risk features {other}"))),
            },
            functions: serde_json::from_value(row.get("functions")).map_err(corrupt)?,
            coverage: coverage.map(serde_json::from_value).transpose().map_err(corrupt)?,
        },
        run_id: row.get("run_id"),
        uploaded_at: row.get("uploaded_at"),
    })
}
