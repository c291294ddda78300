//! Slack DMs for the dispatcher through the Slack engineer's Web API client
//! (`slack::delivery::SlackApi`, one attempt per call: the outbox schedules retries itself).
use super::senders::{ChatSender, OutgoingChat, SendError, SendFuture};
use crate::domain::TenantId;
use crate::http::AppState;
use crate::slack::{RetryPolicy, SlackApi, SlackError};

/// Where the bot token for a tenant comes from.
pub enum BotTokens {
    /// The running app's lookup (`slack::tokens::bot_token`: installed workspace, else
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

    async fn send(&self, chat: &OutgoingChat) -> Result<String, SendError> {
        let token = match &self.tokens {
            BotTokens::Static(t) => Some(t.clone()),
            BotTokens::App(state) => {
                let tenant = TenantId::parse(&chat.tenant).map_err(SendError::Permanent)?;
                crate::slack::tokens::bot_token(state, &tenant)
                    .await
                    .map_err(|e| SendError::retryable(format!("bot token lookup: {e:#}")))?
            }
        };
        let Some(token) = token else {
            return Err(SendError::Permanent(format!(
                "Slack is not set up for tenant {}",
                chat.tenant
            )));
        };
        let posted = self
            .api
            .send_dm(&token, &chat.slack_user_id, &chat.message)
            .await
            .map_err(|e| match e {
                SlackError::RateLimited { retry_after } => SendError::Retryable {
                    message: e.to_string(),
                    retry_after: Some(retry_after),
                },
                SlackError::Transient(_) => SendError::retryable(e.to_string()),
                SlackError::Permanent(_) => SendError::Permanent(e.to_string()),
            })?;
        Ok(format!("{}:{}", posted.channel, posted.ts))
    }
}

impl ChatSender for SlackDmSender {
    fn send_dm<'a>(&'a self, chat: &'a OutgoingChat) -> SendFuture<'a> {
        Box::pin(self.send(chat))
    }
}
