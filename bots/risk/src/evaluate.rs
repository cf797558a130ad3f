//! The figures a model is judged by, on changes whose labels are known: ROC AUC, Popt and recall at
//! 20% of the changed lines (effort-aware: changes inspected riskiest per changed line first,
//! effort = lines added + deleted), and precision, recall and F1 at a threshold.

use serde::{Deserialize, Serialize};

/// The figures of one model on one set of changes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub changes: usize,
    pub positives: usize,
    pub roc_auc: f64,
    pub popt: f64,
    /// Share of the bug-introducing changes found inspecting 20% of the changed lines.
    pub recall_at_20_percent_effort: f64,
    pub threshold: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// All the figures of `probabilities` against `labels`, `effort` per change.
pub fn figures(probabilities: &[f64], labels: &[bool], effort: &[f64], threshold: f64) -> Figures {
    let (precision, recall, f1) = precision_recall_f1(probabilities, labels, threshold);
    Figures {
        changes: labels.len(),
        positives: labels.iter().filter(|label| **label).count(),
        roc_auc: roc_auc(probabilities, labels),
        popt: popt(probabilities, labels, effort),
        recall_at_20_percent_effort: recall_at_effort(probabilities, labels, effort, 0.2),
        threshold,
        precision,
        recall,
        f1,
    }
}

/// The area under the ROC curve: the chance that a random positive scores above a random
/// negative, ties counting half (Mann–Whitney, average ranks).
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> f64 {
    let positives = labels.iter().filter(|label| **label).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return f64::NAN;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        // Ranks start..end (1-based start+1..=end) share their average.
        let average = (start + 1 + end) as f64 / 2.0;
        rank_sum += average * order[start..end].iter().filter(|index| labels[**index]).count() as f64;
        start = end;
    }
    let positives = positives as f64;
    (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives as f64)
}

/// The changes in inspection order: highest score per unit of effort first (ties: less effort
/// first).
fn inspection_order(scores: &[f64], effort: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| {
        (scores[*b] / effort[*b]).total_cmp(&(scores[*a] / effort[*a])).then(effort[*a].total_cmp(&effort[*b]))
    });
    order
}

/// The area under the curve of bugs found against effort spent, both as shares, inspecting in
/// `order`.
fn effort_area(order: &[usize], labels: &[bool], effort: &[f64]) -> f64 {
    let total_effort: f64 = effort.iter().sum();
    let total_bugs = labels.iter().filter(|label| **label).count() as f64;
    let (mut area, mut x, mut y) = (0.0, 0.0, 0.0);
    for &index in order {
        let next_x = x + effort[index] / total_effort;
        let next_y = y + if labels[index] { 1.0 / total_bugs } else { 0.0 };
        area += (next_x - x) * (y + next_y) / 2.0;
        (x, y) = (next_x, next_y);
    }
    area
}

/// Popt (Kamei et al. 2013): 1 − (optimal area − model area) / (optimal area − worst area), the
/// optimal order inspecting the bug-introducing changes first, smallest first, and the worst the
/// reverse.
pub fn popt(scores: &[f64], labels: &[bool], effort: &[f64]) -> f64 {
    if !labels.iter().any(|label| *label) || labels.iter().all(|label| *label) {
        return f64::NAN;
    }
    let truth: Vec<f64> = labels.iter().map(|label| f64::from(u8::from(*label))).collect();
    let optimal = effort_area(&inspection_order(&truth, effort), labels, effort);
    let mut worst_order = inspection_order(&truth, effort);
    worst_order.reverse();
    let worst = effort_area(&worst_order, labels, effort);
    let model = effort_area(&inspection_order(scores, effort), labels, effort);
    1.0 - (optimal - model) / (optimal - worst)
}

/// The share of bug-introducing changes found inspecting, in the model's order, changes until
/// `share` of all changed lines.
pub fn recall_at_effort(scores: &[f64], labels: &[bool], effort: &[f64], share: f64) -> f64 {
    let total_effort: f64 = effort.iter().sum();
    let total_bugs = labels.iter().filter(|label| **label).count();
    if total_bugs == 0 {
        return f64::NAN;
    }
    let (mut spent, mut found) = (0.0, 0usize);
    for index in inspection_order(scores, effort) {
        if spent + effort[index] > share * total_effort {
            break;
        }
        spent += effort[index];
        found += usize::from(labels[index]);
    }
    found as f64 / total_bugs as f64
}

/// Precision, recall and F1 of "risky" meaning a probability at or above `threshold`.
pub fn precision_recall_f1(probabilities: &[f64], labels: &[bool], threshold: f64) -> (f64, f64, f64) {
    let (mut tp, mut fp, mut fn_) = (0.0, 0.0, 0.0);
    for (probability, label) in probabilities.iter().zip(labels) {
        match (*probability >= threshold, *label) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fn_ += 1.0,
            (false, false) => {}
        }
    }
    let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
    let recall = if tp + fn_ > 0.0 { tp / (tp + fn_) } else { 0.0 };
    let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
    (precision, recall, f1)
}

/// The threshold with the best F1 on these probabilities (the lowest of equals).
pub fn best_f1_threshold(probabilities: &[f64], labels: &[bool]) -> f64 {
    let mut candidates: Vec<f64> = probabilities.to_vec();
    candidates.sort_by(f64::total_cmp);
    candidates.dedup();
    let step = (candidates.len() / 400).max(1);
    let mut best = (f64::NEG_INFINITY, 0.5);
    for threshold in candidates.iter().step_by(step) {
        let (_, _, f1) = precision_recall_f1(probabilities, labels, *threshold);
        if f1 > best.0 {
            best = (f1, *threshold);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_is_one_for_a_perfect_order_half_for_ties_and_zero_reversed() {
        let labels = [false, false, true, true];
        assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &labels), 1.0);
        assert_eq!(roc_auc(&[0.5; 4], &labels), 0.5);
        assert_eq!(roc_auc(&[0.9, 0.8, 0.2, 0.1], &labels), 0.0);
        assert_eq!(roc_auc(&[0.1, 0.3, 0.2, 0.4], &labels), 0.75);
    }

    #[test]
    fn popt_is_one_for_the_optimal_order_and_zero_for_the_worst() {
        let labels = [true, false, true, false];
        let effort = [10.0, 10.0, 30.0, 50.0];
        let optimal = [1.0, 0.0, 1.0, 0.0];
        assert!((popt(&optimal, &labels, &effort) - 1.0).abs() < 1e-12);
        let worst = [0.0, 1.0, 0.0, 1.0];
        assert!(popt(&worst, &labels, &effort) < 0.2);
    }

    #[test]
    fn recall_at_effort_counts_what_fits_in_the_budget() {
        let labels = [true, false, true];
        let effort = [10.0, 10.0, 80.0];
        // 20 lines of 100: the first two changes in order.
        assert_eq!(recall_at_effort(&[0.9, 0.5, 0.8], &labels, &effort, 0.2), 0.5);
    }

    #[test]
    fn f1_and_its_best_threshold() {
        let labels = [false, true, true, false];
        let probabilities = [0.1, 0.7, 0.6, 0.65];
        assert_eq!(precision_recall_f1(&probabilities, &labels, 0.6), (2.0 / 3.0, 1.0, 0.8));
        assert_eq!(best_f1_threshold(&probabilities, &labels), 0.6);
    }
}
