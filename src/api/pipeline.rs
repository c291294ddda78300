//! GET /v1/pipeline/metrics: the tenant's (admin), team's (manager) or own (rep) pipeline.
use super::audit;
use super::auth::{Caller, Role, deal_scope};
use super::error::ApiResult;
use super::extract::ApiQuery;
use crate::engine::{DEFAULT_SAVE_RATE, PipelineMetrics};
use crate::http::AppState;
use crate::jobs::metrics::pipeline_view_of;
use axum::extract::State;
use axum::{Extension, Json};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsParams {
    pub as_of: Option<NaiveDate>,
}

#[derive(Debug, Serialize)]
pub struct MetricsResponse {
    #[serde(flatten)]
    pub metrics: PipelineMetrics,
    /// "tenant", "team" or "own": whose deals these numbers cover.
    pub scope: &'static str,
    pub model_version: String,
    pub degraded: bool,
    /// Open deals without a stored score, scored in memory for this answer.
    pub scored_in_memory: usize,
}

pub async fn metrics(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(p): ApiQuery<MetricsParams>,
) -> ApiResult<Json<MetricsResponse>> {
    let as_of = p.as_of.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let scope = deal_scope(&st.store, &caller).await?;
    let loaded = st.scorers.get(&st.store, &caller.tenant).await?;
    let open: Vec<_> = st
        .store
        .load_open_deals(&caller.tenant)
        .await?
        .into_iter()
        .filter(|d| scope.allows(d))
        .collect();
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
    Ok(Json(MetricsResponse {
        metrics: view.metrics,
        scope: scope_name,
        model_version: loaded.scorer.version().to_string(),
        degraded: loaded.source == crate::jobs::models::ModelSource::Degraded,
        scored_in_memory: view.scored_in_memory,
    }))
}
