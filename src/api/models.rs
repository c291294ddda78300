//! GET /v1/models/performance (admin only), in the design's shape: the production model's
//! metrics, the share of current predictions per category, drift (PSI) of predictions and two
//! features against the model's training window, and when it was trained and is next retrained.
use super::extract::ApiQuery;
use super::{audit, plain_zeros, valid};
use crate::app::AppState;
use crate::auth::{Caller, Role};
use crate::domain::{Deal, RiskCategory};
use crate::engine::drift::{DriftStatus, psi};
use crate::http_error::{ApiError, ApiResult};
use crate::service::models::ModelSource;
use axum::extract::State;
use axum::{Extension, Json};
use chrono::NaiveDate;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerformanceParams {
    /// Date the current population is seen at (default today, UTC).
    pub as_of: Option<NaiveDate>,
}

pub async fn performance(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(p): ApiQuery<PerformanceParams>,
) -> ApiResult<Json<serde_json::Value>> {
    if caller.role != Role::Admin {
        audit(&st, &caller, "models.performance.denied", None, None).await?;
        return Err(ApiError::Forbidden(
            "model performance is available to admins only".into(),
        ));
    }
    let as_of = p.as_of.unwrap_or_else(|| st.clock.now().date_naive());
    valid::as_of(as_of)?;
    let loaded = st.scorers.get(&st.store, &caller.tenant).await?;
    let history = st.store.load_deals(&caller.tenant).await?;
    let stored = st.store.current_scores(&caller.tenant).await?;
    let open: Vec<&Deal> = history.iter().filter(|d| d.is_open()).collect();

    // Current predictions: the stored current scores, or (none stored yet) scored now.
    let (current_p, source): (Vec<f64>, &str) = if stored.is_empty() {
        let p = open
            .iter()
            .map(|d| loaded.scorer.score_core(d, as_of).p_lost)
            .collect();
        (p, "scored_in_memory")
    } else {
        (
            stored.iter().map(|s| 1.0 - s.win_probability).collect(),
            "stored_scores",
        )
    };
    let model = loaded.scorer.model();
    let window = model.map(|m| (m.training_window.from, m.training_window.to));
    // Baseline: the window's closed deals, each seen half-way through its life (as the model
    // saw its training snapshots), scored by the same scorer.
    let baseline: Vec<(f64, f64, f64)> = history
        .iter()
        .filter(|d| d.outcome.is_some())
        .filter(|d| window.is_none_or(|(from, to)| d.created_date >= from && d.created_date <= to))
        .filter_map(|d| {
            let cycle = d
                .sales_cycle_days
                .or_else(|| d.closed_date.map(|c| (c - d.created_date).num_days()))?;
            let at = d.created_date + chrono::Days::new((cycle.max(0) / 2) as u64);
            let seen = d.as_seen_on(at)?;
            let p = loaded.scorer.score_core(&seen, at).p_lost;
            Some((p, seen.amount, seen.age_on(at) as f64))
        })
        .collect();
    let col = |i: usize| -> Vec<f64> {
        baseline
            .iter()
            .map(|t| match i {
                0 => t.0,
                1 => t.1,
                _ => t.2,
            })
            .collect()
    };
    let cur_amount: Vec<f64> = open.iter().map(|d| d.amount).collect();
    let cur_age: Vec<f64> = open.iter().map(|d| d.age_on(as_of) as f64).collect();

    let mut histogram = [0usize; 10];
    for p in &current_p {
        histogram[((p * 10.0) as usize).min(9)] += 1;
    }
    let mut by_category = serde_json::Map::new();
    for c in RiskCategory::ALL {
        let n = current_p
            .iter()
            .filter(|p| RiskCategory::from_score((*p * 100.0).round() as u8) == c)
            .count();
        by_category.insert(c.as_str().into(), n.into());
    }
    let mean = if current_p.is_empty() {
        None
    } else {
        Some(current_p.iter().sum::<f64>() / current_p.len() as f64)
    };
    let scope = match loaded.source {
        ModelSource::Global => crate::domain::ModelScope::Global,
        _ => crate::domain::ModelScope::Tenant(caller.tenant.clone()),
    };
    let lifecycle = crate::service::lifecycle::history(&st.store, &caller.tenant, &scope).await?;
    let registered_at = match model {
        Some(m) => st
            .store
            .list_models(&scope)
            .await?
            .into_iter()
            .find(|r| r.version == m.version)
            .map(|r| r.created_at),
        None => None,
    };
    let zone: chrono_tz::Tz = st
        .store
        .get_tenant(&caller.tenant)
        .await?
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::UTC);
    let retrain: cron::Schedule = crate::domain::schedule::MONTHLY_RETRAIN_CRON
        .parse()
        .expect("the default retrain schedule is valid cron");
    let next_retrain = retrain
        .after(&st.clock.now().with_timezone(&zone))
        .next()
        .map(|t| crate::store::format_ts(t.with_timezone(&chrono::Utc)));
    let prediction_psi = psi(&col(0), &current_p, 10);
    let amount_psi = psi(&col(1), &cur_amount, 10);
    let age_psi = psi(&col(2), &cur_age, 10);
    // The worst feature's PSI is the feature drift score.
    let feature_drift = [amount_psi.as_ref(), age_psi.as_ref()]
        .into_iter()
        .flatten()
        .map(|d| d.psi)
        .fold(None, |acc: Option<f64>, x| {
            Some(acc.map_or(x, |a| a.max(x)))
        });
    let alert_status = match (prediction_psi.as_ref().map(|d| d.psi), feature_drift) {
        (None, None) => "insufficient_data",
        (p, f) => match DriftStatus::from_psi(p.unwrap_or(0.0).max(f.unwrap_or(0.0))) {
            DriftStatus::Healthy => "healthy",
            DriftStatus::Warning => "warning",
            DriftStatus::Alert => "alert",
        },
    };
    let total = current_p.len().max(1) as f64;
    let shares: serde_json::Map<String, serde_json::Value> = by_category
        .iter()
        .map(|(k, n)| (k.clone(), (n.as_f64().unwrap_or(0.0) / total).into()))
        .collect();
    let oof = model.map(|m| &m.metrics.out_of_fold);
    audit(&st, &caller, "models.performance", None, None).await?;
    let mut body = serde_json::json!({
        "tenant_id": caller.tenant,
        "model_version": loaded.scorer.version(),
        "deployed_at": registered_at,
        "performance_metrics": {
            "roc_auc": oof.and_then(|m| m.roc_auc),
            "precision_high_risk": oof.map(|m| m.high_risk.precision),
            "recall_high_risk": oof.map(|m| m.high_risk.recall),
            "calibration_error": oof.map(|m| m.ece),
            "f1_score": oof.map(|m| m.high_risk.f1),
            "brier": oof.map(|m| m.brier),
            "log_loss": oof.map(|m| m.log_loss),
            "evaluated_on": oof.map(|m| m.n),
        },
        "prediction_distribution": shares,
        "drift_metrics": {
            "feature_drift_score": feature_drift.unwrap_or(0.0),
            "prediction_drift_score": prediction_psi.as_ref().map_or(0.0, |d| d.psi),
            "alert_status": alert_status,
        },
        "last_retrained": registered_at,
        "next_retrain_scheduled": next_retrain,
        "model": model.map(|m| serde_json::json!({
            "version": m.version,
            "kind": m.kind,
            "source": loaded.source,
            "training_window": m.training_window,
            "rows": m.rows,
            "metrics": m.metrics,
        })),
        "degraded": loaded.source == ModelSource::Degraded,
        "lifecycle": lifecycle,
        "note": loaded.note,
        "prediction_detail": {
            "as_of": as_of,
            "source": source,
            "deals": current_p.len(),
            "mean_p_lost": mean,
            "by_category": by_category,
            "histogram": histogram.iter().enumerate().map(|(i, n)| serde_json::json!({
                "from": i as f64 / 10.0, "to": (i + 1) as f64 / 10.0, "deals": n
            })).collect::<Vec<_>>(),
        },
        "drift": {
            "baseline": match window {
                Some((from, to)) => format!("closed deals created {from}..{to}, each seen half-way to its close"),
                None => "all closed deals, each seen half-way to its close (no model: no training window)".into(),
            },
            "thresholds": {"healthy": "< 0.1", "warning": "< 0.25", "alert": ">= 0.25"},
            "predictions": prediction_psi,
            "features": {
                "amount": amount_psi,
                "deal_age_days": age_psi,
            },
        },
    });
    plain_zeros(&mut body);
    Ok(Json(body))
}
