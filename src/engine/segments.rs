//! Segment statistics from closed deals: win rate and median cycle per industry, product type,
//! lead source and region, with fallbacks to the overall figures for thin or unseen segments.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::{Deal, Outcome};

/// The four segment dimensions the seed data carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Industry,
    ProductType,
    LeadSource,
    Region,
}

impl Dimension {
    pub const ALL: [Dimension; 4] = [
        Self::Industry,
        Self::ProductType,
        Self::LeadSource,
        Self::Region,
    ];

    pub fn value_of(self, deal: &Deal) -> &str {
        match self {
            Self::Industry => &deal.industry,
            // Missing products are "Core" (DESIGN.md); the importer does it too, but an API
            // caller may send an empty string.
            Self::ProductType if deal.product_type.is_empty() => "Core",
            Self::ProductType => &deal.product_type,
            Self::LeadSource => &deal.lead_source,
            Self::Region => &deal.region,
        }
    }

    /// Plural noun used in factor sentences ("Partner leads", "FinTech deals").
    pub fn noun(self) -> &'static str {
        match self {
            Self::LeadSource => "leads",
            _ => "deals",
        }
    }
}

/// Figures for one segment value (e.g. lead_source = Partner).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub deals: u32,
    pub won: u32,
    /// Win rate used for features: the segment's own rate, or the overall rate when the
    /// segment has fewer than `min_deals` closed deals (too noisy to trust).
    pub win_rate: f64,
    /// Median sales cycle (days) of the segment's closed deals, overall median when thin.
    pub median_cycle_days: f64,
    pub uses_overall: bool,
}

/// Everything the engine learns from closed-deal history apart from model weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentStats {
    pub min_deals: u32,
    pub deals: u32,
    pub won: u32,
    pub overall_win_rate: f64,
    pub overall_median_cycle_days: f64,
    pub avg_cycle_days: f64,
    pub avg_amount: f64,
    pub amount_p50: f64,
    pub amount_p75: f64,
    pub amount_p99: f64,
    pub industry: BTreeMap<String, Segment>,
    pub product_type: BTreeMap<String, Segment>,
    pub lead_source: BTreeMap<String, Segment>,
    pub region: BTreeMap<String, Segment>,
}

/// A looked-up segment, borrowed from the stats (no allocation on the scoring path).
#[derive(Debug, Clone, Copy)]
pub struct SegmentLookup<'a> {
    pub value: &'a str,
    pub win_rate: f64,
    pub deals: u32,
    pub median_cycle_days: f64,
}

/// Days from creation to close of a closed deal; `None` when neither the dates nor the
/// cycle field say.
pub fn cycle_days(deal: &Deal) -> Option<i64> {
    deal.sales_cycle_days
        .or_else(|| deal.closed_date.map(|c| (c - deal.created_date).num_days()))
        .map(|d| d.max(0))
}

/// Linear-interpolated quantile of an ascending slice (`q` in 0..=1); 0 for an empty slice.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

impl SegmentStats {
    /// Learns from the closed deals in `deals` (open ones are ignored). `min_deals` is the
    /// smallest segment trusted on its own (10 in production).
    pub fn from_closed(deals: &[Deal], min_deals: u32) -> SegmentStats {
        let closed: Vec<&Deal> = deals.iter().filter(|d| d.outcome.is_some()).collect();
        let won = closed
            .iter()
            .filter(|d| d.outcome == Some(Outcome::Won))
            .count() as u32;
        let n = closed.len() as u32;
        // With no history at all, 0.5 is the least presumptuous rate.
        let overall = if n == 0 { 0.5 } else { won as f64 / n as f64 };
        let mut cycles: Vec<f64> = closed
            .iter()
            .filter_map(|d| cycle_days(d))
            .map(|c| c as f64)
            .collect();
        cycles.sort_by(f64::total_cmp);
        // Deals kept without an amount (stored as 0) say nothing about deal size.
        let mut amounts: Vec<f64> = closed
            .iter()
            .map(|d| d.amount)
            .filter(|a| *a > 0.0)
            .collect();
        amounts.sort_by(f64::total_cmp);
        let overall_cycle = if cycles.is_empty() {
            60.0
        } else {
            quantile(&cycles, 0.5)
        };
        let mean = |v: &[f64]| {
            if v.is_empty() {
                0.0
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        };
        let per_dim = |dim: Dimension| {
            let mut acc: BTreeMap<String, (u32, u32, Vec<f64>)> = BTreeMap::new();
            for d in &closed {
                let e = acc.entry(dim.value_of(d).to_string()).or_default();
                e.0 += 1;
                e.1 += u32::from(d.outcome == Some(Outcome::Won));
                e.2.extend(cycle_days(d).map(|c| c as f64));
            }
            acc.into_iter()
                .map(|(k, (deals, won, mut cyc))| {
                    cyc.sort_by(f64::total_cmp);
                    let thin = deals < min_deals;
                    let seg = Segment {
                        deals,
                        won,
                        win_rate: if thin {
                            overall
                        } else {
                            won as f64 / deals as f64
                        },
                        median_cycle_days: if thin || cyc.is_empty() {
                            overall_cycle
                        } else {
                            quantile(&cyc, 0.5)
                        },
                        uses_overall: thin,
                    };
                    (k, seg)
                })
                .collect()
        };
        SegmentStats {
            min_deals,
            deals: n,
            won,
            overall_win_rate: overall,
            overall_median_cycle_days: overall_cycle,
            avg_cycle_days: if cycles.is_empty() {
                overall_cycle
            } else {
                mean(&cycles)
            },
            avg_amount: mean(&amounts),
            amount_p50: quantile(&amounts, 0.50),
            amount_p75: quantile(&amounts, 0.75),
            amount_p99: quantile(&amounts, 0.99),
            industry: per_dim(Dimension::Industry),
            product_type: per_dim(Dimension::ProductType),
            lead_source: per_dim(Dimension::LeadSource),
            region: per_dim(Dimension::Region),
        }
    }

    pub fn table(&self, dim: Dimension) -> &BTreeMap<String, Segment> {
        match dim {
            Dimension::Industry => &self.industry,
            Dimension::ProductType => &self.product_type,
            Dimension::LeadSource => &self.lead_source,
            Dimension::Region => &self.region,
        }
    }

    /// The deal's segment in `dim`; unseen values get the overall figures and 0 deals.
    pub fn lookup<'a>(&self, dim: Dimension, value: &'a str) -> SegmentLookup<'a> {
        match self.table(dim).get(value) {
            Some(s) => SegmentLookup {
                value,
                win_rate: s.win_rate,
                deals: s.deals,
                median_cycle_days: s.median_cycle_days,
            },
            None => SegmentLookup {
                value,
                win_rate: self.overall_win_rate,
                deals: 0,
                median_cycle_days: self.overall_median_cycle_days,
            },
        }
    }

    /// The best-converting trusted value of a dimension, for comparisons in sentences.
    pub fn best(&self, dim: Dimension) -> Option<(&str, f64)> {
        self.table(dim)
            .iter()
            .filter(|(_, s)| !s.uses_overall)
            .max_by(|a, b| a.1.win_rate.total_cmp(&b.1.win_rate))
            .map(|(k, s)| (k.as_str(), s.win_rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testdata::closed_deal;

    #[test]
    fn a_segment_with_fewer_than_ten_deals_uses_the_overall_rate() {
        let mut deals = Vec::new();
        for i in 0..20 {
            let won = i % 2 == 0;
            deals.push(closed_deal(
                &format!("A{i}"),
                "SaaS",
                "Inbound",
                10_000.0,
                30,
                won,
            ));
        }
        for i in 0..9 {
            deals.push(closed_deal(
                &format!("B{i}"),
                "SaaS",
                "Partner",
                10_000.0,
                30,
                false,
            ));
        }
        let stats = SegmentStats::from_closed(&deals, 10);
        let overall = 10.0 / 29.0;
        let partner = stats.lookup(Dimension::LeadSource, "Partner");
        assert!(
            (partner.win_rate - overall).abs() < 1e-12,
            "9 deals → overall rate"
        );
        assert_eq!(partner.deals, 9);
        let inbound = stats.lookup(Dimension::LeadSource, "Inbound");
        assert!(
            (inbound.win_rate - 0.5).abs() < 1e-12,
            "20 deals → own rate"
        );
        let unseen = stats.lookup(Dimension::LeadSource, "Carrier pigeon");
        assert!(
            (unseen.win_rate - overall).abs() < 1e-12,
            "unseen → overall rate"
        );
        assert_eq!(unseen.deals, 0);
    }

    #[test]
    fn quantiles_interpolate_and_median_cycles_are_per_segment() {
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
        let mut deals: Vec<Deal> = (0..12)
            .map(|i| closed_deal(&format!("F{i}"), "FinTech", "Inbound", 1.0, 10 + i, true))
            .collect();
        deals.extend(
            (0..12).map(|i| closed_deal(&format!("S{i}"), "SaaS", "Inbound", 1.0, 100, false)),
        );
        let stats = SegmentStats::from_closed(&deals, 10);
        assert_eq!(
            stats
                .lookup(Dimension::Industry, "FinTech")
                .median_cycle_days,
            15.5
        );
        assert_eq!(
            stats.lookup(Dimension::Industry, "SaaS").median_cycle_days,
            100.0
        );
    }
}
