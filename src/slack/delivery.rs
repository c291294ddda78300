//! The Slack Web API client the bot and the alert dispatcher use: DMs, channel posts, message
//! updates, views, users, OAuth, `response_url` posts, with errors classified for a dispatcher
//! (rate-limited / transient / permanent by Slack's error name) and a bounded retry policy.
//!
//! Why reqwest and not slack-morphism's hyper client: the crate's `SlackClientHyperConnector::new`
//! is https-only, so reaching the plain-HTTP fake (`SLACK_API_URL=http://127.0.0.1:…/api`) needs
//! a hand-built hyper-rustls connector and a second TLS stack next to reqwest's; and its error
//! type folds timeouts into generic hyper errors. Here one pooled reqwest client (rustls) serves
//! Slack, Salesforce and SendGrid alike, timeouts are explicit, and messages are the same Block
//! Kit JSON the builders in this module produce (tests deserialise them into slack-morphism's
//! types, so the shapes are the crate's).
use super::transport::{Transport, pairs, transport};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "delivery_oauth.rs"]
mod oauth;
pub use oauth::OAuthGrant;

/// A trigger_id is valid for 3 s after Slack issued it; calls that need one stop this much
/// earlier, leaving room for the network.
pub const TRIGGER_LIFE: Duration = Duration::from_millis(2700);

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
const TRANSIENT_ERRORS: &[&str] = &[
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

/// A posted message: where it landed and its `ts` (needed for `chat.update`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
}

/// A Slack user's profile fields the identity mapping needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackUser {
    pub id: String,
    pub team_id: Option<String>,
    pub name: String,
    /// Present with the `users:read.email` scope.
    pub email: Option<String>,
    pub deleted: bool,
}

/// Per-request timeout: Slack answers in well under a second; a hung call must not hold a
/// slash-command reply or a dispatcher worker.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The Web API client. Cheap to clone (one pooled reqwest client inside).
#[derive(Debug, Clone)]
pub struct SlackApi {
    http: reqwest::Client,
    /// `https://slack.com/api` or the fake's `http://127.0.0.1:PORT/api`, no trailing slash.
    base: String,
    retry: RetryPolicy,
    /// Slack user id → the app's DM channel with them (`D…`), learnt from chat.postMessage
    /// answers, so neither a DM nor the duplicate check needs a conversations.open each time.
    dm_channels: Arc<Mutex<HashMap<String, String>>>,
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
    async fn call_until(
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
    fn wait_before_retry(&self, e: &SlackError, attempt: u32) -> Option<Duration> {
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

    async fn send_once(&self, req: reqwest::RequestBuilder) -> Result<Value, SlackError> {
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
        Err(match name.as_str() {
            "ratelimited" => SlackError::RateLimited {
                retry_after: Duration::from_secs(1),
            },
            n if TRANSIENT_ERRORS.contains(&n) => SlackError::Transient(name),
            _ => SlackError::Permanent(name),
        })
    }

    /// `chat.postMessage`. `message` is `{text, blocks?, attachments?}` (as built by
    /// [`super::kit::message`] / [`super::blocks::alert_message`]).
    pub async fn post_message(
        &self,
        token: &str,
        channel: &str,
        message: &Value,
    ) -> Result<Posted, SlackError> {
        let body = with_fields(message, json!({"channel": channel}));
        let v = self.call(token, "chat.postMessage", &body).await?;
        posted(&v, channel)
    }

    /// A direct message to a Slack user: chat.postMessage with the user id as `channel` (Slack
    /// posts it in the app's DM with them). Returns the DM channel and the message ts.
    pub async fn send_dm(
        &self,
        token: &str,
        slack_user_id: &str,
        message: &Value,
    ) -> Result<Posted, SlackError> {
        let posted = self.post_message(token, slack_user_id, message).await?;
        if posted.channel != slack_user_id {
            self.dm_channels
                .lock()
                .expect("dm cache lock")
                .insert(slack_user_id.to_string(), posted.channel.clone());
        }
        Ok(posted)
    }

    /// The DM channel with `slack_user_id`: cached, else conversations.open (then cached).
    async fn dm_channel(&self, token: &str, slack_user_id: &str) -> Result<String, SlackError> {
        if let Some(c) = self
            .dm_channels
            .lock()
            .expect("dm cache lock")
            .get(slack_user_id)
        {
            return Ok(c.clone());
        }
        let c = self.open_dm(token, slack_user_id).await?;
        self.dm_channels
            .lock()
            .expect("dm cache lock")
            .insert(slack_user_id.to_string(), c.clone());
        Ok(c)
    }

    /// Finds a message this app posted in the DM with `slack_user_id` whose message metadata
    /// is `{event_type, event_payload: {skygeni_key: key}}`, no older than `oldest` (unix
    /// seconds): `conversations.history` with `include_all_metadata`, newest first, at most
    /// `MAX_HISTORY_PAGES` pages of 200. Needs the `im:history` scope.
    pub async fn find_dm_by_key(
        &self,
        token: &str,
        slack_user_id: &str,
        event_type: &str,
        key: &str,
        oldest: i64,
    ) -> Result<Option<Posted>, SlackError> {
        const MAX_HISTORY_PAGES: usize = 10;
        let channel = self.dm_channel(token, slack_user_id).await?;
        let mut cursor = String::new();
        for _ in 0..MAX_HISTORY_PAGES {
            let mut args = json!({"channel": channel, "oldest": oldest.to_string(),
                                  "inclusive": true, "include_all_metadata": true, "limit": 200});
            if !cursor.is_empty() {
                args["cursor"] = json!(cursor);
            }
            let v = self.call(token, "conversations.history", &args).await?;
            let found = v["messages"].as_array().into_iter().flatten().find(|m| {
                m["metadata"]["event_type"] == event_type
                    && m["metadata"]["event_payload"]["skygeni_key"] == key
            });
            if let Some(m) = found {
                return Ok(Some(Posted {
                    channel: channel.clone(),
                    ts: m["ts"].as_str().unwrap_or_default().to_string(),
                }));
            }
            cursor = v["response_metadata"]["next_cursor"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if v["has_more"] != true || cursor.is_empty() {
                return Ok(None);
            }
        }
        // More history than we page through since `oldest`: treat as not found (at-least-once).
        Ok(None)
    }

    /// `conversations.open` for one user → the DM channel id (`D…`).
    pub async fn open_dm(&self, token: &str, slack_user_id: &str) -> Result<String, SlackError> {
        let v = self
            .call(
                token,
                "conversations.open",
                &json!({"users": slack_user_id}),
            )
            .await?;
        v["channel"]["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| SlackError::Permanent("missing_channel_in_response".into()))
    }

    /// `chat.update`: replaces the text/blocks/attachments of a message this app posted.
    pub async fn update_message(
        &self,
        token: &str,
        channel: &str,
        ts: &str,
        message: &Value,
    ) -> Result<Posted, SlackError> {
        let body = with_fields(message, json!({"channel": channel, "ts": ts}));
        let v = self.call(token, "chat.update", &body).await?;
        posted(&v, channel)
    }

    /// `chat.postEphemeral`: visible only to `user` in `channel`.
    pub async fn post_ephemeral(
        &self,
        token: &str,
        channel: &str,
        user: &str,
        message: &Value,
    ) -> Result<(), SlackError> {
        let body = with_fields(message, json!({"channel": channel, "user": user}));
        self.call(token, "chat.postEphemeral", &body)
            .await
            .map(|_| ())
    }

    /// `views.publish` of a Home tab view (`{"type":"home",…}`) for `user_id`.
    pub async fn publish_home(
        &self,
        token: &str,
        user_id: &str,
        view: &Value,
    ) -> Result<(), SlackError> {
        self.call(
            token,
            "views.publish",
            &json!({"user_id": user_id, "view": view}),
        )
        .await
        .map(|_| ())
    }

    /// `views.open` with a trigger_id (valid 3 s from `issued`, single use) → the new view's
    /// id. Retries (429, 5xx) only while the trigger can still be used.
    pub async fn open_view(
        &self,
        token: &str,
        trigger_id: &str,
        issued: Instant,
        view: &Value,
    ) -> Result<String, SlackError> {
        let v = self
            .call_until(
                token,
                "views.open",
                &json!({"trigger_id": trigger_id, "view": view}),
                Some(issued + TRIGGER_LIFE),
            )
            .await?;
        view_id(&v)
    }

    /// `views.update` of an open view (modal filled after a slow lookup).
    pub async fn update_view(
        &self,
        token: &str,
        view_id_: &str,
        view: &Value,
    ) -> Result<(), SlackError> {
        self.call(
            token,
            "views.update",
            &json!({"view_id": view_id_, "view": view}),
        )
        .await
        .map(|_| ())
    }

    /// `users.info`.
    pub async fn user_info(&self, token: &str, user_id: &str) -> Result<SlackUser, SlackError> {
        let v = self
            .call(token, "users.info", &json!({"user": user_id}))
            .await?;
        Ok(slack_user(&v["user"]))
    }

    /// `users.lookupByEmail`; `Ok(None)` when Slack answers `users_not_found`.
    pub async fn lookup_by_email(
        &self,
        token: &str,
        email: &str,
    ) -> Result<Option<SlackUser>, SlackError> {
        match self
            .call(token, "users.lookupByEmail", &json!({"email": email}))
            .await
        {
            Ok(v) => Ok(Some(slack_user(&v["user"]))),
            Err(SlackError::Permanent(e)) if e == "users_not_found" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `auth.test`: checks a token, returns the team id it belongs to.
    pub async fn auth_test(&self, token: &str) -> Result<String, SlackError> {
        let v = self.call(token, "auth.test", &json!({})).await?;
        Ok(v["team_id"].as_str().unwrap_or_default().to_string())
    }
}

/// `Retry-After` in seconds; Slack always sends it with 429, 1 s if it is missing or garbled.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(1), Duration::from_secs)
}

fn classify_unreadable(status: reqwest::StatusCode, e: &reqwest::Error) -> SlackError {
    if e.is_timeout() {
        SlackError::Transient("timeout".into())
    } else if status.is_success() {
        // A 200 that is not JSON is a proxy or an outage page, not a verdict on the call.
        SlackError::Transient("unreadable_response".into())
    } else {
        SlackError::Permanent(format!("http_{}", status.as_u16()))
    }
}

/// The message object with extra top-level fields (`channel`, `ts`, …) merged in.
fn with_fields(message: &Value, extra: Value) -> Value {
    let mut body = match message {
        Value::Object(_) => message.clone(),
        // A bare string is a text message.
        Value::String(s) => json!({ "text": s }),
        _ => json!({}),
    };
    if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
        b.extend(e);
    }
    body
}

fn posted(v: &Value, channel: &str) -> Result<Posted, SlackError> {
    Ok(Posted {
        channel: v["channel"].as_str().unwrap_or(channel).to_string(),
        ts: v["ts"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| SlackError::Permanent("missing_ts_in_response".into()))?,
    })
}

fn view_id(v: &Value) -> Result<String, SlackError> {
    v["view"]["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| SlackError::Permanent("missing_view_in_response".into()))
}

fn slack_user(u: &Value) -> SlackUser {
    let s = |p: &str| u.pointer(p).and_then(Value::as_str).map(str::to_string);
    SlackUser {
        id: s("/id").unwrap_or_default(),
        team_id: s("/team_id"),
        name: s("/real_name")
            .or_else(|| s("/profile/real_name"))
            .or_else(|| s("/name"))
            .unwrap_or_default(),
        email: s("/profile/email"),
        deleted: u["deleted"].as_bool().unwrap_or(false),
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

    #[test]
    fn errors_say_whether_to_retry_and_whether_the_token_is_dead() {
        assert!(SlackError::Transient("timeout".into()).is_retryable());
        assert!(!SlackError::Permanent("channel_not_found".into()).is_retryable());
        assert!(SlackError::Permanent("account_inactive".into()).is_auth_failure());
        assert!(!SlackError::Permanent("channel_not_found".into()).is_auth_failure());
    }

    #[test]
    fn message_fields_merge_with_call_arguments() {
        let m = json!({"text": "hi", "blocks": []});
        let b = with_fields(&m, json!({"channel": "C1"}));
        assert_eq!(b, json!({"text": "hi", "blocks": [], "channel": "C1"}));
        assert_eq!(
            with_fields(&json!("plain"), json!({"channel": "C1"}))["text"],
            "plain"
        );
    }
}
