//! Model selection pieces: candidates, design matrices with recency weights, and the honest
//! evaluation of raw scores on validation rows (Platt cross-fitted by deal, so a candidate is
//! never calibrated on the rows it is judged on) next to the segment-rate baseline.
use chrono::NaiveDate;

use super::features::{Feature, Row};
use super::linear::{self, Platt, sigmoid};
use super::metrics::{ForecastMetrics, evaluate};
use super::model::{Params, Scaler};
use super::trees::{self, GbtParams};

#[derive(Debug, Clone)]
pub(crate) enum Candidate {
    Logistic(f64),
    Trees(GbtParams),
    /// The segment-rate model: logistic on the blended segment win rate alone. Shipped when
    /// no richer candidate beats the baseline out of time.
    SegmentRates,
}

impl Candidate {
    pub(crate) fn name(&self) -> String {
        match self {
            Self::Logistic(l2) => format!("logistic(l2={l2})"),
            Self::Trees(p) => format!(
                "gradient_boosting(trees={},depth={})",
                p.iterations, p.max_depth
            ),
            Self::SegmentRates => "segment_rates".to_string(),
        }
    }

    /// The schema this candidate reads out of the available features.
    pub(crate) fn features(&self, available: &[Feature]) -> Vec<Feature> {
        match self {
            Self::SegmentRates => vec![Feature::BlendedWinRate],
            _ => available.to_vec(),
        }
    }

    pub(crate) fn fit(&self, m: &Matrix, w: Option<&[f64]>) -> Result<Params, String> {
        Ok(match self {
            Self::Logistic(l2) => Params::Logistic(linear::fit_weighted(&m.x, m.d, &m.y, w, *l2)),
            // Nearly unregularised: one coefficient on a rate has nothing to overfit.
            Self::SegmentRates => Params::Logistic(linear::fit_weighted(&m.x, m.d, &m.y, w, 1e-6)),
            Self::Trees(p) => Params::GradientBoosting(trees::fit_weighted(&m.x, m.d, &m.y, w, p)?),
        })
    }
}

/// Standardised rows of one schema, with labels.
pub(crate) struct Matrix {
    pub x: Vec<f64>,
    pub d: usize,
    pub y: Vec<f64>,
}

/// Column means and deviations of `rows` for `features` (constant columns get std 1).
pub(crate) fn scaler(rows: &[Row], features: &[Feature]) -> Scaler {
    let n = rows.len().max(1) as f64;
    let mut s = Scaler {
        mean: vec![0.0; features.len()],
        std: vec![1.0; features.len()],
    };
    for (j, f) in features.iter().enumerate() {
        let col = rows.iter().map(|r| r[f.index()]);
        let mean = col.clone().sum::<f64>() / n;
        let var = col.map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        s.mean[j] = mean;
        // A constant column (e.g. no Q4 dates in the window) gets std 1 so it stays 0.
        s.std[j] = if var.sqrt() > 1e-9 { var.sqrt() } else { 1.0 };
    }
    s
}

pub(crate) fn matrix(rows: &[Row], y: &[f64], features: &[Feature], s: &Scaler) -> Matrix {
    let d = features.len();
    let mut x = Vec::with_capacity(rows.len() * d);
    for r in rows {
        x.extend(
            features
                .iter()
                .enumerate()
                .map(|(j, f)| (r[f.index()] - s.mean[j]) / s.std[j]),
        );
    }
    Matrix {
        x,
        d,
        y: y.to_vec(),
    }
}

pub(crate) fn raw(params: &Params, z: &[f64]) -> f64 {
    match params {
        Params::Logistic(f) => {
            f.intercept + f.weights.iter().zip(z).map(|(w, x)| w * x).sum::<f64>()
        }
        Params::GradientBoosting(f) => f.predict(z),
    }
}

pub(crate) fn predict(params: &Params, m: &Matrix) -> Vec<f64> {
    (0..m.y.len())
        .map(|i| raw(params, &m.x[i * m.d..(i + 1) * m.d]))
        .collect()
}

/// Recency weight of a deal that closed on `closed`, seen from `reference`: halves every
/// `half_life_days`. Weights are normalised to mean 1 by [`normalise`].
pub(crate) fn recency(closed: NaiveDate, reference: NaiveDate, half_life_days: f64) -> f64 {
    let age = (reference - closed).num_days().max(0) as f64;
    if half_life_days <= 0.0 {
        1.0
    } else {
        0.5f64.powf(age / half_life_days)
    }
}

/// Scales weights to mean 1, so regularisation and minimum leaf weights keep their meaning.
pub(crate) fn normalise(w: &mut [f64]) {
    let mean = w.iter().sum::<f64>() / w.len().max(1) as f64;
    if mean > 0.0 {
        w.iter_mut().for_each(|v| *v /= mean);
    }
}

/// Baseline raw log-odds of loss for a feature row: logit(1 − blended segment win rate).
pub(crate) fn baseline_raw(r: &Row) -> f64 {
    let p = (1.0 - r[Feature::BlendedWinRate.index()]).clamp(1e-4, 1.0 - 1e-4);
    (p / (1.0 - p)).ln()
}

/// Calibrated probabilities for `raw` where each row's Platt scaler was fitted on the other
/// half of the deals (2-fold by `group`), so the metrics are out-of-sample for calibration too.
pub(crate) fn cross_fitted(raw: &[f64], y: &[f64], group: &[u32]) -> Vec<f64> {
    let half = |g: u32| (g.wrapping_mul(2_654_435_761) >> 7) & 1;
    let mut p = vec![0.0; raw.len()];
    for f in 0..2 {
        let (mut rx, mut ry) = (Vec::new(), Vec::new());
        for i in (0..raw.len()).filter(|&i| half(group[i]) != f) {
            rx.push(raw[i]);
            ry.push(y[i]);
        }
        let both = ry.iter().any(|v| *v > 0.5) && ry.iter().any(|v| *v < 0.5);
        let platt = if both {
            Platt::fit(&rx, &ry)
        } else {
            Platt::fit(raw, y)
        };
        for i in (0..raw.len()).filter(|&i| half(group[i]) == f) {
            p[i] = sigmoid(platt.apply(raw[i]));
        }
    }
    p
}

/// Honest metrics of one set of validation raw scores.
pub(crate) fn judge(raw: &[f64], y: &[f64], group: &[u32]) -> ForecastMetrics {
    evaluate(y, &cross_fitted(raw, y, group))
}

/// The richer candidate to ship: lowest validation log-loss among those whose Brier is not
/// worse than the baseline's; `None` means none qualifies and the segment-rate model ships.
pub(crate) fn choose(scores: &[ForecastMetrics], baseline_brier: f64) -> Option<usize> {
    (0..scores.len())
        .filter(|&i| scores[i].brier <= baseline_brier)
        .min_by(|&a, &b| scores[a].log_loss.total_cmp(&scores[b].log_loss))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_candidate_worse_than_the_baseline_out_of_time_is_never_chosen() {
        let m = |brier: f64, log_loss: f64| ForecastMetrics {
            brier,
            log_loss,
            ..evaluate(&[0.0, 1.0], &[0.3, 0.6])
        };
        // The best log-loss is worse than the baseline on Brier: the runner-up ships.
        assert_eq!(choose(&[m(0.26, 0.60), m(0.24, 0.65)], 0.25), Some(1));
        assert_eq!(choose(&[m(0.26, 0.60), m(0.27, 0.65)], 0.25), None);
        assert_eq!(choose(&[m(0.20, 0.55), m(0.21, 0.50)], 0.25), Some(1));
    }

    #[test]
    fn recency_weights_halve_every_half_life_and_normalise_to_mean_one() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let now = d("2024-12-31");
        assert!((recency(now, now, 365.0) - 1.0).abs() < 1e-12);
        assert!((recency(d("2023-12-31"), now, 366.0) - 0.5).abs() < 1e-12);
        let mut w = vec![1.0, 0.5, 0.25, 0.25];
        normalise(&mut w);
        assert!((w.iter().sum::<f64>() - 4.0).abs() < 1e-12);
        assert!((w[0] / w[1] - 2.0).abs() < 1e-12, "ratios kept");
    }

    #[test]
    fn cross_fitted_calibration_does_not_reward_noise() {
        // Pure noise scores: honest calibration must not find skill in them.
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let n = 4000;
        let raw: Vec<f64> = (0..n).map(|_| next() * 4.0 - 2.0).collect();
        let y: Vec<f64> = (0..n).map(|_| f64::from(next() < 0.4)).collect();
        let g: Vec<u32> = (0..n as u32).collect();
        let m = judge(&raw, &y, &g);
        assert!((m.roc_auc.unwrap() - 0.5).abs() < 0.04, "{m:?}");
        assert!(
            m.brier >= 0.24 - 0.005,
            "no better than the base rate: {m:?}"
        );
    }
}
