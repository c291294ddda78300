//! Slack DMs for the dispatcher through the Slack engineer's Web API client
//! (`slack::client::SlackApi`, one attempt per call: the outbox schedules retries itself).
use super::senders::{ChatSender, FindFuture, OutgoingChat, SendError, SendFuture};
use crate::app::AppState;
use crate::domain::TenantId;
use crate::slack::{RetryPolicy, SlackApi, SlackError};
use chrono::{DateTime, Utc};

/// Where the bot token for a tenant comes from.
pub enum BotTokens {
    /// The running app's lookup (`slack::client::tokens::bot_token`: installed workspace, else
    /// SLACK_BOT_TOKEN).
    App(AppState),
    /// One token for every tenant (tests, benches, single-workspace tools).
    Static(String),
}

pub struct SlackDmSender {
    api: SlackApi,
    tokens: BotTokens,
}

impl SlackDmSender {
    pub fn new(api: &SlackApi, tokens: BotTokens) -> SlackDmSender {
        SlackDmSender {
            api: api.with_retry(RetryPolicy::NONE),
            tokens,
        }
    }

    async fn token(&self, chat: &OutgoingChat) -> Result<String, SendError> {
        let token = match &self.tokens {
            BotTokens::Static(t) => Some(t.clone()),
            BotTokens::App(state) => {
                let tenant = TenantId::parse(&chat.tenant).map_err(SendError::Permanent)?;
                crate::slack::client::tokens::bot_token(state, &tenant)
                    .await
                    .map_err(|e| SendError::retryable(format!("bot token lookup: {e:#}")))?
            }
        };
        token.ok_or_else(|| {
            SendError::Permanent(format!("Slack is not set up for tenant {}", chat.tenant))
        })
    }

    async fn send(&self, chat: &OutgoingChat) -> Result<String, SendError> {
        let token = self.token(chat).await?;
        // The idempotency key travels as message metadata so a later attempt can find it.
        let mut message = chat.message.clone();
        if let Some(m) = message.as_object_mut() {
            m.insert(
                "metadata".into(),
                serde_json::json!({"event_type": EVENT_TYPE,
                                   "event_payload": {"skygeni_key": chat.idempotency_key}}),
            );
        }
        let posted = self
            .api
            .send_dm(&token, &chat.slack_user_id, &message)
            .await
            .map_err(send_error)?;
        Ok(format!("{}:{}", posted.channel, posted.ts))
    }

    async fn find(
        &self,
        chat: &OutgoingChat,
        since: DateTime<Utc>,
    ) -> Result<Option<String>, SendError> {
        let token = self.token(chat).await?;
        let found = self
            .api
            .find_dm_by_key(
                &token,
                &chat.slack_user_id,
                EVENT_TYPE,
                &chat.idempotency_key,
                since.timestamp(),
            )
            .await;
        match found {
            Ok(found) => Ok(found.map(|p| format!("{}:{}", p.channel, p.ts))),
            // A workspace installed before `im:history` was requested cannot be checked: send
            // again (at-least-once) and count it, rather than hold the alert forever.
            Err(SlackError::Permanent(m)) if m == "missing_scope" => {
                tracing::warn!(tenant = %chat.tenant, key = %chat.idempotency_key,
                    "Slack token lacks im:history: re-sending without a check");
                metrics::counter!("skygeni_outbox_unverified_total", "channel" => "slack")
                    .increment(1);
                Ok(None)
            }
            // Any other failed look-up settles nothing: never "permanent", try again later.
            Err(e) => Err(match send_error(e) {
                SendError::Permanent(m) => SendError::retryable(format!("DM history lookup: {m}")),
                other => other,
            }),
        }
    }
}

/// The `metadata.event_type` of every DM the outbox sends.
pub const EVENT_TYPE: &str = "skygeni_notification";

fn send_error(e: SlackError) -> SendError {
    match e {
        SlackError::RateLimited { retry_after } => SendError::Retryable {
            message: e.to_string(),
            retry_after: Some(retry_after),
        },
        // No answer (timeout, connection cut): the message may have been posted.
        SlackError::Transient(ref m) if m == "timeout" || m.starts_with("connection") => {
            SendError::Unknown(e.to_string())
        }
        SlackError::Transient(_) => SendError::retryable(e.to_string()),
        SlackError::Permanent(_) => SendError::Permanent(e.to_string()),
    }
}

impl ChatSender for SlackDmSender {
    fn send_dm<'a>(&'a self, chat: &'a OutgoingChat) -> SendFuture<'a> {
        Box::pin(self.send(chat))
    }

    fn find_dm<'a>(&'a self, chat: &'a OutgoingChat, since: DateTime<Utc>) -> FindFuture<'a> {
        Box::pin(self.find(chat, since))
    }
}
