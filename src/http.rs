//! The HTTP service: shared state, router assembly, /healthz /readyz /metrics, request ids,
//! tracing, the 1 MB body limit, the error envelope, and graceful shutdown.
//!
//! `Application::build` binds the listener (port 0 in tests) and reports the port;
//! `run_until_stopped` serves until SIGINT/SIGTERM and gives in-flight requests
//! `SHUTDOWN_GRACE` to finish.
use crate::api;
use crate::config::Settings;
use crate::crypto::{CryptoError, SecretBox};
use crate::error::{ErrorBody, ErrorCode};
use crate::jobs::scorer_cache::{DEFAULT_TTL, ScorerCache};
use crate::store::{AuditWriter, Store};
use anyhow::Context;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// How long in-flight requests may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
pub const REQUEST_ID: &str = "x-request-id";

/// Everything a handler needs, behind one `Arc`: every middleware layer clones the state per
/// request, and cloning a dozen `Arc`s (and dropping them) was 4 % of an API server's CPU.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl std::ops::Deref for AppState {
    type Target = AppParts;
    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct AppParts {
    pub store: Store,
    pub settings: Arc<Settings>,
    pub scorers: Arc<ScorerCache>,
    pub limiter: Arc<api::rate_limit::RateLimiter>,
    pub metrics: PrometheusHandle,
    /// Batched audit writes (see [`crate::store::audit_writer`]).
    pub audit: Arc<AuditWriter>,
    /// Seals Slack/Salesforce tokens at rest; `None` when `SKYGENI_ENCRYPTION_KEY` is unset
    /// (features that store tokens then answer with [`CryptoError::MissingKey`]).
    pub secrets: Option<Arc<SecretBox>>,
    /// Slack Web API client and per-workspace token-refresh locks.
    pub slack: Arc<crate::slack::SlackRuntime>,
    /// Tenants recently confirmed to exist (a token's `tenant_id` must name one).
    pub tenants: Arc<api::auth::KnownTenants>,
    /// Per-tenant pipeline ranks and band edges for relative risk on every surface (short-lived).
    pub standing: Arc<crate::service::standing::StandingCache>,
}

impl AppState {
    /// Fails only on a malformed `SKYGENI_ENCRYPTION_KEY` (a missing one is allowed).
    pub async fn new(settings: Settings, store: Store) -> anyhow::Result<AppState> {
        use secrecy::ExposeSecret;
        let secrets = match &settings.encryption_key {
            None => None,
            Some(key) => Some(Arc::new(SecretBox::new(
                Some(key.expose_secret()),
                settings
                    .encryption_key_previous
                    .as_ref()
                    .map(|k| k.expose_secret()),
            )?)),
        };
        let limiter = api::rate_limit::RateLimiter::connect(settings.redis_url.as_deref()).await;
        Ok(AppState(Arc::new(AppParts {
            secrets,
            slack: Arc::new(crate::slack::SlackRuntime::new(&settings)),
            audit: Arc::new(AuditWriter::spawn(store.clone())),
            store,
            settings: Arc::new(settings),
            scorers: Arc::new(ScorerCache::new(DEFAULT_TTL)),
            limiter: Arc::new(limiter),
            metrics: prometheus(),
            tenants: Arc::new(api::auth::KnownTenants::default()),
            standing: Arc::new(crate::service::standing::StandingCache::default()),
        })))
    }

    /// The token sealer, or an error telling the admin to set the key.
    pub fn secrets(&self) -> Result<&SecretBox, CryptoError> {
        self.secrets.as_deref().ok_or(CryptoError::MissingKey)
    }

    /// Returns once every audit entry recorded so far is in the database.
    pub async fn flush_audit(&self) {
        self.audit.flush().await;
    }
}

/// The process-wide Prometheus recorder (a recorder can be installed once per process).
fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ])
                .expect("bucket list is not empty")
                .install_recorder()
                .expect("no other metrics recorder is installed")
        })
        .clone()
}

/// The whole router: probes, REST v1, and (later) Slack, with the cross-cutting layers.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .merge(api::router(state.clone()))
        .merge(crate::notify::chart_route::router())
        .merge(crate::notify::unsubscribe_route::router())
        .merge(crate::crm::salesforce::routes::router())
        .merge(crate::slack::routes::router(state.clone()))
        .route_layer(middleware::from_fn(track_latency))
        .fallback(not_found)
        .with_state(state.clone());
    // Outermost first: id → trace → propagate id → error envelope → body deadline → signed
    // routes' pre-body check → body limit → routes.
    routes
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(crate::http_limits::signed_routes))
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
    let global = crate::jobs::models::load_scorer(
        &st.store,
        &crate::domain::TenantId::default_tenant(),
        &[],
    )
    .await;
    let model = match &global {
        Ok(l) => serde_json::json!({
            "default_tenant_source": l.source,
            "version": l.scorer.version(),
            "degraded": l.source == crate::jobs::models::ModelSource::Degraded,
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

async fn not_found() -> api::error::ApiError {
    api::error::ApiError::NotFound("no such route".into())
}

/// Request latency per route (the matched pattern, so ids do not explode the label set).
async fn track_latency(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().to_string();
    let started = Instant::now();
    let resp = next.run(req).await;
    metrics::histogram!(
        "http_request_duration_seconds",
        "method" => method,
        "route" => route,
        "status" => resp.status().as_u16().to_string()
    )
    .record(started.elapsed().as_secs_f64());
    resp
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

/// A bound, not yet serving, application.
pub struct Application {
    listener: tokio::net::TcpListener,
    port: u16,
    state: AppState,
}

impl Application {
    /// Connect the store (running migrations), bind `settings.bind`, assemble the router.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let store = Store::connect(&settings.database_url).await?;
        Application::build_with_store(settings, store).await
    }

    pub async fn build_with_store(settings: Settings, store: Store) -> anyhow::Result<Application> {
        let listener = tokio::net::TcpListener::bind(&settings.bind)
            .await
            .with_context(|| format!("failed to bind {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let state = AppState::new(settings, store).await?;
        Ok(Application {
            listener,
            port,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serve until SIGINT or SIGTERM.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serve until `shutdown` completes, then let in-flight requests finish for at most
    /// `SHUTDOWN_GRACE`, then write the queued audit entries.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state.clone();
        let res = self.serve_until(shutdown).await;
        state.flush_audit().await;
        res
    }

    async fn serve_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let limits = crate::accept::Limits {
            max_connections: self.state.settings.max_connections as usize,
            header_timeout: Duration::from_secs(u64::from(self.state.settings.header_timeout_secs)),
        };
        let app = router(self.state);
        let server = crate::accept::serve(self.listener, app, limits, async move {
            let _ = rx.await;
        });
        let mut handle = tokio::spawn(server);
        tokio::select! {
            res = &mut handle => { res.context("server task panicked")?; return Ok(()) },
            _ = shutdown => {}
        }
        tracing::info!("shutdown signal received; draining in-flight requests");
        let _ = tx.send(());
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut handle).await {
            Ok(res) => {
                res.context("server task panicked")?;
                Ok(())
            }
            Err(_) => {
                handle.abort();
                tracing::warn!(
                    "in-flight requests did not finish within {SHUTDOWN_GRACE:?}; dropped"
                );
                Ok(())
            }
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (what orchestrators send).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
