//! Scoring one deal or a batch: model when there is one, segment win rates when there is not
//! (`degraded`), always with three factors and at least one recommendation.
//!
//! **Confidence** (0..=1) says how much to trust the number: segment support (mean over the
//! four segments of min(1, closed deals in the deal's segment / 100); an unseen value counts 0)
//! scaled by the model's measured out-of-time skill (`skill::confidence`). Segment rates with
//! no model, or a model that cannot rank deals, stay at or below a quarter of the support.
use chrono::NaiveDate;
use rayon::prelude::*;

use super::explain::{self, FactorImpact};
use super::features::{Observation, Row, observe, row};
use super::linear::sigmoid;
use super::model::Model;
use super::recommend::{RuleInput, recommend};
use super::segments::SegmentStats;
use crate::domain::{Deal, DealScore, RiskCategory};

/// Label on scores produced without a model.
pub const FALLBACK_VERSION: &str = "segment-rates";

pub struct Scorer {
    model: Option<Model>,
    fallback_stats: SegmentStats,
}

/// The allocation-free part of a score: enough for sorting, alerting and CSV output.
#[derive(Debug, Clone, Copy)]
pub struct CoreScore {
    pub p_lost: f64,
    pub log_odds: f64,
    pub risk_score: u8,
    pub category: RiskCategory,
    pub confidence: f64,
    pub factors: [FactorImpact; 3],
    pub obs: Observation,
    pub degraded: bool,
}

impl Scorer {
    /// With a model, features use the model's own training-time segment stats (the ones its
    /// weights were fitted on); `stats` serves the fallback when `model` is `None`.
    pub fn new(model: Option<Model>, stats: SegmentStats) -> Scorer {
        Scorer {
            model,
            fallback_stats: stats,
        }
    }

    pub fn model(&self) -> Option<&Model> {
        self.model.as_ref()
    }

    /// The segment stats used for this scorer's features and sentences.
    pub fn stats(&self) -> &SegmentStats {
        self.model
            .as_ref()
            .map_or(&self.fallback_stats, |m| &m.segments)
    }

    /// 0..=1 measured skill behind this scorer's numbers (0 without a model; 0.5 for a model
    /// trained before skill was measured).
    pub fn skill_strength(&self) -> f64 {
        match &self.model {
            None => 0.0,
            Some(m) => m.metrics.skill.as_ref().map_or(0.5, |s| s.strength()),
        }
    }

    /// The low-skill line every surface shows next to a score, when it applies: no model
    /// (segment rates) or a model whose measured skill is low.
    pub fn skill_line(&self) -> Option<&'static str> {
        match &self.model {
            None => Some(super::skill::LOW_SKILL_LINE),
            Some(m) => m.skill_line(),
        }
    }

    pub fn version(&self) -> &str {
        self.model
            .as_ref()
            .map_or(FALLBACK_VERSION, |m| m.version.as_str())
    }

    pub fn score_core(&self, deal: &Deal, as_of: NaiveDate) -> CoreScore {
        let stats = self.stats();
        let obs = observe(deal, as_of, stats, None);
        let (log_odds, cands) = match &self.model {
            Some(m) => {
                let r: Row = row(&obs, stats, &m.imputes);
                let mut c: Row = [0.0; super::features::N_FEATURES];
                let base = m.contributions(&r, &mut c);
                (
                    base + c.iter().sum::<f64>(),
                    explain::model_candidates(m, &r, &c),
                )
            }
            None => {
                let (base, cands) = explain::segment_candidates(&obs, stats.overall_win_rate);
                (base + cands.iter().map(|(_, v)| v).sum::<f64>(), cands)
            }
        };
        let p_lost = sigmoid(log_odds);
        let risk_score = (p_lost * 100.0).round().clamp(0.0, 100.0) as u8;
        let support = obs
            .seg_deals
            .iter()
            .map(|&n| (n as f64 / 100.0).min(1.0))
            .sum::<f64>()
            / 4.0;
        let degraded = self.model.is_none();
        let confidence = super::skill::confidence(support, self.skill_strength());
        CoreScore {
            p_lost,
            log_odds,
            risk_score,
            category: RiskCategory::from_score(risk_score),
            confidence,
            factors: explain::select(&cands, &obs, log_odds),
            obs,
            degraded,
        }
    }

    /// Full score with sentences and recommendations (similar deals are left to the caller,
    /// see `SimilarIndex::fill`).
    pub fn score(&self, deal: &Deal, as_of: NaiveDate) -> DealScore {
        let core = self.score_core(deal, as_of);
        self.explain(deal, &core)
    }

    /// Renders a core score into the full `DealScore`.
    pub fn explain(&self, deal: &Deal, core: &CoreScore) -> DealScore {
        let stats = self.stats();
        let input = RuleInput {
            deal,
            category: core.category,
            factors: &core.factors,
            obs: &core.obs,
            large_amount: stats.amount_p75,
        };
        DealScore {
            deal_id: deal.deal_id.clone(),
            risk_score: core.risk_score,
            risk_category: core.category,
            win_probability: 1.0 - core.p_lost,
            confidence: core.confidence,
            risk_factors: core
                .factors
                .iter()
                .map(|f| explain::render(f, deal, &core.obs, stats))
                .collect(),
            recommendations: recommend(&input),
            similar_deals: Vec::new(),
            model_version: self.version().to_string(),
            degraded: core.degraded,
        }
    }

    /// Scores many deals on all cores; output order follows input order.
    pub fn score_batch(&self, deals: &[Deal], as_of: NaiveDate) -> Vec<DealScore> {
        deals
            .par_iter()
            .with_min_len(256)
            .map(|d| self.score(d, as_of))
            .collect()
    }
}
