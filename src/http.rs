//! The HTTP router: every edge's routes assembled, /healthz /readyz /metrics, request ids,
//! tracing, the 1 MB body limit and the error envelope. The state it serves and the server's
//! lifecycle live in [`crate::app`].
use crate::api;
use crate::app::AppState;
use crate::error::{ErrorBody, ErrorCode};
use crate::http_limits::{BODY_LIMIT, REQUEST_ID};
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};
use std::time::Instant;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// The whole router: probes, metrics, REST v1, Slack, the Salesforce routes, charts and
/// unsubscribe links, with the cross-cutting layers.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .merge(api::router(state.clone()))
        .merge(crate::notify::chart_route::router())
        .merge(crate::notify::unsubscribe_route::router())
        .merge(crate::crm::salesforce::routes::router())
        .merge(crate::slack::handlers::routes::router(state.clone()))
        .route_layer(middleware::from_fn(track_latency))
        .fallback(not_found)
        .with_state(state.clone());
    // Outermost first: id → trace → propagate id → error envelope → body deadline → signed
    // routes' pre-body check → body limit → routes.
    routes
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::http_limits::signed_routes,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::http_limits::body_deadline,
        ))
        .layer(middleware::from_fn_with_state(state, error_envelope))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                let id = req
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %req.method(), uri = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Ready = database reachable and every migration applied. The model state is reported but
/// never makes us unready: without a model we still score, marked `degraded`.
async fn readyz(State(st): State<AppState>) -> Response {
    let db = st.store.ping().await;
    let migrations = st.store.migration_status().await;
    let global = crate::service::models::load_scorer(
        &st.store,
        &crate::domain::TenantId::default_tenant(),
        &[],
    )
    .await;
    let model = match &global {
        Ok(l) => serde_json::json!({
            "default_tenant_source": l.source,
            "version": l.scorer.version(),
            "degraded": l.source == crate::service::models::ModelSource::Degraded,
            "note": l.note,
        }),
        Err(e) => serde_json::json!({"error": format!("{e:#}")}),
    };
    // Counts only: /readyz is unauthenticated, and tenant ids are not public.
    let mut cached = serde_json::Map::new();
    for (_, source, _) in st.scorers.summary() {
        let key = serde_json::to_value(source)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "unknown".into());
        let n = cached.get(&key).and_then(|v| v.as_u64()).unwrap_or(0);
        cached.insert(key, (n + 1).into());
    }
    let migrations_ok = matches!(migrations, Ok((a, k)) if a >= k);
    let ready = db.is_ok() && migrations_ok;
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not_ready" },
        "database": {
            "backend": st.store.backend().name(),
            "ok": db.is_ok(),
            "error": db.err().map(|e| e.to_string()),
        },
        "migrations": match &migrations {
            Ok((applied, known)) => serde_json::json!({"ok": migrations_ok, "applied": applied, "expected": known}),
            Err(e) => serde_json::json!({"ok": false, "error": e.to_string()}),
        },
        "model": model,
        "cached_scorers": cached,
        "rate_limits": if st.limiter.uses_redis() { "redis" } else { "in_process" },
        // Email never makes us unready: alerts still go to Slack.
        "email": crate::notify::sendgrid::email_status(&st.settings),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics_text(State(st): State<AppState>) -> Response {
    st.metrics.run_upkeep();
    let text = st.metrics.render();
    let text = if st.settings.metrics_tenant_labels {
        text
    } else {
        crate::http_limits::without_tenant_series(&text)
    };
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        text,
    )
        .into_response()
}

async fn not_found() -> crate::http_error::ApiError {
    crate::http_error::ApiError::NotFound("no such route".into())
}

/// Request latency per route (the matched pattern, so ids do not explode the label set).
async fn track_latency(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let started = Instant::now();
    let resp = next.run(req).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    latency_histogram(route, &method, resp.status().as_u16())
        .record(started.elapsed().as_secs_f64());
    resp
}

/// The histogram of one (route, method, status), registered once: building the labelled key
/// and looking it up in the recorder on every request cost three allocations and a hash of
/// the labels per request. Routes are the router's patterns, so the set stays small.
fn latency_histogram(route: &str, method: &Method, status: u16) -> metrics::Histogram {
    type Handles = HashMap<String, Vec<(Method, u16, metrics::Histogram)>>;
    static HANDLES: OnceLock<RwLock<Handles>> = OnceLock::new();
    let handles = HANDLES.get_or_init(Default::default);
    let find = |h: &Handles| {
        h.get(route)?
            .iter()
            .find(|(m, s, _)| m == method && *s == status)
            .map(|(_, _, hist)| hist.clone())
    };
    if let Some(h) = find(&handles.read().unwrap_or_else(|p| p.into_inner())) {
        return h;
    }
    let mut all = handles.write().unwrap_or_else(|p| p.into_inner());
    if let Some(h) = find(&all) {
        return h;
    }
    let hist = metrics::histogram!(
        "http_request_duration_seconds",
        "method" => method.to_string(),
        "route" => route.to_string(),
        "status" => status.to_string()
    );
    all.entry(route.to_string())
        .or_default()
        .push((method.clone(), status, hist.clone()));
    hist
}

/// Every error response leaves in our shape with the request id: our own errors get the id
/// added; anything else (axum's plain-text rejections, 405s) is rewritten. An
/// `internal_error` also names the support contact (SKYGENI_SUPPORT_CONTACT).
async fn error_envelope(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let resp = next.run(req).await;
    let status = resp.status();
    if status.as_u16() < 400 {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, BODY_LIMIT * 4)
        .await
        .unwrap_or_default();
    let mut value = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(v) if v.get("error").is_some() => v,
        _ => {
            let text = String::from_utf8_lossy(&bytes).trim().to_string();
            let message = if text.is_empty() || text.len() > 500 {
                status.canonical_reason().unwrap_or("error").to_string()
            } else {
                text
            };
            serde_json::to_value(ErrorBody::new(code_for(status), message))
                .expect("error body serialises")
        }
    };
    if let (Some(obj), Some(id)) = (value.as_object_mut(), request_id) {
        obj.insert("request_id".into(), serde_json::Value::String(id));
    }
    if let Some(obj) = value.as_object_mut()
        && obj.get("error").and_then(|e| e.as_str()) == Some("internal_error")
    {
        obj.insert(
            "support_contact".into(),
            serde_json::Value::String(st.settings.support_contact.clone()),
        );
    }
    let out = serde_json::to_vec(&value).expect("JSON value serialises");
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(out))
}

fn code_for(status: StatusCode) -> ErrorCode {
    match status.as_u16() {
        401 => ErrorCode::Unauthorized,
        403 => ErrorCode::Forbidden,
        404 | 405 => ErrorCode::NotFound,
        409 => ErrorCode::Conflict,
        429 => ErrorCode::RateLimitExceeded,
        400..=499 => ErrorCode::ValidationError,
        _ => ErrorCode::InternalError,
    }
}
