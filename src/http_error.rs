//! The one error type of the HTTP edge. Each variant's doc names its status; the body is the
//! design's `{"error", "message", "details"?, "request_id"}` (request_id is added by the
//! envelope middleware in `http.rs`, which sees the request). Internal errors are logged with
//! their cause and answered with a generic message: causes never reach the client.
use crate::error::{ErrorBody, ErrorCode};
use crate::store::StoreError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 422 (or the status given, e.g. 400 for unreadable JSON, 413 for a body over 1 MB).
    #[error("{message}")]
    Validation {
        status: StatusCode,
        message: String,
        details: Option<serde_json::Value>,
    },
    /// 401: missing, malformed, expired or wrongly signed token.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated, but the role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource *for this caller* (another tenant's deal looks exactly like this).
    #[error("{0}")]
    NotFound(String),
    /// 409: the same Idempotency-Key is still being processed.
    #[error("{0}")]
    Conflict(String),
    /// 429 with Retry-After (seconds), in the header and the body's `retry_after`.
    #[error("Max {limit} requests per minute exceeded (per {scope}); retry in {retry_after}s")]
    RateLimited {
        scope: &'static str,
        limit: u32,
        retry_after: u64,
    },
    /// 503 with Retry-After: the database is unreachable for now (logged, never echoed).
    #[error("service temporarily unavailable; retry in {retry_after}s")]
    Unavailable { retry_after: u64, cause: String },
    /// 500: logged, never echoed.
    #[error(transparent)]
    Internal(anyhow::Error),
}

/// An error from a job or service (anyhow) is a 503 when a lost database is anywhere in its
/// chain, so every path answers a lost connection the same way; anything else is a 500.
impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        let lost = e.chain().find_map(|cause| {
            if let Some(StoreError::Unavailable(why)) = cause.downcast_ref::<StoreError>() {
                return Some(why.clone());
            }
            match cause.downcast_ref::<sqlx::Error>() {
                Some(
                    sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_),
                ) => Some(cause.to_string()),
                _ => None,
            }
        });
        match lost {
            Some(cause) => ApiError::Unavailable {
                retry_after: 5,
                cause,
            },
            None => ApiError::Internal(e),
        }
    }
}

impl ApiError {
    pub fn validation(message: impl Into<String>) -> ApiError {
        ApiError::Validation {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: message.into(),
            details: None,
        }
    }

    pub fn invalid_field(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::Validation {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: message.into(),
            details: Some(serde_json::json!({ "field": field })),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation { status, .. } => *status,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn body(&self) -> ErrorBody {
        let retry_after = match self {
            ApiError::RateLimited { retry_after, .. }
            | ApiError::Unavailable { retry_after, .. } => Some((*retry_after).max(1)),
            _ => None,
        };
        let (code, details) = match self {
            ApiError::Validation { details, .. } => (ErrorCode::ValidationError, details.clone()),
            ApiError::Unauthorized(_) => (ErrorCode::Unauthorized, None),
            ApiError::Forbidden(_) => (ErrorCode::Forbidden, None),
            ApiError::NotFound(_) => (ErrorCode::NotFound, None),
            ApiError::Conflict(_) => (ErrorCode::Conflict, None),
            ApiError::RateLimited { scope, limit, .. } => (
                ErrorCode::RateLimitExceeded,
                Some(serde_json::json!({"scope": scope, "limit_per_minute": limit})),
            ),
            ApiError::Unavailable { .. } => (ErrorCode::InternalError, None),
            ApiError::Internal(_) => (ErrorCode::InternalError, None),
        };
        let message = match self {
            ApiError::Internal(_) => {
                "internal error; the request id identifies it in our logs".into()
            }
            other => other.to_string(),
        };
        ErrorBody {
            error: code,
            message,
            details,
            retry_after,
            request_id: None,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("not found".into()),
            StoreError::Unavailable(cause) => ApiError::Unavailable {
                retry_after: 5,
                cause,
            },
            other => ApiError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(e) => tracing::error!(error = %format!("{e:#}"), "request failed"),
            ApiError::Unavailable { cause, .. } => {
                tracing::warn!(%cause, "database unavailable; answered 503")
            }
            _ => {}
        }
        let mut resp = (self.status(), Json(self.body())).into_response();
        if let ApiError::RateLimited { retry_after, .. }
        | ApiError::Unavailable { retry_after, .. } = &self
        {
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from((*retry_after).max(1)),
            );
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
