//! Button clicks (`block_actions`): View deal (the details modal), Snooze and Mark false alarm
//! (their modals), Share and a pick-list choice (the card through `response_url`), Notification
//! settings and the Home tab's Refresh. Every click is audited.
use super::{Interaction, tell, visible_deal};
use crate::app::AppState;
use crate::slack::actions;
use crate::slack::blocks::card;
use crate::slack::blocks::kit::{escape, truncate};
use crate::slack::blocks::modals::{self, ModalContext};
use crate::slack::handlers::deal_risk::{self, CommandCtx};
use crate::slack::handlers::identity::Viewer;
use crate::slack::handlers::scoring::score_with_standing;
use crate::slack::handlers::{app_home, audit, deal_url};
use serde_json::json;

/// Handles one click for a resolved user (already audited here, before anything else).
pub(super) async fn block_action(
    state: &AppState,
    token: Option<&str>,
    ia: &Interaction,
    viewer: &Viewer,
) -> anyhow::Result<()> {
    let action = ia.action_id.as_deref().unwrap_or_default();
    let value = ia.action_value.clone().unwrap_or_default();
    audit(
        state,
        viewer,
        &format!("slack.button.{action}"),
        (!value.is_empty()).then_some(value.as_str()),
        None,
    )
    .await;
    match action {
        actions::REFRESH_HOME => {
            if let Some(t) = token {
                app_home::publish_for(state, viewer, t).await?;
            }
            return Ok(());
        }
        actions::OPEN_SETTINGS => {
            if let (Some(t), Some(trigger)) = (token, &ia.trigger_id) {
                let ctx = CommandCtx {
                    tenant: viewer.tenant.clone(),
                    team_id: ia.team_id.clone(),
                    channel_id: ia.channel_id.clone().unwrap_or_default(),
                    slack_user_id: ia.slack_user_id.clone(),
                    trigger_id: trigger.clone(),
                    received: ia.received,
                    token: Some(t.to_string()),
                };
                deal_risk::open_settings(state, &ctx, viewer).await?;
            }
            return Ok(());
        }
        _ => {}
    }
    // Someone else's deal and a missing one get the same answer (no existence oracle).
    let deal = match visible_deal(state, viewer, &value).await? {
        Ok(Some(d)) => d,
        Ok(None) | Err(()) => {
            let text = format!(
                "I can't find the deal `{}`; it may have been deleted.",
                escape(&truncate(&value, 100))
            );
            return tell(state, token, ia, "Deal not found", &text).await;
        }
    };
    let ctx = ModalContext {
        deal_id: deal.deal_id.clone(),
        // Ephemeral messages cannot be edited with chat.update; the modal then confirms by
        // an ephemeral note instead.
        channel_id: ia.channel_id.clone(),
        message_ts: ia.message_ts.clone().filter(|_| !ia.is_ephemeral),
        response_url: ia.response_url.clone(),
    };
    match action {
        actions::VIEW_DEAL => {
            let (Some(t), Some(trigger)) = (token, &ia.trigger_id) else {
                return Ok(());
            };
            // Open at once (the trigger lives 3 s), fill after scoring.
            let view_id = state
                .slack
                .api
                .open_view(t, trigger, ia.received, &modals::loading_modal())
                .await?;
            let today = state.clock.now().date_naive();
            let (score, standing) =
                score_with_standing(state, &viewer.tenant, &deal, today).await?;
            let url = deal_url(state, &deal);
            let modal = modals::deal_details_modal(&deal, &score, &standing, url.as_deref());
            state.slack.api.update_view(t, &view_id, &modal).await?;
        }
        actions::SNOOZE => {
            if let (Some(t), Some(trigger)) = (token, &ia.trigger_id) {
                let modal = modals::snooze_modal(&deal, &ctx);
                state
                    .slack
                    .api
                    .open_view(t, trigger, ia.received, &modal)
                    .await?;
            }
        }
        actions::FALSE_ALARM => {
            if let (Some(t), Some(trigger)) = (token, &ia.trigger_id) {
                let modal = modals::false_alarm_modal(&deal, &ctx);
                state
                    .slack
                    .api
                    .open_view(t, trigger, ia.received, &modal)
                    .await?;
            }
        }
        actions::SHARE | actions::PICK_DEAL => {
            let Some(url) = &ia.response_url else {
                return Ok(());
            };
            let today = state.clock.now().date_naive();
            let (score, standing) =
                score_with_standing(state, &viewer.tenant, &deal, today).await?;
            let mut body = card::with_standing(
                card::deal_card(&deal, &score, deal_url(state, &deal).as_deref()),
                &standing,
            );
            if action == actions::SHARE {
                // A shared card is for the channel: no Share button on it again.
                body["response_type"] = json!("in_channel");
                body["replace_original"] = json!(false);
                body["text"] = json!(format!(
                    "<@{}> shared: {}",
                    viewer.slack_user_id,
                    body["text"].as_str().unwrap_or_default()
                ));
            } else {
                body["replace_original"] = json!(true);
            }
            state.slack.api.respond(url, &body).await?;
        }
        _ => {
            tracing::info!(action, "unhandled Slack action");
        }
    }
    Ok(())
}
