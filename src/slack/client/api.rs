//! The Web API client's core: one pooled reqwest client, each call sent in its method's
//! transport ([`super::transport`]), its answer classified ([`super::error`]) and retried per
//! the [`RetryPolicy`]. The typed methods are in [`super::methods`], OAuth and `response_url`
//! posts in [`super::oauth`].
//!
//! Why reqwest and not slack-morphism's hyper client: the crate's `SlackClientHyperConnector::new`
//! is https-only, so reaching the plain-HTTP fake (`SLACK_API_URL=http://127.0.0.1:…/api`) needs
//! a hand-built hyper-rustls connector and a second TLS stack next to reqwest's; and its error
//! type folds timeouts into generic hyper errors. Here one pooled reqwest client (rustls) serves
//! Slack, Salesforce and SendGrid alike, timeouts are explicit, and messages are the same Block
//! Kit JSON the builders in [`crate::slack::blocks`] produce (tests deserialise them into
//! slack-morphism's types, so the shapes are the crate's).
use super::error::{RetryPolicy, SlackError, classify_unreadable, retry_after};
use super::transport::{Transport, pairs, transport};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Per-request timeout: Slack answers in well under a second; a hung call must not hold a
/// slash-command reply or a dispatcher worker.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The Web API client. Cheap to clone (one pooled reqwest client inside).
#[derive(Debug, Clone)]
pub struct SlackApi {
    pub(super) http: reqwest::Client,
    /// `https://slack.com/api` or the fake's `http://127.0.0.1:PORT/api`, no trailing slash.
    pub(super) base: String,
    retry: RetryPolicy,
    /// Slack user id → the app's DM channel with them (`D…`), learnt from chat.postMessage
    /// answers, so neither a DM nor the duplicate check needs a conversations.open each time.
    pub(super) dm_channels: Arc<Mutex<HashMap<String, String>>>,
}

impl SlackApi {
    /// A client for the Web API at `api_url` (`SLACK_API_URL`) with the interactive retry policy.
    pub fn new(api_url: &str) -> SlackApi {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(3))
            .build()
            .expect("a reqwest client with rustls builds");
        SlackApi {
            http,
            base: api_url.trim_end_matches('/').to_string(),
            retry: RetryPolicy::INTERACTIVE,
            dm_channels: Arc::default(),
        }
    }

    /// The same client with another retry policy (e.g. [`RetryPolicy::NONE`] for the outbox).
    pub fn with_retry(&self, retry: RetryPolicy) -> SlackApi {
        SlackApi {
            retry,
            ..self.clone()
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Calls `method` in its transport ([`super::transport`]), retrying per the policy.
    /// Returns the whole `ok:true` response object.
    pub async fn call(&self, token: &str, method: &str, body: &Value) -> Result<Value, SlackError> {
        self.call_until(token, method, body, None).await
    }

    /// [`Self::call`] that gives up (no retry, no wait) once `deadline` would be passed: a
    /// trigger_id lives 3 s, so a modal that cannot open in time is not worth a late retry.
    pub(super) async fn call_until(
        &self,
        token: &str,
        method: &str,
        body: &Value,
        deadline: Option<Instant>,
    ) -> Result<Value, SlackError> {
        let url = format!("{}/{method}", self.base);
        let mut attempt = 1;
        loop {
            let mut req = match transport(method) {
                Transport::Json => self
                    .http
                    .post(&url)
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/json; charset=utf-8",
                    )
                    .body(serde_json::to_vec(body).unwrap_or_default()),
                Transport::Form => self.http.post(&url).form(&pairs(body)),
                Transport::Query => self.http.get(&url).query(&pairs(body)),
            }
            .bearer_auth(token);
            if let Some(d) = deadline {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(SlackError::Permanent("expired_trigger_id".into()));
                }
                req = req.timeout(left);
            }
            match self.send_once(req).await {
                Ok(v) => return Ok(v),
                Err(e) => match self.wait_before_retry(&e, attempt) {
                    Some(wait) if deadline.is_none_or(|d| Instant::now() + wait < d) => {
                        tracing::warn!(method, attempt, error = %e, ?wait, "Slack call retried");
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                    }
                    _ => return Err(e),
                },
            }
        }
    }

    /// How long to wait before the next attempt, or `None` to give up now.
    pub(super) fn wait_before_retry(&self, e: &SlackError, attempt: u32) -> Option<Duration> {
        if attempt >= self.retry.max_attempts {
            return None;
        }
        match e {
            SlackError::RateLimited { retry_after }
                if *retry_after <= self.retry.max_retry_after =>
            {
                Some(*retry_after)
            }
            SlackError::Transient(_) => Some(self.retry.base_backoff * 2u32.pow(attempt - 1)),
            _ => None,
        }
    }

    pub(super) async fn send_once(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<Value, SlackError> {
        let resp = req.send().await.map_err(|e| {
            SlackError::Transient(if e.is_timeout() {
                "timeout".to_string()
            } else {
                format!("connection: {e}")
            })
        })?;
        let status = resp.status();
        if status.as_u16() == 429 {
            return Err(SlackError::RateLimited {
                retry_after: retry_after(resp.headers()),
            });
        }
        if status.is_server_error() {
            return Err(SlackError::Transient(format!("http_{}", status.as_u16())));
        }
        let body: Value = resp
            .json()
            .await
            .map_err(|e| classify_unreadable(status, &e))?;
        if body["ok"].as_bool() == Some(true) {
            return Ok(body);
        }
        let name = body["error"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("http_{}", status.as_u16()));
        Err(SlackError::from_name(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_policy_retries_short_rate_limits_and_transients_only_within_bounds() {
        let api = SlackApi::new("http://127.0.0.1:9/api");
        let rl = SlackError::RateLimited {
            retry_after: Duration::from_secs(2),
        };
        assert_eq!(api.wait_before_retry(&rl, 1), Some(Duration::from_secs(2)));
        assert_eq!(api.wait_before_retry(&rl, 3), None, "attempts are bounded");
        let long = SlackError::RateLimited {
            retry_after: Duration::from_secs(60),
        };
        assert_eq!(
            api.wait_before_retry(&long, 1),
            None,
            "long waits go back to the caller"
        );
        let t = SlackError::Transient("http_503".into());
        assert_eq!(
            api.wait_before_retry(&t, 2),
            Some(Duration::from_millis(400))
        );
        let p = SlackError::Permanent("channel_not_found".into());
        assert_eq!(api.wait_before_retry(&p, 1), None);
        assert_eq!(
            api.with_retry(RetryPolicy::NONE).wait_before_retry(&t, 1),
            None
        );
    }
}
