//! Publishing the App Home tab (views.publish): on `app_home_opened`, on the Refresh button,
//! after a snooze from Home, and from the nightly job through [`publish_home`].
use super::bot::scoped_view;
use super::home::{HomeInput, add_win_rates, home_view, rep_summaries};
use super::identity::{self, Resolved, Viewer};
use crate::domain::{Deal, DealScore, TenantId};
use crate::http::AppState;
use chrono::Utc;
use serde_json::Value;

/// Publishes the Home tab of SkyGeni user `user_id` (the nightly job calls this after scoring).
/// Returns `false` when there is nothing to publish to: the user has no Slack id mapped, or the
/// tenant has no Slack token.
pub async fn publish_home(
    state: &AppState,
    tenant: &TenantId,
    user_id: &str,
) -> anyhow::Result<bool> {
    let Some(slack_id) = state.store.slack_id_of(tenant, user_id).await? else {
        return Ok(false);
    };
    let Some(token) = super::tokens::bot_token(state, tenant).await? else {
        return Ok(false);
    };
    match identity::resolve(state, tenant, &slack_id, Some(&token)).await? {
        Resolved::Known(v) => {
            publish_for(state, &v, &token).await?;
            Ok(true)
        }
        Resolved::Unmapped { .. } => Ok(false),
    }
}

/// Builds and publishes the Home view of a resolved user.
pub async fn publish_for(state: &AppState, viewer: &Viewer, token: &str) -> anyhow::Result<()> {
    let view = home_for(state, viewer).await?;
    state
        .slack
        .api
        .publish_home(token, &viewer.slack_user_id, &view)
        .await?;
    Ok(())
}

/// The Home view of a user: their scope's pipeline; managers and admins also get the rep
/// comparison (with win rates from closed deals).
pub async fn home_for(state: &AppState, viewer: &Viewer) -> anyhow::Result<Value> {
    let today = Utc::now().date_naive();
    let view = scoped_view(state, &viewer.tenant, &viewer.scope(), today).await?;
    let ranked: Vec<(&Deal, &DealScore)> = view.deals.iter().zip(view.scores.iter()).collect();
    let reps = if viewer.is_manager() || viewer.is_admin() {
        let mut reps = rep_summaries(&view.deals, &view.scores);
        let history = state.store.load_deals(&viewer.tenant).await?;
        add_win_rates(&mut reps, &history);
        Some(reps)
    } else {
        None
    };
    Ok(home_view(&HomeInput {
        metrics: &view.metrics,
        ranked: &ranked,
        reps: reps.as_deref(),
    }))
}
