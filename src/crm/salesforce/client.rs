//! The Salesforce REST client: bearer auth with one refresh on `INVALID_SESSION_ID`, timeouts
//! retried with exponential backoff, `REQUEST_LIMIT_EXCEEDED` surfaced for deferral, the
//! `Sforce-Limit-Info` header watched so a sync stops before the org's daily limit, SOQL with
//! `nextRecordsUrl` paging, describe, and an API-call counter for reports.
use super::oauth::{Credentials, TokenGrant};
use reqwest::Method;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A record as a flat map: `"Account.Name"` for relationship fields; `None` for null.
pub type FlatRecord = std::collections::HashMap<String, Option<String>>;

/// Client tuning; defaults follow the design (3 retries at 2 s, 4 s, 8 s).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub api_version: String,
    pub timeout: Duration,
    /// First retry delay; doubled for each further retry.
    pub retry_base: Duration,
    pub retries: u32,
    /// Stop when fewer than this share of the daily API allowance is left (others need it too).
    pub limit_reserve: f64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            api_version: "v66.0".into(),
            timeout: Duration::from_secs(60),
            retry_base: Duration::from_secs(2),
            retries: 3,
            limit_reserve: 0.05,
        }
    }
}

/// What can go wrong talking to an org, told apart so the sync can react to each.
#[derive(Debug, thiserror::Error)]
pub enum SfError {
    #[error(
        "Salesforce no longer accepts SkyGeni's credentials ({0}); an admin must reconnect Salesforce (GET /salesforce/connect)"
    )]
    Reconnect(String),
    #[error("Salesforce API limit exceeded (REQUEST_LIMIT_EXCEEDED): {0}")]
    LimitExceeded(String),
    #[error(
        "stopped before the org's daily API limit: {used} of {max} calls used in the last 24 h"
    )]
    DailyLimitReserve { used: u64, max: u64 },
    #[error("Salesforce did not answer after {attempts} attempts: {last}")]
    Unavailable { attempts: u32, last: String },
    #[error("Salesforce answered {status} {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub enum Body {
    Empty,
    Json(Value),
    Csv(Vec<u8>),
}

/// A connected org.
pub struct SfClient {
    http: reqwest::Client,
    pub cfg: ClientConfig,
    creds: Credentials,
    instance_url: std::sync::Mutex<String>,
    token: tokio::sync::Mutex<Option<String>>,
    calls: AtomicU64,
    usage: std::sync::Mutex<Option<(u64, u64)>>,
}

impl SfClient {
    pub fn new(
        http: reqwest::Client,
        cfg: ClientConfig,
        creds: Credentials,
        instance_url: String,
    ) -> SfClient {
        SfClient {
            http,
            cfg,
            creds,
            instance_url: std::sync::Mutex::new(instance_url.trim_end_matches('/').to_string()),
            token: tokio::sync::Mutex::new(None),
            calls: AtomicU64::new(0),
            usage: std::sync::Mutex::new(None),
        }
    }

    /// API calls made so far (token requests excluded; they do not count against the limit).
    pub fn api_calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Last `Sforce-Limit-Info` seen: (used, max).
    pub fn api_usage(&self) -> Option<(u64, u64)> {
        *lock(&self.usage)
    }

    pub fn data_path(&self, rest: &str) -> String {
        format!("/services/data/{}/{rest}", self.cfg.api_version)
    }

    async fn access_token(&self, force: bool) -> Result<String, SfError> {
        let mut guard = self.token.lock().await;
        if let (Some(t), false) = (guard.as_ref(), force) {
            return Ok(t.clone());
        }
        let grant: TokenGrant = super::oauth::fetch_access_token(&self.http, &self.creds).await?;
        if let Some(url) = grant.instance_url {
            *lock(&self.instance_url) = url.trim_end_matches('/').to_string();
        }
        *guard = Some(grant.access_token.clone());
        Ok(grant.access_token)
    }

    fn check_reserve(&self) -> Result<(), SfError> {
        if let Some((used, max)) = *lock(&self.usage)
            && max > 0
            && (max.saturating_sub(used) as f64) < self.cfg.limit_reserve * max as f64
        {
            return Err(SfError::DailyLimitReserve { used, max });
        }
        Ok(())
    }

    /// One API call with auth, retries, limit tracking and error mapping. `path` is absolute
    /// on the instance (`/services/…`). Returns the successful response.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Body,
    ) -> Result<reqwest::Response, SfError> {
        let mut refreshed = false;
        let mut attempt = 0u32;
        loop {
            self.check_reserve()?;
            // The token endpoint gets the same retries as data calls: an outage usually
            // takes both down.
            let token = match self.access_token(false).await {
                Ok(t) => t,
                Err(SfError::Unavailable { last, .. }) => {
                    if attempt >= self.cfg.retries {
                        return Err(SfError::Unavailable {
                            attempts: attempt + 1,
                            last,
                        });
                    }
                    let delay = self.cfg.retry_base * 2u32.pow(attempt);
                    tracing::warn!(path, %last, ?delay, "Salesforce token request failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let url = format!("{}{path}", lock(&self.instance_url));
            let mut req = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(&token)
                .timeout(self.cfg.timeout)
                .query(query);
            req = match &body {
                Body::Empty => req,
                Body::Json(v) => req.json(v),
                Body::Csv(b) => req.header("Content-Type", "text/csv").body(b.clone()),
            };
            let sent = req.send().await;
            self.calls.fetch_add(1, Ordering::Relaxed);
            let resp = match sent {
                Ok(r) if !r.status().is_server_error() => r,
                failed => {
                    let last = match failed {
                        Ok(r) => format!("HTTP {}", r.status()),
                        Err(e) if e.is_timeout() => "timed out".to_string(),
                        Err(e) => format!("{e}"),
                    };
                    if attempt >= self.cfg.retries {
                        return Err(SfError::Unavailable {
                            attempts: attempt + 1,
                            last,
                        });
                    }
                    let delay = self.cfg.retry_base * 2u32.pow(attempt);
                    tracing::warn!(path, %last, ?delay, "Salesforce call failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                    continue;
                }
            };
            if let Some(info) = resp
                .headers()
                .get("Sforce-Limit-Info")
                .and_then(|v| v.to_str().ok())
            {
                *lock(&self.usage) = parse_limit_info(info);
            }
            let status = resp.status();
            if status.is_success() {
                return Ok(resp);
            }
            let text = resp.text().await.unwrap_or_default();
            let (code, message) = first_error(&text);
            if status.as_u16() == 401 {
                if refreshed {
                    return Err(SfError::Reconnect(format!("{code}: {message}")));
                }
                refreshed = true;
                self.access_token(true).await?;
                continue;
            }
            if code == "REQUEST_LIMIT_EXCEEDED" {
                return Err(SfError::LimitExceeded(message));
            }
            return Err(SfError::Api {
                status: status.as_u16(),
                code,
                message,
            });
        }
    }

    pub async fn get_json(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, SfError> {
        let resp = self.call(Method::GET, path, query, Body::Empty).await?;
        resp.json()
            .await
            .map_err(|e| SfError::Other(anyhow::anyhow!("Salesforce sent invalid JSON: {e}")))
    }

    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        body: Value,
    ) -> Result<Value, SfError> {
        let resp = self.call(method, path, &[], Body::Json(body)).await?;
        let text = resp.text().await.unwrap_or_default();
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .map_err(|e| SfError::Other(anyhow::anyhow!("Salesforce sent invalid JSON: {e}")))
    }

    /// Every record of a SOQL query (`all` = queryAll, which includes deleted rows), following
    /// `nextRecordsUrl` until `done`.
    pub async fn query(&self, soql: &str, all: bool) -> Result<Vec<FlatRecord>, SfError> {
        let path = self.data_path(if all { "queryAll" } else { "query" });
        let mut page = self.get_json(&path, &[("q", soql)]).await?;
        let mut out = Vec::new();
        loop {
            for r in page["records"].as_array().into_iter().flatten() {
                out.push(flatten(r));
            }
            if page["done"].as_bool().unwrap_or(true) {
                return Ok(out);
            }
            let Some(next) = page["nextRecordsUrl"].as_str().map(str::to_string) else {
                return Ok(out);
            };
            page = self.get_json(&next, &[]).await?;
        }
    }

    /// `SELECT COUNT() FROM …` → totalSize.
    pub async fn count(&self, soql: &str) -> Result<u64, SfError> {
        let page = self
            .get_json(&self.data_path("query"), &[("q", soql)])
            .await?;
        Ok(page["totalSize"].as_u64().unwrap_or(0))
    }

    /// Field name → describe type of an object.
    pub async fn describe(
        &self,
        object: &str,
    ) -> Result<std::collections::HashMap<String, String>, SfError> {
        let v = self
            .get_json(&self.data_path(&format!("sobjects/{object}/describe")), &[])
            .await?;
        Ok(v["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| {
                Some((
                    f["name"].as_str()?.to_string(),
                    f["type"].as_str()?.to_string(),
                ))
            })
            .collect())
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these tiny locks leaves valid data; keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `api-usage=10018/100000; api-bursts=1/750` → (10018, 100000).
pub fn parse_limit_info(v: &str) -> Option<(u64, u64)> {
    let usage = v
        .split(';')
        .find_map(|p| p.trim().strip_prefix("api-usage="))?;
    let (used, max) = usage.split_once('/')?;
    Some((used.trim().parse().ok()?, max.trim().parse().ok()?))
}

/// The first `{errorCode, message}` of Salesforce's error array (or an OAuth error object).
fn first_error(text: &str) -> (String, String) {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let e = if v.is_array() { &v[0] } else { &v };
    let code = e["errorCode"]
        .as_str()
        .or(e["error"].as_str())
        .unwrap_or("UNKNOWN")
        .to_string();
    let message = e["message"]
        .as_str()
        .or(e["error_description"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| text.chars().take(300).collect());
    (code, message)
}

/// A REST record as a flat map (nested relationship objects become `Rel.Field`).
pub fn flatten(v: &Value) -> FlatRecord {
    let mut out = FlatRecord::new();
    fn walk(prefix: &str, v: &Value, out: &mut FlatRecord) {
        if let Some(o) = v.as_object() {
            for (k, x) in o {
                if k == "attributes" {
                    continue;
                }
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match x {
                    Value::Object(_) => walk(&key, x, out),
                    Value::Null => {
                        out.insert(key, None);
                    }
                    Value::String(s) => {
                        out.insert(key, Some(s.clone()));
                    }
                    other => {
                        out.insert(key, Some(other.to_string()));
                    }
                }
            }
        }
    }
    walk("", v, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_info_and_nested_records_are_read_like_salesforce_sends_them() {
        assert_eq!(
            parse_limit_info("api-usage=10018/100000; api-bursts=1/750"),
            Some((10018, 100000))
        );
        assert_eq!(parse_limit_info("api-bursts=1/750"), None);
        let r = flatten(&serde_json::json!({
            "attributes": {"type": "Opportunity"}, "Id": "006A", "Amount": 1200.5,
            "IsWon": false, "CloseDate": null, "Account": {"attributes": {}, "Name": "Acme"}
        }));
        assert_eq!(r["Account.Name"].as_deref(), Some("Acme"));
        assert_eq!(r["Amount"].as_deref(), Some("1200.5"));
        assert_eq!(r["IsWon"].as_deref(), Some("false"));
        assert_eq!(r["CloseDate"], None);
        assert_eq!(
            first_error(
                r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#
            ),
            (
                "INVALID_SESSION_ID".into(),
                "Session expired or invalid".into()
            )
        );
    }
}
