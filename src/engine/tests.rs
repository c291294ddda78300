//! Engine-level tests: training, scoring, explanations and the artifact round trip.
use super::features::{N_FEATURES, Row, observe, row};
use super::testdata::{date, planted_partner_effect, seed_deals};
use super::*;
use crate::domain::{Deal, FactorCode};

fn logistic_only() -> TrainConfig {
    TrainConfig {
        gbt: None,
        ..TrainConfig::default()
    }
}

fn open_deal(id: &str, industry: &str, source: &str, amount: f64, created: &str) -> Deal {
    let mut d = Deal::example(id);
    d.industry = industry.into();
    d.lead_source = source.into();
    d.amount = amount;
    d.created_date = date(created);
    d
}

#[test]
fn contributions_add_up_to_the_linear_model_output() {
    let report = train(&seed_deals(), &logistic_only());
    let model = report.model.expect("seed data is enough to train");
    // The seed history has little signal beyond segments, so the segment-rate model may win;
    // both are logistic, whose contributions must add up exactly.
    assert!(
        matches!(model.params, model::Params::Logistic(_)),
        "{:?}",
        model.kind
    );
    let as_of = date("2024-03-01");
    for (i, d) in seed_deals().iter().take(200).enumerate() {
        let mut d = d.clone();
        d.outcome = None;
        d.created_date = as_of - chrono::Days::new((i * 3) as u64);
        let r: Row = row(
            &observe(&d, as_of, &model.segments, None),
            &model.segments,
            &model.imputes,
        );
        let mut c: Row = [0.0; N_FEATURES];
        let base = model.contributions(&r, &mut c);
        let total = base + c.iter().sum::<f64>();
        assert!(
            (total - model.log_odds(&r)).abs() < 1e-6,
            "deal {i}: {total} vs {}",
            model.log_odds(&r)
        );
        // The factor grouping (with the blended rate split onto segments) keeps the sum too.
        let grouped: f64 = explain::model_candidates(&model, &r, &c)
            .iter()
            .map(|(_, v)| v)
            .sum();
        assert!(
            (base + grouped - total).abs() < 1e-6,
            "grouping lost {}",
            base + grouped - total
        );
    }
}

#[test]
fn two_different_deals_get_different_factors() {
    let deals = planted_partner_effect(3_000, 11);
    let model = train(&deals, &logistic_only()).model.expect("trained");
    let scorer = Scorer::new(Some(model), SegmentStats::from_closed(&deals, 10));
    let as_of = date("2024-09-01");
    let a = scorer.score(
        &open_deal("A", "SaaS", "Partner", 90_000.0, "2024-03-01"),
        as_of,
    );
    let b = scorer.score(
        &open_deal("B", "FinTech", "Inbound", 6_000.0, "2024-08-25"),
        as_of,
    );
    assert_eq!(a.risk_factors.len(), 3);
    assert_eq!(b.risk_factors.len(), 3);
    let texts = |s: &crate::domain::DealScore| {
        s.risk_factors
            .iter()
            .map(|f| f.description.clone())
            .collect::<Vec<_>>()
    };
    assert_ne!(texts(&a), texts(&b));
    assert_eq!(
        a.risk_factors[0].code,
        FactorCode::LeadSource,
        "{:?}",
        a.risk_factors
    );
    assert!(
        a.risk_factors[0].description.contains("Partner leads win"),
        "{}",
        a.risk_factors[0].description
    );
    assert!(a.risk_score > b.risk_score);
}

#[test]
fn corrupt_model_json_is_an_error_not_a_panic() {
    let model = train(&planted_partner_effect(800, 3), &logistic_only())
        .model
        .expect("trained");
    let json = model.to_json().expect("serialise");
    let back = Model::from_json(&json).expect("round trip");
    assert_eq!(back, model);
    assert!(Model::from_json("{not json").is_err());
    assert!(
        Model::from_json(&json[..json.len() / 2]).is_err(),
        "truncated"
    );
    let shrunk = json.replacen("\"weights\": [", "\"weights\": [1.0, ", 1);
    assert!(
        matches!(Model::from_json(&shrunk), Err(ModelError::Invalid(_))),
        "schema mismatch"
    );
}

#[test]
fn a_scorer_without_a_model_gives_degraded_scores_with_factors_and_actions() {
    let deals = seed_deals();
    let scorer = Scorer::new(None, SegmentStats::from_closed(&deals, 10));
    let mut d = open_deal("X", "EdTech", "Partner", 20_000.0, "2024-01-01");
    d.last_activity_date = Some(date("2024-02-01"));
    let s = scorer.score(&d, date("2024-03-01"));
    assert!(s.degraded);
    assert_eq!(s.model_version, scorer::FALLBACK_VERSION);
    assert_eq!(s.risk_factors.len(), 3);
    assert!(!s.recommendations.is_empty());
    assert_eq!(
        s.risk_factors[0].code,
        FactorCode::Inactivity,
        "activity warning leads"
    );
    assert_eq!(s.risk_factors[0].description, "No activity for 29 days");
    assert!(s.recommendations.iter().any(|r| r.rule == "re_engage"));
    let stats = scorer.stats();
    let blended = [
        stats.lookup(Dimension::Industry, "EdTech").win_rate,
        stats.lookup(Dimension::ProductType, "Core").win_rate,
        stats.lookup(Dimension::LeadSource, "Partner").win_rate,
        stats.lookup(Dimension::Region, "Europe").win_rate,
    ]
    .iter()
    .sum::<f64>()
        / 4.0;
    assert!(
        (s.win_probability - blended).abs() < 1e-9,
        "P(lost) = 1 − blended rate"
    );
}

#[test]
fn training_refuses_thin_history_and_says_why() {
    let deals = planted_partner_effect(150, 5);
    let report = train(&deals, &TrainConfig::default());
    assert!(!report.trained);
    assert!(report.model.is_none());
    assert!(
        report.reason.contains("150 closed deals"),
        "{}",
        report.reason
    );
    let lenient = TrainConfig {
        min_deals: 100,
        min_won: 20,
        min_lost: 20,
        ..logistic_only()
    };
    assert!(train(&deals, &lenient).trained, "configurable thresholds");
}

#[test]
fn deals_without_activity_fields_score_and_every_score_has_an_action() {
    let deals = seed_deals();
    let model = train(&deals, &logistic_only()).model.expect("trained");
    assert!(
        model.features.iter().all(|f| f.index() < Feature::N_BASE),
        "no activity data → base features only: {:?}",
        model.features
    );
    let scorer = Scorer::new(Some(model), SegmentStats::from_closed(&deals, 10));
    let open: Vec<Deal> = deals
        .iter()
        .take(500)
        .map(|d| Deal {
            outcome: None,
            ..d.clone()
        })
        .collect();
    let scores = scorer.score_batch(&open, date("2024-06-30"));
    assert_eq!(scores.len(), 500);
    for s in &scores {
        assert_eq!(s.risk_factors.len(), 3);
        assert!(!s.recommendations.is_empty());
        assert!(!s.degraded);
        assert!((0.0..=1.0).contains(&s.confidence));
        assert_eq!(
            s.risk_category,
            crate::domain::RiskCategory::from_score(s.risk_score)
        );
    }
}

#[test]
fn activity_signals_enter_the_model_when_history_has_them() {
    let mut deals = planted_partner_effect(1_500, 9);
    for (i, d) in deals.iter_mut().enumerate() {
        let close = d.closed_date.expect("closed");
        // Lost deals went quiet a month before closing; won ones were touched last week.
        let quiet = if d.outcome == Some(crate::domain::Outcome::Lost) && i % 2 == 0 {
            30
        } else {
            3
        };
        d.last_activity_date = Some(close - chrono::Days::new(quiet));
        d.close_date_pushes = Some((i % 3) as u32);
    }
    let model = train(&deals, &logistic_only()).model.expect("trained");
    assert!(model.features.contains(&Feature::DaysSinceActivity));
    assert!(model.features.contains(&Feature::CloseDatePushes));
    assert!(
        !model.features.contains(&Feature::AmountCutPct),
        "never present → not in schema"
    );
    let scorer = Scorer::new(Some(model), SegmentStats::from_closed(&deals, 10));
    let mut d = open_deal("Q", "SaaS", "Inbound", 20_000.0, "2024-06-01");
    d.close_date_pushes = Some(3);
    let s = scorer.score(&d, date("2024-07-01"));
    assert_eq!(s.risk_factors[0].description, "Close date pushed 3 times");
    assert!(s.risk_factors[0].rule_based);
    let bare = scorer.score(
        &open_deal("B", "SaaS", "Inbound", 20_000.0, "2024-06-01"),
        date("2024-07-01"),
    );
    assert_eq!(
        bare.risk_factors.len(),
        3,
        "no activity fields → still scores"
    );
}
