//! Relative risk: a deal's place in the tenant's open pipeline and its distance from the
//! tenant's typical loss rate. Surfaces show it next to the absolute score and rank by it.
use crate::domain::{DealScore, RelativeRisk};

/// The tenant's open pipeline, ready to place any P(lost) in it.
#[derive(Debug, Clone)]
pub struct PipelineRanks {
    sorted: Vec<f64>,
    typical_loss_rate: f64,
}

impl PipelineRanks {
    /// `open_p_lost`: P(lost) of every open deal of the tenant; `overall_win_rate`: the
    /// tenant's win rate over its closed deals (the segment stats' overall rate).
    pub fn new(open_p_lost: impl IntoIterator<Item = f64>, overall_win_rate: f64) -> Self {
        let mut sorted: Vec<f64> = open_p_lost.into_iter().filter(|p| p.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        PipelineRanks {
            sorted,
            typical_loss_rate: (1.0 - overall_win_rate).clamp(0.0, 1.0),
        }
    }

    /// From the current scores of the tenant's open deals.
    pub fn from_scores(open: &[DealScore], overall_win_rate: f64) -> Self {
        Self::new(
            open.iter().map(|s| 1.0 - s.win_probability),
            overall_win_rate,
        )
    }

    /// Where a deal with this score stands.
    pub fn of(&self, score: &DealScore) -> RelativeRisk {
        self.relative(1.0 - score.win_probability)
    }

    pub fn relative(&self, p_lost: f64) -> RelativeRisk {
        let n = self.sorted.len();
        let below = self.sorted.partition_point(|v| *v < p_lost);
        let ties = self.sorted[below..].partition_point(|v| *v <= p_lost);
        let percentile = if n == 0 {
            50.0
        } else {
            100.0 * (below as f64 + 0.5 * ties as f64) / n as f64
        };
        RelativeRisk {
            percentile,
            pp_vs_typical: 100.0 * (p_lost - self.typical_loss_rate),
            typical_loss_rate: self.typical_loss_rate,
            open_deals: n,
        }
    }
}

/// Indices of `scores` from most to least at risk relative to the pipeline: by exact
/// P(lost), not the rounded score (ties keep their input order). What `top`, the demo and
/// digests list deals by.
pub fn rank_order(scores: &[DealScore]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| {
        scores[a]
            .win_probability
            .total_cmp(&scores[b].win_probability)
    });
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_count_lower_deals_and_half_the_ties() {
        let ranks = PipelineRanks::new([0.1, 0.2, 0.2, 0.4, 0.9], 0.6);
        let r = ranks.relative(0.4);
        assert!((r.percentile - 70.0).abs() < 1e-9, "{r:?}");
        assert!((r.pp_vs_typical - 0.0).abs() < 1e-9);
        assert!((ranks.relative(0.2).percentile - 40.0).abs() < 1e-9);
        assert!((ranks.relative(1.0).percentile - 100.0).abs() < 1e-9);
        assert!((ranks.relative(0.0).percentile - 0.0).abs() < 1e-9);
        let lone = PipelineRanks::new([], 0.5).relative(0.7);
        assert_eq!(lone.open_deals, 0);
        assert!((lone.pp_vs_typical - 20.0).abs() < 1e-9);
    }
}
