//! The design's 7-day trend indicators: how win rate, REM and the average sales cycle moved
//! between history as it stood a week before the as-of date and as it stands on it.
use chrono::NaiveDate;
use serde::Serialize;

use super::segments::SegmentStats;
use crate::domain::Deal;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TrendIndicators {
    /// Change of the historical win rate, in percentage points.
    pub win_rate_change_7d: f64,
    /// Relative change of REM (win rate × average deal size / average cycle), in percent.
    pub rem_change_7d: f64,
    /// Change of the average sales cycle of closed deals, in days.
    pub avg_cycle_change_7d: f64,
}

/// Win rate, REM and average cycle of the deals closed on or before `date` (an outcome
/// learned later is hidden, as `Deal::as_seen_on` does).
fn snapshot(history: &[Deal], date: NaiveDate, min_deals: u32) -> (f64, f64, f64) {
    let seen: Vec<Deal> = history
        .iter()
        .filter(|d| d.outcome.is_some())
        .filter_map(|d| d.as_seen_on(date))
        .filter(|d| d.outcome.is_some())
        .collect();
    let s = SegmentStats::from_closed(&seen, min_deals);
    let rem = s.overall_win_rate * s.avg_amount / s.avg_cycle_days.max(1.0);
    (s.overall_win_rate, rem, s.avg_cycle_days)
}

/// Today's figures minus those of seven days before `as_of`. Every value is rounded to one
/// decimal, and a zero is always `0.0` (never `-0.0`).
pub fn trend_indicators(history: &[Deal], as_of: NaiveDate, min_deals: u32) -> TrendIndicators {
    let week_ago = as_of - chrono::Days::new(7);
    let (wr_now, rem_now, cycle_now) = snapshot(history, as_of, min_deals);
    let (wr_then, rem_then, cycle_then) = snapshot(history, week_ago, min_deals);
    let round = |x: f64| {
        let r = (x * 10.0).round() / 10.0;
        if r == 0.0 || !r.is_finite() { 0.0 } else { r }
    };
    TrendIndicators {
        win_rate_change_7d: round(100.0 * (wr_now - wr_then)),
        rem_change_7d: if rem_then > 0.0 {
            round(100.0 * (rem_now - rem_then) / rem_then)
        } else {
            0.0
        },
        avg_cycle_change_7d: round(cycle_now - cycle_then),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testdata::{closed_deal, date};

    #[test]
    fn a_week_of_wins_raises_the_win_rate_and_no_change_is_a_plain_zero() {
        let mut history: Vec<Deal> = (0..10)
            // Created 2023-06-01, lost 300 days later (2024-03-27).
            .map(|i| closed_deal(&format!("L{i}"), "SaaS", "Inbound", 10_000.0, 300, false))
            .collect();
        let flat = trend_indicators(&history, date("2024-06-01"), 10);
        assert_eq!(flat.win_rate_change_7d.to_bits(), 0.0f64.to_bits());
        for i in 0..10 {
            // Won 364 days after creation: 2024-05-30, inside the week before 2024-06-01.
            history.push(closed_deal(
                &format!("W{i}"),
                "SaaS",
                "Inbound",
                10_000.0,
                364,
                true,
            ));
        }
        let t = trend_indicators(&history, date("2024-06-01"), 10);
        assert_eq!(t.win_rate_change_7d, 50.0, "0 % → 50 % in a week");
    }
}
