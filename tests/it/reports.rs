//! Reporting half of issue 7 on both backends: the retention purge, the monthly retrain's
//! promotion gate, the daily calibration check's rollback, and the signed chart route.
//! The weekly summary on the seed data and the chart route are in `reports/weekly.rs`.
mod weekly;

use crate::support::{TestDb, logistic_only};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use skygeni::domain::{Deal, DealScore, ModelScope, Outcome, RiskCategory, TenantId};
use skygeni::jobs::retention::purge;
use skygeni::notify::planner::AlertPolicy;
use skygeni::service::lifecycle::{
    RetrainConfig, RetrainReport, calibration_check, monthly_retrain_with,
};
use skygeni::service::models::train_and_register;
use skygeni::store::{NewModel, PurgeCounts, Store};

fn ts(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn tenant() -> TenantId {
    TenantId::default_tenant()
}

pub fn score(deal_id: &str, risk: u8, version: &str) -> DealScore {
    DealScore {
        deal_id: deal_id.into(),
        risk_score: risk,
        risk_category: RiskCategory::from_score(risk),
        win_probability: 1.0 - f64::from(risk) / 100.0,
        confidence: 0.5,
        risk_factors: Vec::new(),
        recommendations: Vec::new(),
        similar_deals: Vec::new(),
        model_version: version.into(),
        degraded: false,
    }
}

fn closed(id: &str, created: &str, closed: &str, won: bool) -> Deal {
    let mut d = Deal::example(id);
    d.created_date = day(created);
    d.closed_date = Some(day(closed));
    d.sales_cycle_days = Some((day(closed) - day(created)).num_days());
    d.outcome = Some(if won { Outcome::Won } else { Outcome::Lost });
    d
}

async fn texts(store: &Store, sql: &'static str) -> Vec<String> {
    store
        .unscoped_texts_for_tests(&tenant(), sql)
        .await
        .unwrap()
}

#[tokio::test]
async fn retention_purges_exactly_the_rows_past_their_retention_and_nothing_else() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let t = tenant();
    let other = TenantId::parse("other").unwrap();
    store.add_tenant(&other, "Other", "UTC").await.unwrap();
    let now = ts("2026-06-01T02:00:00Z");

    let mut open = Deal::example("open-old");
    open.created_date = day("2024-01-10");
    let deals = vec![
        closed("closed-old", "2024-01-01", "2024-05-31", true), // > 2 years: purged
        closed("closed-new", "2024-01-01", "2024-06-01", false), // exactly 2 years: kept
        open,
    ];
    store.upsert_deals(&t, &deals, &mut |_| {}).await.unwrap();
    let all = |at: &str| -> (DateTime<Utc>, Vec<DealScore>) {
        (
            ts(at),
            ["closed-old", "closed-new", "open-old"]
                .iter()
                .map(|id| score(id, 60, "v1"))
                .collect(),
        )
    };
    // Three batches; the last (2025-02-01, > 1 year old) stays every deal's current score.
    for at in [
        "2025-01-01T00:00:00Z",
        "2025-05-31T00:00:00Z",
        "2025-02-01T00:00:00Z",
    ] {
        let (at, scores) = all(at);
        store
            .record_scores(&t, at, &scores, &AlertPolicy::default(), &mut |_| {})
            .await
            .unwrap();
    }
    for sql in [
        "INSERT INTO snoozes (tenant_id, deal_id, user_id, until, created_at) VALUES ('default', 'closed-old', 'u1', '2024-05-01T00:00:00.000000Z', '2024-04-01T00:00:00.000000Z')",
        "INSERT INTO feedback (tenant_id, feedback_id, deal_id, user_id, kind, created_at) VALUES ('default', 'f1', 'closed-old', 'u1', 'false_alarm', '2024-04-01T00:00:00.000000Z'), ('default', 'f2', 'open-old', 'u1', 'false_alarm', '2024-04-01T00:00:00.000000Z')",
        "INSERT INTO audit_log (tenant_id, audit_id, at, actor, action) VALUES ('default', 'a-old', '2025-05-31T23:59:59.000000Z', 'cli', 'x'), ('default', 'a-new', '2025-06-01T02:00:00.000000Z', 'cli', 'y')",
        "INSERT INTO idempotency_keys (tenant_id, idem_key, request_hash, created_at) VALUES ('default', 'k-old', 'h', '2026-05-31T01:59:59.000000Z'), ('default', 'k-new', 'h', '2026-05-31T02:00:01.000000Z')",
        "INSERT INTO job_runs (tenant_id, job, scheduled_for, status, started_at, finished_at) VALUES \
         ('default', 'digest', '2026-04-01T08:00:00Z', 'done', '2026-04-01T08:00:00.000000Z', '2026-04-01T08:00:05.000000Z'), \
         ('default', 'digest', '2026-05-20T08:00:00Z', 'done', '2026-05-20T08:00:00.000000Z', '2026-05-20T08:00:05.000000Z'), \
         ('default', 'nightly', '2026-01-01T02:00:00Z', 'running', '2026-01-01T02:00:00.000000Z', NULL)",
        "INSERT INTO outbox (tenant_id, outbox_id, kind, channel, recipient, payload, status, next_attempt_at, idempotency_key, created_at, sent_at) VALUES \
         ('default', 'o-sent-old', 'alert', 'email', 'a@x', '{}', 'sent', '2026-04-01T00:00:00.000000Z', 'i1', '2026-04-01T00:00:00.000000Z', '2026-04-01T00:00:01.000000Z'), \
         ('default', 'o-sent-new', 'alert', 'email', 'a@x', '{}', 'sent', '2026-05-25T00:00:00.000000Z', 'i2', '2026-05-25T00:00:00.000000Z', '2026-05-25T00:00:01.000000Z'), \
         ('default', 'o-dead-old', 'alert', 'email', 'a@x', '{}', 'dead', '2026-04-01T00:00:00.000000Z', 'i3', '2026-04-01T00:00:00.000000Z', NULL), \
         ('default', 'o-pending-old', 'alert', 'email', 'a@x', '{}', 'pending', '2026-04-01T00:00:00.000000Z', 'i4', '2026-04-01T00:00:00.000000Z', NULL)",
    ] {
        store.unscoped_execute_for_tests(&t, sql).await.unwrap();
    }
    store
        .unscoped_execute_for_tests(
            &other,
            "INSERT INTO audit_log (tenant_id, audit_id, at, actor, action) VALUES ('other', 'a-other', '2020-01-01T00:00:00.000000Z', 'cli', 'x')",
        )
        .await
        .unwrap();

    let report = purge(&store, &t, now).await.unwrap();
    assert_eq!(
        report.deleted,
        PurgeCounts {
            deals: 1,
            // closed-old's 3 scores, then the 2025-01-01 and 2025-05-31 rows of the two others.
            risk_scores: 3 + 4,
            deal_children: 2,
            audit_log: 1,
            idempotency_keys: 1,
            job_runs: 1,
            outbox: 1,
        }
    );
    assert_eq!(
        texts(&store, "SELECT deal_id FROM deals ORDER BY deal_id").await,
        ["closed-new", "open-old"]
    );
    assert_eq!(
        texts(
            &store,
            "SELECT deal_id || ' ' || scored_at FROM risk_scores ORDER BY deal_id, scored_at"
        )
        .await,
        [
            "closed-new 2025-02-01T00:00:00.000000Z",
            "open-old 2025-02-01T00:00:00.000000Z"
        ],
        "a current score is kept however old"
    );
    assert_eq!(
        texts(&store, "SELECT feedback_id FROM feedback").await,
        ["f2"]
    );
    assert!(
        texts(&store, "SELECT deal_id FROM snoozes")
            .await
            .is_empty()
    );
    assert_eq!(
        texts(
            &store,
            "SELECT audit_id FROM audit_log WHERE tenant_id = 'default'"
        )
        .await,
        ["a-new"]
    );
    assert_eq!(
        texts(&store, "SELECT idem_key FROM idempotency_keys").await,
        ["k-new"]
    );
    assert_eq!(
        texts(
            &store,
            "SELECT scheduled_for FROM job_runs ORDER BY scheduled_for"
        )
        .await,
        ["2026-01-01T02:00:00Z", "2026-05-20T08:00:00Z"],
        "unfinished runs are never purged"
    );
    assert_eq!(
        texts(&store, "SELECT outbox_id FROM outbox ORDER BY outbox_id").await,
        ["o-dead-old", "o-pending-old", "o-sent-new"],
        "only sent rows are done"
    );
    assert_eq!(
        store
            .unscoped_texts_for_tests(
                &other,
                "SELECT audit_id FROM audit_log WHERE tenant_id = 'other'"
            )
            .await
            .unwrap(),
        ["a-other"],
        "another tenant's rows are not touched"
    );
    let again = purge(&store, &t, now).await.unwrap();
    assert_eq!(again.deleted.total(), 0, "a second run finds nothing");
}

/// Deals where Partner leads win `partner_win` of the time and Inbound leads the rest.
fn regime(
    prefix: &str,
    n: usize,
    created_from: &str,
    spread_days: usize,
    cycles: (i64, i64),
    partner_win: f64,
) -> Vec<Deal> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15 ^ prefix.len() as u64;
    let mut unit = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|i| {
            let partner = i % 2 == 0;
            let p_win = if partner {
                partner_win
            } else {
                1.0 - partner_win
            };
            let created = day(created_from) + Duration::days((i * 13 % spread_days) as i64);
            let cycle = cycles.0 + (i as i64 * 7) % (cycles.1 - cycles.0);
            let mut d = Deal::example(&format!("{prefix}{i:05}"));
            d.created_date = created;
            d.closed_date = Some(created + Duration::days(cycle));
            d.sales_cycle_days = Some(cycle);
            d.lead_source = if partner { "Partner" } else { "Inbound" }.into();
            d.industry = ["SaaS", "FinTech", "EdTech"][i % 3].into();
            d.amount = 5_000.0 + (i * 7_919 % 90_000) as f64;
            d.outcome = Some(if unit() < p_win {
                Outcome::Won
            } else {
                Outcome::Lost
            });
            d
        })
        .collect()
}

/// History before the holdout window (closed by 2024-01) and a holdout cohort open on
/// 2024-03-03 (= 2024-06-01 − 90 days) that closed later.
fn tenant_deals(history_partner_win: f64, holdout_partner_win: f64) -> Vec<Deal> {
    let mut deals = regime("h", 1_200, "2022-06-01", 480, (20, 90), history_partner_win);
    deals.extend(regime(
        "w",
        400,
        "2024-01-15",
        45,
        (50, 88),
        holdout_partner_win,
    ));
    deals
}

async fn register_production(store: &Store, scope: &ModelScope, deals: &[Deal]) -> String {
    let r = train_and_register(store, scope, deals, &logistic_only(), false)
        .await
        .unwrap();
    r.model.expect("production model trained").version
}

/// The tenant's deals (`tenant_deals(history, holdout)`), a production model trained on the
/// opposite world (Partner leads lose), and the monthly retrain run on 2024-06-01: the
/// production version and the retrain's report.
async fn retrain_against_opposite_production(
    store: &Store,
    history_partner_win: f64,
    holdout_partner_win: f64,
) -> (String, RetrainReport) {
    let scope = ModelScope::Tenant(tenant());
    store
        .upsert_deals(
            &tenant(),
            &tenant_deals(history_partner_win, holdout_partner_win),
            &mut |_| {},
        )
        .await
        .unwrap();
    let production = register_production(
        store,
        &scope,
        &regime("x", 1_200, "2022-06-01", 480, (20, 90), 0.2),
    )
    .await;
    let cfg = RetrainConfig {
        train: logistic_only(),
        holdout_days: 90,
    };
    let r = monthly_retrain_with(store, &scope, ts("2024-06-01T03:00:00Z"), &cfg)
        .await
        .unwrap();
    (production, r)
}

#[tokio::test]
async fn the_monthly_retrain_promotes_a_candidate_that_beats_production() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let scope = ModelScope::Tenant(tenant());
    // Production learnt the opposite world (Partner leads lose): the candidate must beat it.
    let (old, r) = retrain_against_opposite_production(&store, 0.8, 0.8).await;
    assert_eq!(r.decision, "promoted", "{}", r.reason);
    let new = r.candidate_version.clone().unwrap();
    assert_eq!(r.production_before.as_deref(), Some(old.as_str()));
    assert_eq!(
        store.model_alias(&scope, "production").await.unwrap(),
        Some(new.clone())
    );
    assert!(r.candidate.as_ref().unwrap().log_loss < r.production.as_ref().unwrap().log_loss);
    assert_eq!(r.holdout_from, day("2024-03-03"));
    let evals = store.model_evaluations(&scope, 5).await.unwrap();
    assert_eq!(evals.len(), 1);
    assert_eq!(
        (evals[0].version.as_str(), evals[0].decision.as_str()),
        (new.as_str(), "promoted")
    );
    assert_eq!(evals[0].baseline_version.as_deref(), Some(old.as_str()));
}

#[tokio::test]
async fn a_worse_candidate_stays_in_staging_with_the_reason_recorded() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let scope = ModelScope::Tenant(tenant());
    // The market turned: history says Partner leads win, the recent window says they lose.
    let (prod, r) = retrain_against_opposite_production(&store, 0.8, 0.2).await;
    assert_eq!(r.decision, "kept_in_staging", "{}", r.reason);
    assert!(
        r.reason.contains("worse than production") && r.reason.contains("log-loss"),
        "{}",
        r.reason
    );
    let cand = r.candidate_version.clone().unwrap();
    assert_eq!(
        store.model_alias(&scope, "production").await.unwrap(),
        Some(prod)
    );
    assert_eq!(
        store.model_alias(&scope, "staging").await.unwrap(),
        Some(cand.clone())
    );
    let evals = store.model_evaluations(&scope, 5).await.unwrap();
    assert_eq!(evals[0].decision, "kept_in_staging");
    assert_eq!(evals[0].reason, r.reason);
}

#[tokio::test]
async fn a_tenant_without_enough_closed_deals_is_skipped_and_keeps_the_global_model() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let scope = ModelScope::Tenant(tenant());
    let few = regime("h", 40, "2023-01-01", 200, (20, 60), 0.5);
    store
        .upsert_deals(&tenant(), &few, &mut |_| {})
        .await
        .unwrap();
    let r = monthly_retrain_with(
        &store,
        &scope,
        ts("2024-06-01T03:00:00Z"),
        &RetrainConfig::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.decision, "skipped");
    assert!(r.reason.contains("global model"), "{}", r.reason);
    assert!(store.list_models(&scope).await.unwrap().is_empty());
}

async fn two_production_versions(store: &Store) {
    let scope = ModelScope::Tenant(tenant());
    for v in ["v1", "v2"] {
        store
            .save_model(
                &scope,
                &NewModel {
                    version: v,
                    kind: "logistic",
                    training_from: None,
                    training_to: None,
                    metrics_json: "{}".into(),
                    artifact_json: "{}".into(),
                },
            )
            .await
            .unwrap();
        store
            .set_model_alias(&scope, "production", v, "test")
            .await
            .unwrap();
    }
}

/// Ten deals scored by v2 the day before `closing` with P(win) = `p_win`, then lost on it.
async fn close_ten(store: &Store, closing: &str, p_win: f64) {
    let t = tenant();
    let ids: Vec<String> = (0..10).map(|i| format!("c{closing}-{i}")).collect();
    let mut deals: Vec<Deal> = ids
        .iter()
        .map(|id| {
            let mut d = Deal::example(id);
            d.created_date = day("2026-01-01");
            d
        })
        .collect();
    store.upsert_deals(&t, &deals, &mut |_| {}).await.unwrap();
    let risk = ((1.0 - p_win) * 100.0).round() as u8;
    let scores: Vec<DealScore> = ids.iter().map(|id| score(id, risk, "v2")).collect();
    let at = day(closing).and_hms_opt(0, 0, 0).unwrap().and_utc() - Duration::hours(12);
    store
        .record_scores(&t, at, &scores, &AlertPolicy::default(), &mut |_| {})
        .await
        .unwrap();
    for d in &mut deals {
        d.closed_date = Some(day(closing));
        d.sales_cycle_days = Some((day(closing) - d.created_date).num_days());
        d.outcome = Some(Outcome::Lost);
    }
    store.upsert_deals(&t, &deals, &mut |_| {}).await.unwrap();
}

#[tokio::test]
async fn calibration_error_above_ten_percent_three_days_running_rolls_production_back() {
    let db = TestDb::new().await;
    let store = db.store().await;
    two_production_versions(&store).await;
    let scope = ModelScope::Tenant(tenant());
    for (i, date) in ["2026-03-01", "2026-03-02", "2026-03-03"]
        .into_iter()
        .enumerate()
    {
        // Predicted 10 % loss, all lost: 90 points off.
        close_ten(&store, date, 0.9).await;
        let now = day(date).and_hms_opt(6, 0, 0).unwrap().and_utc();
        let r = calibration_check(&store, &tenant(), now).await.unwrap();
        assert_eq!(r.deals, 10, "{date}: {}", r.note);
        assert!(r.breached && (r.calibration_error.unwrap() - 0.9).abs() < 1e-9);
        assert_eq!(r.consecutive_bad_days, i + 1);
        if i < 2 {
            assert_eq!(r.rolled_back, None, "{date}: two bad days are not enough");
            assert_eq!(
                store
                    .model_alias(&scope, "production")
                    .await
                    .unwrap()
                    .as_deref(),
                Some("v2")
            );
        } else {
            let rb = r.rolled_back.clone().expect("rolled back on the third day");
            assert_eq!((rb.from.as_str(), rb.to.as_str()), ("v2", "v1"));
            assert!(rb.reason.contains("3 consecutive days"), "{}", rb.reason);
        }
    }
    assert_eq!(
        store
            .model_alias(&scope, "production")
            .await
            .unwrap()
            .as_deref(),
        Some("v1")
    );
    let checks = store
        .calibration_checks(&tenant(), day("2026-03-04"), 5)
        .await
        .unwrap();
    assert_eq!(
        checks[0].rolled_back_to.as_deref(),
        Some("v1"),
        "visible in the check history"
    );
}

#[tokio::test]
async fn a_good_day_or_a_gap_breaks_the_streak_of_bad_calibration_days() {
    let db = TestDb::new().await;
    let store = db.store().await;
    two_production_versions(&store).await;
    // bad, bad, good (predicted 100 % loss... as close as a score gets), bad, (no check on 03-05), bad
    for (date, p_win, breached) in [
        ("2026-03-01", 0.9, true),
        ("2026-03-02", 0.9, true),
        ("2026-03-03", 0.05, false),
        ("2026-03-04", 0.9, true),
        ("2026-03-06", 0.9, true),
    ] {
        close_ten(&store, date, p_win).await;
        let now = day(date).and_hms_opt(6, 0, 0).unwrap().and_utc();
        let r = calibration_check(&store, &tenant(), now).await.unwrap();
        assert_eq!(r.breached, breached, "{date}: {}", r.note);
        assert!(
            r.consecutive_bad_days < 3 && r.rolled_back.is_none(),
            "{date}: {}",
            r.note
        );
    }
    let scope = ModelScope::Tenant(tenant());
    assert_eq!(
        store
            .model_alias(&scope, "production")
            .await
            .unwrap()
            .as_deref(),
        Some("v2")
    );
}

#[tokio::test]
async fn too_few_closed_deals_give_no_verdict_and_carry_over_to_the_next_check() {
    let db = TestDb::new().await;
    let store = db.store().await;
    two_production_versions(&store).await;
    let r = calibration_check(&store, &tenant(), ts("2026-03-01T06:00:00Z"))
        .await
        .unwrap();
    assert_eq!((r.deals, r.calibration_error, r.breached), (0, None, false));
    close_ten(&store, "2026-03-01", 0.9).await;
    let r = calibration_check(&store, &tenant(), ts("2026-03-02T06:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        r.deals, 10,
        "deals closed since the last check with a verdict: {}",
        r.note
    );
}

#[tokio::test]
async fn the_global_retrain_learns_from_every_tenant_and_promotes_when_there_is_no_production() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let second = TenantId::parse("second").unwrap();
    store.add_tenant(&second, "Second", "UTC").await.unwrap();
    // Each tenant alone is below the 200-deal minimum; together they are enough.
    let deals = tenant_deals(0.8, 0.8);
    let (a, b) = deals.split_at(deals.len() / 2);
    store
        .upsert_deals(&tenant(), &a[..150], &mut |_| {})
        .await
        .unwrap();
    store
        .upsert_deals(&second, &b[..150], &mut |_| {})
        .await
        .unwrap();
    store
        .upsert_deals(&second, &deals[1_200..], &mut |_| {})
        .await
        .unwrap();
    let cfg = RetrainConfig {
        train: logistic_only(),
        holdout_days: 90,
    };
    let tenant_only = monthly_retrain_with(
        &store,
        &ModelScope::Tenant(tenant()),
        ts("2024-06-01T03:00:00Z"),
        &cfg,
    )
    .await
    .unwrap();
    assert_eq!(tenant_only.decision, "skipped", "{}", tenant_only.reason);
    let r = monthly_retrain_with(
        &store,
        &ModelScope::Global,
        ts("2024-06-01T03:00:00Z"),
        &cfg,
    )
    .await
    .unwrap();
    assert_eq!(r.decision, "promoted", "{}", r.reason);
    assert_eq!(r.training_deals, 300);
    assert!(r.reason.contains("no production model"), "{}", r.reason);
    assert_eq!(
        store
            .model_alias(&ModelScope::Global, "production")
            .await
            .unwrap(),
        r.candidate_version
    );
    assert_eq!(
        store
            .model_evaluations(&ModelScope::Global, 5)
            .await
            .unwrap()
            .len(),
        1
    );
}
