//! Backtest: replay history at a past date. Train on deals closed before `as_of`, score the
//! deals open at `as_of` with their age at `as_of` (outcome hidden), compare with what
//! happened, for the chosen model and for the segment-rate baseline.
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::metrics::{ForecastMetrics, evaluate};
use super::scorer::Scorer;
use super::segments::{SegmentStats, cycle_days};
use super::train::{TrainConfig, train};
use crate::domain::{Deal, Outcome};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestReport {
    pub as_of: NaiveDate,
    pub training_deals: usize,
    pub trained: bool,
    pub train_reason: String,
    pub model_kind: Option<String>,
    pub model_version: Option<String>,
    /// Deals open at `as_of` whose outcome is known now.
    pub scored_deals: usize,
    pub won: usize,
    pub lost: usize,
    /// The chosen model; `None` when no model could be trained.
    pub model: Option<ForecastMetrics>,
    /// P(lost) = 1 − blended segment win rate, from the same training history.
    pub baseline: ForecastMetrics,
}

/// Close date of a closed deal, from the date or the cycle length.
fn close_date(d: &Deal) -> Option<NaiveDate> {
    d.closed_date
        .or_else(|| cycle_days(d).map(|c| d.created_date + chrono::Days::new(c as u64)))
}

/// The deals open at `as_of` whose outcome is known now, as they looked at `as_of` (outcome
/// and cycle length hidden), with y = 1.0 for lost: the evaluation set of a backtest.
pub fn holdout(deals: &[Deal], as_of: NaiveDate) -> (Vec<Deal>, Vec<f64>) {
    deals
        .iter()
        .filter(|d| {
            d.created_date <= as_of
                && d.outcome.is_some()
                && close_date(d).is_some_and(|c| c > as_of)
        })
        .map(|d| {
            // Hide what was not known at as_of.
            let lost = if d.outcome == Some(Outcome::Lost) {
                1.0
            } else {
                0.0
            };
            (
                Deal {
                    outcome: None,
                    sales_cycle_days: None,
                    ..d.clone()
                },
                lost,
            )
        })
        .unzip()
}

/// Closed deals that closed strictly before `as_of`: what a model trained at `as_of` may see.
pub fn history_before(deals: &[Deal], as_of: NaiveDate) -> Vec<Deal> {
    deals
        .iter()
        .filter(|d| d.outcome.is_some() && close_date(d).is_some_and(|c| c < as_of))
        .cloned()
        .collect()
}

pub fn backtest(deals: &[Deal], as_of: NaiveDate, cfg: &TrainConfig) -> BacktestReport {
    let history = history_before(deals, as_of);
    let (open, y) = holdout(deals, as_of);
    let report = train(&history, cfg);
    let stats = SegmentStats::from_closed(&history, cfg.min_segment_deals);
    let p_of = |scorer: &Scorer| -> Vec<f64> {
        open.iter()
            .map(|d| scorer.score_core(d, as_of).p_lost)
            .collect()
    };
    let baseline = evaluate(&y, &p_of(&Scorer::new(None, stats.clone())));
    let (model_kind, model_version) = match &report.model {
        Some(m) => (Some(m.kind.as_str().to_string()), Some(m.version.clone())),
        None => (None, None),
    };
    let model = report
        .model
        .map(|m| evaluate(&y, &p_of(&Scorer::new(Some(m), stats))));
    let lost = y.iter().filter(|v| **v > 0.5).count();
    BacktestReport {
        as_of,
        training_deals: history.len(),
        trained: report.trained,
        train_reason: report.reason,
        model_kind,
        model_version,
        scored_deals: y.len(),
        won: y.len() - lost,
        lost,
        model,
        baseline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::FactorCode;
    use crate::engine::testdata::{date, planted_partner_effect, seed_deals};

    #[test]
    fn backtest_on_the_seed_data_is_calibrated_and_no_worse_than_segment_rates() {
        let r = backtest(&seed_deals(), date("2024-03-01"), &TrainConfig::default());
        assert!(r.trained, "{}", r.train_reason);
        assert!(
            r.scored_deals > 100,
            "open deals at as_of: {}",
            r.scored_deals
        );
        let m = r.model.as_ref().expect("model metrics");
        eprintln!("{}", serde_json::to_string_pretty(&r).unwrap());
        assert!(m.ece < 0.05, "ECE {}", m.ece);
        assert!(
            m.brier <= r.baseline.brier + 0.002,
            "Brier {} vs baseline {}",
            m.brier,
            r.baseline.brier
        );
    }

    #[test]
    fn a_planted_partner_effect_is_recovered_and_explained() {
        let deals = planted_partner_effect(4_000, 21);
        let as_of = date("2024-03-01");
        let r = backtest(&deals, as_of, &TrainConfig::default());
        let auc = r.model.as_ref().and_then(|m| m.roc_auc).expect("auc");
        assert!(auc > 0.65, "AUC {auc}");
        let history: Vec<Deal> = deals
            .iter()
            .filter(|d| close_date(d).is_some_and(|c| c < as_of))
            .cloned()
            .collect();
        let model = train(&history, &TrainConfig::default())
            .model
            .expect("trained");
        let scorer = Scorer::new(Some(model), SegmentStats::from_closed(&history, 10));
        let partner = deals
            .iter()
            .find(|d| d.lead_source == "Partner" && d.was_open_on(as_of))
            .expect("an open partner deal");
        let s = scorer.score(
            &Deal {
                outcome: None,
                ..partner.clone()
            },
            as_of,
        );
        assert!(
            s.risk_factors
                .iter()
                .any(|f| f.code == FactorCode::LeadSource && f.impact > 0.0),
            "{:?}",
            s.risk_factors
        );
    }
}
