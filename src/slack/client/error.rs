//! How a failed Web API call is classified for its caller (rate-limited / transient /
//! permanent, by HTTP status and Slack's error name) and the bounded retry policy a caller picks.
use std::time::Duration;

/// How a failed call should be treated by the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackError {
    /// HTTP 429 (or `ok:false, error: ratelimited`): wait `retry_after`, then retry.
    #[error("Slack rate limit: retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// 5xx, timeouts, connection failures, Slack's `internal_error`/`fatal_error`/
    /// `service_unavailable`/`request_timeout`: worth retrying with backoff.
    #[error("Slack is temporarily unavailable: {0}")]
    Transient(String),
    /// `ok:false` with Slack's error name (`channel_not_found`, `invalid_auth`,
    /// `account_inactive`, `token_expired`, …) or a 4xx: retrying the same call will not help.
    #[error("Slack refused the call: {0}")]
    Permanent(String),
}

impl SlackError {
    /// Whether retrying the same call later can succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, SlackError::Permanent(_))
    }

    /// Slack's error name for permanent failures (`channel_not_found`).
    pub fn error_name(&self) -> Option<&str> {
        match self {
            SlackError::Permanent(name) => Some(name),
            _ => None,
        }
    }

    /// The token is dead (revoked, expired, app uninstalled): refresh it or deactivate the
    /// workspace rather than retrying.
    pub fn is_auth_failure(&self) -> bool {
        matches!(
            self.error_name(),
            Some(
                "invalid_auth"
                    | "not_authed"
                    | "token_expired"
                    | "token_revoked"
                    | "account_inactive"
                    | "no_permission"
            )
        )
    }
}

/// Slack `ok:false` error names that mean "try again later" rather than "this call is wrong".
pub(super) const TRANSIENT_ERRORS: &[&str] = &[
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

/// Bounded retries for interactive use: 429 waits `Retry-After` (when it is short enough),
/// transient failures back off exponentially.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, including the first (1 = no retries).
    pub max_attempts: u32,
    /// Backoff before the first retry of a transient failure; doubles each retry.
    pub base_backoff: Duration,
    /// A 429 asking to wait longer than this is returned to the caller instead of slept on.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// Interactive default: 3 attempts, 200 ms → 400 ms backoff, Retry-After up to 5 s.
    pub const INTERACTIVE: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        base_backoff: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(5),
    };
    /// One attempt: for a dispatcher (outbox) that schedules its own retries.
    pub const NONE: RetryPolicy = RetryPolicy {
        max_attempts: 1,
        base_backoff: Duration::ZERO,
        max_retry_after: Duration::ZERO,
    };
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::INTERACTIVE
    }
}

impl SlackError {
    /// An `ok:false` answer's error name (`ratelimited`, `internal_error`, `channel_not_found`…)
    /// as the caller should treat it.
    pub(super) fn from_name(name: String) -> SlackError {
        match name.as_str() {
            "ratelimited" => SlackError::RateLimited {
                retry_after: Duration::from_secs(1),
            },
            n if TRANSIENT_ERRORS.contains(&n) => SlackError::Transient(name),
            _ => SlackError::Permanent(name),
        }
    }
}

/// `Retry-After` in seconds; Slack always sends it with 429, 1 s if it is missing or garbled.
pub(super) fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(1), Duration::from_secs)
}

pub(super) fn classify_unreadable(status: reqwest::StatusCode, e: &reqwest::Error) -> SlackError {
    if e.is_timeout() {
        SlackError::Transient("timeout".into())
    } else if status.is_success() {
        // A 200 that is not JSON is a proxy or an outage page, not a verdict on the call.
        SlackError::Transient("unreadable_response".into())
    } else {
        SlackError::Permanent(format!("http_{}", status.as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_whether_to_retry_and_whether_the_token_is_dead() {
        assert!(SlackError::Transient("timeout".into()).is_retryable());
        assert!(!SlackError::Permanent("channel_not_found".into()).is_retryable());
        assert!(SlackError::Permanent("account_inactive".into()).is_auth_failure());
        assert!(!SlackError::Permanent("channel_not_found".into()).is_auth_failure());
    }
}
