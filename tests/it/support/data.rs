//! Test data written once: the seed file, generated deals, users, a fixed score, dates, and a
//! small trained model.
use chrono::{DateTime, NaiveDate, Utc};
use skygeni::crm::parse_csv_bytes;
use skygeni::crm::synthetic::generated_csv;
use skygeni::domain::{
    Deal, DealScore, FactorCode, ModelScope, Priority, Recommendation, RiskCategory, RiskFactor,
    TenantId,
};
use skygeni::engine::{TrainConfig, TrainReport};
use skygeni::store::Store;

pub use skygeni::crm::synthetic::{SEED_HEADER as HEADER, generated_rows};

/// Path of the bundled seed dataset.
pub fn seed_csv() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/skygeni_sales_data.csv")
}

pub fn t(s: &str) -> TenantId {
    TenantId::parse(s).unwrap()
}

/// The date the generated deals are read on.
pub fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 6, 1).unwrap()
}

pub fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// `n` generated deals with ids `prefix…` (reps rep_0..rep_24, one in five open) as of
/// [`as_of`].
pub fn generated_deals(n: usize, prefix: &str) -> Vec<Deal> {
    parse_csv_bytes(generated_csv(n, prefix).as_bytes(), as_of())
        .unwrap()
        .deals
}

/// A user `id` with the address `id@example.com` and the name `id` (role, manager).
pub async fn add_user(
    store: &Store,
    tenant: &TenantId,
    id: &str,
    role: &str,
    manager: Option<&str>,
) {
    let email = format!("{id}@example.com");
    store
        .upsert_user(
            tenant,
            &skygeni::store::NewUser {
                user_id: id,
                email: Some(&email),
                name: Some(id),
                role,
                manager_id: manager,
            },
        )
        .await
        .unwrap();
}

/// A model score of `risk` for `deal_id`, with one factor and one recommendation.
pub fn score(deal_id: &str, risk: u8) -> DealScore {
    DealScore {
        deal_id: deal_id.into(),
        risk_score: risk,
        risk_category: RiskCategory::from_score(risk),
        win_probability: 1.0 - f64::from(risk) / 100.0,
        confidence: 0.8,
        risk_factors: vec![RiskFactor {
            code: FactorCode::LeadSource,
            impact: -0.3,
            impact_pp: -2.1,
            description: "Partner leads win 2.1 pp less than Inbound here".into(),
            rule_based: false,
        }],
        recommendations: vec![Recommendation {
            rule: "exec_sponsor".into(),
            priority: Priority::Immediate,
            action: "Bring in an executive sponsor within 24 hours".into(),
            rationale: "Critical risk".into(),
        }],
        similar_deals: vec![],
        model_version: "logistic-test".into(),
        degraded: false,
    }
}

/// Logistic regression only (no boosted trees): the training tests can afford.
pub fn logistic_only() -> TrainConfig {
    TrainConfig {
        gbt: None,
        ..TrainConfig::default()
    }
}

/// Train and register `scope`'s production model on `deals`: logistic only, 3 folds, fast
/// enough for a few hundred generated deals.
pub async fn train_small_model(store: &Store, scope: &ModelScope, deals: &[Deal]) -> TrainReport {
    let cfg = TrainConfig {
        folds: 3,
        ..logistic_only()
    };
    skygeni::service::models::train_and_register(store, scope, deals, &cfg, false)
        .await
        .unwrap()
}
