//! Buttons and modal submissions (`POST /slack/interactions`, after the route has checked the
//! signature and found the workspace): the payload decoded ([`payload`]), the user resolved,
//! then a click handled by [`buttons`], a snooze or false-alarm form by [`feedback`], the
//! settings form by [`settings_save`]. Every action is audited.
use crate::app::AppState;
use crate::domain::{Deal, TenantId};
use crate::slack::blocks::modals::notice_modal;
use crate::slack::blocks::views::how_to_link;
use crate::slack::handlers::audit;
use crate::slack::handlers::identity::{self, Resolved, Viewer};
use serde_json::{Value, json};

mod buttons;
mod feedback;
pub mod payload;
pub mod settings_save;

pub use payload::{Interaction, Submission};

/// What to answer the interaction request with: empty 200, or a JSON body (modal errors).
#[derive(Debug, Clone, PartialEq)]
pub enum Ack {
    Empty,
    Json(Value),
}

/// Handles one interaction for a resolved tenant with the workspace token.
pub async fn handle(
    state: &AppState,
    tenant: &TenantId,
    token: Option<&str>,
    ia: &Interaction,
) -> anyhow::Result<Ack> {
    let viewer = match identity::resolve(state, tenant, &ia.slack_user_id, token).await? {
        Resolved::Known(v) => v,
        Resolved::Unmapped { slack_email } => {
            if let Some(url) = &ia.response_url {
                let mut body = how_to_link(slack_email.as_deref());
                body["response_type"] = json!("ephemeral");
                body["replace_original"] = json!(false);
                state.slack.api.respond(url, &body).await?;
            } else if let (Some(t), Some(trigger)) = (token, &ia.trigger_id) {
                let msg = how_to_link(slack_email.as_deref());
                let text = msg["text"].as_str().unwrap_or_default();
                state
                    .slack
                    .api
                    .open_view(
                        t,
                        trigger,
                        ia.received,
                        &notice_modal("Link your account", text),
                    )
                    .await?;
            }
            return Ok(Ack::Empty);
        }
    };
    match ia.kind.as_str() {
        "block_actions" => {
            buttons::block_action(state, token, ia, &viewer).await?;
            Ok(Ack::Empty)
        }
        "view_submission" => {
            let now = state.clock.now();
            match ia.submission() {
                Submission::Settings(parsed) => {
                    settings_save::save_settings(state, &viewer, parsed).await
                }
                Submission::Other => Ok(Ack::Empty),
                Submission::Snooze { ctx, days } => {
                    feedback::submitted(state, token, &viewer, ctx, Some(days), None, now).await
                }
                Submission::FalseAlarm { ctx, reason } => {
                    feedback::submitted(state, token, &viewer, ctx, None, reason, now).await
                }
            }
        }
        // view_closed, shortcuts, suggestions: nothing to do.
        _ => Ok(Ack::Empty),
    }
}

/// The deal if the viewer may see it: `Ok(None)` unknown, `Err(())` someone else's.
pub(super) async fn visible_deal(
    state: &AppState,
    viewer: &Viewer,
    deal_id: &str,
) -> anyhow::Result<Result<Option<Deal>, ()>> {
    let Some(deal) = state.store.deal_by_id(&viewer.tenant, deal_id).await? else {
        return Ok(Ok(None));
    };
    if !viewer.scope().allows(&deal) {
        audit(
            state,
            viewer,
            "slack.deal.access_denied",
            Some(deal_id),
            None,
        )
        .await;
        return Ok(Err(()));
    }
    Ok(Ok(Some(deal)))
}

/// A short note to the clicking user: through response_url when there is one, else a modal.
pub(super) async fn tell(
    state: &AppState,
    token: Option<&str>,
    ia: &Interaction,
    title: &str,
    text: &str,
) -> anyhow::Result<()> {
    if let Some(url) = &ia.response_url {
        let body = json!({"response_type": "ephemeral", "replace_original": false, "text": text});
        state.slack.api.respond(url, &body).await?;
    } else if let (Some(t), Some(trigger)) = (token, &ia.trigger_id) {
        state
            .slack
            .api
            .open_view(t, trigger, ia.received, &notice_modal(title, text))
            .await?;
    }
    Ok(())
}

pub(super) fn modal_errors(errors: Vec<(&str, String)>) -> Ack {
    let map: serde_json::Map<String, Value> = errors
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    Ack::Json(json!({"response_action": "errors", "errors": map}))
}
