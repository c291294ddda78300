//! Requests signed the way Slack signs them, against a [`TestApp`] spawned with `.slack()`:
//! slash commands form-encoded, interactions as `payload=`, events as JSON.
use super::app::TestApp;
use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use skygeni::slack::signature::sign;
use std::sync::atomic::{AtomicU64, Ordering};

pub const SIGNING_SECRET: &str = "slack-signing-secret";
/// The workspace the fake Slack's bot token belongs to.
pub const TEAM: &str = "T0FAKE";
const FORM: &str = "application/x-www-form-urlencoded";
static SEQ: AtomicU64 = AtomicU64::new(1);

impl TestApp {
    /// Where the fake Slack collects what is posted to the response URL `id`.
    pub fn response_url(&self, id: &str) -> String {
        format!("{}/response/{id}", self.slack().url())
    }

    /// POSTs `body` signed with `secret` at `ts` (unix seconds).
    pub async fn post_signed(
        &self,
        path: &str,
        body: &str,
        content_type: &str,
        secret: &str,
        ts: i64,
    ) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .header("X-Slack-Request-Timestamp", ts.to_string())
            .header(
                "X-Slack-Signature",
                sign(secret.as_bytes(), ts, body.as_bytes()),
            )
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    /// `body` signed with our signing secret now; status and the JSON answer (Null for an
    /// empty or non-JSON body).
    async fn post_slack(&self, path: &str, body: &str) -> (StatusCode, Value) {
        let r = self
            .post_signed(path, body, FORM, SIGNING_SECRET, Utc::now().timestamp())
            .await;
        let status = r.status();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The form body Slack sends for `/deal-risk <text>` by `user`; the response URL id is
    /// returned with it.
    pub fn command_body(&self, user: &str, text: &str) -> (String, String) {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let rid = format!("cmd{n}");
        let body = serde_urlencoded::to_string([
            ("token", "deprecated-verification-token"),
            ("team_id", TEAM),
            ("team_domain", "acme"),
            ("channel_id", "C0DEALS"),
            ("channel_name", "deals"),
            ("user_id", user),
            ("user_name", "someone"),
            ("command", "/deal-risk"),
            ("text", text),
            ("response_url", &self.response_url(&rid)),
            ("trigger_id", &self.slack().issue_trigger()),
            ("api_app_id", "A0FAKE"),
            ("is_enterprise_install", "false"),
        ])
        .unwrap();
        (body, rid)
    }

    /// `/deal-risk <text>` as `user`: status and JSON answer (Null for an empty body).
    pub async fn command(&self, user: &str, text: &str) -> (StatusCode, Value) {
        let (body, _) = self.command_body(user, text);
        self.post_slack("/slack/commands", &body).await
    }

    /// An interaction payload as Slack posts it: form field `payload` = JSON.
    pub async fn interact(&self, payload: &Value) -> (StatusCode, Value) {
        // Slack mints a fresh trigger_id for each interaction; placeholders become real ones.
        let mut payload = payload.clone();
        if payload["trigger_id"]
            .as_str()
            .is_some_and(|t| t.starts_with("trigger-"))
        {
            payload["trigger_id"] = json!(self.slack().issue_trigger());
        }
        let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
        self.post_slack("/slack/interactions", &body).await
    }

    /// An Events API delivery: status and the body as text.
    pub async fn event(&self, event: &Value) -> (StatusCode, String) {
        let body = event.to_string();
        let r = self
            .post_signed(
                "/slack/events",
                &body,
                "application/json",
                SIGNING_SECRET,
                Utc::now().timestamp(),
            )
            .await;
        (r.status(), r.text().await.unwrap())
    }

    /// Waits (up to 10 s) until `method` has `n` successful calls; background work finishes
    /// asynchronously after the 200 ack.
    pub async fn wait_for(&self, method: &str, n: usize) {
        let fake = self.slack();
        for _ in 0..200 {
            if fake.count_ok(method) >= n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "expected {n} ok calls to {method}, saw {:?}",
            fake.calls()
                .iter()
                .map(|c| (c.method.clone(), c.outcome.clone()))
                .collect::<Vec<_>>()
        );
    }
}

/// A button click by `user` on a message at `message_ts` (a DM), or in App Home when `None`.
pub fn block_actions(user: &str, action_id: &str, value: &str, message_ts: Option<&str>) -> Value {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let mut p = json!({
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "acme"},
        "user": {"id": user, "username": "someone", "team_id": TEAM},
        "api_app_id": "A0FAKE",
        "trigger_id": format!("trigger-ia-{n}"),
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b1", "value": value,
                     "text": {"type": "plain_text", "text": "x"}, "action_ts": "1700000001.000200"}],
    });
    match message_ts {
        Some(ts) => {
            p["container"] = json!({"type": "message", "message_ts": ts, "channel_id": "D0DM", "is_ephemeral": false});
            p["channel"] = json!({"id": "D0DM", "name": "directmessage"});
        }
        None => {
            p["container"] = json!({"type": "view", "view_id": "VHOME"});
        }
    }
    p
}

/// A modal submitted by `user`.
pub fn view_submission(user: &str, callback: &str, metadata: &str, values: Value) -> Value {
    json!({
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "acme"},
        "user": {"id": user, "username": "someone", "team_id": TEAM},
        "api_app_id": "A0FAKE",
        "trigger_id": "trigger-sub",
        "view": {"id": "V123", "type": "modal", "callback_id": callback, "private_metadata": metadata,
                 "hash": "h", "state": {"values": values}},
    })
}
