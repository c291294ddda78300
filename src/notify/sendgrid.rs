//! SendGrid v3 Mail Send client (`POST {SENDGRID_API_URL}/v3/mail/send`).
//!
//! Why reqwest and not the `sendgrid` crate: the crate turns a non-2xx answer into
//! `RequestNotSuccessful { status, body }` and drops the response headers, and returns the
//! raw response on success only. We need `Retry-After` / `X-RateLimit-Reset` on 429 (to wait
//! as long as SendGrid asks) and `X-Message-Id` on 202 (stored as the outbox row's provider
//! id). The JSON body is the documented v3 shape; its field order (text/plain before
//! text/html) matters to SendGrid.
use super::senders::{EmailSender, FindFuture, OutgoingEmail, SendError, SendFuture};
use crate::domain::{Clock, SystemClock};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use std::time::Duration;

/// The sender address when `SKYGENI_EMAIL_FROM` is not set: never a verified SendGrid
/// Sender Identity, so SendGrid would refuse every email with 403.
pub const DEFAULT_FROM: &str = "skygeni@localhost";

/// Whether email can be sent with these settings, and if not, why: the API key must be set
/// and the sender must be an address SendGrid can have verified (not the `localhost`
/// default). `serve` enables the email sender only when this says so; `/readyz` shows it.
pub fn email_status(s: &crate::config::Settings) -> serde_json::Value {
    match email_refusal(s) {
        None => json!({"enabled": true, "from": s.email_from}),
        Some(why) => json!({"enabled": false, "reason": why}),
    }
}

/// `None` when email can be enabled, else the message for the admin.
pub fn email_refusal(s: &crate::config::Settings) -> Option<String> {
    if s.sendgrid_api_key.is_none() {
        return Some("SENDGRID_API_KEY is not set".into());
    }
    let from = s.email_from.trim();
    let domain = from.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase());
    match domain.as_deref() {
        _ if from.eq_ignore_ascii_case(DEFAULT_FROM) => Some(format!(
            "SKYGENI_EMAIL_FROM is still the default {DEFAULT_FROM}, which SendGrid cannot have \
             verified (every email would be refused with 403): set it to a verified Sender \
             Identity or an address on your authenticated domain"
        )),
        None | Some("") => Some(format!(
            "SKYGENI_EMAIL_FROM {from:?} is not an email address"
        )),
        Some(d) if d == "localhost" || !d.contains('.') => Some(format!(
            "SKYGENI_EMAIL_FROM {from:?} is on {d:?}, which SendGrid cannot verify: use an \
             address on your authenticated domain"
        )),
        Some(_) => None,
    }
}

pub struct SendGridClient {
    http: reqwest::Client,
    url: String,
    /// Email Activity API (`GET /v3/messages`), asked before re-sending an uncertain row.
    activity_url: String,
    api_key: SecretString,
    from_email: String,
    from_name: String,
}

impl SendGridClient {
    /// `base_url` is SENDGRID_API_URL (`https://api.sendgrid.com`, or a fake's address).
    pub fn new(
        base_url: &str,
        api_key: SecretString,
        from_email: &str,
    ) -> anyhow::Result<SendGridClient> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(SendGridClient {
            http,
            url: format!("{}/v3/mail/send", base_url.trim_end_matches('/')),
            activity_url: format!("{}/v3/messages", base_url.trim_end_matches('/')),
            api_key,
            from_email: from_email.to_string(),
            from_name: "SkyGeni Deal Risk".into(),
        })
    }

    /// The v3 request body for one email.
    pub fn body(&self, e: &OutgoingEmail) -> serde_json::Value {
        let mut to = json!({"email": e.to_email});
        if let Some(n) = &e.to_name {
            to["name"] = json!(n);
        }
        let mut body = json!({
            "personalizations": [{
                "to": [to],
                // Prefixed so it cannot clash with SendGrid's own event fields.
                "custom_args": {"skygeni_key": e.idempotency_key}
            }],
            "from": {"email": self.from_email, "name": self.from_name},
            "subject": e.subject,
            "content": [
                {"type": "text/plain", "value": e.text},
                {"type": "text/html", "value": e.html}
            ],
            "categories": [e.category],
            "tracking_settings": {"click_tracking": {"enable": false}}
        });
        if !e.headers.is_empty() {
            // SendGrid's `headers`: an object of string values (List-Unsubscribe & co).
            body["headers"] = e
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
        if !e.inline.is_empty() {
            body["attachments"] = e
                .inline
                .iter()
                .map(|a| {
                    json!({"content": a.base64, "type": a.mime_type, "filename": a.filename,
                           "disposition": "inline", "content_id": a.content_id})
                })
                .collect();
        }
        body
    }

    async fn post(&self, e: &OutgoingEmail) -> Result<String, SendError> {
        let resp = self
            .http
            .post(&self.url)
            .bearer_auth(self.api_key.expose_secret())
            .json(&self.body(e))
            .send()
            .await
            .map_err(|err| {
                if err.is_connect() {
                    // Never connected: SendGrid cannot have the message.
                    SendError::retryable(format!("SendGrid unreachable: {err}"))
                } else {
                    // Timed out or cut off after the request went out: it may have been accepted.
                    SendError::Unknown(format!("SendGrid did not answer: {err}"))
                }
            })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        if status.is_success() {
            let id = headers
                .get("x-message-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                // 202 without the header still means "queued"; keep our own key as the id.
                .unwrap_or_else(|| e.idempotency_key.clone());
            return Ok(id);
        }
        let body = resp.text().await.unwrap_or_default();
        let message = format!("SendGrid {}: {}", status.as_u16(), error_messages(&body));
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(SendError::Retryable {
                message,
                retry_after: retry_after(&headers, SystemClock.now().timestamp()),
            });
        }
        // 400, 401, 403, 413: the request itself is wrong; retrying sends the same thing.
        Err(SendError::Permanent(message))
    }
}

impl SendGridClient {
    /// Looks the email up by its `custom_args.skygeni_key` in the Email Activity API. That API
    /// is a paid add-on with its own key permission: without it (401/403) nothing can be
    /// checked, so this answers "not found" (the row is sent again: at-least-once) and counts
    /// `skygeni_outbox_unverified_total`. 429 and 5xx are retried later like a failed send.
    async fn find(
        &self,
        e: &OutgoingEmail,
        _since: DateTime<Utc>,
    ) -> Result<Option<String>, SendError> {
        // Query syntax from SendGrid's Email Activity query reference (`name="value"`).
        let key = e.idempotency_key.replace('\\', "\\\\").replace('"', "\\\"");
        let query = format!("unique_args['skygeni_key']=\"{key}\"");
        let resp = self
            .http
            .get(&self.activity_url)
            .bearer_auth(self.api_key.expose_secret())
            .query(&[("limit", "10"), ("query", query.as_str())])
            .send()
            .await
            .map_err(|err| SendError::retryable(format!("SendGrid activity lookup: {err}")))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        if status.is_success() {
            let v: serde_json::Value = resp
                .json()
                .await
                .map_err(|err| SendError::retryable(format!("SendGrid activity lookup: {err}")))?;
            return Ok(v["messages"]
                .as_array()
                .and_then(|m| m.first())
                .and_then(|m| m["msg_id"].as_str())
                .map(str::to_string));
        }
        if status.as_u16() == 401 || status.as_u16() == 403 {
            tracing::warn!(key = %e.idempotency_key, status = status.as_u16(),
                "SendGrid Email Activity not available to this key: re-sending without a check");
            metrics::counter!("skygeni_outbox_unverified_total", "channel" => "email").increment(1);
            return Ok(None);
        }
        let body = resp.text().await.unwrap_or_default();
        let message = format!(
            "SendGrid activity {}: {}",
            status.as_u16(),
            error_messages(&body)
        );
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(SendError::Retryable {
                message,
                retry_after: retry_after(&headers, SystemClock.now().timestamp()),
            });
        }
        Err(SendError::Permanent(message))
    }
}

impl EmailSender for SendGridClient {
    fn send_email<'a>(&'a self, email: &'a OutgoingEmail) -> SendFuture<'a> {
        Box::pin(self.post(email))
    }

    fn find_email<'a>(&'a self, email: &'a OutgoingEmail, since: DateTime<Utc>) -> FindFuture<'a> {
        Box::pin(self.find(email, since))
    }
}

/// `Retry-After` (seconds) or, failing that, `X-RateLimit-Reset` (unix seconds) − now. The
/// reset is SendGrid's wall-clock time, so callers pass the system clock's now.
pub fn retry_after(headers: &reqwest::header::HeaderMap, now_unix: i64) -> Option<Duration> {
    let num = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
    };
    if let Some(secs) = num("retry-after") {
        return Some(Duration::from_secs(secs.max(0) as u64));
    }
    num("x-ratelimit-reset").map(|reset| Duration::from_secs((reset - now_unix).max(0) as u64))
}

/// The `errors[].message` texts of a SendGrid error body, or the body itself.
fn error_messages(body: &str) -> String {
    let parsed: Option<Vec<String>> = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v["errors"].as_array().map(|errs| {
                errs.iter()
                    .map(|e| {
                        let msg = e["message"].as_str().unwrap_or("error");
                        match e["field"].as_str() {
                            Some(f) => format!("{f}: {msg}"),
                            None => msg.to_string(),
                        }
                    })
                    .collect()
            })
        });
    match parsed {
        Some(m) if !m.is_empty() => m.join("; "),
        _ => body.chars().take(200).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn retry_after_prefers_the_header_then_the_rate_limit_reset() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, 1000), None);
        h.insert("x-ratelimit-reset", HeaderValue::from_static("1030"));
        assert_eq!(retry_after(&h, 1000), Some(Duration::from_secs(30)));
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h, 1000), Some(Duration::from_secs(7)));
    }

    #[test]
    fn the_body_puts_plain_text_before_html_and_custom_args_as_strings() {
        let c = SendGridClient::new("http://x/", SecretString::from("k"), "bot@x.com").unwrap();
        assert_eq!(c.url, "http://x/v3/mail/send");
        let b = c.body(&OutgoingEmail {
            to_email: "a@b.com".into(),
            to_name: Some("A".into()),
            subject: "S".into(),
            text: "t".into(),
            html: "<p>h</p>".into(),
            idempotency_key: "k1".into(),
            category: "alert".into(),
            inline: vec![],
            headers: vec![(
                "List-Unsubscribe-Post".into(),
                "List-Unsubscribe=One-Click".into(),
            )],
        });
        assert_eq!(
            b["headers"]["List-Unsubscribe-Post"],
            "List-Unsubscribe=One-Click"
        );
        assert_eq!(b["content"][0]["type"], "text/plain");
        assert_eq!(b["content"][1]["type"], "text/html");
        assert_eq!(b["personalizations"][0]["custom_args"]["skygeni_key"], "k1");
        assert_eq!(b["personalizations"][0]["to"][0]["name"], "A");
    }

    #[test]
    fn email_is_refused_with_the_default_or_an_unverifiable_sender() {
        let s = |vars: &[(&str, &str)]| {
            crate::config::Settings::from_vars(vars.iter().copied()).unwrap()
        };
        assert!(email_refusal(&s(&[])).unwrap().contains("SENDGRID_API_KEY"));
        let why = email_refusal(&s(&[("SENDGRID_API_KEY", "SG.x")])).unwrap();
        assert!(
            why.contains("skygeni@localhost") && why.contains("verified"),
            "{why}"
        );
        for bad in ["bot@localhost", "bot@intranet", "not-an-address"] {
            let st = s(&[("SENDGRID_API_KEY", "SG.x"), ("SKYGENI_EMAIL_FROM", bad)]);
            assert!(email_refusal(&st).is_some(), "{bad}");
            assert_eq!(email_status(&st)["enabled"], false, "{bad}");
        }
        let ok = s(&[
            ("SENDGRID_API_KEY", "SG.x"),
            ("SKYGENI_EMAIL_FROM", "deals@acme.com"),
        ]);
        assert_eq!(email_refusal(&ok), None);
        assert_eq!(
            email_status(&ok),
            json!({"enabled": true, "from": "deals@acme.com"})
        );
    }

    #[test]
    fn error_bodies_are_summarised_with_their_fields() {
        assert_eq!(
            error_messages(
                r#"{"errors":[{"message":"required","field":"from"},{"message":"x","field":null}]}"#
            ),
            "from: required; x"
        );
        assert_eq!(error_messages("oops"), "oops");
    }
}
