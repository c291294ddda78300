//! The two ways a message leaves SkyGeni, as traits the dispatcher holds: email (SendGrid)
//! and chat (Slack DMs). Tests and benches plug in fakes; errors say whether a retry can help.
use chrono::{DateTime, Utc};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<String, SendError>> + Send + 'a>>;

/// A look-up of an earlier send: `Some(provider id)` when the provider has the message.
pub type FindFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<String>, SendError>> + Send + 'a>>;

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
    /// The request may have reached the provider but no answer came back (timeout, connection
    /// dropped mid-call). Retried like `Retryable`, but the next attempt first asks the
    /// provider whether the message arrived, so it is not delivered twice.
    #[error("outcome unknown: {0}")]
    Unknown(String),
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
    /// Extra mail headers (List-Unsubscribe, List-Unsubscribe-Post on digests and summaries).
    pub headers: Vec<(String, String)>,
}

/// Sends email; returns the provider's message id.
pub trait EmailSender: Send + Sync {
    fn send_email<'a>(&'a self, email: &'a OutgoingEmail) -> SendFuture<'a>;
    /// Whether an email with this idempotency key was already accepted (sent no earlier than
    /// `since`): asked before re-sending a row whose previous attempt's outcome is unknown.
    fn find_email<'a>(&'a self, email: &'a OutgoingEmail, since: DateTime<Utc>) -> FindFuture<'a>;
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
/// Implemented by the Slack Web API client (`slack::client`), and by test doubles.
pub trait ChatSender: Send + Sync {
    fn send_dm<'a>(&'a self, chat: &'a OutgoingChat) -> SendFuture<'a>;
    /// Whether this DM (by its idempotency key) is already in the user's DM channel, posted no
    /// earlier than `since`: asked before re-sending a row whose previous attempt's outcome is
    /// unknown. Returns the same id `send_dm` would have (`channel:ts`).
    fn find_dm<'a>(&'a self, chat: &'a OutgoingChat, since: DateTime<Utc>) -> FindFuture<'a>;
}
