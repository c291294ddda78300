//! REST API v1: JWT auth, RBAC, rate limits, idempotency keys, audit, the design's five
//! endpoints and the tenant's risk settings.
//!
//! Each request passes auth → rate limit → idempotency (POST) → handler. Handlers read like
//! a short story: resolve the caller's scope → call the engine or store → audit → render.
pub mod alerts;
pub mod deals;
pub mod extract;
pub mod guard;
pub mod models;
pub mod pipeline;
pub mod rate_limit;
pub mod score;
pub mod settings;
pub mod standing;
pub mod valid;

use crate::app::AppState;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{get, post};

/// The OpenAPI 3.1 description of /v1, checked in and kept honest by a test that compares
/// its paths with the routes below.
pub const OPENAPI_JSON: &str = include_str!("../../openapi/v1.json");

/// Every authenticated v1 route as (method, path), for the OpenAPI consistency test.
pub const ROUTES: [(&str, &str); 7] = [
    ("post", "/v1/deals/score"),
    ("get", "/v1/deals/high-risk"),
    ("get", "/v1/pipeline/metrics"),
    ("post", "/v1/alerts/configure"),
    ("get", "/v1/models/performance"),
    ("get", "/v1/settings/risk"),
    ("put", "/v1/settings/risk"),
];

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/v1/deals/score", post(score::score))
        .route("/v1/deals/high-risk", get(deals::high_risk))
        .route("/v1/pipeline/metrics", get(pipeline::metrics))
        .route("/v1/alerts/configure", post(alerts::configure))
        .route("/v1/models/performance", get(models::performance))
        .route("/v1/settings/risk", get(settings::get).put(settings::put))
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
    caller: &crate::auth::Caller,
    action: &str,
    target: Option<&str>,
    detail: Option<serde_json::Value>,
) -> Result<(), crate::http_error::ApiError> {
    st.audit
        .record(st.store.pending_audit(
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

/// Rewrite every `-0.0` in `v` as `0.0`: a negative zero is noise to a client (and some
/// parsers render it as "-0").
pub(crate) fn plain_zeros(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Number(n)
            if n.as_f64().is_some_and(|x| x == 0.0 && x.is_sign_negative()) =>
        {
            *v = serde_json::Value::from(0.0);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(plain_zeros),
        serde_json::Value::Object(map) => map.values_mut().for_each(plain_zeros),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn negative_zeros_are_rewritten_everywhere_in_a_body() {
        let mut v = serde_json::json!({"a": -0.0, "b": [1.5, -0.0], "c": {"d": -2.0}});
        super::plain_zeros(&mut v);
        let text = serde_json::to_string(&v).unwrap();
        assert!(!text.contains("-0"), "{text}");
        assert_eq!(v["c"]["d"], -2.0);
    }

    #[test]
    fn the_openapi_time_zone_enum_is_exactly_what_the_server_accepts() {
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI_JSON).unwrap();
        let schema = &doc["components"]["schemas"]["AlertConfig"]["properties"]["daily_digest"]["properties"]
            ["timezone"];
        let mut documented: Vec<&str> = schema["enum"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        documented.sort_unstable();
        let mut accepted: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()).collect();
        accepted.sort_unstable();
        assert_eq!(documented, accepted);
    }
}
