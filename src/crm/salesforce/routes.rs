//! HTTP edge of the Salesforce integration: `GET /salesforce/connect` (admin starts the OAuth
//! web-server flow), `GET /salesforce/oauth/callback`, and `POST /webhooks/salesforce` (signed
//! change notifications from the package's Apex callout: org → its tenant and secret → verify
//! → claim the notification id once → re-pull, score, write back: the sync pipeline's short
//! path, `service::crm_sync::sync_records`, on the org). "Now" is the app's clock.
use super::context::SyncContext;
use super::source::sync_records;
use super::{oauth, org_secret, webhook};
use crate::app::AppState;
use crate::auth::{Role, bearer, verify_token};
use crate::domain::TenantId;
use crate::http_error::ApiError;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::collections::HashMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/salesforce/connect", get(connect))
        .route("/salesforce/oauth/callback", get(callback))
        .route("/webhooks/salesforce", post(notification))
}

fn sync_context(st: &AppState) -> Result<SyncContext, ApiError> {
    let secrets = st
        .secrets
        .clone()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("SKYGENI_ENCRYPTION_KEY is not set")))?;
    Ok(SyncContext::new(
        st.store.clone(),
        st.settings.clone(),
        secrets,
    ))
}

/// An admin JWT (header, or `?token=` since this is opened in a browser) → Salesforce login.
async fn connect(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let secret = st
        .settings
        .jwt_secret
        .as_ref()
        .ok_or_else(|| ApiError::Unauthorized("SKYGENI_JWT_SECRET is not configured".into()))?;
    let token = match q.get("token") {
        Some(t) => t.as_str(),
        None => bearer(
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok()),
        )?,
    };
    let claims = verify_token(secret, token)?;
    if claims.role != Role::Admin {
        return Err(ApiError::Forbidden(
            "only an admin may connect Salesforce".into(),
        ));
    }
    let secrets = st.secrets().map_err(|e| ApiError::Internal(e.into()))?;
    let url = oauth::start_connect(&st.settings, &st.store, secrets, &claims.tenant_id).await?;
    Ok(Redirect::to(&url).into_response())
}

async fn callback(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let bad = |m: String| ApiError::Validation {
        status: StatusCode::BAD_REQUEST,
        message: m,
        details: None,
    };
    if let Some(err) = q.get("error") {
        return Err(bad(format!(
            "Salesforce did not authorize the connection: {err} {}",
            q.get("error_description").map(String::as_str).unwrap_or("")
        )));
    }
    let (Some(code), Some(state)) = (q.get("code"), q.get("state")) else {
        return Err(bad("code and state are required".into()));
    };
    let secrets = st.secrets().map_err(|e| ApiError::Internal(e.into()))?;
    let http = reqwest::Client::new();
    match oauth::finish_connect(
        &st.settings,
        &st.store,
        secrets,
        &http,
        code,
        state,
        st.clock.now(),
    )
    .await
    {
        Ok(tenant) => Ok((
            StatusCode::OK,
            Json(serde_json::json!({"status": "connected", "tenant": tenant})),
        )
            .into_response()),
        Err(oauth::CallbackError::Other(e)) => Err(ApiError::Internal(e)),
        Err(e) => Err(bad(e.to_string())),
    }
}

/// The JSON the Apex class `SkyGeniWebhook` posts.
#[derive(Debug, Deserialize)]
pub struct Notification {
    pub notification_id: String,
    pub org_id: String,
    #[serde(default)]
    pub object: Option<String>,
    #[serde(default)]
    pub change_type: Option<String>,
    pub record_ids: Vec<String>,
}

fn is_sf_id(s: &str) -> bool {
    matches!(s.len(), 15 | 18) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The one answer to every notification that fails authentication (unknown org, an org
/// without a secret yet, bad or missing signature, stale timestamp, unreadable body): the
/// same 401 body, so the answer says nothing about which org ids exist. The reason is logged.
fn rejected() -> ApiError {
    ApiError::Unauthorized(REJECTED.into())
}

/// The message of that one 401 (the pre-body header check in `http_limits` answers with it too).
pub const REJECTED: &str = "webhook rejected";

/// Who sent this notification: the org named in the body is looked up first, then the body
/// is verified with that org's own secret. `None` = reject.
async fn authenticate(
    st: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    now_ms: i64,
) -> Result<Option<TenantId>, ApiError> {
    #[derive(Deserialize)]
    struct Sender {
        org_id: String,
    }
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (ts, sig) = (
        h(super::fields::WEBHOOK_TIMESTAMP_HEADER),
        h(super::fields::WEBHOOK_SIGNATURE_HEADER),
    );
    let Ok(sender) = serde_json::from_slice::<Sender>(body) else {
        tracing::info!("Salesforce notification rejected: body names no org_id");
        return Ok(None);
    };
    let route = st.store.sf_webhook_route(&sender.org_id).await?;
    let opened = route.as_ref().and_then(|(tenant, sealed)| {
        let secrets = st.secrets.as_ref()?;
        Some((
            tenant.clone(),
            org_secret::open(secrets, tenant, sealed.as_deref()?)?,
        ))
    });
    let Some((tenant, secret)) = opened else {
        // Verify against a throw-away key anyway, so an unknown org costs the same time.
        let _ = webhook::verify(&org_secret::generate().into_bytes(), ts, sig, body, now_ms);
        tracing::info!(org = %sender.org_id, known = route.is_some(), "Salesforce notification rejected: org not connected or has no webhook secret yet");
        return Ok(None);
    };
    match webhook::verify(secret.as_bytes(), ts, sig, body, now_ms) {
        Ok(()) => Ok(Some(tenant)),
        Err(e) => {
            tracing::info!(tenant = %tenant, error = %e, "Salesforce notification rejected");
            Ok(None)
        }
    }
}

async fn notification(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(tenant) =
        authenticate(&st, &headers, &body, st.clock.now().timestamp_millis()).await?
    else {
        return Err(rejected());
    };
    let n: Notification = serde_json::from_slice(&body).map_err(|e| ApiError::Validation {
        status: StatusCode::BAD_REQUEST,
        message: format!("notification is not the package's JSON: {e}"),
        details: None,
    })?;
    if n.object.as_deref().is_some_and(|o| o != "Opportunity")
        || n.record_ids.is_empty()
        || n.record_ids.len() > 200
        || !n.record_ids.iter().all(|i| is_sf_id(i))
    {
        return Err(ApiError::Validation {
            status: StatusCode::BAD_REQUEST,
            message: "record_ids must be 1–200 Opportunity ids".into(),
            details: None,
        });
    }
    if !st
        .store
        .claim_sf_notification(&tenant, &n.notification_id, n.record_ids.len())
        .await?
    {
        return Ok(Json(
            serde_json::json!({"status": "duplicate", "notification_id": n.notification_id}),
        )
        .into_response());
    }
    let ctx = sync_context(&st)?;
    match sync_records(&ctx, &tenant, &n.record_ids, st.clock.now()).await {
        Ok(report) => {
            tracing::info!(tenant = %tenant, notification = %n.notification_id, change = ?n.change_type, scored = report.scored, written = report.written_back, "Salesforce notification handled");
            Ok(Json(serde_json::json!({
                "status": "processed",
                "notification_id": n.notification_id,
                "pulled": report.pulled,
                "deleted": report.deleted,
                "scored": report.scored,
                "written_back": report.written_back,
                "tasks_created": report.tasks_created,
            }))
            .into_response())
        }
        Err(e) => {
            // Let Salesforce's retry (or the next delivery) be processed.
            st.store
                .release_sf_notification(&tenant, &n.notification_id)
                .await?;
            Err(ApiError::Internal(e))
        }
    }
}
