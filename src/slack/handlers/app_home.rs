//! Publishing the App Home tab (views.publish): on `app_home_opened`, on the Refresh button,
//! after a snooze from Home, and from the nightly job through [`publish_home`].
use super::identity::{self, Resolved, Viewer};
use super::scoring::scoped_view;
use crate::app::AppState;
use crate::domain::{Deal, DealScore, TenantId};
use crate::slack::blocks::card::ListStanding;
use crate::slack::blocks::home::{
    HomeInput, add_chart_images, add_win_rates, home_view, rep_summaries,
};
use crate::slack::blocks::{degraded, kit};
use crate::slack::client::tokens;
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
    let Some(token) = tokens::bot_token(state, tenant).await? else {
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
    let today = state.clock.now().date_naive();
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
    // Each deal's standing is in the tenant's whole open pipeline (the shared cache the card
    // and the API use), so Home says the same percentile as the deal's card.
    let loaded = state.scorers.get(&state.store, &viewer.tenant).await?;
    let standing = state
        .standing
        .get(&state.store, &viewer.tenant, &loaded.scorer, today)
        .await?;
    let mut home = home_view(&HomeInput {
        metrics: &view.metrics,
        ranked: &ranked,
        reps: reps.as_deref(),
        standing: ListStanding {
            ranks: Some(&standing.ranks),
            skill_line: loaded.scorer.skill_line(),
        },
    });
    if let Some(text) = degraded::notice_text(&loaded) {
        degraded::add_notice(&mut home, &text, degraded::MAX_VIEW_BLOCKS);
    }
    // The chart URLs draw the whole tenant's pipeline, so only admins (whose scope is the whole
    // tenant) get them; a rep's or manager's Home stays within their own deals.
    // Slack fetches image_url itself and refuses the whole view when it cannot: images only
    // behind an https public URL, else a text line says where the charts are.
    let fetchable = crate::notify::weekly::slack_can_fetch(&state.settings.public_url);
    if viewer.is_admin()
        && !fetchable
        && let Some(blocks) = home.get_mut("blocks").and_then(Value::as_array_mut)
        && blocks.len() < 100
    {
        let at = blocks.len().min(3);
        blocks.insert(
            at,
            kit::context(
                "Charts appear here when SKYGENI_PUBLIC_URL is an https address Slack can reach;                  the weekly summary email carries them meanwhile.",
            ),
        );
    }
    if viewer.is_admin()
        && fetchable
        && let Some(secret) = crate::notify::chart_route::url_secret(&state.settings)
    {
        add_chart_images(
            &mut home,
            &state.settings.public_url,
            &secret,
            &viewer.tenant,
            state.clock.now() + chrono::Duration::days(1),
        );
    }
    Ok(home)
}
