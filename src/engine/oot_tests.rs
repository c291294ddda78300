//! Out-of-time selection on data that drifts, planted-signal recovery against the best
//! attainable AUC, seed calibration, and the skill every model carries.
use super::backtest::{backtest, holdout};
use super::metrics::roc_auc;
use super::testdata::{date, drifting_history, planted_partner_effect, seed_deals};
use super::*;

#[test]
fn on_drifting_history_the_model_is_never_worse_than_segment_rates_and_stays_calibrated() {
    let (deals, _) = drifting_history(6_000, 5);
    for as_of in ["2023-09-01", "2024-01-01", "2024-03-01"] {
        let r = backtest(&deals, date(as_of), &TrainConfig::default());
        let m = r.model.as_ref().expect("trained on drifting history");
        eprintln!(
            "{as_of}: model brier {:.4} ece {:.4} auc {:?} | baseline brier {:.4} ece {:.4}",
            m.brier, m.ece, m.roc_auc, r.baseline.brier, r.baseline.ece
        );
        assert!(
            m.brier <= r.baseline.brier + 0.002,
            "{as_of}: Brier {} vs baseline {}",
            m.brier,
            r.baseline.brier
        );
        assert!(m.ece <= 0.05, "{as_of}: ECE {}", m.ece);
    }
}

#[test]
fn a_planted_signal_is_recovered_within_002_of_the_best_attainable_auc() {
    let deals = planted_partner_effect(4_000, 21);
    let as_of = date("2024-03-01");
    let r = backtest(&deals, as_of, &TrainConfig::default());
    let auc = r.model.as_ref().and_then(|m| m.roc_auc).expect("auc");
    // The best any model can do: rank by the true P(lost) the data was drawn from.
    let (open, y) = holdout(&deals, as_of);
    let truth: Vec<f64> = open
        .iter()
        .map(|d| {
            if d.lead_source == "Partner" {
                0.85
            } else {
                0.40
            }
        })
        .collect();
    let best = roc_auc(&y, &truth).expect("both classes");
    assert!(auc >= best - 0.02, "AUC {auc} vs best attainable {best}");
}

#[test]
fn the_seed_backtest_is_calibrated_within_003() {
    let r = backtest(&seed_deals(), date("2024-03-01"), &TrainConfig::default());
    let m = r.model.as_ref().expect("model metrics");
    assert!(m.ece < 0.03, "ECE {}", m.ece);
}

/// A signal segments cannot see: deals above $25K win 20 %, the others 65 %.
fn planted_amount_effect(n: usize, seed: u64) -> Vec<crate::domain::Deal> {
    let mut rng = testdata::Rng::new(seed ^ 0xA5);
    let mut deals = planted_partner_effect(n, seed);
    for d in &mut deals {
        let p_win = if d.amount > 25_000.0 { 0.20 } else { 0.65 };
        d.outcome = Some(if rng.unit() < p_win {
            crate::domain::Outcome::Won
        } else {
            crate::domain::Outcome::Lost
        });
    }
    deals
}

#[test]
fn a_purely_segment_signal_is_no_skill_beyond_segment_rates() {
    // Partner leads lose more, and that is all: the segment rates already know it.
    let model = train(&planted_partner_effect(3_000, 3), &TrainConfig::default())
        .model
        .expect("trained");
    let skill = model.metrics.skill.as_ref().expect("skill");
    assert!(skill.baseline_auc.unwrap() > 0.65, "{skill:?}");
    assert!(skill.is_low(), "{skill:?}");
}

#[test]
fn every_trained_model_carries_its_out_of_time_skill_against_the_baseline() {
    let deals = planted_amount_effect(3_000, 3);
    let model = train(&deals, &TrainConfig::default())
        .model
        .expect("trained");
    let skill = model.metrics.skill.as_ref().expect("skill measured");
    assert_eq!(skill.method, skill::SkillMethod::OutOfTime);
    assert!(skill.validation_from.is_some() && skill.validation_deals >= 60);
    assert!(skill.auc.unwrap() > 0.6, "{skill:?}");
    assert!(skill.brier < skill.baseline_brier, "{skill:?}");
    assert!(!skill.is_low(), "{skill:?}");
    let json: serde_json::Value = serde_json::from_str(&model.to_json().unwrap()).unwrap();
    for key in ["auc", "brier", "baseline_brier", "baseline_auc", "note"] {
        assert!(
            !json["metrics"]["skill"][key].is_null(),
            "{key} missing in the model JSON"
        );
    }
    // Confidence now follows skill: a skilful model's well-supported deal is confident.
    let scorer = Scorer::new(Some(model.clone()), model.segments.clone());
    let mut open = deals[0].clone();
    open.outcome = None;
    let s = scorer.score(&open, date("2024-06-01"));
    assert!(s.confidence > 0.5, "{}", s.confidence);
    assert_eq!(scorer.skill_line(), None);
}

#[test]
fn with_no_signal_beyond_segments_the_model_says_so_and_confidence_stays_low() {
    // Outcomes depend on nothing at all: whatever is chosen cannot rank deals.
    let (mut deals, _) = drifting_history(3_000, 9);
    let mut rng = testdata::Rng::new(4);
    for d in &mut deals {
        d.outcome = Some(if rng.unit() < 0.5 {
            crate::domain::Outcome::Won
        } else {
            crate::domain::Outcome::Lost
        });
    }
    let model = train(&deals, &TrainConfig::default())
        .model
        .expect("trained");
    let skill = model.metrics.skill.clone().expect("skill");
    assert!(skill.is_low(), "{skill:?}");
    assert!(skill.brier <= skill.baseline_brier + 1e-12 || model.kind == ModelKind::SegmentRates);
    let scorer = Scorer::new(Some(model.clone()), model.segments.clone());
    assert_eq!(scorer.skill_line(), Some(skill::LOW_SKILL_LINE));
    let mut open = deals[0].clone();
    open.outcome = None;
    let s = scorer.score(&open, date("2024-06-01"));
    assert!(s.confidence <= 0.25, "confidence {}", s.confidence);
}
