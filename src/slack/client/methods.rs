//! The Web API methods the bot calls, typed: messages (post, DM, update, ephemeral, an earlier
//! DM found by its metadata), views (open, update, publish the Home tab), users and `auth.test`.
use super::api::SlackApi;
use super::error::SlackError;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A trigger_id is valid for 3 s after Slack issued it; calls that need one stop this much
/// earlier, leaving room for the network.
pub const TRIGGER_LIFE: Duration = Duration::from_millis(2700);

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

impl SlackApi {
    /// `chat.postMessage`. `message` is `{text, blocks?, attachments?}` (as built by
    /// [`crate::slack::blocks::kit::message`] / [`crate::slack::blocks::alert::alert_message`]).
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
