//! The middleware in front of every v1 handler: authentication, rate limits, idempotency.
use super::auth::{Caller, bearer, verify_token};
use super::error::ApiError;
use super::rate_limit::Decision;
use crate::http::{AppState, BODY_LIMIT, REQUEST_ID};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// Verify the bearer token and attach the [`Caller`] to the request.
pub async fn authenticate(
    State(st): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let secret = st.settings.jwt_secret.as_ref().ok_or_else(|| {
        ApiError::Unauthorized("the API is disabled: SKYGENI_JWT_SECRET is not set".into())
    })?;
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let claims = verify_token(secret, bearer(header)?)?;
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    req.extensions_mut().insert(Caller {
        sub: claims.sub,
        tenant: claims.tenant_id,
        role: claims.role,
        request_id,
    });
    Ok(next.run(req).await)
}

/// Per-user, then per-tenant fixed windows; 429 with Retry-After when either is spent.
pub async fn rate_limit(
    State(st): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let caller = caller_of(&req)?;
    let checks = [
        (
            "user",
            format!("u:{}:{}", caller.tenant, caller.sub),
            st.settings.rate_limit_user_per_min,
        ),
        (
            "tenant",
            format!("t:{}", caller.tenant),
            st.settings.rate_limit_tenant_per_min,
        ),
    ];
    for (scope, key, limit) in checks {
        if let Decision::Deny { retry_after } = st.limiter.check(&key, limit).await {
            metrics::counter!("skygeni_rate_limited_total", "scope" => scope).increment(1);
            return Err(ApiError::RateLimited { scope, retry_after });
        }
    }
    Ok(next.run(req).await)
}

/// `Idempotency-Key` on POST: the first request's response is stored (per tenant) and
/// replayed for the same key and body; the same key with a different body is a 422.
pub async fn idempotency(
    State(st): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(key) = req.headers().get("idempotency-key") else {
        return Ok(next.run(req).await);
    };
    if req.method() != Method::POST {
        return Ok(next.run(req).await);
    }
    let key = key
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            ApiError::invalid_field(
                "Idempotency-Key",
                "Idempotency-Key must be 1-255 visible characters",
            )
        })?
        .to_string();
    let caller = caller_of(&req)?;
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| ApiError::Validation {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: "request body is larger than 1 MB".into(),
            details: None,
        })?;
    let hash = request_hash(parts.method.as_str(), parts.uri.path(), &caller.sub, &bytes);
    match st
        .store
        .claim_idempotency_key(&caller.tenant, &key, &hash)
        .await?
    {
        Some(rec) if rec.request_hash != hash => Err(ApiError::Validation {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: "this Idempotency-Key was already used with a different request".into(),
            details: Some(serde_json::json!({"field": "Idempotency-Key"})),
        }),
        Some(rec) => match rec.response {
            Some((status, body)) => {
                let mut resp = (
                    StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    )],
                    body,
                )
                    .into_response();
                resp.headers_mut()
                    .insert("idempotent-replayed", HeaderValue::from_static("true"));
                Ok(resp)
            }
            None => Err(ApiError::Conflict(
                "a request with this Idempotency-Key is still being processed; retry shortly"
                    .into(),
            )),
        },
        None => {
            let resp = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            let (parts, body) = resp.into_parts();
            let out = axum::body::to_bytes(body, usize::MAX)
                .await
                .map_err(|e| anyhow::anyhow!("failed to buffer the response: {e}"))?;
            // Server errors are not final: release the key so a retry runs for real.
            let stored = (!parts.status.is_server_error()).then(|| {
                (
                    parts.status.as_u16(),
                    String::from_utf8_lossy(&out).into_owned(),
                )
            });
            st.store
                .finish_idempotency_key(
                    &caller.tenant,
                    &key,
                    stored.as_ref().map(|(s, b)| (*s, b.as_str())),
                )
                .await?;
            Ok(Response::from_parts(parts, Body::from(out)))
        }
    }
}

/// What "the same request" means for an Idempotency-Key: method, path, caller and body.
pub fn request_hash(method: &str, path: &str, sub: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    for part in [method, path, sub] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.update(body);
    hex::encode(h.finalize())
}

fn caller_of(req: &Request) -> Result<Caller, ApiError> {
    req.extensions().get::<Caller>().cloned().ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!("caller missing: auth layer not applied"))
    })
}
