//! Feature vectors, point-in-time: what a deal looked like on a given date.
//!
//! **Point-in-time choice.** An open deal's age is the days it has been open *as of the
//! scoring date*. A closed deal's final cycle length is never used as an age. Instead training
//! uses *snapshots*: each closed deal is observed every `step` days (0, 15, 30, …) while it
//! was still open, with its age and the calendar features (Q4, quarter-end month) taken at the
//! snapshot date, labelled with how the deal finally ended. Long deals therefore contribute
//! more snapshots, which is what an open pipeline looks like on any given night (long deals
//! are open on more nights), so train and score distributions match.
//!
//! Activity signals are dated where the CRM dates them: a last activity or stage entry after
//! the observation date is invisible (treated as missing). Close-date pushes and amount cuts
//! are undated running totals, so a snapshot sees them only in the second half of the deal's
//! life (pushes and cuts happen late); a field-history feed would make this exact.
//! Missing signals are imputed with training medians (`Imputes`), so deals without them score
//! on the base features, no error.
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::segments::{Dimension, SegmentStats, cycle_days};
use crate::domain::{Deal, Outcome};

pub const N_FEATURES: usize = 15;
pub type Row = [f64; N_FEATURES];

/// Model inputs; the first 11 are the seed's base features, the last 4 activity signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    IndustryWinRate,
    ProductWinRate,
    LeadSourceWinRate,
    RegionWinRate,
    BlendedWinRate,
    LogAmount,
    IsLarge,
    NormalisedAge,
    IsLong,
    IsQ4,
    IsQuarterEnd,
    DaysSinceActivity,
    StageDaysRatio,
    CloseDatePushes,
    AmountCutPct,
}

impl Feature {
    pub const ALL: [Feature; N_FEATURES] = [
        Self::IndustryWinRate,
        Self::ProductWinRate,
        Self::LeadSourceWinRate,
        Self::RegionWinRate,
        Self::BlendedWinRate,
        Self::LogAmount,
        Self::IsLarge,
        Self::NormalisedAge,
        Self::IsLong,
        Self::IsQ4,
        Self::IsQuarterEnd,
        Self::DaysSinceActivity,
        Self::StageDaysRatio,
        Self::CloseDatePushes,
        Self::AmountCutPct,
    ];
    pub const N_BASE: usize = 11;

    pub fn index(self) -> usize {
        self as usize
    }
}

/// A deal is "long" past this age (days), whatever its segment.
pub const LONG_DEAL_DAYS: f64 = 90.0;

/// Stand-ins for missing activity signals: "typical" values (a week since the last touch, half a
/// cycle in the current stage), stored in the model so a change is versioned with it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Imputes {
    pub days_since_activity: f64,
    pub stage_days_ratio: f64,
}

impl Default for Imputes {
    fn default() -> Self {
        Imputes {
            days_since_activity: 7.0,
            stage_days_ratio: 0.5,
        }
    }
}

/// A deal as seen on one date: the inputs of features, factor sentences and rules.
#[derive(Debug, Clone, Copy)]
pub struct Observation {
    pub rates: [f64; 4],
    pub seg_deals: [u32; 4],
    pub blended: f64,
    pub amount: f64,
    pub age_days: f64,
    /// Median cycle of the deal's industry ("deals like this close in 64 days").
    pub median_cycle_days: f64,
    pub days_since_activity: Option<f64>,
    pub days_in_stage: Option<f64>,
    pub pushes: Option<u32>,
    pub amount_cut: Option<f64>,
    pub q4: bool,
    pub quarter_end: bool,
}

/// Observes `deal` on `at`. `life_end` is the close date when replaying a closed deal's past
/// (training snapshots), `None` when scoring.
pub fn observe(
    deal: &Deal,
    at: NaiveDate,
    stats: &SegmentStats,
    life_end: Option<NaiveDate>,
) -> Observation {
    let mut rates = [0.0; 4];
    let mut seg_deals = [0; 4];
    for (i, dim) in Dimension::ALL.into_iter().enumerate() {
        let s = stats.lookup(dim, dim.value_of(deal));
        rates[i] = s.win_rate;
        seg_deals[i] = s.deals;
    }
    let industry = stats.lookup(Dimension::Industry, &deal.industry);
    // A creation date after the observation date is a data error; such an age is unknown and
    // the design says: use the industry median.
    let age_days = if deal.created_date > at {
        industry.median_cycle_days
    } else {
        (at - deal.created_date).num_days() as f64
    };
    let seen = |d: Option<NaiveDate>| d.filter(|d| *d <= at).map(|d| (at - d).num_days() as f64);
    let late_in_life = match life_end {
        None => true,
        Some(end) => {
            (at - deal.created_date).num_days() * 2 >= (end - deal.created_date).num_days()
        }
    };
    Observation {
        rates,
        seg_deals,
        blended: rates.iter().sum::<f64>() / 4.0,
        // No amount (an unpriced open deal, a lost deal the CRM zeroed) is unknown, not small:
        // the typical amount stands in, so "amount 0" cannot become a proxy for "lost".
        amount: if deal.amount > 0.0 {
            deal.amount
        } else {
            stats.amount_p50
        },
        age_days,
        median_cycle_days: industry.median_cycle_days.max(1.0),
        days_since_activity: seen(deal.last_activity_date),
        days_in_stage: seen(deal.stage_entered_date),
        pushes: deal.close_date_pushes.filter(|_| late_in_life),
        amount_cut: deal.amount_cut_pct.filter(|_| late_in_life),
        q4: at.month() >= 10,
        quarter_end: at.month().is_multiple_of(3),
    }
}

/// The full feature row; a model reads the columns its schema names.
pub fn row(o: &Observation, stats: &SegmentStats, imp: &Imputes) -> Row {
    // Cap at the training p99 so one giant deal cannot dominate a linear model.
    let amount = o.amount.min(stats.amount_p99.max(1.0));
    let b = |v: bool| if v { 1.0 } else { 0.0 };
    [
        o.rates[0],
        o.rates[1],
        o.rates[2],
        o.rates[3],
        o.blended,
        amount.ln_1p(),
        b(o.amount > stats.amount_p75),
        (o.age_days / o.median_cycle_days).min(5.0),
        b(o.age_days > LONG_DEAL_DAYS),
        b(o.q4),
        b(o.quarter_end),
        o.days_since_activity
            .unwrap_or(imp.days_since_activity)
            .min(365.0),
        o.days_in_stage
            .map_or(imp.stage_days_ratio, |d| (d / o.median_cycle_days).min(5.0)),
        o.pushes.map_or(0.0, f64::from).min(10.0),
        o.amount_cut.unwrap_or(0.0).clamp(0.0, 1.0),
    ]
}

/// Training rows: snapshots of closed deals while they were open.
#[derive(Debug, Clone, Default)]
pub struct Snapshots {
    pub rows: Vec<Row>,
    /// 1.0 = lost (the model predicts P(lost)).
    pub lost: Vec<f64>,
    /// Index of the deal in the input, so CV folds keep a deal's snapshots together.
    pub deal: Vec<u32>,
    /// Which activity signals any training deal carried (schema decision).
    pub has_signal: [bool; 4],
}

pub fn snapshots(deals: &[Deal], stats: &SegmentStats, step_days: i64, imp: &Imputes) -> Snapshots {
    let mut out = Snapshots::default();
    for (i, d) in deals.iter().enumerate() {
        let (Some(outcome), Some(cycle)) = (d.outcome, cycle_days(d)) else {
            continue;
        };
        let end = d.created_date + chrono::Days::new(cycle as u64);
        out.has_signal[0] |= d.last_activity_date.is_some();
        out.has_signal[1] |= d.stage_entered_date.is_some();
        out.has_signal[2] |= d.close_date_pushes.is_some();
        out.has_signal[3] |= d.amount_cut_pct.is_some();
        // Ages 0, step, 2·step, … strictly before the close; a same-day close still yields
        // its age-0 snapshot so every deal counts.
        let mut age = 0;
        while age == 0 || age < cycle {
            let at = d.created_date + chrono::Days::new(age as u64);
            out.rows
                .push(row(&observe(d, at, stats, Some(end)), stats, imp));
            out.lost
                .push(if outcome == Outcome::Lost { 1.0 } else { 0.0 });
            out.deal.push(i as u32);
            age += step_days.max(1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testdata::{closed_deal, date};

    #[test]
    fn snapshots_never_see_a_closed_deals_final_cycle_as_its_age() {
        let deals = vec![closed_deal("D1", "SaaS", "Inbound", 10_000.0, 40, false)];
        let stats = SegmentStats::from_closed(&deals, 10);
        let snap = snapshots(&deals, &stats, 15, &Imputes::default());
        assert_eq!(snap.rows.len(), 3, "ages 0, 15, 30 of a 40-day deal");
        let ages: Vec<f64> = snap
            .rows
            .iter()
            .map(|r| r[Feature::NormalisedAge.index()] * stats.overall_median_cycle_days)
            .collect();
        assert_eq!(ages, vec![0.0, 15.0, 30.0]);
        assert!(snap.lost.iter().all(|&y| y == 1.0));
    }

    #[test]
    fn calendar_and_age_features_come_from_the_scoring_date() {
        let deals = vec![closed_deal("D1", "SaaS", "Inbound", 10_000.0, 40, true)];
        let stats = SegmentStats::from_closed(&deals, 10);
        let mut open = Deal::example("O1");
        open.created_date = date("2024-09-01");
        let o = observe(&open, date("2024-12-31"), &stats, None);
        assert_eq!(o.age_days, 121.0);
        assert!(o.q4 && o.quarter_end);
        let r = row(&o, &stats, &Imputes::default());
        assert_eq!(r[Feature::IsLong.index()], 1.0);
        let o = observe(&open, date("2024-08-01"), &stats, None);
        assert_eq!(
            o.age_days, stats.overall_median_cycle_days,
            "age unknown → industry median"
        );
        assert!(!o.q4 && !o.quarter_end);
    }

    #[test]
    fn amounts_above_the_training_p99_are_capped() {
        let deals: Vec<Deal> = (0..100)
            .map(|i| {
                closed_deal(
                    &format!("D{i}"),
                    "SaaS",
                    "Inbound",
                    1_000.0 * (i + 1) as f64,
                    30,
                    true,
                )
            })
            .collect();
        let stats = SegmentStats::from_closed(&deals, 10);
        let mut big = Deal::example("BIG");
        big.amount = 1e9;
        let r = row(
            &observe(&big, date("2024-03-01"), &stats, None),
            &stats,
            &Imputes::default(),
        );
        assert!((r[Feature::LogAmount.index()] - stats.amount_p99.ln_1p()).abs() < 1e-12);
        assert_eq!(r[Feature::IsLarge.index()], 1.0);
    }
}
