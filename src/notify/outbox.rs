//! What an outbox row carries: the payload the dispatcher sends, and the kinds and channels.
//! Alerts store the deal and its score (rendered at send time, so a template fix reaches held
//! alerts); digests store the finished message (rendered once when the digest job runs).
use crate::domain::{Deal, DealScore};
use serde::{Deserialize, Serialize};

pub const KIND_CRITICAL_ALERT: &str = "critical_alert";
pub const KIND_DIGEST: &str = "digest";
pub const CHANNEL_SLACK: &str = "slack";
pub const CHANNEL_EMAIL: &str = "email";

/// Who receives a message, with the addresses known when it was enqueued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipient {
    pub user_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub slack_user_id: Option<String>,
    /// `owner` or `manager` for alerts, `manager` for digests.
    pub role: String,
}

impl Recipient {
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.user_id.clone())
    }
}

/// A critical-risk alert about one deal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertPayload {
    pub alert_id: String,
    pub deal: Deal,
    pub score: DealScore,
    pub previous_score: Option<u8>,
    pub recipient: Recipient,
    /// The recipient's daily alert budget after this alert; on the last one
    /// (`AlertBudget::note`) the DM says further critical deals roll into the digest.
    #[serde(default)]
    pub budget: Option<super::policy::AlertBudget>,
    /// Where the deal stood in the tenant's open pipeline when the alert was raised (older
    /// rows and alerts raised without the pipeline at hand have none).
    #[serde(default)]
    pub relative: Option<crate::domain::RelativeRisk>,
    /// The model's low-skill line when its measured skill is low (`None`: skill is fine).
    #[serde(default)]
    pub skill_line: Option<String>,
}

/// What the scoring run knows beyond each score and puts into the alerts it raises: each
/// deal's standing in the tenant's open pipeline (when the whole pipeline was scored) and the
/// model's low-skill line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertContext {
    pub relative: std::collections::HashMap<String, crate::domain::RelativeRisk>,
    pub skill_line: Option<String>,
}

/// A finished message (digest, weekly summary): email parts and the Slack DM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessagePayload {
    pub recipient: Recipient,
    pub subject: String,
    pub html: String,
    pub text: String,
    /// Slack `chat.postMessage` fields (`text`, `blocks`/`attachments`).
    pub slack: serde_json::Value,
    /// Charts embedded in the email's HTML part.
    #[serde(default)]
    pub inline_images: Vec<super::senders::InlineAttachment>,
    /// Mail headers for the email part (List-Unsubscribe…); older rows have none.
    #[serde(default)]
    pub email_headers: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Payload {
    /// Both boxed: the variants differ a lot in size and payloads live briefly.
    Alert(Box<AlertPayload>),
    Message(Box<MessagePayload>),
}

impl Payload {
    pub fn recipient(&self) -> &Recipient {
        match self {
            Payload::Alert(a) => &a.recipient,
            Payload::Message(m) => &m.recipient,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("payloads always serialise")
    }

    pub fn parse(json: &str) -> anyhow::Result<Payload> {
        serde_json::from_str(json).map_err(|e| anyhow::anyhow!("unreadable outbox payload: {e}"))
    }
}
