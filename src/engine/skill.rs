//! Measured skill of a model: how well it ranked and forecast deals it had not seen, next to
//! the segment-rate baseline on the same deals, and what that means for wording and confidence.
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Below this out-of-time ROC-AUC a model barely ranks deals at all.
pub const MIN_SKILL_AUC: f64 = 0.55;
/// A model must beat the baseline's Brier by more than this to count as skilful.
pub const MIN_BRIER_GAIN: f64 = 0.002;

/// The line every surface shows when skill is low.
pub const LOW_SKILL_LINE: &str =
    "Your history shows little signal beyond segment win rates; scores are segment averages";

/// How the skill was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkillMethod {
    /// Trained on older deals, measured on the most recently closed ones.
    OutOfTime,
    /// Too little recent history for that: grouped k-fold across all of it.
    GroupedKfold,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skill {
    pub method: SkillMethod,
    /// First close date of the validation deals (out-of-time only).
    pub validation_from: Option<NaiveDate>,
    pub validation_deals: usize,
    /// The shipped model on the validation deals (calibration cross-fitted, so honest).
    pub auc: Option<f64>,
    pub brier: f64,
    /// The segment-rate baseline (1 − blended segment win rate, calibrated the same way).
    pub baseline_auc: Option<f64>,
    pub baseline_brier: f64,
    /// Why this model (or the segment-rate model) was chosen, in a sentence.
    pub note: String,
}

impl Skill {
    /// Low skill: AUC < 0.55, or Brier not better than the baseline's by more than 0.002.
    pub fn is_low(&self) -> bool {
        self.auc.is_none_or(|a| a < MIN_SKILL_AUC) || self.brier_gain() <= MIN_BRIER_GAIN
    }

    /// Baseline Brier minus model Brier (positive = better than the baseline).
    pub fn brier_gain(&self) -> f64 {
        self.baseline_brier - self.brier
    }

    /// 0..=1: how much the model ranks beyond chance (AUC 0.5 → 0, ≥ 0.75 → 1), capped at
    /// 0.25 when skill is low. What [`confidence`] scales with.
    pub fn strength(&self) -> f64 {
        let s = self.auc.map_or(0.0, |a| ((a - 0.5) / 0.25).clamp(0.0, 1.0));
        if self.is_low() { s.min(0.25) } else { s }
    }
}

/// The low-skill line for a model with this skill (`None`: skill fine, or never measured).
pub fn skill_line(skill: Option<&Skill>) -> Option<&'static str> {
    skill.filter(|s| s.is_low()).map(|_| LOW_SKILL_LINE)
}

/// Confidence (0..=1) of one score: segment support (mean over the four segments of
/// min(1, closed deals / 100)) scaled by measured skill. A quarter comes from support alone;
/// the rest needs skill. Without a model (segment rates) or with unmeasured skill, the
/// strength is 0 and 0.5 respectively. Never from |P − 0.5|: a confident-looking 90 % from a
/// model that cannot rank deals is still a guess.
pub fn confidence(support: f64, strength: f64) -> f64 {
    (support.clamp(0.0, 1.0) * (0.25 + 0.75 * strength.clamp(0.0, 1.0))).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skill(auc: f64, brier: f64, baseline: f64) -> Skill {
        Skill {
            method: SkillMethod::OutOfTime,
            validation_from: None,
            validation_deals: 500,
            auc: Some(auc),
            brier,
            baseline_auc: Some(0.55),
            baseline_brier: baseline,
            note: String::new(),
        }
    }

    #[test]
    fn skill_is_low_below_auc_055_or_without_a_brier_gain_over_0002() {
        for (auc, brier, base, low) in [
            (0.49, 0.20, 0.25, true),
            (0.70, 0.2490, 0.25, true),
            (0.70, 0.2479, 0.25, false),
            (0.56, 0.24, 0.25, false),
        ] {
            let s = skill(auc, brier, base);
            assert_eq!(s.is_low(), low, "auc {auc} brier {brier} vs {base}");
            assert_eq!(skill_line(Some(&s)).is_some(), low);
        }
        assert_eq!(skill_line(None), None);
    }

    #[test]
    fn confidence_follows_skill_and_support_not_the_distance_from_a_coin_flip() {
        let weak = skill(0.49, 0.25, 0.25);
        let strong = skill(0.80, 0.18, 0.25);
        assert!(confidence(1.0, weak.strength()) <= 0.25);
        assert!((confidence(1.0, strong.strength()) - 1.0).abs() < 1e-12);
        assert!(confidence(0.2, strong.strength()) <= 0.2);
    }
}
