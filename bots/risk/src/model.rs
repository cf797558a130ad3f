//! The risk model: L2-regularised logistic regression (linfa-logistic) on the change features,
//! each `log(1 + x)`-transformed and standardised on the training changes; its probabilities
//! recalibrated with Platt scaling fitted on out-of-fold predictions of the training changes; the
//! risk bands and the decision threshold chosen on those same out-of-fold predictions. Nothing of
//! the changes after the training date is seen.
//!
//! Why this model: it is explainable exactly (a change's log-odds are the sum of one term per
//! feature, so "what pushed it up" is a sum, not an approximation), it trains in milliseconds,
//! and on the iproute2 history it ranks as well as the trees we tried (README, "The risk model").
//!
//! A model is saved as JSON (weights, scaling, calibration, bands, the training distribution of
//! each feature for the explanations) and read back bit for bit.

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::error::RiskError;
use crate::evaluate::{self, Figures};
use crate::features::{DEFAULT_MODEL, NAMES, Row};

/// The format of a model file.
pub const FORMAT: &str = "shipit-risk-model";
pub const FORMAT_VERSION: u32 = 1;

/// How a model is trained.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// The features used, by name ([`DEFAULT_MODEL`] by default, the function counts on
    /// request; `["la"]` is LApredict).
    pub features: Vec<String>,
    /// L2 penalty: the weights' squared norm, halved, times `alpha`, is added to the summed
    /// log-loss (sklearn's `C` is 1 / alpha).
    pub alpha: f64,
    /// Folds of the out-of-fold predictions the calibration, bands and threshold come from.
    pub folds: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self { features: DEFAULT_MODEL.iter().map(|name| (*name).to_owned()).collect(), alpha: 10.0, folds: 5 }
    }
}

impl TrainOptions {
    /// Lines added alone: Zeng et al.'s LApredict baseline.
    pub fn lapredict() -> Self {
        Self { features: vec!["la".to_owned()], ..Self::default() }
    }
}

/// A trained model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub format: String,
    pub format_version: u32,
    /// A name for this model: the training date and a digest of its parameters.
    pub version: String,
    pub kind: String,
    pub features: Vec<String>,
    /// Per feature: mean and standard deviation of `ln(1 + x)` on the training changes.
    pub means: Vec<f64>,
    pub scales: Vec<f64>,
    pub weights: Vec<f64>,
    pub intercept: f64,
    /// Platt scaling of the log-odds: p = σ(a · z + b).
    pub calibration: Calibration,
    pub bands: Bands,
    /// The probability at or above which a change is called risky (best F1 out of fold).
    pub threshold: f64,
    pub training: TrainingSummary,
    /// Per feature, the 0th, 1st, …, 100th percentiles of the training changes' raw values.
    pub percentiles: Vec<Vec<f64>>,
    /// How well it did on the changes after its training date, when it was evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<serde_json::Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub a: f64,
    pub b: f64,
}

/// Probabilities from `medium` up are medium risk, from `high` up high risk.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bands {
    pub medium: f64,
    pub high: f64,
    /// The share of bug-introducing changes in each band (low, medium, high), out of fold.
    pub rates: [f64; 3],
    /// The share of training changes in each band.
    pub shares: [f64; 3],
}

/// What a model was trained on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// Changes authored before this time (seconds) and labels known before it.
    pub until: i64,
    pub changes: usize,
    pub positives: usize,
    pub base_rate: f64,
    /// Out-of-fold figures on the training changes.
    pub cross_validation: Figures,
}

/// The risk band of a probability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    Low,
    Medium,
    High,
}

impl Band {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

/// A feature's part in one score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub feature: String,
    pub value: f64,
    /// Its term of the log-odds (positive: it pushed the risk up).
    pub contribution: f64,
    /// What it means, in words.
    pub text: String,
}

/// One change's score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub probability: f64,
    pub band: Band,
    /// The features that pushed the score up the most, then those that pushed it down the most.
    pub up: Vec<Reason>,
    pub down: Vec<Reason>,
}

fn transform(value: f64) -> f64 {
    value.max(0.0).ln_1p()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The columns of `features` for each row.
fn columns(features: &[String]) -> Result<Vec<usize>, RiskError> {
    features
        .iter()
        .map(|name| {
            NAMES
                .iter()
                .position(|known| known == name)
                .ok_or_else(|| RiskError::Invalid(format!("unknown feature `{name}` (known: {})", NAMES.join(", "))))
        })
        .collect()
}

/// A plain logistic regression on standardised, log-transformed features.
struct Linear {
    means: Vec<f64>,
    scales: Vec<f64>,
    weights: Vec<f64>,
    intercept: f64,
}

impl Linear {
    fn fit(rows: &[&Row], labels: &[bool], columns: &[usize], alpha: f64) -> Result<Self, RiskError> {
        let n = rows.len();
        let positives = labels.iter().filter(|label| **label).count();
        if positives == 0 || positives == n {
            return Err(RiskError::Training(format!(
                "{n} changes with {positives} bug-introducing: both kinds are needed"
            )));
        }
        let raw: Vec<Vec<f64>> = rows
            .iter()
            .map(|row| {
                let values = row.values();
                columns.iter().map(|c| transform(values[*c])).collect()
            })
            .collect();
        let k = columns.len();
        let mut means = vec![0.0; k];
        let mut scales = vec![0.0; k];
        for j in 0..k {
            means[j] = raw.iter().map(|x| x[j]).sum::<f64>() / n as f64;
            let variance = raw.iter().map(|x| (x[j] - means[j]).powi(2)).sum::<f64>() / n as f64;
            scales[j] = if variance > 1e-12 { variance.sqrt() } else { 1.0 };
        }
        let mut records = Array2::<f64>::zeros((n, k));
        for (i, x) in raw.iter().enumerate() {
            for j in 0..k {
                records[[i, j]] = (x[j] - means[j]) / scales[j];
            }
        }
        let targets: Array1<bool> = labels.iter().copied().collect();
        let dataset = linfa::Dataset::new(records, targets);
        let fitted = LogisticRegression::default()
            .alpha(alpha)
            .max_iterations(400)
            .gradient_tolerance(1e-7)
            .fit(&dataset)
            .map_err(|error| RiskError::Training(format!("logistic regression: {error}")))?;
        // linfa's positive class is the larger one; the model's is "introduces a bug".
        let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
        Ok(Self {
            means,
            scales,
            weights: fitted.params().iter().map(|weight| sign * weight).collect(),
            intercept: sign * fitted.intercept(),
        })
    }

    fn terms(&self, row: &Row, columns: &[usize]) -> Vec<f64> {
        let values = row.values();
        columns
            .iter()
            .enumerate()
            .map(|(j, column)| self.weights[j] * (transform(values[*column]) - self.means[j]) / self.scales[j])
            .collect()
    }

    fn log_odds(&self, row: &Row, columns: &[usize]) -> f64 {
        self.intercept + self.terms(row, columns).iter().sum::<f64>()
    }
}

/// Platt scaling: the a, b of σ(a · z + b) best fitting `labels`, by Newton's method on the
/// log-loss with Platt's smoothed targets.
fn platt(z: &[f64], labels: &[bool]) -> Calibration {
    let positives = labels.iter().filter(|label| **label).count() as f64;
    let negatives = labels.len() as f64 - positives;
    let high = (positives + 1.0) / (positives + 2.0);
    let low = 1.0 / (negatives + 2.0);
    let targets: Vec<f64> = labels.iter().map(|label| if *label { high } else { low }).collect();
    let (mut a, mut b) = (1.0, 0.0);
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 1e-9, 0.0, 1e-9);
        for (x, t) in z.iter().zip(&targets) {
            let p = sigmoid(a * x + b);
            let d = p - t;
            let w = p * (1.0 - p);
            ga += d * x;
            gb += d;
            haa += w * x * x;
            hab += w * x;
            hbb += w;
        }
        let determinant = haa * hbb - hab * hab;
        if determinant.abs() < 1e-15 {
            break;
        }
        let da = (hbb * ga - hab * gb) / determinant;
        let db = (haa * gb - hab * ga) / determinant;
        a -= da;
        b -= db;
        if da.abs() < 1e-10 && db.abs() < 1e-10 {
            break;
        }
    }
    Calibration { a, b }
}

/// The `q`th quantile (0..=1) of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let position = q * (sorted.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64)
}

impl Model {
    /// Trains on `rows` with their `labels`; `until` is recorded as the training date.
    pub fn train(rows: &[&Row], labels: &[bool], until: i64, options: &TrainOptions) -> Result<Self, RiskError> {
        let columns = columns(&options.features)?;
        let folds = options.folds.max(2);
        if rows.len() < folds * 10 {
            return Err(RiskError::Training(format!("{} changes are too few to train on", rows.len())));
        }
        // Out-of-fold log-odds: folds of consecutive changes, so each fold is predicted by a
        // model that did not see its neighbours in time either.
        let mut out_of_fold = vec![0.0; rows.len()];
        let fold_size = rows.len().div_ceil(folds);
        for fold in 0..folds {
            let (start, end) = (fold * fold_size, ((fold + 1) * fold_size).min(rows.len()));
            let train_rows: Vec<&Row> = rows[..start].iter().chain(&rows[end..]).copied().collect();
            let train_labels: Vec<bool> = labels[..start].iter().chain(&labels[end..]).copied().collect();
            let linear = Linear::fit(&train_rows, &train_labels, &columns, options.alpha)?;
            for i in start..end {
                out_of_fold[i] = linear.log_odds(rows[i], &columns);
            }
        }
        let calibration = platt(&out_of_fold, labels);
        let calibrated: Vec<f64> = out_of_fold.iter().map(|z| sigmoid(calibration.a * z + calibration.b)).collect();
        let threshold = evaluate::best_f1_threshold(&calibrated, labels);
        let effort: Vec<f64> = rows.iter().map(|row| row.effort()).collect();
        let cross_validation = evaluate::figures(&calibrated, labels, &effort, threshold);
        let bands = choose_bands(&calibrated, labels);

        let linear = Linear::fit(rows, labels, &columns, options.alpha)?;
        let percentiles = columns
            .iter()
            .map(|column| {
                let mut values: Vec<f64> = rows.iter().map(|row| row.values()[*column]).collect();
                values.sort_by(f64::total_cmp);
                (0..=100).map(|q| quantile(&values, f64::from(q) / 100.0)).collect()
            })
            .collect();
        let positives = labels.iter().filter(|label| **label).count();
        let mut model = Self {
            format: FORMAT.to_owned(),
            format_version: FORMAT_VERSION,
            version: String::new(),
            kind: "logistic-regression".to_owned(),
            features: options.features.clone(),
            means: linear.means,
            scales: linear.scales,
            weights: linear.weights,
            intercept: linear.intercept,
            calibration,
            bands,
            threshold,
            training: TrainingSummary {
                until,
                changes: rows.len(),
                positives,
                base_rate: positives as f64 / rows.len() as f64,
                cross_validation,
            },
            percentiles,
            evaluation: None,
        };
        model.version = model.digest();
        Ok(model)
    }

    /// `<training date>-<first 8 hex digits of the SHA-256 of the parameters>`.
    fn digest(&self) -> String {
        let mut hasher = sha2::Sha256::new();
        for value in self.means.iter().chain(&self.scales).chain(&self.weights).chain([
            &self.intercept,
            &self.calibration.a,
            &self.calibration.b,
        ]) {
            hasher.update(value.to_le_bytes());
        }
        for feature in &self.features {
            hasher.update(feature.as_bytes());
        }
        let date = chrono::DateTime::<chrono::Utc>::from_timestamp(self.training.until, 0)
            .map_or_else(|| "undated".to_owned(), |time| time.format("%Y%m%d").to_string());
        format!("{date}-{}", &hex::encode(hasher.finalize())[..8])
    }

    fn columns(&self) -> Result<Vec<usize>, RiskError> {
        columns(&self.features)
    }

    fn linear(&self) -> Linear {
        Linear {
            means: self.means.clone(),
            scales: self.scales.clone(),
            weights: self.weights.clone(),
            intercept: self.intercept,
        }
    }

    /// The calibrated probability that a change introduces a bug.
    pub fn probability(&self, row: &Row) -> f64 {
        let columns = self.columns().unwrap_or_default();
        let z = self.linear().log_odds(row, &columns);
        sigmoid(self.calibration.a * z + self.calibration.b)
    }

    pub fn band(&self, probability: f64) -> Band {
        if probability >= self.bands.high {
            Band::High
        } else if probability >= self.bands.medium {
            Band::Medium
        } else {
            Band::Low
        }
    }

    /// The probability, the band and the reasons: the `reasons` features that pushed it up the
    /// most and those that pushed it down the most.
    pub fn score(&self, row: &Row, reasons: usize) -> Score {
        let columns = self.columns().unwrap_or_default();
        let linear = self.linear();
        let terms = linear.terms(row, &columns);
        let z = linear.intercept + terms.iter().sum::<f64>();
        let probability = sigmoid(self.calibration.a * z + self.calibration.b);
        let values = row.values();
        let mut parts: Vec<Reason> = columns
            .iter()
            .enumerate()
            .map(|(j, column)| {
                // Calibration scales every term alike.
                let contribution = self.calibration.a * terms[j];
                let value = values[*column];
                let text = explain(&self.features[j], value, percentile(&self.percentiles[j], value), contribution);
                Reason { feature: self.features[j].clone(), value, contribution, text }
            })
            .collect();
        parts.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
        let up: Vec<Reason> = parts.iter().filter(|part| part.contribution > 0.05).take(reasons).cloned().collect();
        let down: Vec<Reason> =
            parts.iter().rev().filter(|part| part.contribution < -0.05).take(reasons).cloned().collect();
        Score { probability, band: self.band(probability), up, down }
    }

    /// Writes the model as JSON.
    pub fn save(&self, path: &std::path::Path) -> Result<(), RiskError> {
        let text = serde_json::to_string_pretty(self).map_err(|error| RiskError::Invalid(error.to_string()))?;
        std::fs::write(path, text + "\n")
            .map_err(|error| RiskError::io(format!("cannot write {}", path.display()), error))
    }

    /// Reads a model written by [`Model::save`].
    pub fn load(path: &std::path::Path) -> Result<Self, RiskError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| RiskError::io(format!("cannot read {}", path.display()), error))?;
        let model: Self = serde_json::from_str(&text)
            .map_err(|error| RiskError::Invalid(format!("{} is not a risk model: {error}", path.display())))?;
        if model.format != FORMAT || model.format_version != FORMAT_VERSION {
            return Err(RiskError::Invalid(format!(
                "{} is a {} model of version {}, not {FORMAT} {FORMAT_VERSION}",
                path.display(),
                model.format,
                model.format_version
            )));
        }
        let k = model.features.len();
        if [model.means.len(), model.scales.len(), model.weights.len(), model.percentiles.len()]
            .iter()
            .any(|len| *len != k)
        {
            return Err(RiskError::Invalid(format!(
                "{}: its parameters do not match its {k} features",
                path.display()
            )));
        }
        model.columns()?;
        Ok(model)
    }
}

/// Bands from out-of-fold probabilities: the riskiest 10% of training changes are high, the
/// next 30% medium, the rest low.
fn choose_bands(probabilities: &[f64], labels: &[bool]) -> Bands {
    let mut sorted = probabilities.to_vec();
    sorted.sort_by(f64::total_cmp);
    let medium = quantile(&sorted, 0.60);
    let high = quantile(&sorted, 0.90).max(medium);
    let mut counts = [0usize; 3];
    let mut bugs = [0usize; 3];
    for (probability, label) in probabilities.iter().zip(labels) {
        let band = if *probability >= high {
            2
        } else if *probability >= medium {
            1
        } else {
            0
        };
        counts[band] += 1;
        bugs[band] += usize::from(*label);
    }
    let n = probabilities.len().max(1) as f64;
    Bands {
        medium,
        high,
        rates: std::array::from_fn(
            |band| if counts[band] == 0 { 0.0 } else { bugs[band] as f64 / counts[band] as f64 },
        ),
        shares: std::array::from_fn(|band| counts[band] as f64 / n),
    }
}

/// Where `value` falls among the training changes, in percent (0–100).
fn percentile(percentiles: &[f64], value: f64) -> f64 {
    let below = percentiles.iter().filter(|p| **p < value).count();
    let at_or_below = percentiles.iter().filter(|p| **p <= value).count();
    let middle = (below + at_or_below) as f64 / 2.0;
    (middle / percentiles.len().max(1) as f64 * 100.0).clamp(0.0, 100.0)
}

/// A reason in words: what the feature says of this change, how it compares with the training
/// changes, and which way it pushed.
pub fn explain(feature: &str, value: f64, percentile: f64, contribution: f64) -> String {
    let n = crate::output::number((value * 10.0).round() / 10.0);
    let plural = |one: &str, many: &str| if value == 1.0 { one.to_owned() } else { many.to_owned() };
    let what = match feature {
        "la" => format!("adds {n} {}", plural("line", "lines")),
        "ld" => format!("deletes {n} {}", plural("line", "lines")),
        "lt" => format!("touches files of {n} lines in all"),
        "nf" => format!("changes {n} {}", plural("file", "files")),
        "nd" => format!("changes files in {n} {}", plural("directory", "directories")),
        "ns" => format!("spans {n} {}", plural("subsystem", "subsystems")),
        "entropy" if value == 0.0 => "keeps its changes in one file".to_owned(),
        "entropy" => format!("spreads its changes across files (entropy {n} bits)"),
        "fix" if value > 0.0 => "is a fix (fixes are often fixed again)".to_owned(),
        "fix" => "is not a fix".to_owned(),
        "ndev" => format!("its files were changed by {n} {} before", plural("developer", "developers")),
        "age" => format!("its files were last changed {n} days before, on average"),
        "nuc" => format!("its files had {n} earlier {}", plural("change", "changes")),
        "exp" => format!("its author made {n} earlier {}", plural("change", "changes")),
        "rexp" => format!("its author's recent experience is {n} (earlier changes, weighted by recency)"),
        "sexp" => format!("its author made {n} earlier {} in these subsystems", plural("change", "changes")),
        "fa" => format!("adds {n} {}", plural("function", "functions")),
        "fr" => format!("removes {n} {}", plural("function", "functions")),
        "fm" => format!("modifies {n} {}", plural("function", "functions")),
        "la_code" => format!("adds {n} {} of code", plural("line", "lines")),
        "ld_code" => format!("deletes {n} {} of code", plural("line", "lines")),
        "nf_code" => format!("changes {n} source {}", plural("file", "files")),
        "doc" => format!("changes {n} {} of documentation", plural("line", "lines")),
        "new_files" => format!("adds {n} new {}", plural("file", "files")),
        "feature" if value > 0.0 => "says it adds something (a feature, support, a new option)".to_owned(),
        "feature" => "does not say it adds a feature".to_owned(),
        "cleanup" if value > 0.0 => "says it is a cleanup (style, whitespace, typos, comments)".to_owned(),
        "cleanup" => "is not a cleanup".to_owned(),
        "pbug" => format!("its files' earlier changes include {n} known to have introduced a bug"),
        "frate" => format!("{n}% of its files' earlier changes are known to have introduced a bug"),
        "abug" => format!("its author's earlier changes include {n} known to have introduced a bug"),
        "arate" => format!("{n}% of its author's earlier changes are known to have introduced a bug"),
        other => format!("{other} is {n}"),
    };
    if matches!(feature, "fix" | "feature" | "cleanup") || (feature == "entropy" && value == 0.0) {
        let direction = if contribution >= 0.0 { "raises" } else { "lowers" };
        return format!("{what}; this {direction} the risk");
    }
    let rank = if percentile >= 50.0 {
        format!("more than {:.0}% of changes", percentile.min(99.0))
    } else {
        format!("less than {:.0}% of changes", (100.0 - percentile).min(99.0))
    };
    let direction = if contribution >= 0.0 { "raises" } else { "lowers" };
    format!("{what} ({rank}); this {direction} the risk")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platt_scaling_recovers_a_known_calibration() {
        // Outcomes drawn with p = σ(2z − 1) on a grid of z: the fit lands near (2, −1).
        let mut z = Vec::new();
        let mut labels = Vec::new();
        for step in 0..400 {
            let x = f64::from(step) / 100.0 - 2.0;
            let p = sigmoid(2.0 * x - 1.0);
            for k in 0..20 {
                z.push(x);
                labels.push(f64::from(k) < (p * 20.0).round());
            }
        }
        let calibration = platt(&z, &labels);
        assert!((calibration.a - 2.0).abs() < 0.25, "{calibration:?}");
        assert!((calibration.b + 1.0).abs() < 0.25, "{calibration:?}");
    }

    #[test]
    fn explanations_read_as_sentences() {
        assert_eq!(explain("la", 245.0, 92.0, 0.8), "adds 245 lines (more than 92% of changes); this raises the risk");
        assert_eq!(
            explain("exp", 1.0, 10.0, 0.3),
            "its author made 1 earlier change (less than 90% of changes); this raises the risk"
        );
        assert_eq!(explain("fix", 0.0, 20.0, -0.2), "is not a fix; this lowers the risk");
    }
}
