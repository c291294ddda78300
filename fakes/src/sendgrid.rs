//! Fake SendGrid v3 Mail Send (`POST /v3/mail/send`), faithful to shared/reference/sendgrid.md:
//! Bearer key check (401), body validation with `{"errors":[{message, field, help}]}` (400:
//! missing from / personalizations / to / subject / content, text/plain after text/html,
//! non-string custom_args, > 1000 personalizations, `headers` that are not string values or
//! name one of SendGrid's reserved headers), 403 when the from address is not a verified
//! Sender Identity (SendGrid's documented error, field `from`), 202 with an empty body and
//! `X-Message-Id`, `X-RateLimit-*` headers on every answer, 429 with `Retry-After` under
//! [`Faults`]. Every accepted message is recorded so tests can count sends.
use crate::faults::{Fault, Faults};
use axum::Router;
use axum::extract::RawQuery;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::sync::Arc;

/// One accepted message.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMail {
    pub message_id: String,
    pub to: Vec<String>,
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
    pub custom_args: Value,
    pub body: Value,
}

#[derive(Debug)]
struct Inner {
    sent: Vec<SentMail>,
    /// Verified Sender Identities (addresses, or `@domain` for an authenticated domain);
    /// `None`: every address on a public-looking domain counts as verified.
    verified: Option<Vec<String>>,
    calls: usize,
    /// Email Activity API: requests allowed per rolling minute (SendGrid: 6), and the times of
    /// the requests in the current minute.
    activity_per_minute: usize,
    activity_window: Vec<std::time::Instant>,
    activity_calls: usize,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            sent: Vec::new(),
            verified: None,
            calls: 0,
            activity_per_minute: ACTIVITY_PER_MINUTE,
            activity_window: Vec::new(),
            activity_calls: 0,
        }
    }
}

/// The Email Activity API's documented rate limit: 6 requests per minute.
pub const ACTIVITY_PER_MINUTE: usize = 6;

/// Handle shared by the test and the fake's handler.
#[derive(Debug, Clone)]
pub struct FakeSendGrid {
    api_key: String,
    inner: Arc<Mutex<Inner>>,
    pub faults: Faults,
}

impl FakeSendGrid {
    /// A fake that accepts `Authorization: Bearer <api_key>`.
    pub fn new(api_key: &str) -> FakeSendGrid {
        FakeSendGrid {
            api_key: api_key.to_string(),
            inner: Arc::default(),
            faults: Faults::default(),
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/v3/mail/send", post(mail_send))
            .route("/v3/messages", get(activity))
            .with_state(self.clone())
    }

    /// Only these senders are verified from now on: full addresses (single sender
    /// verification) or `@domain` (domain authentication).
    pub fn verify_senders(&self, senders: &[&str]) {
        self.inner.lock().verified = Some(senders.iter().map(|s| s.to_ascii_lowercase()).collect());
    }

    /// Messages accepted so far (202).
    pub fn sent(&self) -> Vec<SentMail> {
        self.inner.lock().sent.clone()
    }

    /// Requests received, accepted or not.
    /// Raise (or lower) the Email Activity API's per-minute limit (load scenarios recover many
    /// rows at once; tests keep SendGrid's 6).
    pub fn set_activity_limit(&self, per_minute: usize) {
        self.inner.lock().activity_per_minute = per_minute;
    }

    /// Email Activity API requests answered so far (any status).
    pub fn activity_calls(&self) -> usize {
        self.inner.lock().activity_calls
    }

    pub fn calls(&self) -> usize {
        self.inner.lock().calls
    }
}

fn errors(status: StatusCode, errs: &[(&str, Option<&str>)]) -> Response {
    let list: Vec<Value> = errs
        .iter()
        .map(|(m, f)| json!({"message": m, "field": f, "help": null}))
        .collect();
    (status, axum::Json(json!({"errors": list}))).into_response()
}

fn rate_headers(resp: &mut Response, remaining: u32) {
    let h = resp.headers_mut();
    let reset = chrono::Utc::now().timestamp() + 60;
    h.insert("x-ratelimit-limit", HeaderValue::from(600u32));
    h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    h.insert("x-ratelimit-reset", HeaderValue::from(reset));
}

/// Headers SendGrid sets itself and refuses in `headers` (its Mail Send reference: "These
/// headers cannot be one of the reserved headers"; the list its own libraries check).
pub const RESERVED_HEADERS: [&str; 12] = [
    "x-sg-id",
    "x-sg-eid",
    "received",
    "dkim-signature",
    "content-type",
    "content-transfer-encoding",
    "to",
    "from",
    "subject",
    "reply-to",
    "cc",
    "bcc",
];

/// Whether `from` is a verified Sender Identity: in `verified`, or (no list configured) on a
/// domain someone could have authenticated (never `localhost`, a bare host or `.local`).
fn sender_verified(from: &str, verified: Option<&[String]>) -> bool {
    let from = from.trim().to_ascii_lowercase();
    let Some((_, domain)) = from.rsplit_once('@') else {
        return false;
    };
    match verified {
        Some(list) => list
            .iter()
            .any(|v| *v == from || v.strip_prefix('@') == Some(domain)),
        None => {
            domain.contains('.')
                && !["localhost", "local", "invalid", "internal"]
                    .iter()
                    .any(|bad| domain == *bad || domain.ends_with(&format!(".{bad}")))
        }
    }
}

/// Validation as SendGrid does it; an empty list means the body is acceptable.
pub fn validate(body: &Value) -> Vec<(&'static str, Option<&'static str>)> {
    let mut errs = Vec::new();
    match &body["headers"] {
        Value::Null => {}
        Value::Object(h) => {
            if h.values().any(|v| !v.is_string()) {
                errs.push((
                    "Invalid type. Expected: string, given: object.",
                    Some("headers"),
                ));
            }
            if h.keys()
                .any(|k| RESERVED_HEADERS.contains(&k.to_ascii_lowercase().as_str()))
            {
                errs.push((
                    "The headers parameter cannot contain any of the reserved headers: x-sg-id, x-sg-eid, received, dkim-signature, Content-Type, Content-Transfer-Encoding, To, From, Subject, Reply-To, CC, BCC.",
                    Some("headers"),
                ));
            }
            if h.iter().any(|(k, v)| {
                k.is_empty()
                    || k.chars()
                        .any(|c| c == ':' || c.is_whitespace() || c.is_control())
                    || v.as_str().is_some_and(|v| v.contains(['\r', '\n']))
            }) {
                errs.push(("Invalid header name or value.", Some("headers")));
            }
        }
        _ => errs.push((
            "Invalid type. Expected: object, given: string.",
            Some("headers"),
        )),
    }
    if body["from"]["email"].as_str().is_none_or(str::is_empty) {
        errs.push((
            "The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.",
            Some("from"),
        ));
    }
    let has_subject = body["subject"].as_str().is_some_and(|s| !s.is_empty());
    match body["personalizations"].as_array() {
        None => errs.push((
            "The personalizations field is required and must have at least one personalization.",
            Some("personalizations"),
        )),
        Some(p) if p.is_empty() => errs.push((
            "The personalizations field is required and must have at least one personalization.",
            Some("personalizations"),
        )),
        Some(p) if p.len() > 1000 => errs.push((
            "The personalizations field must not contain more than 1000 personalizations.",
            Some("personalizations"),
        )),
        Some(p) => {
            for pers in p {
                if pers["to"]
                    .as_array()
                    .is_none_or(|t| t.is_empty() || t.iter().any(|a| a["email"].as_str().is_none()))
                {
                    errs.push((
                        "The to array is required for all personalization objects, and must have at least one email object with a valid email address.",
                        Some("personalizations.0.to"),
                    ));
                }
                if !has_subject && pers["subject"].as_str().is_none_or(str::is_empty) {
                    errs.push((
                        "The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.",
                        Some("subject"),
                    ));
                }
                if !pers["custom_args"].is_null()
                    && !pers["custom_args"]
                        .as_object()
                        .is_some_and(|o| o.values().all(Value::is_string))
                {
                    errs.push((
                        "Invalid type. Expected: object, given: string.",
                        Some("personalizations.0.custom_args"),
                    ));
                }
            }
        }
    }
    match body["content"].as_array() {
        Some(c) if !c.is_empty() => {
            if c.iter()
                .any(|p| p["type"].as_str().is_none() || p["value"].as_str().is_none_or(str::is_empty))
            {
                errs.push((
                    "The content value must be a string at least one character in length.",
                    Some("content.0.value"),
                ));
            }
            let types: Vec<&str> = c.iter().filter_map(|p| p["type"].as_str()).collect();
            let plain = types.iter().position(|t| *t == "text/plain");
            let html = types.iter().position(|t| *t == "text/html");
            if let (Some(p), Some(h)) = (plain, html)
                && p > h
            {
                errs.push((
                    "If present, text/plain and text/html may only be provided in this order, before any other content.",
                    Some("content"),
                ));
            }
        }
        _ => errs.push((
            "Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block.",
            Some("content"),
        )),
    }
    if let Some(atts) = body["attachments"].as_array() {
        for a in atts {
            if a["content"].as_str().is_none_or(str::is_empty)
                || a["filename"].as_str().is_none_or(str::is_empty)
            {
                errs.push((
                    "The attachment content and filename are required.",
                    Some("attachments.0.content"),
                ));
            }
            if a["disposition"] == "inline" && a["content_id"].as_str().is_none_or(str::is_empty) {
                errs.push((
                    "The content_id parameter is required if the disposition is set to inline.",
                    Some("attachments.0.content_id"),
                ));
            }
        }
    }
    errs
}

async fn mail_send(State(fake): State<FakeSendGrid>, headers: HeaderMap, body: String) -> Response {
    fake.inner.lock().calls += 1;
    let (fault, latency) = fake.faults.take();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        Some(Fault::ServerError(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return errors(status, &[("internal error", None)]);
        }
        Some(Fault::RateLimited { retry_after_secs }) => {
            let mut r = errors(
                StatusCode::TOO_MANY_REQUESTS,
                &[("too many requests", None)],
            );
            rate_headers(&mut r, 0);
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(retry_after_secs));
            return r;
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        // No answer at all: the client's timeout fires.
        Some(Fault::Drop) => tokio::time::sleep(std::time::Duration::from_secs(3600)).await,
        Some(Fault::LoseResponse) => {
            // The message is accepted (recorded) but the answer never arrives.
            let _ = accept(&fake, &headers, &body);
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        }
        None => {}
    }
    accept(&fake, &headers, &body)
}

/// `GET /v3/messages?limit=&query=` (Email Activity API): 401 without the key, 429 beyond
/// the per-minute limit, 400 for a query it does not understand. Understood queries:
/// `unique_args['<name>']="<value>"` (custom_args of v3 sends) and `msg_id="<id>"`. Answers
/// `{"messages":[{msg_id, from_email, to_email, subject, status, opens_count, clicks_count,
/// last_event_time}]}`, newest first.
async fn activity(
    State(fake): State<FakeSendGrid>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (fault, latency) = fake.faults.take();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        Some(Fault::ServerError(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return errors(status, &[("internal error", None)]);
        }
        Some(Fault::Drop | Fault::LoseResponse) => {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::RateLimited { .. }) | None => {}
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {}", fake.api_key) {
        return errors(
            StatusCode::UNAUTHORIZED,
            &[("authorization required", None)],
        );
    }
    {
        let mut inner = fake.inner.lock();
        inner.activity_calls += 1;
        let now = std::time::Instant::now();
        inner
            .activity_window
            .retain(|t| now.duration_since(*t) < std::time::Duration::from_secs(60));
        if inner.activity_window.len() >= inner.activity_per_minute {
            let wait = inner.activity_window.first().map_or(60, |oldest| {
                60u64
                    .saturating_sub(now.duration_since(*oldest).as_secs())
                    .max(1)
            });
            let mut r = errors(
                StatusCode::TOO_MANY_REQUESTS,
                &[("too many requests", None)],
            );
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(wait));
            return r;
        }
        inner.activity_window.push(now);
    }
    let params: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let limit: usize = get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(10)
        .clamp(1, 1000);
    let filter = match get("query").as_deref().map(parse_activity_query) {
        None => None,
        Some(Some(f)) => Some(f),
        Some(None) => {
            return errors(StatusCode::BAD_REQUEST, &[("invalid query", Some("query"))]);
        }
    };
    let inner = fake.inner.lock();
    let messages: Vec<Value> = inner
        .sent
        .iter()
        .rev()
        .filter(|m| match &filter {
            None => true,
            Some(ActivityFilter::UniqueArg(k, v)) => m.custom_args[k.as_str()] == v.as_str(),
            Some(ActivityFilter::MsgId(id)) => &m.message_id == id,
        })
        .take(limit)
        .map(|m| {
            json!({"msg_id": m.message_id, "from_email": m.body["from"]["email"],
                   "to_email": m.to.first(), "subject": m.subject, "status": "delivered",
                   "opens_count": 0, "clicks_count": 0,
                   "last_event_time": chrono::Utc::now().to_rfc3339()})
        })
        .collect();
    axum::Json(json!({"messages": messages})).into_response()
}

#[derive(Debug, PartialEq)]
enum ActivityFilter {
    UniqueArg(String, String),
    MsgId(String),
}

fn parse_activity_query(q: &str) -> Option<ActivityFilter> {
    let (lhs, rhs) = q.trim().split_once('=')?;
    let value = rhs.trim().strip_prefix('"')?.strip_suffix('"')?.to_string();
    let lhs = lhs.trim();
    if lhs == "msg_id" {
        return Some(ActivityFilter::MsgId(value));
    }
    let name = lhs.strip_prefix("unique_args['")?.strip_suffix("']")?;
    Some(ActivityFilter::UniqueArg(name.to_string(), value))
}

/// Checks and records one mail/send request: 401, 400 with the validation errors, or 202.
fn accept(fake: &FakeSendGrid, headers: &HeaderMap, body: &str) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {}", fake.api_key) {
        return errors(
            StatusCode::UNAUTHORIZED,
            &[(
                "The provided authorization grant is invalid, expired, or revoked",
                None,
            )],
        );
    }
    let Ok(json) = serde_json::from_str::<Value>(body) else {
        return errors(StatusCode::BAD_REQUEST, &[("Bad Request", None)]);
    };
    let errs = validate(&json);
    if !errs.is_empty() {
        let mut r = errors(StatusCode::BAD_REQUEST, &errs);
        rate_headers(&mut r, 599);
        return r;
    }
    let from = json["from"]["email"].as_str().unwrap_or_default();
    if !sender_verified(from, fake.inner.lock().verified.as_deref()) {
        return errors(
            StatusCode::FORBIDDEN,
            &[(
                "The from address does not match a verified Sender Identity. Mail cannot be sent until this error is resolved. Visit https://sendgrid.com/docs/for-developers/sending-email/sender-identity/ to see the Sender Identity requirements",
                Some("from"),
            )],
        );
    }
    let message_id = uuid::Uuid::new_v4().simple().to_string();
    let pers = &json["personalizations"][0];
    let part = |t: &str| {
        json["content"]
            .as_array()
            .and_then(|c| c.iter().find(|p| p["type"] == t))
            .and_then(|p| p["value"].as_str())
            .map(str::to_string)
    };
    fake.inner.lock().sent.push(SentMail {
        message_id: message_id.clone(),
        to: pers["to"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|a| a["email"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        subject: pers["subject"]
            .as_str()
            .or(json["subject"].as_str())
            .unwrap_or_default()
            .to_string(),
        text: part("text/plain"),
        html: part("text/html"),
        custom_args: pers["custom_args"].clone(),
        body: json.clone(),
    });
    let mut r = StatusCode::ACCEPTED.into_response();
    rate_headers(&mut r, 599);
    r.headers_mut().insert(
        "x-message-id",
        HeaderValue::from_str(&message_id).expect("hex is a valid header"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_queries_by_custom_arg_or_message_id() {
        assert_eq!(
            parse_activity_query(r#"unique_args['skygeni_key']="a:b:email""#),
            Some(ActivityFilter::UniqueArg(
                "skygeni_key".into(),
                "a:b:email".into()
            ))
        );
        assert_eq!(
            parse_activity_query(r#"msg_id="abc""#),
            Some(ActivityFilter::MsgId("abc".into()))
        );
        assert_eq!(parse_activity_query("subject=unquoted"), None);
    }

    fn good() -> Value {
        json!({
            "personalizations": [{"to": [{"email": "a@b.com"}]}],
            "from": {"email": "bot@x.com"},
            "subject": "s",
            "content": [{"type": "text/plain", "value": "t"}, {"type": "text/html", "value": "<p>h</p>"}]
        })
    }

    #[test]
    fn a_complete_body_passes_and_each_missing_part_is_named() {
        assert!(validate(&good()).is_empty());
        type Case = (&'static str, fn(&mut Value), &'static str);
        let cases: [Case; 5] = [
            ("no from", |b| b["from"] = Value::Null, "from"),
            (
                "no personalizations",
                |b| b["personalizations"] = json!([]),
                "personalizations",
            ),
            (
                "no to",
                |b| b["personalizations"][0]["to"] = json!([]),
                "personalizations.0.to",
            ),
            ("no content", |b| b["content"] = Value::Null, "content"),
            (
                "html before text",
                |b| b["content"] = json!([{"type": "text/html", "value": "h"}, {"type": "text/plain", "value": "t"}]),
                "content",
            ),
        ];
        for (name, break_it, field) in cases {
            let mut b = good();
            break_it(&mut b);
            let errs = validate(&b);
            assert!(errs.iter().any(|e| e.1 == Some(field)), "{name}: {errs:?}");
        }
        let mut b = good();
        b["personalizations"][0]["custom_args"] = json!("x");
        assert!(!validate(&b).is_empty(), "custom_args must be an object");
    }

    #[test]
    fn reserved_or_malformed_headers_are_refused_and_list_unsubscribe_passes() {
        let mut b = good();
        b["headers"] = json!({"List-Unsubscribe": "<https://x.example/u/1>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"});
        assert!(validate(&b).is_empty(), "{:?}", validate(&b));
        for bad in [
            json!({"From": "evil@x.com"}),
            json!({"reply-to": "a@b.com"}),
            json!({"DKIM-Signature": "v=1"}),
            json!({"X-Count": 1}),
            json!({"X-Injected": "a\r\nBcc: victim@x.com"}),
            json!({"Bad Name": "x"}),
            json!("List-Unsubscribe: <x>"),
        ] {
            let mut b = good();
            b["headers"] = bad.clone();
            assert!(validate(&b).iter().any(|e| e.1 == Some("headers")), "{bad}");
        }
    }

    #[test]
    fn only_verified_senders_may_send() {
        assert!(sender_verified("deals@acme.com", None));
        for bad in [
            "skygeni@localhost",
            "bot@intranet",
            "bot@host.local",
            "no-at-sign",
        ] {
            assert!(!sender_verified(bad, None), "{bad}");
        }
        let list = vec!["deals@acme.com".to_string(), "@globex.com".to_string()];
        assert!(sender_verified("Deals@Acme.com", Some(&list)));
        assert!(sender_verified("anyone@globex.com", Some(&list)));
        assert!(!sender_verified("other@acme.com", Some(&list)));
    }
}
