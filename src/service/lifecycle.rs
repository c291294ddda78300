//! Model lifecycle on the schedule: the monthly retrain (candidate → staging → backtest on the
//! most recent window → promoted only when not worse, else kept in staging with the reason)
//! and the daily calibration check that rolls production back after three bad days.
use super::models::train_and_register;
use crate::domain::{Deal, ModelScope, TenantId};
use crate::engine::backtest::{history_before, holdout};
use crate::engine::metrics::ForecastMetrics;
use crate::engine::promotion::{decide, evaluate_on};
use crate::engine::{Model, SegmentStats, TrainConfig};
use crate::store::{CalibrationCheck, ModelEvaluation, Store, StoreError, format_ts};
use anyhow::Context;
use chrono::{DateTime, Duration, NaiveDate, Utc};

/// The most recent window a candidate is backtested on: it is trained on deals closed before
/// the window and scored on the deals open at its start that have closed since.
pub const HOLDOUT_DAYS: i64 = 90;
/// Calibration error above this (absolute, 0–1) is a bad day.
pub const CALIBRATION_LIMIT: f64 = 0.10;
/// Bad days in a row that roll production back.
pub const BAD_DAYS_FOR_ROLLBACK: usize = 3;
/// Fewer closed deals than this make no verdict; they carry over to the next check.
pub const MIN_CALIBRATION_DEALS: usize = 10;

/// Knobs of the monthly retrain (tests use a deliberately weak training config).
#[derive(Debug, Clone)]
pub struct RetrainConfig {
    pub train: TrainConfig,
    pub holdout_days: i64,
}

impl Default for RetrainConfig {
    fn default() -> Self {
        RetrainConfig {
            train: TrainConfig::default(),
            holdout_days: HOLDOUT_DAYS,
        }
    }
}

/// What the monthly retrain did for one scope.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RetrainReport {
    pub scope: String,
    pub now: DateTime<Utc>,
    /// `promoted`, `kept_in_staging` or `skipped` (not enough data: nothing registered).
    pub decision: String,
    pub reason: String,
    pub candidate_version: Option<String>,
    pub production_before: Option<String>,
    pub holdout_from: NaiveDate,
    pub training_deals: usize,
    pub candidate: Option<ForecastMetrics>,
    pub production: Option<ForecastMetrics>,
}

/// Retrain `scope` (a tenant on its own closed deals, or the global model on every tenant's).
/// A tenant without enough closed deals is skipped: it keeps using the global model.
pub async fn monthly_retrain(
    store: &Store,
    scope: &ModelScope,
    now: DateTime<Utc>,
) -> anyhow::Result<RetrainReport> {
    monthly_retrain_with(store, scope, now, &RetrainConfig::default()).await
}

pub async fn monthly_retrain_with(
    store: &Store,
    scope: &ModelScope,
    now: DateTime<Utc>,
    cfg: &RetrainConfig,
) -> anyhow::Result<RetrainReport> {
    let deals = training_pool(store, scope).await?;
    let holdout_from = now.date_naive() - Duration::days(cfg.holdout_days);
    let history = history_before(&deals, holdout_from);
    let production_before = store.model_alias(scope, "production").await?;
    let mut report = RetrainReport {
        scope: scope.as_str().to_string(),
        now,
        decision: "skipped".into(),
        reason: String::new(),
        candidate_version: None,
        production_before: production_before.clone(),
        holdout_from,
        training_deals: history.len(),
        candidate: None,
        production: None,
    };
    let trained = train_and_register(store, scope, &history, &cfg.train, true)
        .await
        .with_context(|| format!("failed to train a candidate for {}", scope.as_str()))?;
    let Some(candidate) = trained.model else {
        report.reason = match scope {
            ModelScope::Tenant(_) => format!(
                "{}; the tenant keeps using the global model",
                trained.reason
            ),
            ModelScope::Global => trained.reason,
        };
        return Ok(report);
    };
    report.candidate_version = Some(candidate.version.clone());

    let production = match &production_before {
        Some(v) => match load(store, scope, v).await {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!(scope = scope.as_str(), error = %format!("{e:#}"), "production model unusable");
                None
            }
        },
        None => None,
    };
    let (open, y) = holdout(&deals, holdout_from);
    let stats = SegmentStats::from_closed(&history, cfg.train.min_segment_deals);
    let cand_m = evaluate_on(Some(&candidate), &stats, &open, &y, holdout_from);
    let prod_m = production
        .as_ref()
        .map(|p| evaluate_on(Some(p), &stats, &open, &y, holdout_from));
    let verdict = decide(&cand_m, prod_m.as_ref());
    if verdict.promote {
        store
            .set_model_alias(scope, "production", &candidate.version, &verdict.reason)
            .await?;
    }
    report.decision = if verdict.promote {
        "promoted"
    } else {
        "kept_in_staging"
    }
    .into();
    report.reason = verdict.reason;
    store
        .record_model_evaluation(
            scope,
            &ModelEvaluation {
                evaluated_at: format_ts(now),
                version: candidate.version.clone(),
                baseline_version: production.as_ref().map(|p| p.version.clone()),
                decision: report.decision.clone(),
                reason: report.reason.clone(),
                metrics: serde_json::json!({
                    "holdout_from": holdout_from,
                    "candidate": cand_m,
                    "production": prod_m,
                }),
            },
        )
        .await?;
    report.candidate = Some(cand_m);
    report.production = prod_m;
    Ok(report)
}

async fn training_pool(store: &Store, scope: &ModelScope) -> anyhow::Result<Vec<Deal>> {
    Ok(match scope {
        ModelScope::Tenant(t) => store.load_deals(t).await?,
        ModelScope::Global => {
            let mut all = Vec::new();
            for t in store.list_tenants().await? {
                let id = TenantId::parse(&t.tenant_id).map_err(anyhow::Error::msg)?;
                all.extend(store.load_deals(&id).await?);
            }
            all
        }
    })
}

async fn load(store: &Store, scope: &ModelScope, version: &str) -> anyhow::Result<Model> {
    let json = store.load_model_json(scope, version).await?;
    Model::from_json(&json).with_context(|| format!("version {version} does not load"))
}

/// A production rollback made by the calibration check (the caller alerts admins in Slack).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RollbackInfo {
    pub scope: String,
    pub from: String,
    pub to: String,
    pub reason: String,
}

/// One day's calibration check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CalibrationReport {
    pub tenant: String,
    pub checked_on: NaiveDate,
    /// The production version checked (tenant's, else the global one the tenant uses).
    pub model_version: Option<String>,
    pub closed_since: Option<NaiveDate>,
    pub deals: usize,
    /// |mean predicted P(lost) − observed loss rate|; `None` with too few deals.
    pub calibration_error: Option<f64>,
    pub breached: bool,
    pub consecutive_bad_days: usize,
    pub rolled_back: Option<RollbackInfo>,
    pub note: String,
}

/// Check the production model against the deals that closed since the last check. Calibration
/// error here is calibration-in-the-large (mean forecast vs observed rate): a day's few closes
/// are too few for binned ECE. Three bad days in a row for the same tenant production version
/// roll it back; a global model is never rolled back from one tenant's check.
pub async fn calibration_check(
    store: &Store,
    tenant: &TenantId,
    now: DateTime<Utc>,
) -> anyhow::Result<CalibrationReport> {
    let today = now.date_naive();
    let tenant_scope = ModelScope::Tenant(tenant.clone());
    let tenant_version = store.model_alias(&tenant_scope, "production").await?;
    let model_version = match &tenant_version {
        Some(v) => Some(v.clone()),
        None => store.model_alias(&ModelScope::Global, "production").await?,
    };
    let previous = store.calibration_checks(tenant, today, 30).await?;
    // Deals accumulate until a check had enough of them to give a verdict.
    let closed_since = previous
        .iter()
        .find(|c| c.calibration_error.is_some())
        .map(|c| c.checked_on)
        .or(Some(today - Duration::days(7)));
    let predictions: Vec<_> = store
        .closed_predictions(tenant, closed_since, today)
        .await?
        .into_iter()
        .filter(|p| model_version.as_ref().is_none_or(|v| *v == p.model_version))
        .collect();
    let n = predictions.len();
    let calibration_error = (n >= MIN_CALIBRATION_DEALS).then(|| {
        let mean_p: f64 = predictions
            .iter()
            .map(|p| 1.0 - p.win_probability)
            .sum::<f64>()
            / n as f64;
        let rate = predictions.iter().filter(|p| p.lost).count() as f64 / n as f64;
        (mean_p - rate).abs()
    });
    let breached = calibration_error.is_some_and(|e| e > CALIBRATION_LIMIT);
    let mut streak = usize::from(breached);
    if breached {
        for (i, c) in previous.iter().enumerate() {
            let consecutive = c.checked_on == today - Duration::days(i as i64 + 1);
            if !consecutive
                || !c.breached
                || c.model_version != model_version
                || c.rolled_back_from.is_some()
            {
                break;
            }
            streak += 1;
        }
    }
    let mut note = match calibration_error {
        None => format!(
            "{n} deals closed since {} with a prediction by the production model (need {MIN_CALIBRATION_DEALS}); no verdict yet",
            closed_since.map_or("-".into(), |d| d.to_string())
        ),
        Some(e) => format!(
            "calibration error {:.1} % on {n} deals (limit {:.0} %); {streak} bad day(s) in a row",
            e * 100.0,
            CALIBRATION_LIMIT * 100.0
        ),
    };
    let mut rolled_back = None;
    if streak >= BAD_DAYS_FOR_ROLLBACK {
        if tenant_version.is_some() {
            match store.rollback_production(&tenant_scope).await {
                Ok((from, to)) => {
                    let reason = format!(
                        "calibration error above {:.0} % for {streak} consecutive days",
                        CALIBRATION_LIMIT * 100.0
                    );
                    note = format!("{note}; production rolled back {from} → {to}");
                    rolled_back = Some(RollbackInfo {
                        scope: tenant_scope.as_str().to_string(),
                        from,
                        to,
                        reason,
                    });
                }
                Err(StoreError::Conflict(msg)) => note = format!("{note}; cannot roll back: {msg}"),
                Err(e) => return Err(e.into()),
            }
        } else {
            note = format!(
                "{note}; the tenant uses the global model, which one tenant's check does not roll back"
            );
        }
    }
    store
        .record_calibration_check(
            tenant,
            &CalibrationCheck {
                checked_on: today,
                checked_at: format_ts(now),
                model_version: model_version.clone(),
                deals: n as i64,
                calibration_error,
                breached,
                rolled_back_from: rolled_back.as_ref().map(|r| r.from.clone()),
                rolled_back_to: rolled_back.as_ref().map(|r| r.to.clone()),
            },
        )
        .await?;
    Ok(CalibrationReport {
        tenant: tenant.as_str().to_string(),
        checked_on: today,
        model_version,
        closed_since,
        deals: n,
        calibration_error,
        breached,
        consecutive_bad_days: streak,
        rolled_back,
        note,
    })
}

/// Recent lifecycle records, for `skygeni model list` and `/v1/models/performance`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LifecycleHistory {
    /// Monthly retrain decisions of the scope, newest first (why a version sits in staging).
    pub evaluations: Vec<ModelEvaluation>,
    /// The tenant's daily calibration checks, newest first (empty for the global scope).
    pub calibration_checks: Vec<CalibrationCheck>,
}

pub async fn history(
    store: &Store,
    tenant: &TenantId,
    scope: &ModelScope,
) -> anyhow::Result<LifecycleHistory> {
    let calibration_checks = match scope {
        ModelScope::Tenant(_) => {
            // Every check up to today (checks are dated by the UTC day they ran).
            let tomorrow = store.now().date_naive() + Duration::days(1);
            store.calibration_checks(tenant, tomorrow, 7).await?
        }
        ModelScope::Global => Vec::new(),
    };
    Ok(LifecycleHistory {
        evaluations: store.model_evaluations(scope, 10).await?,
        calibration_checks,
    })
}
