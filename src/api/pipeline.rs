//! GET /v1/pipeline/metrics: the tenant's (admin), team's (manager) or own (rep) pipeline, in
//! the design's shape (`pipeline_value`, `risk_adjusted_value`, `rem_score`, …) plus ours.
use super::extract::ApiQuery;
use super::{audit, plain_zeros, valid};
use crate::app::AppState;
use crate::auth::{Caller, Role, deal_scope};
use crate::engine::trend::trend_indicators;
use crate::engine::{DEFAULT_SAVE_RATE, PipelineMetrics};
use crate::http_error::ApiResult;
use crate::service::metrics::pipeline_view_of;
use crate::service::models::MIN_SEGMENT_DEALS;
use axum::extract::State;
use axum::{Extension, Json};
use chrono::NaiveDate;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsParams {
    pub as_of: Option<NaiveDate>,
}

pub async fn metrics(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(p): ApiQuery<MetricsParams>,
) -> ApiResult<Json<serde_json::Value>> {
    let as_of = p.as_of.unwrap_or_else(|| st.clock.now().date_naive());
    valid::as_of(as_of)?;
    let scope = deal_scope(&st.store, &caller).await?;
    let loaded = st.scorers.get(&st.store, &caller.tenant).await?;
    let (open, history): (Vec<_>, Vec<_>) = st
        .store
        .load_deals(&caller.tenant)
        .await?
        .into_iter()
        .filter(|d| scope.allows(d))
        .partition(|d| d.is_open());
    let trend = trend_indicators(&history, as_of, MIN_SEGMENT_DEALS);
    let view = pipeline_view_of(
        &st.store,
        &caller.tenant,
        &loaded,
        open,
        as_of,
        DEFAULT_SAVE_RATE,
    )
    .await?;
    let scope_name = match caller.role {
        Role::Admin => "tenant",
        Role::Manager => "team",
        Role::Rep => "own",
    };
    audit(
        &st,
        &caller,
        "pipeline.metrics",
        None,
        Some(serde_json::json!({"scope": scope_name, "open_deals": view.metrics.open_deals})),
    )
    .await?;
    let m: &PipelineMetrics = &view.metrics;
    let mut distribution = serde_json::Map::new();
    let mut amounts = serde_json::Map::new();
    for b in &m.risk_distribution {
        distribution.insert(b.category.as_str().into(), b.deals.into());
        amounts.insert(b.category.as_str().into(), b.amount.into());
    }
    let mut body = serde_json::json!({
        "tenant_id": caller.tenant,
        "pipeline_value": m.pipeline_value,
        "risk_adjusted_value": m.rapv,
        "optimism_gap": m.optimism_gap,
        "optimism_gap_pct": m.optimism_gap_pct,
        "rem_score": m.rem,
        "win_rate_pct": 100.0 * m.win_rate,
        "avg_sales_cycle_days": m.avg_cycle_days,
        "total_open_deals": m.open_deals,
        "risk_distribution": distribution,
        "trend_indicators": trend,
        "as_of": format!("{as_of}T00:00:00Z"),
        "as_of_date": as_of,
        "avg_deal_size": m.avg_deal_size,
        "risk_amount_distribution": amounts,
        "score_trend": m.trend,
        "recovery": m.recovery,
        "scope": scope_name,
        "model_version": loaded.scorer.version(),
        "degraded": loaded.source == crate::service::models::ModelSource::Degraded,
        "scored_in_memory": view.scored_in_memory,
    });
    plain_zeros(&mut body);
    Ok(Json(body))
}
