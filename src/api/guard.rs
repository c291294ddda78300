//! The middleware in front of every v1 handler: authentication, rate limits, idempotency.
use super::rate_limit::Decision;
use crate::app::AppState;
use crate::auth::{Caller, bearer};
use crate::http_error::ApiError;
use crate::http_limits::{BODY_LIMIT, REQUEST_ID};
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
    let claims =
        st.verified_tokens
            .verify(secret, bearer(header)?, st.settings.jwt_max_lifetime_secs)?;
    st.tenants.check(&st.store, &claims.tenant_id).await?;
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
            return Err(ApiError::RateLimited {
                scope,
                limit,
                retry_after,
            });
        }
    }
    Ok(next.run(req).await)
}

/// How long an unfinished Idempotency-Key claim holds before a retry may take it over (its
/// request died without releasing it: process killed, database lost mid-request).
pub const IDEMPOTENCY_CLAIM_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// Releases a claimed key if the request ends without storing a response: the client hung
/// up (axum drops the handler future) or the handler failed. Without this the key would stay
/// "in flight" and every retry would get 409 until the claim expires.
struct ClaimGuard {
    store: crate::store::Store,
    tenant: crate::domain::TenantId,
    key: String,
    armed: bool,
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (store, tenant, key) = (self.store.clone(), self.tenant.clone(), self.key.clone());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = store.finish_idempotency_key(&tenant, &key, None).await {
                    tracing::warn!(error = %e, "could not release an abandoned Idempotency-Key; it expires on its own");
                }
            });
        }
    }
}

/// `Idempotency-Key` on POST: the first request's response is stored (per tenant) and
/// replayed for the same key and request (method, path, caller, role, body); the same key
/// with a different request is a 422. Server errors and abandoned requests release the key.
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
    // The OpenAPI rule exactly: 1-255 printable ASCII characters, no tab, no space at either end.
    let printable = |b: &u8| (b' '..=b'~').contains(b);
    let key = key
        .to_str()
        .ok()
        .filter(|k| {
            let b = k.as_bytes();
            (1..=255).contains(&b.len())
                && b.iter().all(printable)
                && b[0] != b' '
                && b[b.len() - 1] != b' '
        })
        .ok_or_else(|| {
            ApiError::invalid_field(
                "Idempotency-Key",
                "Idempotency-Key must be 1-255 printable ASCII characters, without a space at either end",
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
    let hash = request_hash(
        parts.method.as_str(),
        parts.uri.path(),
        &caller.sub,
        caller.role.as_str(),
        &bytes,
    );
    let ttl = chrono::Duration::from_std(IDEMPOTENCY_CLAIM_TTL).expect("small duration");
    match st
        .store
        .claim_idempotency_key(&caller.tenant, &key, &hash, st.clock.now(), ttl)
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
            let mut claim = ClaimGuard {
                store: st.store.clone(),
                tenant: caller.tenant.clone(),
                key: key.clone(),
                armed: true,
            };
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
            claim.armed = false;
            Ok(Response::from_parts(parts, Body::from(out)))
        }
    }
}

/// What "the same request" means for an Idempotency-Key: method, path, caller, the caller's
/// role (a replay must not cross a role change) and body.
pub fn request_hash(method: &str, path: &str, sub: &str, role: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    for part in [method, path, sub, role] {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_claim_whose_request_is_dropped_mid_flight_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("g.db").display());
        let store = crate::store::Store::connect(&url).await.unwrap();
        let claim = |store: crate::store::Store| async move {
            let tenant = crate::domain::TenantId::default_tenant();
            let ttl = chrono::Duration::seconds(60);
            store
                .claim_idempotency_key(&tenant, "k", "h", chrono::Utc::now(), ttl)
                .await
                .unwrap()
        };
        assert!(claim(store.clone()).await.is_none(), "first claim");
        // The handler future holding the guard is dropped (the client hung up).
        drop(ClaimGuard {
            store: store.clone(),
            tenant: crate::domain::TenantId::default_tenant(),
            key: "k".into(),
            armed: true,
        });
        let mut released = false;
        for _ in 0..50 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let again = claim(store.clone()).await;
            if again.is_none() {
                released = true;
                break;
            }
        }
        assert!(released, "the retry may claim the key again");
    }
}
