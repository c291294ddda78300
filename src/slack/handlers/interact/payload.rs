//! An interaction payload decoded: the raw form body Slack posts → the fields the handlers use
//! ([`Interaction`]) and, for a `view_submission`, what the submitted modal asks for
//! ([`Submission`]). Pure (no database), so the fuzz target drives exactly what the route runs.
//!
//! Payloads are read as JSON rather than slack-morphism's `SlackInteractionEvent`: that type
//! insists on fields (e.g. `api_app_id`, a full `SlackHistoryMessage`) that a button click on
//! an older or attachment-style message may lack, and a click it cannot parse must still be
//! answered. The handful of fields used here are read defensively; unknown shapes get a clear
//! 400 from the route, never a panic.
use crate::slack::blocks::modals::{self, ModalContext};
use crate::slack::blocks::settings::{self, SettingsForm};
use crate::slack::callbacks;
use serde_json::Value;

/// The fields of an interaction payload the handlers use.
#[derive(Debug, Clone)]
pub struct Interaction {
    pub kind: String,
    pub team_id: String,
    pub slack_user_id: String,
    pub trigger_id: Option<String>,
    pub response_url: Option<String>,
    pub channel_id: Option<String>,
    pub message_ts: Option<String>,
    pub is_ephemeral: bool,
    pub action_id: Option<String>,
    pub action_value: Option<String>,
    pub view: Value,
    /// When the payload arrived: its trigger_id lives 3 s from about then.
    pub received: std::time::Instant,
}

impl Interaction {
    /// The whole inbound decode before any lookup: the raw form body Slack posts
    /// (`payload=<url-encoded JSON>`) → JSON → the fields used. Pure, so the fuzz target
    /// `slack_interaction` drives exactly what the route runs; `Err` is the 400's message.
    pub fn from_form(body: &[u8]) -> Result<Interaction, String> {
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|e| format!("malformed interaction form: {e}"))?;
        let (_, payload) = form
            .iter()
            .find(|(k, _)| k == "payload")
            .ok_or("interaction form has no payload field")?;
        let payload: Value = serde_json::from_str(payload)
            .map_err(|e| format!("interaction payload is not JSON: {e}"))?;
        Interaction::parse(&payload).map_err(|e| format!("interaction payload: {e}"))
    }

    /// Reads a payload; `Err` names what is missing. An empty type, team or user counts as
    /// missing: it could only ever look up nothing, so it is refused here, not later.
    pub fn parse(p: &Value) -> Result<Interaction, String> {
        let s = |ptr: &str| p.pointer(ptr).and_then(Value::as_str).map(str::to_string);
        let present = |ptr: &str| s(ptr).filter(|v| !v.trim().is_empty());
        let kind = present("/type").ok_or("payload has no type")?;
        let team_id = present("/team/id")
            .or_else(|| present("/user/team_id"))
            .ok_or("payload has no team.id")?;
        let slack_user_id = present("/user/id").ok_or("payload has no user.id")?;
        let action = p.pointer("/actions/0");
        Ok(Interaction {
            kind,
            team_id,
            slack_user_id,
            trigger_id: s("/trigger_id"),
            response_url: s("/response_url"),
            channel_id: s("/container/channel_id").or_else(|| s("/channel/id")),
            message_ts: s("/container/message_ts"),
            is_ephemeral: p
                .pointer("/container/is_ephemeral")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            action_id: action
                .and_then(|a| a["action_id"].as_str())
                .map(str::to_string),
            action_value: action.and_then(|a| a["value"].as_str()).map(str::to_string),
            view: p.get("view").cloned().unwrap_or(Value::Null),
            received: std::time::Instant::now(),
        })
    }

    /// What a `view_submission` asks for, decoded from the view alone (no database): the
    /// handler acts on this, and the fuzz target checks it never panics.
    pub fn submission(&self) -> Submission {
        let callback = self.view["callback_id"].as_str().unwrap_or_default();
        let values = &self.view["state"]["values"];
        let ctx = || {
            self.view["private_metadata"]
                .as_str()
                .and_then(ModalContext::from_metadata)
        };
        match callback {
            callbacks::SETTINGS => Submission::Settings(settings::parse_settings(values)),
            callbacks::SNOOZE => Submission::Snooze {
                ctx: ctx(),
                days: modals::parse_snooze_days(values),
            },
            callbacks::FALSE_ALARM => Submission::FalseAlarm {
                ctx: ctx(),
                reason: modals::parse_false_alarm_reason(values),
            },
            _ => Submission::Other,
        }
    }
}

/// A submitted modal, decoded. `ctx: None` means the form's metadata is unreadable (out of
/// date or tampered with): the handler answers with a modal error instead of guessing.
#[derive(Debug, Clone, PartialEq)]
pub enum Submission {
    Settings(Result<SettingsForm, std::collections::BTreeMap<String, String>>),
    Snooze {
        ctx: Option<ModalContext>,
        days: Option<u32>,
    },
    FalseAlarm {
        ctx: Option<ModalContext>,
        reason: Option<String>,
    },
    /// Another callback (or none): nothing to do.
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_payload_without_a_user_is_a_clear_error() {
        let p = json!({"type": "block_actions", "team": {"id": "T1"}});
        assert_eq!(
            Interaction::parse(&p).unwrap_err(),
            "payload has no user.id"
        );
    }
}
