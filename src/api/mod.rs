//! REST API v1: JWT auth, RBAC, rate limits, idempotency keys, audit, and the five endpoints.
//!
//! Each request passes auth → rate limit → idempotency (POST) → handler. Handlers read like
//! a short story: resolve the caller's scope → call the engine or store → audit → render.
pub mod alerts;
pub mod auth;
pub mod deals;
pub mod error;
pub mod extract;
pub mod guard;
pub mod models;
pub mod pipeline;
pub mod rate_limit;

use crate::http::AppState;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{get, post};

/// The OpenAPI 3.1 description of /v1, checked in and kept honest by a test that compares
/// its paths with the routes below.
pub const OPENAPI_JSON: &str = include_str!("../../openapi/v1.json");

/// Every authenticated v1 route as (method, path), for the OpenAPI consistency test.
pub const ROUTES: [(&str, &str); 5] = [
    ("post", "/v1/deals/score"),
    ("get", "/v1/deals/high-risk"),
    ("get", "/v1/pipeline/metrics"),
    ("post", "/v1/alerts/configure"),
    ("get", "/v1/models/performance"),
];

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/v1/deals/score", post(deals::score))
        .route("/v1/deals/high-risk", get(deals::high_risk))
        .route("/v1/pipeline/metrics", get(pipeline::metrics))
        .route("/v1/alerts/configure", post(alerts::configure))
        .route("/v1/models/performance", get(models::performance))
        // Layers run bottom-up: authenticate, then count, then dedupe.
        .layer(from_fn_with_state(state.clone(), guard::idempotency))
        .layer(from_fn_with_state(state.clone(), guard::rate_limit))
        .layer(from_fn_with_state(state, guard::authenticate))
        .route("/v1/openapi.json", get(openapi))
}

async fn openapi() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI_JSON,
    )
}

/// Record one data access in the caller's tenant, tagged with the request id. The entry is
/// queued for the batched audit writer; it is in the database within ~50 ms (or on
/// `AppState::flush_audit` / shutdown).
pub(crate) async fn audit(
    st: &AppState,
    caller: &auth::Caller,
    action: &str,
    target: Option<&str>,
    detail: Option<serde_json::Value>,
) -> Result<(), error::ApiError> {
    st.audit
        .record(crate::store::PendingAudit::now(
            &caller.tenant,
            crate::store::AuditEntry {
                actor: &caller.sub,
                action,
                target,
                request_id: Some(&caller.request_id),
                detail,
            },
        ))
        .await;
    Ok(())
}
