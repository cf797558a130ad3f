//! The time-ordered split: train on the changes authored strictly before the date, labelled with
//! what was known before it (an introducing commit counts only once its fix had landed before the
//! date); test on the changes from the date on, labelled with everything known today.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;
use crate::error::RiskError;
use crate::evaluate::{self, Figures};
use crate::features::Row;
use crate::labels::Labels;
use crate::model::{Model, TrainOptions};

/// The two sides of a split.
pub struct Split<'a> {
    pub train_rows: Vec<&'a Row>,
    pub train_labels: Vec<bool>,
    pub test_rows: Vec<&'a Row>,
    pub test_labels: Vec<bool>,
}

/// Splits the dataset at `date` (seconds).
pub fn split<'a>(dataset: &'a Dataset, labels: &Labels, date: i64) -> Split<'a> {
    let known: BTreeMap<&str, i64> = labels.known_at();
    let mut split =
        Split { train_rows: Vec::new(), train_labels: Vec::new(), test_rows: Vec::new(), test_labels: Vec::new() };
    for row in &dataset.rows {
        let fixed_at = known.get(row.commit.as_str());
        if row.author_time < date {
            split.train_rows.push(row);
            split.train_labels.push(fixed_at.is_some_and(|time| *time < date));
        } else {
            split.test_rows.push(row);
            split.test_labels.push(fixed_at.is_some());
        }
    }
    split
}

/// The labels of the training side only (what `train --until` learns from); fills the
/// label-history features first.
pub fn training<'a>(dataset: &'a mut Dataset, labels: &Labels, until: i64) -> (Vec<&'a Row>, Vec<bool>) {
    labels.add_history_to(dataset);
    let split = split(&*dataset, labels, until);
    (split.train_rows, split.train_labels)
}

/// The counts of one side.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Side {
    pub changes: usize,
    pub positives: usize,
}

/// Band rates of a model on the test side.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BandFigures {
    pub band: String,
    pub changes: usize,
    pub positives: usize,
    pub rate: f64,
}

/// What `evaluate` prints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The split date, `YYYY-MM-DD` or as given.
    pub split: String,
    pub train: Side,
    pub test: Side,
    pub model_version: String,
    pub model: Figures,
    /// Logistic regression on `la` alone, on the same split.
    pub lapredict: Figures,
    /// The model's bands on the test side.
    pub bands: Vec<BandFigures>,
}

/// Trains the model and LApredict before `date` and measures both after it.
pub fn evaluate(
    dataset: &mut Dataset,
    labels: &Labels,
    date: i64,
    label: &str,
    options: &TrainOptions,
) -> Result<(Model, Evaluation), RiskError> {
    labels.add_history_to(dataset);
    let dataset = &*dataset;
    let split = split(dataset, labels, date);
    if !split.test_labels.iter().any(|label| *label) {
        return Err(RiskError::Training(format!(
            "no bug-introducing change is known after {label}: nothing to evaluate"
        )));
    }
    let model = Model::train(&split.train_rows, &split.train_labels, date, options)?;
    let baseline = Model::train(
        &split.train_rows,
        &split.train_labels,
        date,
        &TrainOptions { features: vec!["la".into()], ..options.clone() },
    )?;
    let effort: Vec<f64> = split.test_rows.iter().map(|row| row.effort()).collect();
    let model_p: Vec<f64> = split.test_rows.iter().map(|row| model.probability(row)).collect();
    let baseline_p: Vec<f64> = split.test_rows.iter().map(|row| baseline.probability(row)).collect();
    let mut bands: Vec<BandFigures> = ["low", "medium", "high"]
        .iter()
        .map(|band| BandFigures { band: (*band).to_owned(), ..BandFigures::default() })
        .collect();
    for (probability, label) in model_p.iter().zip(&split.test_labels) {
        let band = &mut bands[model.band(*probability) as usize];
        band.changes += 1;
        band.positives += usize::from(*label);
    }
    for band in &mut bands {
        band.rate = if band.changes == 0 { 0.0 } else { band.positives as f64 / band.changes as f64 };
    }
    let evaluation = Evaluation {
        split: label.to_owned(),
        train: Side { changes: split.train_rows.len(), positives: split.train_labels.iter().filter(|l| **l).count() },
        test: Side { changes: split.test_rows.len(), positives: split.test_labels.iter().filter(|l| **l).count() },
        model_version: model.version.clone(),
        model: evaluate::figures(&model_p, &split.test_labels, &effort, model.threshold),
        lapredict: evaluate::figures(&baseline_p, &split.test_labels, &effort, baseline.threshold),
        bands,
    };
    Ok((model, evaluation))
}

/// The evaluation as a table for people.
pub fn render(evaluation: &Evaluation) -> String {
    let mut text = format!(
        "split {}: train {} changes ({} bug-introducing known before the split), test {} changes ({} bug-introducing)\nmodel {}\n\n",
        evaluation.split,
        evaluation.train.changes,
        evaluation.train.positives,
        evaluation.test.changes,
        evaluation.test.positives,
        evaluation.model_version
    );
    text.push_str("                      model   LApredict\n");
    let rows: [(&str, f64, f64); 7] = [
        ("ROC AUC", evaluation.model.roc_auc, evaluation.lapredict.roc_auc),
        ("Popt", evaluation.model.popt, evaluation.lapredict.popt),
        (
            "recall@20% effort",
            evaluation.model.recall_at_20_percent_effort,
            evaluation.lapredict.recall_at_20_percent_effort,
        ),
        ("threshold", evaluation.model.threshold, evaluation.lapredict.threshold),
        ("precision", evaluation.model.precision, evaluation.lapredict.precision),
        ("recall", evaluation.model.recall, evaluation.lapredict.recall),
        ("F1", evaluation.model.f1, evaluation.lapredict.f1),
    ];
    for (name, model, baseline) in rows {
        text.push_str(&format!("{name:<20} {model:>7.3} {baseline:>11.3}\n"));
    }
    text.push_str("\nbands on the test changes:\n");
    for band in &evaluation.bands {
        text.push_str(&format!(
            "{:<7} {:>6} changes {:>5} bug-introducing ({:.1}%)\n",
            band.band,
            band.changes,
            band.positives,
            band.rate * 100.0
        ));
    }
    text
}
