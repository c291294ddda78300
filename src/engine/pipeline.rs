//! Pipeline metrics over open deals and their scores: value, risk-adjusted pipeline value
//! (RAPV), optimism gap, revenue efficiency (REM), risk distribution, weekly trend and the
//! potential revenue recovery. Serialised as the `metrics --json` / `/v1/pipeline/metrics` body.
use std::collections::HashMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::segments::{Dimension, SegmentStats};
use crate::domain::{Deal, DealScore, RiskCategory};

/// Share of at-risk revenue assumed recoverable by acting on recommendations.
pub const DEFAULT_SAVE_RATE: f64 = 0.20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryBucket {
    pub category: RiskCategory,
    pub deals: usize,
    pub amount: f64,
}

/// Change since the previous snapshot (usually a week ago), over deals scored in both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    pub deals_compared: usize,
    pub avg_risk_score_delta: f64,
    /// Σ amount × aging × (win prob now − win prob then).
    pub rapv_delta: f64,
    pub became_high_or_critical: usize,
    pub left_high_or_critical: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    pub potential_revenue: f64,
    pub save_rate: f64,
    pub assumption: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineMetrics {
    pub as_of: NaiveDate,
    pub open_deals: usize,
    pub pipeline_value: f64,
    /// Σ amount × win probability × aging, aging = min(1, segment median cycle / age).
    pub rapv: f64,
    pub optimism_gap: f64,
    pub optimism_gap_pct: f64,
    /// Historical win rate × average deal size / average cycle days (revenue per day).
    pub rem: f64,
    pub win_rate: f64,
    pub avg_cycle_days: f64,
    pub avg_deal_size: f64,
    pub risk_distribution: Vec<CategoryBucket>,
    pub trend: Option<Trend>,
    pub recovery: Recovery,
}

/// `scores[i]` belongs to `open[i]`; `previous` is an earlier snapshot of scores (by deal id).
pub fn pipeline_metrics(
    open: &[Deal],
    scores: &[DealScore],
    stats: &SegmentStats,
    as_of: NaiveDate,
    previous: Option<&[DealScore]>,
    save_rate: f64,
) -> PipelineMetrics {
    let aging = |d: &Deal| {
        let median = stats
            .lookup(Dimension::Industry, &d.industry)
            .median_cycle_days;
        let age = d.age_on(as_of) as f64;
        if age <= 0.0 {
            1.0
        } else {
            (median / age).min(1.0)
        }
    };
    let pairs = || open.iter().zip(scores);
    let pipeline_value: f64 = open.iter().map(|d| d.amount).sum();
    let rapv: f64 = pairs()
        .map(|(d, s)| d.amount * s.win_probability * aging(d))
        .sum();
    let optimism_gap = pipeline_value - rapv;
    let mut buckets: Vec<CategoryBucket> = RiskCategory::ALL
        .iter()
        .map(|&category| CategoryBucket {
            category,
            deals: 0,
            amount: 0.0,
        })
        .collect();
    for (d, s) in pairs() {
        let b = &mut buckets[s.risk_category as usize];
        b.deals += 1;
        b.amount += d.amount;
    }
    let potential: f64 = pairs()
        .filter(|(_, s)| s.risk_category.is_at_risk())
        .map(|(d, s)| d.amount * (1.0 - s.win_probability) * save_rate)
        .sum();
    let trend = previous.map(|prev| {
        let before: HashMap<&str, &DealScore> =
            prev.iter().map(|s| (s.deal_id.as_str(), s)).collect();
        let mut t = Trend {
            deals_compared: 0,
            avg_risk_score_delta: 0.0,
            rapv_delta: 0.0,
            became_high_or_critical: 0,
            left_high_or_critical: 0,
        };
        for (d, s) in pairs() {
            let Some(p) = before.get(s.deal_id.as_str()) else {
                continue;
            };
            t.deals_compared += 1;
            t.avg_risk_score_delta += f64::from(s.risk_score) - f64::from(p.risk_score);
            t.rapv_delta += d.amount * aging(d) * (s.win_probability - p.win_probability);
            match (p.risk_category.is_at_risk(), s.risk_category.is_at_risk()) {
                (false, true) => t.became_high_or_critical += 1,
                (true, false) => t.left_high_or_critical += 1,
                _ => {}
            }
        }
        if t.deals_compared > 0 {
            t.avg_risk_score_delta /= t.deals_compared as f64;
        }
        t
    });
    let avg_cycle = stats.avg_cycle_days.max(1.0);
    PipelineMetrics {
        as_of,
        open_deals: open.len(),
        pipeline_value,
        rapv,
        optimism_gap,
        optimism_gap_pct: if pipeline_value > 0.0 {
            100.0 * optimism_gap / pipeline_value
        } else {
            0.0
        },
        rem: stats.overall_win_rate * stats.avg_amount / avg_cycle,
        win_rate: stats.overall_win_rate,
        avg_cycle_days: stats.avg_cycle_days,
        avg_deal_size: stats.avg_amount,
        risk_distribution: buckets,
        trend,
        recovery: Recovery {
            potential_revenue: potential,
            save_rate,
            assumption: format!(
                "Assumes {:.0}% of the loss-weighted value of high and critical deals can be saved by acting on the recommendations; an assumption, not a forecast",
                save_rate * 100.0
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testdata::{closed_deal, date};

    fn score(id: &str, risk: u8) -> DealScore {
        DealScore {
            deal_id: id.into(),
            risk_score: risk,
            risk_category: RiskCategory::from_score(risk),
            win_probability: 1.0 - f64::from(risk) / 100.0,
            confidence: 0.5,
            risk_factors: vec![],
            recommendations: vec![],
            similar_deals: vec![],
            model_version: "t".into(),
            degraded: false,
        }
    }

    #[test]
    fn rapv_ages_old_deals_and_recovery_counts_only_high_and_critical() {
        // Median cycle 30 days for SaaS.
        let history: Vec<Deal> = (0..20)
            .map(|i| {
                closed_deal(
                    &format!("H{i}"),
                    "SaaS",
                    "Inbound",
                    10_000.0,
                    30,
                    i % 2 == 0,
                )
            })
            .collect();
        let stats = SegmentStats::from_closed(&history, 10);
        let as_of = date("2024-03-31");
        let mut young = Deal::example("young");
        young.created_date = date("2024-03-21"); // 10 days → aging 1
        young.amount = 100_000.0;
        let mut old = Deal::example("old");
        old.created_date = date("2024-01-01"); // 90 days → aging 1/3
        old.amount = 60_000.0;
        let scores = vec![score("young", 20), score("old", 80)];
        let m = pipeline_metrics(
            &[young, old],
            &scores,
            &stats,
            as_of,
            Some(&[score("young", 60), score("old", 80)]),
            DEFAULT_SAVE_RATE,
        );
        assert_eq!(m.pipeline_value, 160_000.0);
        let want = 100_000.0 * 0.8 + 60_000.0 * 0.2 / 3.0;
        assert!((m.rapv - want).abs() < 1e-6, "{} vs {want}", m.rapv);
        assert!((m.optimism_gap - (160_000.0 - want)).abs() < 1e-6);
        assert!((m.recovery.potential_revenue - 60_000.0 * 0.8 * 0.2).abs() < 1e-6);
        assert!(m.recovery.assumption.contains("20%"));
        assert_eq!(
            m.risk_distribution[RiskCategory::Critical as usize].deals,
            1
        );
        let t = m.trend.clone().expect("trend");
        assert_eq!((t.deals_compared, t.left_high_or_critical), (2, 1));
        assert!((t.avg_risk_score_delta + 20.0).abs() < 1e-9);
        assert!((m.rem - 0.5 * 10_000.0 / 30.0).abs() < 1e-9);
        assert!(serde_json::to_string(&m).unwrap().contains("\"rapv\""));
    }
}
