//! The snooze and false-alarm modals submitted: one snooze per deal, or one false-alarm row per
//! deal and score, audited; then the outcome shown where the button was (the alert updated in
//! place, the ephemeral card replaced, or the Home tab refreshed).
use super::{Ack, modal_errors, visible_deal};
use crate::app::AppState;
use crate::domain::{Deal, DealScore};
use crate::slack::blocks::card::{self, outcome_blocks};
use crate::slack::blocks::kit::{escape, truncate};
use crate::slack::blocks::modals::{self, ModalContext};
use crate::slack::blocks::views::deal_title_md;
use crate::slack::handlers::identity::Viewer;
use crate::slack::handlers::scoring::score_with_standing;
use crate::slack::handlers::{app_home, audit, deal_url};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

/// A submitted snooze form (`snooze`: `Some(days chosen)`) or false-alarm form (`snooze`:
/// `None`, the `reason` typed); `ctx` is `None` when the form's metadata is unreadable.
pub(super) async fn submitted(
    state: &AppState,
    token: Option<&str>,
    viewer: &Viewer,
    ctx: Option<ModalContext>,
    snooze: Option<Option<u32>>,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> anyhow::Result<Ack> {
    // Slack refuses `errors` naming a block the view does not have, so each form's errors go
    // on its own input block.
    let block = if snooze.is_some() {
        modals::SNOOZE_BLOCK
    } else {
        modals::REASON_BLOCK
    };
    let Some(ctx) = ctx else {
        return Ok(modal_errors(vec![(
            block,
            "This form is out of date; close it and click the button again.".into(),
        )]));
    };
    let deal = match visible_deal(state, viewer, &ctx.deal_id).await? {
        Ok(Some(d)) => d,
        _ => {
            return Ok(modal_errors(vec![(
                block,
                "This deal is not available to you any more.".into(),
            )]));
        }
    };
    let today = now.date_naive();
    let (score, standing) = score_with_standing(state, &viewer.tenant, &deal, today).await?;
    let note = if let Some(days) = snooze {
        let Some(days) = days else {
            return Ok(modal_errors(vec![(
                modals::SNOOZE_BLOCK,
                "Choose how long to snooze for.".into(),
            )]));
        };
        let until = now + Duration::days(i64::from(days));
        let row = state
            .store
            .snooze_deal(
                &viewer.tenant,
                &deal.deal_id,
                &viewer.user.user_id,
                until,
                now,
            )
            .await?;
        audit(
            state,
            viewer,
            "slack.deal.snooze",
            Some(&deal.deal_id),
            Some(json!({"days": days, "until": row.until, "created": row.created})),
        )
        .await;
        let by = if row.user_id == viewer.user.user_id {
            viewer.display_name()
        } else {
            state
                .store
                .get_user(&viewer.tenant, &row.user_id)
                .await?
                .and_then(|u| u.name)
                .unwrap_or(row.user_id.clone())
        };
        format!(
            ":zzz: Snoozed by {} until {}",
            escape(&by),
            row.until.get(..16).unwrap_or(&row.until).replace('T', " ")
        )
    } else {
        let created = state
            .store
            .record_false_alarm(
                &viewer.tenant,
                &deal.deal_id,
                &viewer.user.user_id,
                reason.as_deref(),
                i64::from(score.risk_score),
                now,
            )
            .await?;
        audit(
            state,
            viewer,
            "slack.deal.false_alarm",
            Some(&deal.deal_id),
            Some(json!({"reason": reason, "risk_score": score.risk_score, "created": created})),
        )
        .await;
        match reason {
            Some(r) => format!(
                ":white_check_mark: Marked as a false alarm by {} — “{}”",
                escape(&viewer.display_name()),
                escape(&truncate(&r, 300))
            ),
            None => format!(
                ":white_check_mark: Marked as a false alarm by {}",
                escape(&viewer.display_name())
            ),
        }
    };
    if let Some(t) = token {
        let shown = Shown {
            deal: &deal,
            score: &score,
            standing: &standing,
        };
        update_origin(state, t, viewer, &ctx, &shown, &note).await?;
    }
    Ok(Ack::Empty)
}

/// The card a click redraws: the deal, its score now and where it stands.
struct Shown<'a> {
    deal: &'a Deal,
    score: &'a DealScore,
    standing: &'a card::Standing,
}

/// Shows the outcome where the button was: the alert message updated in place (the card
/// redrawn with its relative risk and the note), an ephemeral note for ephemeral cards, or a
/// refreshed Home tab.
async fn update_origin(
    state: &AppState,
    token: &str,
    viewer: &Viewer,
    ctx: &ModalContext,
    shown: &Shown<'_>,
    note: &str,
) -> anyhow::Result<()> {
    let Shown {
        deal,
        score,
        standing,
    } = *shown;
    match (&ctx.channel_id, &ctx.message_ts) {
        (Some(channel), Some(ts)) => {
            let link = deal_url(state, deal);
            let blocks = outcome_blocks(deal, score, link.as_deref(), standing, note, true);
            let msg = json!({
                "text": format!("{} — {}", deal_title_md(deal), note),
                "attachments": [{"color": score.risk_category.slack_color(), "blocks": blocks}],
            });
            state
                .slack
                .api
                .update_message(token, channel, ts, &msg)
                .await?;
        }
        (Some(channel), None) => {
            let msg = json!({"text": format!("{} — {}", deal_title_md(deal), note)});
            if let Some(url) = &ctx.response_url {
                // The ephemeral card is replaced in place with the outcome.
                let link = deal_url(state, deal);
                let blocks = outcome_blocks(deal, score, link.as_deref(), standing, note, false);
                let body = json!({"response_type": "ephemeral", "replace_original": true,
                    "text": msg["text"],
                    "attachments": [{"color": score.risk_category.slack_color(), "blocks": blocks}]});
                state.slack.api.respond(url, &body).await?;
                return Ok(());
            }
            match state
                .slack
                .api
                .post_ephemeral(token, channel, &viewer.slack_user_id, &msg)
                .await
            {
                // Not in that channel: tell the user in the app DM instead of losing it.
                Err(e) if e.error_name() == Some("channel_not_found") => {
                    state
                        .slack
                        .api
                        .send_dm(token, &viewer.slack_user_id, &msg)
                        .await?;
                }
                other => other?,
            }
        }
        _ => {
            app_home::publish_for(state, viewer, token).await?;
        }
    }
    Ok(())
}
