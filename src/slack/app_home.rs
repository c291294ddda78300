//! Publishing the App Home tab (views.publish): on `app_home_opened`, on the Refresh button,
//! after a snooze from Home, and from the nightly job through [`publish_home`].
use super::bot::scoped_view;
use super::card::ListStanding;
use super::home::{HomeInput, add_win_rates, home_view, rep_summaries};
use super::identity::{self, Resolved, Viewer};
use crate::app::AppState;
use crate::domain::{Deal, DealScore, TenantId};
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
    if let Some(text) = super::degraded::notice_text(&loaded) {
        super::degraded::add_notice(&mut home, &text, super::degraded::MAX_VIEW_BLOCKS);
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
            super::kit::context(
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
        );
    }
    Ok(home)
}

/// Image blocks for the risk distribution and RAPV-vs-pipeline charts behind signed URLs that
/// expire in a day (Slack fetches them when it renders the Home tab), placed after the
/// summary; skipped when the view is already at Slack's 100-block limit.
fn add_chart_images(home: &mut Value, public_url: &str, secret: &[u8], tenant: &TenantId) {
    use crate::notify::charts::{Chart, signed_url};
    let Some(blocks) = home.get_mut("blocks").and_then(Value::as_array_mut) else {
        return;
    };
    if blocks.len() + 2 > 100 {
        return;
    }
    let expires = Utc::now() + chrono::Duration::days(1);
    let images = [
        (Chart::RiskDistribution, "Open deals by risk category"),
        (Chart::RapvVsPipeline, "Risk-adjusted vs raw pipeline"),
    ]
    .map(|(chart, alt)| {
        serde_json::json!({
            "type": "image",
            "image_url": signed_url(public_url, secret, tenant, chart, expires),
            "alt_text": alt,
        })
    });
    let at = blocks.len().min(3);
    for (i, img) in images.into_iter().enumerate() {
        blocks.insert(at + i, img);
    }
}
