//! Evaluation metrics for probability forecasts: ROC-AUC, Brier, log-loss, ECE and
//! precision/recall at the high-risk threshold. `y` is 1.0 for the positive class (lost).
use serde::{Deserialize, Serialize};

/// ROC-AUC via the rank-sum statistic with average ranks for ties; `None` if a class is absent.
pub fn roc_auc(y: &[f64], score: &[f64]) -> Option<f64> {
    let mut idx: Vec<usize> = (0..y.len()).collect();
    idx.sort_by(|&a, &b| score[a].total_cmp(&score[b]));
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && score[idx[j + 1]] == score[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_pos += idx[i..=j].iter().filter(|&&k| y[k] > 0.5).count() as f64 * avg_rank;
        i = j + 1;
    }
    let n_pos = y.iter().filter(|&&v| v > 0.5).count() as f64;
    let n_neg = y.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return None;
    }
    Some((rank_sum_pos - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg))
}

pub fn brier(y: &[f64], p: &[f64]) -> f64 {
    mean(y.iter().zip(p).map(|(y, p)| (p - y) * (p - y)), y.len())
}

pub fn log_loss(y: &[f64], p: &[f64]) -> f64 {
    mean(
        y.iter().zip(p).map(|(y, p)| {
            let p = p.clamp(1e-15, 1.0 - 1e-15);
            -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
        }),
        y.len(),
    )
}

/// Expected calibration error over 10 equal-width bins of p.
pub fn ece(y: &[f64], p: &[f64]) -> f64 {
    let mut bins = [(0usize, 0.0f64, 0.0f64); 10];
    for (y, p) in y.iter().zip(p) {
        let b = ((p * 10.0) as usize).min(9);
        bins[b].0 += 1;
        bins[b].1 += p;
        bins[b].2 += y;
    }
    let n = y.len().max(1) as f64;
    bins.iter()
        .filter(|b| b.0 > 0)
        .map(|&(c, sp, sy)| c as f64 / n * (sp / c as f64 - sy / c as f64).abs())
        .sum()
}

fn mean(it: impl Iterator<Item = f64>, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        it.sum::<f64>() / n as f64
    }
}

/// Precision/recall/F1 of "flagged high or critical" (risk score > 50) against "was lost".
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prf {
    pub flagged: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

pub fn high_risk_prf(y: &[f64], p_lost: &[f64]) -> Prf {
    let flagged = |p: f64| (p * 100.0).round() > 50.0;
    let tp = y
        .iter()
        .zip(p_lost)
        .filter(|(y, p)| **y > 0.5 && flagged(**p))
        .count() as f64;
    let n_flag = p_lost.iter().filter(|p| flagged(**p)).count();
    let n_pos = y.iter().filter(|y| **y > 0.5).count() as f64;
    let precision = if n_flag == 0 { 0.0 } else { tp / n_flag as f64 };
    let recall = if n_pos == 0.0 { 0.0 } else { tp / n_pos };
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    Prf {
        flagged: n_flag,
        precision,
        recall,
        f1,
    }
}

/// All forecast metrics on one evaluation set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastMetrics {
    pub n: usize,
    pub roc_auc: Option<f64>,
    pub brier: f64,
    pub log_loss: f64,
    pub ece: f64,
    pub high_risk: Prf,
}

pub fn evaluate(y: &[f64], p_lost: &[f64]) -> ForecastMetrics {
    ForecastMetrics {
        n: y.len(),
        roc_auc: roc_auc(y, p_lost),
        brier: brier(y, p_lost),
        log_loss: log_loss(y, p_lost),
        ece: ece(y, p_lost),
        high_risk: high_risk_prf(y, p_lost),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_matches_the_textbook_example_and_handles_ties() {
        let auc = roc_auc(&[0.0, 0.0, 1.0, 1.0], &[0.1, 0.4, 0.35, 0.8]).unwrap();
        assert!((auc - 0.75).abs() < 1e-12);
        let tied = roc_auc(&[0.0, 1.0], &[0.5, 0.5]).unwrap();
        assert!((tied - 0.5).abs() < 1e-12, "a tie counts half");
        assert_eq!(roc_auc(&[1.0, 1.0], &[0.2, 0.3]), None, "one class only");
    }

    #[test]
    fn brier_ece_and_precision_recall_on_small_cases() {
        let y = [1.0, 0.0, 1.0, 0.0];
        let p = [0.9, 0.2, 0.6, 0.7];
        assert!((brier(&y, &p) - (0.01 + 0.04 + 0.16 + 0.49) / 4.0).abs() < 1e-12);
        assert!(
            ece(&[1.0, 0.0], &[0.5, 0.5]) < 1e-12,
            "perfectly calibrated bin"
        );
        assert!((ece(&[1.0, 1.0], &[0.25, 0.25]) - 0.75).abs() < 1e-12);
        let prf = high_risk_prf(&y, &p);
        assert_eq!(prf.flagged, 3);
        assert!((prf.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((prf.recall - 1.0).abs() < 1e-12);
        assert!(
            log_loss(&[1.0], &[0.0]).is_finite(),
            "clipped, never infinite"
        );
    }
}
