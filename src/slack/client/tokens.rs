//! Which bot token to use for a tenant: the token of the Slack workspace installed for it
//! (multi-workspace OAuth; refreshed before expiry when Slack rotates it, one refresh in flight
//! per workspace), else `SLACK_BOT_TOKEN` (single-workspace mode).
use crate::app::AppState;
use crate::domain::TenantId;
use crate::store::{SlackInstall, format_ts};
use chrono::{DateTime, Duration, Utc};
use secrecy::ExposeSecret;

/// Refresh a rotating token this long before it expires, so no call races the expiry.
pub const REFRESH_MARGIN: Duration = Duration::minutes(10);

/// The bot token for `tenant`, or `None` when Slack is not set up for it.
pub async fn bot_token(state: &AppState, tenant: &TenantId) -> anyhow::Result<Option<String>> {
    bot_token_at(state, tenant, None, state.clock.now()).await
}

/// The bot token for `tenant` (for workspace `team_id` when given) as of `now`: the installed
/// workspace's token, refreshed first when it expires within [`REFRESH_MARGIN`]; else the
/// single-workspace `SLACK_BOT_TOKEN`.
pub async fn bot_token_at(
    state: &AppState,
    tenant: &TenantId,
    team_id: Option<&str>,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<String>> {
    if let Some(install) = state.store.slack_install(tenant, team_id).await? {
        return token_of(state, install, now).await.map(Some);
    }
    if state.slack.single_revoked() {
        return Ok(None);
    }
    Ok(state
        .settings
        .slack_bot_token
        .as_ref()
        .map(|t| t.expose_secret().to_string()))
}

fn needs_refresh(install: &SlackInstall, now: DateTime<Utc>) -> bool {
    install.refresh_token_sealed.is_some()
        && install
            .expires_at
            .as_deref()
            .is_some_and(|exp| exp <= format_ts(now + REFRESH_MARGIN).as_str())
}

async fn token_of(
    state: &AppState,
    install: SlackInstall,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let secrets = state.secrets()?;
    let tenant = install.tenant_id.clone();
    if !needs_refresh(&install, now) {
        return Ok(secrets.open(tenant.as_str(), &install.bot_token_sealed)?);
    }
    // One refresh per workspace at a time: Slack refresh tokens are single-use, so a second
    // concurrent refresh would fail (and could strand the workspace).
    let lock = state.slack.refresh_lock(&install.team_id);
    let _held = lock.lock().await;
    let fresh = state
        .store
        .slack_install(&tenant, Some(&install.team_id))
        .await?
        .ok_or_else(|| anyhow::anyhow!("Slack workspace {} was uninstalled", install.team_id))?;
    if !needs_refresh(&fresh, now) {
        // Someone else refreshed while we waited.
        return Ok(secrets.open(tenant.as_str(), &fresh.bot_token_sealed)?);
    }
    let refresh = secrets.open(
        tenant.as_str(),
        fresh.refresh_token_sealed.as_deref().unwrap_or_default(),
    )?;
    let (client_id, client_secret) = oauth_client(state)?;
    let grant = state
        .slack
        .api
        .oauth_refresh(&client_id, &client_secret, &refresh)
        .await?;
    let expires_at = grant
        .expires_in
        .map(|s| format_ts(now + Duration::seconds(s as i64)));
    state
        .store
        .update_slack_tokens(
            &tenant,
            &fresh.team_id,
            &secrets.seal(tenant.as_str(), &grant.access_token),
            grant
                .refresh_token
                .as_deref()
                .map(|r| secrets.seal(tenant.as_str(), r))
                .as_deref(),
            expires_at.as_deref(),
        )
        .await?;
    tracing::info!(team = %fresh.team_id, "rotated Slack bot token refreshed");
    Ok(grant.access_token)
}

/// `SLACK_CLIENT_ID` / `SLACK_CLIENT_SECRET`, needed for installs and token refreshes.
pub fn oauth_client(state: &AppState) -> anyhow::Result<(String, String)> {
    match (
        &state.settings.slack_client_id,
        &state.settings.slack_client_secret,
    ) {
        (Some(id), Some(secret)) => Ok((id.clone(), secret.expose_secret().to_string())),
        _ => anyhow::bail!(
            "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET must be set for Slack OAuth installs and token refresh"
        ),
    }
}
