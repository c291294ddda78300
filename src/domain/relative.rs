//! Risk relative to the tenant's own pipeline, and the tenant's band edges: what a surface
//! shows next to the absolute score ("riskier than 92 % of your open deals; 9 pp above your
//! usual loss rate"), so a tenant whose usual win rate is 20 % is not all "critical".
use super::RiskCategory;
use serde::{Deserialize, Serialize};

/// Where one deal stands in the tenant's open pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RelativeRisk {
    /// Share of the tenant's open deals (in %, 0–100) with a lower P(lost); ties count half.
    pub percentile: f64,
    /// P(lost) minus the tenant's typical loss rate, in percentage points.
    pub pp_vs_typical: f64,
    /// The tenant's typical loss rate (1 − overall win rate of its closed deals), 0–1.
    pub typical_loss_rate: f64,
    /// Open deals compared with.
    pub open_deals: usize,
}

impl RelativeRisk {
    /// "riskier than 92 % of your open deals; 9 pp above your usual loss rate".
    pub fn sentence(&self) -> String {
        let pp = self.pp_vs_typical.round();
        let vs = if pp >= 1.0 {
            format!("{pp:.0} pp above your usual loss rate")
        } else if pp <= -1.0 {
            format!("{:.0} pp below your usual loss rate", -pp)
        } else {
            "about your usual loss rate".to_string()
        };
        format!(
            "riskier than {:.0} % of your open deals; {vs}",
            self.percentile.floor()
        )
    }
}

/// Upper edges of the low, medium and high bands (score ≤ edge); above `high_max` is critical.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskBands {
    pub low_max: u8,
    pub medium_max: u8,
    pub high_max: u8,
}

impl Default for RiskBands {
    /// The design's bands: low 0–25, medium 26–50, high 51–75, critical 76–100.
    fn default() -> Self {
        RiskBands {
            low_max: 25,
            medium_max: 50,
            high_max: 75,
        }
    }
}

impl RiskBands {
    /// Edges must rise strictly and leave room for critical (high_max < 100).
    pub fn new(low_max: u8, medium_max: u8, high_max: u8) -> Result<RiskBands, String> {
        if low_max < medium_max && medium_max < high_max && high_max < 100 {
            Ok(RiskBands {
                low_max,
                medium_max,
                high_max,
            })
        } else {
            Err(format!(
                "band edges must rise and stay below 100 (low < medium < high < 100); got \
                 {low_max}/{medium_max}/{high_max}"
            ))
        }
    }

    /// [`RiskBands::new`] on edges as integers from JSON or a form: one outside 0–99 is
    /// refused with the same message as edges out of order.
    pub fn from_edges(low_max: i64, medium_max: i64, high_max: i64) -> Result<RiskBands, String> {
        let edge = |v: i64| u8::try_from(v).ok().filter(|e| *e < 100);
        match (edge(low_max), edge(medium_max), edge(high_max)) {
            (Some(l), Some(m), Some(h)) => RiskBands::new(l, m, h),
            _ => Err(format!(
                "band edges must rise and stay below 100 (low < medium < high < 100); got \
                 {low_max}/{medium_max}/{high_max}"
            )),
        }
    }

    /// Parses "25,50,75" (the CLI's `--bands`, the Slack settings form).
    pub fn parse(s: &str) -> Result<RiskBands, String> {
        let v: Vec<i64> = s
            .split(',')
            .map(|p| p.trim().parse::<i64>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("{s:?} is not three whole numbers like 25,50,75"))?;
        match v.as_slice() {
            [a, b, c] => RiskBands::from_edges(*a, *b, *c),
            _ => Err(format!("{s:?} is not three whole numbers like 25,50,75")),
        }
    }

    pub fn category(&self, score: u8) -> RiskCategory {
        if score <= self.low_max {
            RiskCategory::Low
        } else if score <= self.medium_max {
            RiskCategory::Medium
        } else if score <= self.high_max {
            RiskCategory::High
        } else {
            RiskCategory::Critical
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_bands_match_the_design_and_custom_edges_move_the_categories() {
        let d = RiskBands::default();
        for s in 0..=100u8 {
            assert_eq!(d.category(s), RiskCategory::from_score(s), "score {s}");
        }
        let lenient = RiskBands::parse("40, 70, 90").unwrap();
        assert_eq!(lenient.category(80), RiskCategory::High);
        assert_eq!(lenient.category(91), RiskCategory::Critical);
        for bad in [
            "50,40,90",
            "10,20,100",
            "1,2",
            "a,b,c",
            "-1,20,30",
            "10,20,300",
        ] {
            assert!(RiskBands::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_sentence_says_percentile_and_points_against_the_usual_loss_rate() {
        let r = RelativeRisk {
            percentile: 92.4,
            pp_vs_typical: 9.2,
            typical_loss_rate: 0.5,
            open_deals: 300,
        };
        assert_eq!(
            r.sentence(),
            "riskier than 92 % of your open deals; 9 pp above your usual loss rate"
        );
        let below = RelativeRisk {
            pp_vs_typical: -4.6,
            ..r
        };
        assert!(
            below
                .sentence()
                .ends_with("5 pp below your usual loss rate")
        );
    }
}
