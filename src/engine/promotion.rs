//! Promotion rule for a retrained model (pure): the candidate replaces production only when
//! it is not worse on the recent window, on log-loss *and* calibration (ECE). Small
//! tolerances absorb the noise of a few hundred holdout deals.
use super::metrics::{ForecastMetrics, evaluate};
use super::model::Model;
use super::scorer::Scorer;
use super::segments::SegmentStats;
use crate::domain::Deal;
use chrono::NaiveDate;

/// Log-loss the candidate may exceed production by and still count as "not worse".
pub const LOG_LOSS_TOLERANCE: f64 = 0.002;
/// Same for expected calibration error (absolute, 0–1).
pub const ECE_TOLERANCE: f64 = 0.01;
/// Fewer holdout deals than this cannot show that a candidate is not worse.
pub const MIN_HOLDOUT_DEALS: usize = 30;

/// The verdict and the sentence recorded with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub promote: bool,
    pub reason: String,
}

pub fn decide(candidate: &ForecastMetrics, production: Option<&ForecastMetrics>) -> Verdict {
    let Some(prod) = production else {
        return Verdict {
            promote: true,
            reason: format!(
                "no production model to compare with; candidate log-loss {:.4}, ECE {:.4} on {} holdout deals",
                candidate.log_loss, candidate.ece, candidate.n
            ),
        };
    };
    if candidate.n < MIN_HOLDOUT_DEALS {
        return Verdict {
            promote: false,
            reason: format!(
                "only {} recently closed deals to backtest on (need {MIN_HOLDOUT_DEALS}); production kept",
                candidate.n
            ),
        };
    }
    let mut worse = Vec::new();
    if candidate.log_loss > prod.log_loss + LOG_LOSS_TOLERANCE {
        worse.push(format!(
            "log-loss {:.4} > production {:.4}",
            candidate.log_loss, prod.log_loss
        ));
    }
    if candidate.ece > prod.ece + ECE_TOLERANCE {
        worse.push(format!(
            "calibration error (ECE) {:.4} > production {:.4}",
            candidate.ece, prod.ece
        ));
    }
    if worse.is_empty() {
        Verdict {
            promote: true,
            reason: format!(
                "not worse on {} holdout deals: log-loss {:.4} vs {:.4}, ECE {:.4} vs {:.4}",
                candidate.n, candidate.log_loss, prod.log_loss, candidate.ece, prod.ece
            ),
        }
    } else {
        Verdict {
            promote: false,
            reason: format!(
                "worse than production on {} holdout deals: {}",
                candidate.n,
                worse.join("; ")
            ),
        }
    }
}

/// Metrics of `model` (None: segment rates) on a holdout set seen at `as_of`.
pub fn evaluate_on(
    model: Option<&Model>,
    stats: &SegmentStats,
    open: &[Deal],
    y: &[f64],
    as_of: NaiveDate,
) -> ForecastMetrics {
    let scorer = Scorer::new(model.cloned(), stats.clone());
    let p: Vec<f64> = open
        .iter()
        .map(|d| scorer.score_core(d, as_of).p_lost)
        .collect();
    evaluate(y, &p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::metrics::Prf;

    fn m(n: usize, log_loss: f64, ece: f64) -> ForecastMetrics {
        ForecastMetrics {
            n,
            roc_auc: None,
            brier: 0.2,
            log_loss,
            ece,
            high_risk: Prf {
                flagged: 0,
                precision: 0.0,
                recall: 0.0,
                f1: 0.0,
            },
        }
    }

    #[test]
    fn promotion_needs_log_loss_and_calibration_not_worse() {
        let prod = m(200, 0.60, 0.03);
        let cases = [
            (m(200, 0.55, 0.02), true, "better on both"),
            (m(200, 0.601, 0.035), true, "within tolerance"),
            (m(200, 0.65, 0.02), false, "worse log-loss"),
            (m(200, 0.55, 0.08), false, "worse calibration"),
            (m(10, 0.50, 0.01), false, "too few holdout deals"),
        ];
        for (cand, promote, why) in cases {
            let v = decide(&cand, Some(&prod));
            assert_eq!(v.promote, promote, "{why}: {}", v.reason);
            assert!(!v.reason.is_empty());
        }
        assert!(
            decide(&m(5, 0.9, 0.2), None).promote,
            "nothing to compare with"
        );
        let v = decide(&m(200, 0.55, 0.08), Some(&prod));
        assert!(v.reason.contains("ECE"), "{}", v.reason);
    }
}
