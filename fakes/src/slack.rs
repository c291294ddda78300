//! A fake Slack Web API (`SLACK_API_URL` = `{url}/api`) plus `response_url` endpoints
//! (`{url}/response/<id>`), faithful to Slack's docs and shared/reference/slack.md: Bearer
//! tokens checked (`invalid_auth`, `token_expired`), HTTP 200 with `ok:false` + Slack's error
//! names, 429 with `Retry-After`, real response shapes; read methods ignore JSON bodies (see
//! [`crate::slack_rules`]), a trigger_id lives 3 s and is single-use, posting to a channel the
//! bot is not a member of is `channel_not_found`, and Block Kit limits are enforced. Every call
//! is recorded (method, token, parsed body) so tests and the load kit can count sends;
//! [`Faults`] apply to every `/api` method.
use crate::faults::{Fault, Faults};
use crate::slack_rules;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a trigger_id can be exchanged for a modal (Slack: 3 seconds).
pub const TRIGGER_TTL: Duration = Duration::from_secs(3);

/// Seconds a rotated token lives (Slack: 12 hours).
pub const ROTATED_TOKEN_TTL_SECS: u64 = 43_200;

/// One recorded request.
#[derive(Debug, Clone)]
pub struct SlackCall {
    /// Web API method (`chat.postMessage`) or `response_url` for response-URL posts.
    pub method: String,
    /// Bearer token (or `token` form field); `None` when absent.
    pub token: Option<String>,
    /// The parsed body (JSON, form or query string) as a JSON object; `view`/`blocks` given
    /// as JSON strings in form bodies are decoded.
    pub body: Value,
    /// The response-URL id for `response_url` calls.
    pub response_id: Option<String>,
    /// `GET` or `POST`.
    pub http_method: String,
    /// The request's Content-Type header, if any.
    pub content_type: Option<String>,
    /// `"ok"`, Slack's error name, or `http_<status>` when a fault answered.
    pub outcome: String,
}

/// A Slack user the fake knows (users.info / users.lookupByEmail).
#[derive(Debug, Clone)]
pub struct FakeUser {
    pub id: String,
    pub email: String,
    pub name: String,
    pub team_id: String,
}

/// An OAuth install the fake will grant for `code`.
#[derive(Debug, Clone)]
pub struct FakeInstall {
    pub team_id: String,
    pub team_name: String,
    pub authed_user: String,
    /// When true the grant carries `expires_in` + `refresh_token` (token rotation on).
    pub rotate: bool,
}

#[derive(Default)]
struct Inner {
    tokens: HashSet<String>,
    expired: HashSet<String>,
    users: Vec<FakeUser>,
    calls: Vec<SlackCall>,
    /// method → Slack error names to answer the next calls with (one each).
    forced: HashMap<String, Vec<String>>,
    messages: HashMap<(String, String), Value>,
    views: HashMap<String, Value>,
    /// trigger_id → when Slack issued it ([`SlackFake::issue_trigger`]).
    triggers: HashMap<String, Instant>,
    used_triggers: HashSet<String>,
    /// Public/private channels the bot is a member of (DMs and user ids always work).
    channels: HashSet<String>,
    oauth_client: Option<(String, String)>,
    codes: HashMap<String, FakeInstall>,
    /// refresh token → team it belongs to.
    refresh_tokens: HashMap<String, FakeInstall>,
}

/// Cheaply clonable handle on the fake's state; `router()` serves it.
#[derive(Clone, Default)]
pub struct SlackFake {
    inner: Arc<Mutex<Inner>>,
    faults: Faults,
    seq: Arc<AtomicU64>,
}

impl SlackFake {
    /// A fake that accepts the bot token `token`.
    pub fn new(token: &str) -> SlackFake {
        let fake = SlackFake::default();
        fake.add_token(token);
        fake
    }

    pub fn add_token(&self, token: &str) {
        self.inner.lock().tokens.insert(token.to_string());
    }

    /// Calls with this token now answer `token_expired` (a rotated token past its 12 h).
    pub fn expire_token(&self, token: &str) {
        self.inner.lock().expired.insert(token.to_string());
    }

    /// Calls with this token now answer `token_revoked`.
    pub fn revoke_token(&self, token: &str) {
        self.inner.lock().tokens.remove(token);
    }

    pub fn add_user(&self, id: &str, email: &str, name: &str) {
        self.inner.lock().users.push(FakeUser {
            id: id.into(),
            email: email.into(),
            name: name.into(),
            team_id: "T0FAKE".into(),
        });
    }

    /// A trigger_id as Slack puts in a slash command or interaction: usable once, for
    /// [`TRIGGER_TTL`] from now.
    pub fn issue_trigger(&self) -> String {
        let id = format!(
            "{}.{}.{}",
            self.next_seq(),
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        self.inner
            .lock()
            .triggers
            .insert(id.clone(), Instant::now());
        id
    }

    /// The bot becomes a member of `channel` (as after `/invite @bot`).
    pub fn join_channel(&self, channel: &str) {
        self.inner.lock().channels.insert(channel.to_string());
    }

    /// The OAuth client credentials oauth.v2.access accepts.
    pub fn set_oauth_client(&self, client_id: &str, client_secret: &str) {
        self.inner.lock().oauth_client = Some((client_id.into(), client_secret.into()));
    }

    /// Make `code` exchangeable (once) for a bot token of `install.team_id`.
    pub fn add_oauth_code(&self, code: &str, install: FakeInstall) {
        self.inner.lock().codes.insert(code.into(), install);
    }

    /// Answer the next call to `method` with `ok:false, error: <error>` (HTTP 200), e.g.
    /// `channel_not_found`, `account_inactive`, `expired_trigger_id`.
    pub fn fail_next(&self, method: &str, error: &str) {
        self.inner
            .lock()
            .forced
            .entry(method.into())
            .or_default()
            .push(error.into());
    }

    /// The fault switches applied to every `/api` call.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<SlackCall> {
        self.inner.lock().calls.clone()
    }

    /// Calls to one method (all outcomes).
    pub fn calls_to(&self, method: &str) -> Vec<SlackCall> {
        self.inner
            .lock()
            .calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// How many calls to `method` were made (all outcomes).
    pub fn count(&self, method: &str) -> usize {
        self.inner
            .lock()
            .calls
            .iter()
            .filter(|c| c.method == method)
            .count()
    }

    /// How many calls to `method` succeeded (`ok:true`): what Slack actually delivered.
    pub fn count_ok(&self, method: &str) -> usize {
        self.inner
            .lock()
            .calls
            .iter()
            .filter(|c| c.method == method && c.outcome == "ok")
            .count()
    }

    /// Posts received on `{url}/response/<id>`.
    pub fn responses(&self, id: &str) -> Vec<Value> {
        self.inner
            .lock()
            .calls
            .iter()
            .filter(|c| c.response_id.as_deref() == Some(id))
            .map(|c| c.body.clone())
            .collect()
    }

    /// The current content of a posted message (after any chat.update).
    pub fn message(&self, channel: &str, ts: &str) -> Option<Value> {
        self.inner
            .lock()
            .messages
            .get(&(channel.to_string(), ts.to_string()))
            .cloned()
    }

    /// Forget recorded calls (state such as messages and tokens is kept).
    pub fn clear_calls(&self) {
        self.inner.lock().calls.clear();
    }

    /// `POST /api/<method>` (GET too: Slack accepts query strings) and
    /// `POST /response/<id>` for response URLs.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/{method}", any(api))
            .route("/response/{id}", post(response_url))
            .route("/_control/trigger", post(issue_trigger))
            .with_state(self.clone())
    }

    /// Serve on 127.0.0.1:`port` (0 = any); the Web API base is `{server.url()}/api`.
    pub async fn start(&self, port: u16) -> anyhow::Result<crate::FakeServer> {
        crate::FakeServer::start(self.router(), port).await
    }

    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn record(&self, call: SlackCall) {
        self.inner.lock().calls.push(call);
    }
}

/// Parses a Web API request's arguments into one JSON object: the query string, then a form
/// body, or a JSON body only when `method` reads JSON (Slack ignores JSON bodies elsewhere).
fn parse_body(method: &str, headers: &HeaderMap, query: Option<&str>, body: &[u8]) -> Value {
    let mut out = Map::new();
    if let Some(q) = query {
        for (k, v) in serde_urlencoded::from_str::<Vec<(String, String)>>(q).unwrap_or_default() {
            out.insert(k, Value::String(v));
        }
    }
    if is_json(headers) {
        if slack_rules::accepts_json(method)
            && let Ok(Value::Object(mut m)) = serde_json::from_slice::<Value>(body)
        {
            // Slack takes the token of a JSON call only from the Authorization header.
            m.remove("token");
            out.extend(m);
        }
    } else if !body.is_empty() {
        for (k, v) in
            serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).unwrap_or_default()
        {
            // Form bodies carry structured arguments (view, blocks, attachments) as JSON text.
            let value = match k.as_str() {
                "view" | "blocks" | "attachments" | "metadata" => {
                    serde_json::from_str(&v).unwrap_or(Value::String(v))
                }
                _ => Value::String(v),
            };
            out.insert(k, value);
        }
    }
    Value::Object(out)
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn is_json(headers: &HeaderMap) -> bool {
    content_type(headers).is_some_and(|v| v.starts_with("application/json"))
}

/// Slack answers a JSON body without `charset=utf-8` but warns about it.
fn missing_charset(headers: &HeaderMap) -> bool {
    is_json(headers)
        && !content_type(headers)
            .unwrap_or_default()
            .to_ascii_lowercase()
            .contains("charset=utf-8")
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
}

fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    use base64_lite::decode;
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let raw = decode(v.strip_prefix("Basic ")?.trim())?;
    let s = String::from_utf8(raw).ok()?;
    let (id, secret) = s.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// Tiny standard-alphabet base64 decoder for HTTP Basic credentials (keeps the fakes crate free
/// of an extra dependency for one header).
mod base64_lite {
    pub fn decode(s: &str) -> Option<Vec<u8>> {
        const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = Vec::new();
        let mut acc = 0u32;
        let mut bits = 0;
        for c in s.bytes().filter(|c| *c != b'=') {
            let v = ALPHA.iter().position(|a| *a == c)? as u32;
            acc = (acc << 6) | v;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
        Some(out)
    }
}

fn ok(mut v: Value) -> Response {
    v["ok"] = Value::Bool(true);
    (StatusCode::OK, axum::Json(v)).into_response()
}

/// Slack answers method errors with HTTP 200 and `ok:false`.
fn slack_err(error: &str) -> Response {
    (
        StatusCode::OK,
        axum::Json(json!({"ok": false, "error": error})),
    )
        .into_response()
}

fn str_arg<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

async fn api(
    State(fake): State<SlackFake>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    http_method: axum::http::Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed = parse_body(&method, &headers, query.as_deref(), &body);
    let token = bearer(&headers).or_else(|| str_arg(&parsed, "token").map(str::to_string));
    let mut call = SlackCall {
        method: method.clone(),
        token: token.clone(),
        body: parsed.clone(),
        response_id: None,
        http_method: http_method.to_string(),
        content_type: content_type(&headers),
        outcome: String::new(),
    };

    let (fault, latency) = fake.faults.take();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        Some(Fault::ServerError(status)) => {
            call.outcome = format!("http_{status}");
            fake.record(call);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (status, "upstream connect error").into_response();
        }
        Some(Fault::RateLimited { retry_after_secs }) => {
            call.outcome = "http_429".into();
            fake.record(call);
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, retry_after_secs.to_string())],
                axum::Json(json!({"ok": false, "error": "ratelimited"})),
            )
                .into_response();
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::LoseResponse) => {
            let resp = fake.handle(&method, token.as_deref(), &headers, &parsed);
            call.outcome = format!("{}+lost_response", outcome_of(&resp));
            fake.record(call);
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        Some(Fault::Drop) => {
            // axum cannot reset a connection from a handler; never answering is what a client
            // sees of a dropped connection: its timeout fires.
            call.outcome = "dropped".into();
            fake.record(call);
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        None => {}
    }

    let resp = fake.handle(&method, token.as_deref(), &headers, &parsed);
    call.outcome = outcome_of(&resp);
    fake.record(call);
    match resp {
        Handled::Ok(mut v) if missing_charset(&headers) => {
            v["warning"] = json!("missing_charset");
            v["response_metadata"] = json!({"warnings": ["missing_charset"]});
            Handled::Ok(v).into_response()
        }
        other => other.into_response(),
    }
}

/// `POST /_control/trigger`: a fresh trigger_id for a test or witness posting as Slack.
async fn issue_trigger(State(fake): State<SlackFake>) -> Response {
    axum::Json(json!({"trigger_id": fake.issue_trigger()})).into_response()
}

/// What a handled call answered: "ok" or Slack's error name.
fn outcome_of(resp: &Handled) -> String {
    match resp {
        Handled::Ok(_) => "ok".into(),
        Handled::Err(e) => e.clone(),
        Handled::Status(s) => format!("http_{}", s.as_u16()),
    }
}

enum Handled {
    Ok(Value),
    Err(String),
    Status(StatusCode),
}

impl IntoResponse for Handled {
    fn into_response(self) -> Response {
        match self {
            Handled::Ok(v) => ok(v),
            Handled::Err(e) => slack_err(&e),
            Handled::Status(s) => (s, "not found").into_response(),
        }
    }
}

fn err(e: &str) -> Handled {
    Handled::Err(e.to_string())
}

/// Slack's `invalid_blocks`; the reason goes to stderr for whoever reads the test output.
fn invalid_blocks(why: &str) -> Handled {
    tracing_free_note(why);
    err("invalid_blocks")
}

fn tracing_free_note(why: &str) {
    eprintln!("fake Slack refused blocks: {why}");
}

fn user_json(u: &FakeUser) -> Value {
    json!({"id": u.id, "team_id": u.team_id, "name": u.name, "real_name": u.name, "deleted": false,
           "is_bot": false, "tz": "Europe/London",
           "profile": {"email": u.email, "real_name": u.name, "display_name": u.name}})
}

impl SlackFake {
    fn handle(&self, method: &str, token: Option<&str>, headers: &HeaderMap, b: &Value) -> Handled {
        if method == "oauth.v2.access" {
            return self.oauth_access(headers, b);
        }
        const KNOWN: &[&str] = &[
            "auth.test",
            "chat.postMessage",
            "chat.update",
            "chat.postEphemeral",
            "conversations.open",
            "conversations.history",
            "views.open",
            "views.update",
            "views.publish",
            "users.info",
            "users.lookupByEmail",
        ];
        if !KNOWN.contains(&method) {
            // Slack answers unknown methods with 404 + ok:false unknown_method; 404 suffices here.
            return Handled::Status(StatusCode::NOT_FOUND);
        }
        let Some(token) = token else {
            return err("not_authed");
        };
        {
            let inner = self.inner.lock();
            if inner.expired.contains(token) {
                return err("token_expired");
            }
            if !inner.tokens.contains(token) {
                return err("invalid_auth");
            }
        }
        if let Some(forced) = self.inner.lock().forced.get_mut(method)
            && !forced.is_empty()
        {
            return Handled::Err(forced.remove(0));
        }
        match method {
            "auth.test" => Handled::Ok(json!({"url": "https://fake.slack.com/", "team": "Fake",
                "user": "skygeni", "team_id": "T0FAKE", "user_id": "UBOT", "bot_id": "BBOT"})),
            "chat.postMessage" => self.post_message(b),
            "conversations.history" => self.history(b),
            "chat.update" => self.update_message(b),
            "chat.postEphemeral" => {
                let (Some(channel), Some(_)) = (str_arg(b, "channel"), str_arg(b, "user")) else {
                    return err("invalid_arguments");
                };
                if !self.is_member(channel) {
                    return err("channel_not_found");
                }
                if !has_content(b) {
                    return err("no_text");
                }
                if let Err(why) = slack_rules::check_message(b) {
                    return invalid_blocks(&why);
                }
                Handled::Ok(json!({"message_ts": self.ts()}))
            }
            "conversations.open" => {
                let users = match b.get("users") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Array(a)) => a
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(","),
                    _ => return err("users_list_not_supplied"),
                };
                let first = users.split(',').next().unwrap_or_default();
                Handled::Ok(
                    json!({"channel": {"id": format!("D{}", first.trim_start_matches('U'))}}),
                )
            }
            "views.open" => {
                let Some(trigger) = str_arg(b, "trigger_id") else {
                    return err("invalid_arguments");
                };
                let issued = self.inner.lock().triggers.get(trigger).copied();
                match issued {
                    _ if trigger.starts_with("expired") => return err("expired_trigger_id"),
                    None => return err("invalid_trigger_id"),
                    Some(at) if at.elapsed() > TRIGGER_TTL => return err("expired_trigger_id"),
                    Some(_) => {}
                }
                if !self.inner.lock().used_triggers.insert(trigger.to_string()) {
                    return err("exchanged_trigger_id");
                }
                self.store_view(None, b)
            }
            "views.update" => {
                let id = str_arg(b, "view_id").map(str::to_string);
                match &id {
                    Some(id) if self.inner.lock().views.contains_key(id) => {}
                    _ => return err("not_found"),
                }
                self.store_view(id, b)
            }
            "views.publish" => {
                if str_arg(b, "user_id").is_none() {
                    return err("invalid_arguments");
                }
                if b.pointer("/view/type").and_then(Value::as_str) != Some("home") {
                    return err("invalid_arguments");
                }
                self.store_view(None, b)
            }
            "users.info" => {
                let Some(id) = str_arg(b, "user") else {
                    return err("user_not_found");
                };
                match self.inner.lock().users.iter().find(|u| u.id == id) {
                    Some(u) => Handled::Ok(json!({"user": user_json(u)})),
                    None => err("user_not_found"),
                }
            }
            "users.lookupByEmail" => {
                let Some(email) = str_arg(b, "email") else {
                    return err("invalid_arguments");
                };
                match self
                    .inner
                    .lock()
                    .users
                    .iter()
                    .find(|u| u.email.eq_ignore_ascii_case(email))
                {
                    Some(u) => Handled::Ok(json!({"user": user_json(u)})),
                    None => err("users_not_found"),
                }
            }
            _ => Handled::Status(StatusCode::NOT_FOUND),
        }
    }

    /// A message ts like Slack's: the posting time in seconds, then a per-fake sequence
    /// (so it is unique and `oldest` filters by real time).
    fn ts(&self) -> String {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        format!("{secs}.{:06}", self.next_seq() % 1_000_000)
    }

    /// `conversations.history`: newest first, `oldest`/`latest` bounds (exclusive unless
    /// `inclusive`), `limit` (default 100, at most 999), cursor paging with `has_more` and
    /// `response_metadata.next_cursor`; message `metadata` only with `include_all_metadata`.
    fn history(&self, b: &Value) -> Handled {
        let Some(channel) = str_arg(b, "channel") else {
            return err("channel_not_found");
        };
        let num = |k: &str| -> Option<f64> {
            match b.get(k) {
                Some(Value::String(s)) => s.parse().ok(),
                Some(Value::Number(n)) => n.as_f64(),
                _ => None,
            }
        };
        let flag = |k: &str| {
            matches!(b.get(k), Some(Value::Bool(true)))
                || matches!(b.get(k), Some(Value::String(s)) if s == "true" || s == "1")
        };
        let inclusive = flag("inclusive");
        let (oldest, latest) = (num("oldest").unwrap_or(0.0), num("latest"));
        let limit = num("limit").map_or(100, |l| (l as usize).clamp(1, 999));
        let offset = match str_arg(b, "cursor") {
            None | Some("") => 0,
            Some(c) => match c.strip_prefix("next_offset:").and_then(|n| n.parse().ok()) {
                Some(n) => n,
                None => return err("invalid_cursor"),
            },
        };
        let mut msgs: Vec<(f64, Value)> = self
            .inner
            .lock()
            .messages
            .iter()
            .filter(|((c, _), _)| c == channel)
            .filter_map(|((_, ts), m)| {
                let t: f64 = ts.parse().ok()?;
                let after = if inclusive { t >= oldest } else { t > oldest };
                let before = latest.is_none_or(|l| if inclusive { t <= l } else { t < l });
                (after && before).then(|| (t, m.clone()))
            })
            .collect();
        msgs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let with_metadata = flag("include_all_metadata");
        let page: Vec<Value> = msgs
            .iter()
            .skip(offset)
            .take(limit)
            .map(|(_, m)| {
                let mut m = m.clone();
                if !with_metadata && let Some(o) = m.as_object_mut() {
                    o.remove("metadata");
                }
                m
            })
            .collect();
        let has_more = offset + page.len() < msgs.len();
        let next = if has_more {
            format!("next_offset:{}", offset + page.len())
        } else {
            String::new()
        };
        Handled::Ok(json!({"messages": page, "has_more": has_more,
                           "response_metadata": {"next_cursor": next}}))
    }

    /// DMs (`D…`, or a user id, which posts in the app DM) always work; a channel only
    /// after [`SlackFake::join_channel`].
    fn is_member(&self, channel: &str) -> bool {
        channel.starts_with('D')
            || channel.starts_with('U')
            || channel.starts_with('W')
            || self.inner.lock().channels.contains(channel)
    }

    fn post_message(&self, b: &Value) -> Handled {
        let Some(channel) = str_arg(b, "channel") else {
            return err("channel_not_found");
        };
        if !self.is_member(channel) {
            return err("channel_not_found");
        }
        if !has_content(b) {
            return err("no_text");
        }
        if let Err(why) = slack_rules::check_message(b) {
            return invalid_blocks(&why);
        }
        // Posting to a user id lands in the app's DM with that user.
        let channel = match channel.strip_prefix('U') {
            Some(rest) => format!("D{rest}"),
            None => channel.to_string(),
        };
        let ts = self.ts();
        let message = message_of(b, &ts);
        self.inner
            .lock()
            .messages
            .insert((channel.clone(), ts.clone()), message.clone());
        Handled::Ok(json!({"channel": channel, "ts": ts, "message": message}))
    }

    fn update_message(&self, b: &Value) -> Handled {
        let (Some(channel), Some(ts)) = (str_arg(b, "channel"), str_arg(b, "ts")) else {
            return err("invalid_arguments");
        };
        if let Err(why) = slack_rules::check_message(b) {
            return invalid_blocks(&why);
        }
        let key = (channel.to_string(), ts.to_string());
        let mut inner = self.inner.lock();
        if !inner.messages.contains_key(&key) {
            return err("message_not_found");
        }
        let message = message_of(b, ts);
        inner.messages.insert(key, message.clone());
        Handled::Ok(
            json!({"channel": channel, "ts": ts, "text": message["text"], "message": message}),
        )
    }

    fn store_view(&self, id: Option<String>, b: &Value) -> Handled {
        let Some(view) = b.get("view").filter(|v| v.is_object()) else {
            return err("invalid_arguments");
        };
        if let Err(why) = slack_rules::check_view(view) {
            tracing_free_note(&why);
            return err("invalid_arguments");
        }
        if serde_json::to_vec(view).map_or(0, |v| v.len()) > 250_000 {
            return err("view_too_large");
        }
        let id = id.unwrap_or_else(|| format!("V{:08}", self.next_seq()));
        let mut stored = view.clone();
        stored["id"] = json!(id);
        stored["hash"] = json!(format!("{}.hash", self.next_seq()));
        self.inner.lock().views.insert(id, stored.clone());
        Handled::Ok(json!({"view": stored}))
    }

    fn oauth_access(&self, headers: &HeaderMap, b: &Value) -> Handled {
        let creds = basic(headers).or_else(|| {
            Some((
                str_arg(b, "client_id")?.to_string(),
                str_arg(b, "client_secret")?.to_string(),
            ))
        });
        let mut inner = self.inner.lock();
        match (&inner.oauth_client, creds) {
            (Some((id, _)), Some((given, _))) if *id != given => return err("invalid_client_id"),
            (Some((_, secret)), Some((_, given))) if *secret != given => {
                return err("bad_client_secret");
            }
            (Some(_), None) => return err("invalid_client_id"),
            _ => {}
        }
        let install = if str_arg(b, "grant_type") == Some("refresh_token") {
            let Some(rt) = str_arg(b, "refresh_token") else {
                return err("invalid_refresh_token");
            };
            // Refresh tokens are single-use: the grant returns a new one.
            match inner.refresh_tokens.remove(rt) {
                Some(i) => i,
                None => return err("invalid_refresh_token"),
            }
        } else {
            let Some(code) = str_arg(b, "code") else {
                return err("invalid_code");
            };
            match inner.codes.remove(code) {
                Some(i) => i,
                None => return err("invalid_code"),
            }
        };
        drop(inner);
        let n = self.next_seq();
        let access = format!("xoxb-{}-{n}", install.team_id);
        let mut inner = self.inner.lock();
        inner.tokens.insert(access.clone());
        let mut out = json!({
            "access_token": access, "token_type": "bot",
            "scope": "commands,chat:write,im:write,im:history,users:read,users:read.email",
            "bot_user_id": "UBOT", "app_id": "A0FAKE",
            "team": {"id": install.team_id, "name": install.team_name},
            "enterprise": null, "is_enterprise_install": false,
            "authed_user": {"id": install.authed_user},
        });
        if install.rotate {
            let refresh = format!("xoxe-1-{}-{n}", install.team_id);
            inner.refresh_tokens.insert(refresh.clone(), install);
            out["expires_in"] = json!(ROTATED_TOKEN_TTL_SECS);
            out["refresh_token"] = json!(refresh);
        }
        Handled::Ok(out)
    }
}

fn has_content(b: &Value) -> bool {
    str_arg(b, "text").is_some()
        || b.get("blocks").is_some_and(|v| !v.is_null())
        || b.get("attachments").is_some_and(|v| !v.is_null())
}

fn message_of(b: &Value, ts: &str) -> Value {
    let mut m = json!({"type": "message", "user": "UBOT", "bot_id": "BBOT", "ts": ts,
           "text": b.get("text").cloned().unwrap_or(json!("")),
           "blocks": b.get("blocks").cloned().unwrap_or(json!([])),
           "attachments": b.get("attachments").cloned().unwrap_or(json!([]))});
    // Message metadata ({event_type, event_payload}) is kept and shown by
    // conversations.history when asked for with include_all_metadata.
    if let Some(meta) = b.get("metadata").filter(|v| v.is_object()) {
        m["metadata"] = meta.clone();
    }
    m
}

/// `response_url` posts: recorded, answered `ok` (no token: the URL itself is the credential).
async fn response_url(
    State(fake): State<SlackFake>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // response_url takes JSON (or form) bodies.
    let parsed = if is_json(&headers) {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    } else {
        parse_body("response_url", &headers, None, &body)
    };
    fake.record(SlackCall {
        method: "response_url".into(),
        token: None,
        body: parsed,
        response_id: Some(id),
        http_method: "POST".into(),
        content_type: content_type(&headers),
        outcome: "ok".into(),
    });
    (StatusCode::OK, "ok").into_response()
}

/// What Slack sends as `view.state.values` when a user submits `view` without changing
/// anything: each input block's element with its initial value, under `action_id`.
pub fn submitted_unchanged(view: &Value, action_id: &str) -> Value {
    let mut values = json!({});
    for b in view["blocks"].as_array().into_iter().flatten() {
        if b["type"] != "input" {
            continue;
        }
        let el = &b["element"];
        let state = match el["type"].as_str().unwrap_or_default() {
            "radio_buttons" | "static_select" => json!({"selected_option": el["initial_option"]}),
            "checkboxes" => {
                json!({"selected_options": el.get("initial_options").cloned().unwrap_or(json!([]))})
            }
            "timepicker" => {
                json!({"selected_time": el.get("initial_time").cloned().unwrap_or(Value::Null)})
            }
            "number_input" | "plain_text_input" => json!({"value": el["initial_value"]}),
            other => panic!("submitted_unchanged: no initial-value rule for element {other:?}"),
        };
        if let Some(id) = b["block_id"].as_str() {
            values[id] = json!({ action_id: state });
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_decode() {
        // "id:secret"
        assert_eq!(base64_lite::decode("aWQ6c2VjcmV0").unwrap(), b"id:secret");
    }
}
