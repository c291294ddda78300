//! The error codes every edge reports (API JSON, CLI `--json`), from DESIGN.md.
use serde::Serialize;

/// Stable machine-readable error codes, serialised in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    ValidationError,
    Unauthorized,
    Forbidden,
    NotFound,
    RateLimitExceeded,
    /// The same Idempotency-Key is still being processed (extends the design's list).
    Conflict,
    InternalError,
}

/// The design's error body: `{"error": code, "message": ..., "details"?: ...}`, with
/// `retry_after` (seconds) on `rate_limit_exceeded` and `request_id` + `support_contact` on
/// `internal_error` (both added by the HTTP envelope, which knows the request and settings).
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    pub error: ErrorCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ErrorBody {
    pub fn new(error: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            error,
            message: message.into(),
            details: None,
            retry_after: None,
            request_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_serialises_in_the_designs_shape() {
        let body = ErrorBody::new(ErrorCode::RateLimitExceeded, "slow down");
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error": "rate_limit_exceeded", "message": "slow down"})
        );
    }
}
