//! The model: it learns a known signal, its probabilities are calibrated, and it survives a save
//! and a load bit for bit.

use shipit_risk::features::Row;
use shipit_risk::model::{Band, Model, TrainOptions};

/// Changes whose chance of introducing a bug grows with their size and falls with their
/// author's experience (a deterministic pseudo-random draw).
fn synthetic(n: usize) -> (Vec<Row>, Vec<bool>) {
    let mut state: u64 = 42;
    let mut next = move || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n {
        let la = (next() * 6.0).exp().floor();
        let exp = (next() * 7.0).exp().floor();
        let z = 0.9 * (1.0 + la).ln() - 0.5 * (1.0 + exp).ln() - 1.5;
        let p = 1.0 / (1.0 + (-z).exp());
        // Other features are noise, independent of the signal.
        let (ld, nf, age) = ((next() * 4.0).exp().floor(), 1.0 + (next() * 5.0).floor(), next() * 300.0);
        rows.push(Row { commit: format!("{i:040x}"), la, ld, nf, exp, age, author_time: i as i64, ..Row::default() });
        labels.push(next() < p);
    }
    (rows, labels)
}

#[test]
fn the_model_learns_a_known_signal_and_its_probabilities_are_calibrated() {
    let (rows, labels) = synthetic(4_000);
    let refs: Vec<&Row> = rows.iter().collect();
    let model = Model::train(&refs[..3_000], &labels[..3_000], 3_000, &TrainOptions::default()).unwrap();
    let la = model.features.iter().position(|f| f == "la").unwrap();
    let exp = model.features.iter().position(|f| f == "exp").unwrap();
    assert!(model.weights[la] > 0.0 && model.weights[exp] < 0.0, "{:?}", model.weights);

    // On held-out changes, the mean probability is close to the observed rate.
    let test: Vec<f64> = refs[3_000..].iter().map(|row| model.probability(row)).collect();
    let predicted = test.iter().sum::<f64>() / test.len() as f64;
    let observed = labels[3_000..].iter().filter(|l| **l).count() as f64 / 1_000.0;
    assert!((predicted - observed).abs() < 0.05, "predicted {predicted}, observed {observed}");
    let auc = shipit_risk::evaluate::roc_auc(&test, &labels[3_000..]);
    assert!(auc > 0.7, "{auc}");

    // Bands: the high band holds the riskiest tenth of the training changes, at a higher rate.
    assert!(model.bands.high > model.bands.medium);
    assert!(model.bands.rates[2] > model.bands.rates[0], "{:?}", model.bands);
    assert_eq!(model.band(model.bands.high), Band::High);
    assert_eq!(model.band(0.0), Band::Low);
}

#[test]
fn a_saved_model_loads_back_the_same_and_scores_the_same() {
    let (rows, labels) = synthetic(1_000);
    let refs: Vec<&Row> = rows.iter().collect();
    let model = Model::train(&refs, &labels, 1_000, &TrainOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.json");
    model.save(&path).unwrap();
    let loaded = Model::load(&path).unwrap();
    assert_eq!(loaded, model);
    for row in refs.iter().take(50) {
        assert_eq!(loaded.probability(row).to_bits(), model.probability(row).to_bits());
        assert_eq!(loaded.score(row, 3), model.score(row, 3));
    }
    // The reasons say which way each feature pushed, in words.
    let big = Row { la: 5_000.0, exp: 0.0, ..Row::default() };
    let score = model.score(&big, 3);
    assert_eq!(score.up[0].feature, "la");
    assert!(score.up[0].text.starts_with("adds 5000 lines"), "{}", score.up[0].text);
    assert!(score.up[0].text.ends_with("this raises the risk"));

    // Another file, or a model of another format, is refused.
    std::fs::write(&path, "{}").unwrap();
    assert!(Model::load(&path).unwrap_err().to_string().contains("is not a risk model"));
    let mut other = serde_json::to_value(&model).unwrap();
    other["format_version"] = 99.into();
    std::fs::write(&path, other.to_string()).unwrap();
    assert!(Model::load(&path).unwrap_err().to_string().contains("version 99"));
}

#[test]
fn lapredict_is_the_model_on_lines_added_alone() {
    let (rows, labels) = synthetic(1_000);
    let refs: Vec<&Row> = rows.iter().collect();
    let model = Model::train(&refs, &labels, 1_000, &TrainOptions::lapredict()).unwrap();
    assert_eq!(model.features, ["la"]);
    assert!(
        model.probability(&Row { la: 1_000.0, ..Row::default() })
            > model.probability(&Row { la: 1.0, ..Row::default() })
    );
}
