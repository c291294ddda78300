//! The two ways a message leaves SkyGeni, as traits the dispatcher holds: email (SendGrid)
//! and chat (Slack DMs). Tests and benches plug in fakes; errors say whether a retry can help.
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<String, SendError>> + Send + 'a>>;

/// Why a send failed, and whether trying again later may succeed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// Rate limit, 5xx, timeout, connection error: retry with backoff, not before
    /// `retry_after` when the provider said so.
    #[error("temporary failure: {message}")]
    Retryable {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Bad request, bad credentials, unknown recipient: retrying cannot help.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

impl SendError {
    pub fn retryable(message: impl Into<String>) -> SendError {
        SendError::Retryable {
            message: message.into(),
            retry_after: None,
        }
    }
}

/// An image shown inside the HTML part (`<img src="cid:{content_id}">`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InlineAttachment {
    pub content_id: String,
    pub filename: String,
    pub mime_type: String,
    /// The file, base64 (what SendGrid's `attachments[].content` takes).
    pub base64: String,
}

/// One email, both parts.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingEmail {
    pub to_email: String,
    pub to_name: Option<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// A stable key for this send (the outbox idempotency key); carried to the provider so a
    /// duplicate can be recognised in its logs and webhooks.
    pub idempotency_key: String,
    pub category: String,
    /// Charts embedded in the HTML (weekly summary); usually empty.
    pub inline: Vec<InlineAttachment>,
}

/// Sends email; returns the provider's message id.
pub trait EmailSender: Send + Sync {
    fn send_email<'a>(&'a self, email: &'a OutgoingEmail) -> SendFuture<'a>;
}

/// One Slack DM: `chat.postMessage` fields (`text` plus `blocks` or `attachments`).
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingChat {
    pub tenant: String,
    pub slack_user_id: String,
    pub message: serde_json::Value,
    pub idempotency_key: String,
}

/// Sends a direct message in the tenant's Slack workspace; returns the message `ts`.
/// Implemented by the Slack Web API client (`slack::delivery`), and by test doubles.
pub trait ChatSender: Send + Sync {
    fn send_dm<'a>(&'a self, chat: &'a OutgoingChat) -> SendFuture<'a>;
}
