//! The model artifact: what was trained, on what, how well, and how to turn a feature row into
//! calibrated log-odds of loss with per-feature contributions. Stored as serde JSON.
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::features::{Feature, Imputes, N_FEATURES, Row};
use super::linear::{LinearFit, Platt};
use super::metrics::ForecastMetrics;
use super::segments::SegmentStats;
use super::skill::Skill;
use super::trees::Forest;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Logistic,
    GradientBoosting,
    /// Logistic on the blended segment win rate alone: what ships when no richer candidate
    /// beats the segment-rate baseline out of time.
    SegmentRates,
}

impl ModelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logistic => "logistic",
            Self::GradientBoosting => "gradient_boosting",
            Self::SegmentRates => "segment_rates",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Params {
    Logistic(LinearFit),
    GradientBoosting(Forest),
}

/// Column means and standard deviations of the training snapshots (schema order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainingWindow {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RowCounts {
    pub deals: usize,
    pub snapshots: usize,
    pub won: usize,
    pub lost: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateScore {
    pub name: String,
    /// Log-loss on the validation rows (out of time, or out of fold), calibration cross-fitted.
    pub cv_log_loss: f64,
    /// Brier score on the same rows (absent in models trained before issue 16).
    #[serde(default)]
    pub brier: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetrics {
    pub folds: usize,
    pub candidates: Vec<CandidateScore>,
    pub chosen: String,
    /// The chosen model on the validation rows (out of time when there was enough recent
    /// history, else out of fold), calibration cross-fitted.
    pub out_of_fold: ForecastMetrics,
    /// Measured skill next to the segment-rate baseline; `None` in models trained before it
    /// was measured.
    #[serde(default)]
    pub skill: Option<Skill>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub kind: ModelKind,
    pub version: String,
    /// Feature names in column order.
    pub features: Vec<Feature>,
    pub training_window: TrainingWindow,
    pub rows: RowCounts,
    pub segments: SegmentStats,
    pub imputes: Imputes,
    pub scaler: Scaler,
    pub params: Params,
    pub calibrator: Platt,
    pub metrics: ModelMetrics,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model JSON is unreadable: {0}")]
    Json(#[from] serde_json::Error),
    #[error("model JSON is inconsistent: {0}")]
    Invalid(String),
}

impl Model {
    /// The low-skill line when this model's measured skill is low (see [`Skill::is_low`]).
    pub fn skill_line(&self) -> Option<&'static str> {
        super::skill::skill_line(self.metrics.skill.as_ref())
    }

    pub fn to_json(&self) -> Result<String, ModelError> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Parses and checks the artifact, so a damaged file is an error here rather than an
    /// index panic while scoring.
    pub fn from_json(s: &str) -> Result<Model, ModelError> {
        let m: Model = serde_json::from_str(s)?;
        let d = m.features.len();
        let bad = |why: &str| Err(ModelError::Invalid(why.to_string()));
        if d == 0 || d > N_FEATURES || m.scaler.mean.len() != d || m.scaler.std.len() != d {
            return bad("feature schema and scaler disagree");
        }
        if m.scaler.std.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            return bad("scaler has a non-positive deviation");
        }
        match &m.params {
            Params::Logistic(f) if f.weights.len() != d => {
                return bad("weights do not match schema");
            }
            Params::GradientBoosting(f) => {
                for t in f.trees() {
                    let ok = t.iter().all(|n| {
                        n.leaf
                            || ((n.feature as usize) < d
                                && (n.left as usize) < t.len()
                                && (n.right as usize) < t.len())
                    });
                    if !ok {
                        return bad("tree references a missing node or feature");
                    }
                }
            }
            _ => {}
        }
        if (m.kind == ModelKind::GradientBoosting) == matches!(m.params, Params::Logistic(_)) {
            return bad("kind does not match params");
        }
        Ok(m)
    }

    /// Standardised schema columns of a full feature row.
    pub fn inputs(&self, row: &Row) -> [f64; N_FEATURES] {
        let mut z = [0.0; N_FEATURES];
        for (j, f) in self.features.iter().enumerate() {
            z[j] = (row[f.index()] - self.scaler.mean[j]) / self.scaler.std[j];
        }
        z
    }

    /// Raw (uncalibrated) log-odds of loss from standardised inputs.
    pub fn raw_log_odds(&self, z: &[f64]) -> f64 {
        match &self.params {
            Params::Logistic(f) => {
                f.intercept + f.weights.iter().zip(z).map(|(w, x)| w * x).sum::<f64>()
            }
            Params::GradientBoosting(f) => f.predict(z),
        }
    }

    /// Calibrated log-odds of loss.
    pub fn log_odds(&self, row: &Row) -> f64 {
        self.calibrator.apply(self.raw_log_odds(&self.inputs(row)))
    }

    /// Per-feature contributions to the calibrated log-odds, indexed like `Row`
    /// (`Feature::index`); returns the base so that base + Σ contributions == `log_odds(row)`.
    /// Logistic: contribution_j = a · w_j · (x_j − mean_j) / std_j, exact. Trees: path
    /// contributions scaled by the Platt slope `a`.
    pub fn contributions(&self, row: &Row, out: &mut Row) -> f64 {
        let z = self.inputs(row);
        let a = self.calibrator.a;
        let mut schema_c = [0.0; N_FEATURES];
        let base = match &self.params {
            Params::Logistic(f) => {
                for j in 0..self.features.len() {
                    schema_c[j] = f.weights[j] * z[j];
                }
                f.intercept
            }
            Params::GradientBoosting(f) => {
                f.contributions(&z[..self.features.len()], &mut schema_c)
            }
        };
        for (j, f) in self.features.iter().enumerate() {
            out[f.index()] = a * schema_c[j];
        }
        a * base + self.calibrator.b
    }

    /// Training mean of a feature, if it is in the schema.
    pub fn mean_of(&self, f: Feature) -> Option<f64> {
        self.features
            .iter()
            .position(|g| *g == f)
            .map(|j| self.scaler.mean[j])
    }
}

impl Model {
    /// Splits the blended-rate contribution `c_blend` back onto the four segment rates, so a
    /// factor reads "Partner leads …" rather than "segment mix". For the logistic model the
    /// split is exact: blended = mean of the four rates, so a·w·(b − mean_b)/std equals
    /// Σ_i a·w·(r_i − mean_i)/(4·std). For trees (no such identity) the share follows each
    /// rate's deviation when all deviate the same way, else it is split evenly.
    pub fn split_blended(&self, row: &Row, c_blend: f64) -> [f64; 4] {
        let rates = [
            Feature::IndustryWinRate,
            Feature::ProductWinRate,
            Feature::LeadSourceWinRate,
            Feature::RegionWinRate,
        ];
        // A schema without the four rates (the segment-rate model) measures each rate from
        // the blended mean: Σ (r_i − mean_b) / 4 = b − mean_b keeps the split exact.
        let mean_b = self.mean_of(Feature::BlendedWinRate);
        let d =
            rates.map(|f| row[f.index()] - self.mean_of(f).or(mean_b).unwrap_or(row[f.index()]));
        if let (Params::Logistic(fit), Some(j)) = (
            &self.params,
            self.features
                .iter()
                .position(|f| *f == Feature::BlendedWinRate),
        ) {
            let k = self.calibrator.a * fit.weights[j] / self.scaler.std[j];
            return d.map(|di| k * di / 4.0);
        }
        let sum: f64 = d.iter().sum();
        let same_sign = d.iter().all(|x| *x >= 0.0) || d.iter().all(|x| *x <= 0.0);
        if same_sign && sum.abs() > 1e-12 {
            d.map(|di| c_blend * di / sum)
        } else {
            [c_blend / 4.0; 4]
        }
    }
}
