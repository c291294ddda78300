//! Buttons and modal submissions: View deal (details modal), Snooze (modal → one snooze per
//! deal, message updated), Mark false alarm (modal → one feedback row per deal and score,
//! message updated), Share, pick-list choice, settings, Home refresh. Every action is audited.
//!
//! Payloads are read as JSON rather than slack-morphism's `SlackInteractionEvent`: that type
//! insists on fields (e.g. `api_app_id`, a full `SlackHistoryMessage`) that a button click on
//! an older or attachment-style message may lack, and a click it cannot parse must still be
//! answered. The handful of fields used here are read defensively; unknown shapes get a clear
//! 400 from the route, never a panic.
use super::bot::{self, CommandCtx, audit, deal_url, score_with_standing};
use super::card::{self, CardKind, deal_card_blocks, insert_standing};
use super::identity::{self, Resolved, Viewer};
use super::kit::escape;
use super::kit::{MAX_MODAL_TITLE, context, plain, section};
use super::modals::{self, ModalContext};
use super::settings::{self, NotificationSettings, SettingsForm};
use super::views::deal_title_md;
use super::{actions, app_home, callbacks};
use crate::app::AppState;
use crate::domain::{Channel, Deal, TenantId};
use crate::service::risk_settings;
use crate::store::AlertSettings;
use chrono::{DateTime, Duration, NaiveTime, Utc};
use serde_json::{Value, json};

/// The fields of an interaction payload the handlers use.
#[derive(Debug, Clone)]
pub struct Interaction {
    pub kind: String,
    pub team_id: String,
    pub slack_user_id: String,
    pub trigger_id: Option<String>,
    pub response_url: Option<String>,
    pub channel_id: Option<String>,
    pub message_ts: Option<String>,
    pub is_ephemeral: bool,
    pub action_id: Option<String>,
    pub action_value: Option<String>,
    pub view: Value,
    /// When the payload arrived: its trigger_id lives 3 s from about then.
    pub received: std::time::Instant,
}

impl Interaction {
    /// The whole inbound decode before any lookup: the raw form body Slack posts
    /// (`payload=<url-encoded JSON>`) → JSON → the fields used. Pure, so the fuzz target
    /// `slack_interaction` drives exactly what the route runs; `Err` is the 400's message.
    pub fn from_form(body: &[u8]) -> Result<Interaction, String> {
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|e| format!("malformed interaction form: {e}"))?;
        let (_, payload) = form
            .iter()
            .find(|(k, _)| k == "payload")
            .ok_or("interaction form has no payload field")?;
        let payload: Value = serde_json::from_str(payload)
            .map_err(|e| format!("interaction payload is not JSON: {e}"))?;
        Interaction::parse(&payload).map_err(|e| format!("interaction payload: {e}"))
    }

    /// Reads a payload; `Err` names what is missing. An empty type, team or user counts as
    /// missing: it could only ever look up nothing, so it is refused here, not later.
    pub fn parse(p: &Value) -> Result<Interaction, String> {
        let s = |ptr: &str| p.pointer(ptr).and_then(Value::as_str).map(str::to_string);
        let present = |ptr: &str| s(ptr).filter(|v| !v.trim().is_empty());
        let kind = present("/type").ok_or("payload has no type")?;
        let team_id = present("/team/id")
            .or_else(|| present("/user/team_id"))
            .ok_or("payload has no team.id")?;
        let slack_user_id = present("/user/id").ok_or("payload has no user.id")?;
        let action = p.pointer("/actions/0");
        Ok(Interaction {
            kind,
            team_id,
            slack_user_id,
            trigger_id: s("/trigger_id"),
            response_url: s("/response_url"),
            channel_id: s("/container/channel_id").or_else(|| s("/channel/id")),
            message_ts: s("/container/message_ts"),
            is_ephemeral: p
                .pointer("/container/is_ephemeral")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            action_id: action
                .and_then(|a| a["action_id"].as_str())
                .map(str::to_string),
            action_value: action.and_then(|a| a["value"].as_str()).map(str::to_string),
            view: p.get("view").cloned().unwrap_or(Value::Null),
            received: std::time::Instant::now(),
        })
    }

    /// What a `view_submission` asks for, decoded from the view alone (no database): the
    /// handler acts on this, and the fuzz target checks it never panics.
    pub fn submission(&self) -> Submission {
        let callback = self.view["callback_id"].as_str().unwrap_or_default();
        let values = &self.view["state"]["values"];
        let ctx = || {
            self.view["private_metadata"]
                .as_str()
                .and_then(ModalContext::from_metadata)
        };
        match callback {
            callbacks::SETTINGS => Submission::Settings(settings::parse_settings(values)),
            callbacks::SNOOZE => Submission::Snooze {
                ctx: ctx(),
                days: modals::parse_snooze_days(values),
            },
            callbacks::FALSE_ALARM => Submission::FalseAlarm {
                ctx: ctx(),
                reason: modals::parse_false_alarm_reason(values),
            },
            _ => Submission::Other,
        }
    }
}

/// A submitted modal, decoded. `ctx: None` means the form's metadata is unreadable (out of
/// date or tampered with): the handler answers with a modal error instead of guessing.
#[derive(Debug, Clone, PartialEq)]
pub enum Submission {
    Settings(Result<SettingsForm, std::collections::BTreeMap<String, String>>),
    Snooze {
        ctx: Option<ModalContext>,
        days: Option<u32>,
    },
    FalseAlarm {
        ctx: Option<ModalContext>,
        reason: Option<String>,
    },
    /// Another callback (or none): nothing to do.
    Other,
}

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
                let mut body = identity::how_to_link(slack_email.as_deref());
                body["response_type"] = json!("ephemeral");
                body["replace_original"] = json!(false);
                state.slack.api.respond(url, &body).await?;
            } else if let (Some(t), Some(trigger)) = (token, &ia.trigger_id) {
                let msg = identity::how_to_link(slack_email.as_deref());
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
            block_action(state, token, ia, &viewer).await?;
            Ok(Ack::Empty)
        }
        "view_submission" => view_submission(state, token, ia, &viewer, Utc::now()).await,
        // view_closed, shortcuts, suggestions: nothing to do.
        _ => Ok(Ack::Empty),
    }
}

/// The deal if the viewer may see it: `Ok(None)` unknown, `Err(())` someone else's.
async fn visible_deal(
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

fn notice_modal(title: &str, text: &str) -> Value {
    json!({"type": "modal", "title": plain(title, MAX_MODAL_TITLE),
           "close": plain("Close", MAX_MODAL_TITLE), "blocks": [section(text)]})
}

async fn block_action(
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
                bot::open_settings(state, &ctx, viewer).await?;
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
                super::kit::escape(&super::kit::truncate(&value, 100))
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
                .open_view(t, trigger, ia.received, &bot::loading_modal())
                .await?;
            let today = Utc::now().date_naive();
            let (score, standing) =
                score_with_standing(state, &viewer.tenant, &deal, today).await?;
            let url = deal_url(state, &deal);
            let mut blocks = deal_card_blocks(&deal, &score, url.as_deref(), CardKind::Alert);
            blocks.retain(|b| b["type"] != "actions");
            insert_standing(&mut blocks, &standing);
            if let Some(u) = &url {
                blocks.push(section(&super::kit::link(u, "Open in Salesforce")));
            }
            let modal = json!({"type": "modal", "title": plain("Deal details", MAX_MODAL_TITLE),
                "close": plain("Close", MAX_MODAL_TITLE), "blocks": blocks});
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
            let today = Utc::now().date_naive();
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

/// A short note to the clicking user: through response_url when there is one, else a modal.
async fn tell(
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

fn modal_errors(errors: Vec<(&str, String)>) -> Ack {
    let map: serde_json::Map<String, Value> = errors
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    Ack::Json(json!({"response_action": "errors", "errors": map}))
}

async fn view_submission(
    state: &AppState,
    token: Option<&str>,
    ia: &Interaction,
    viewer: &Viewer,
    now: DateTime<Utc>,
) -> anyhow::Result<Ack> {
    // `snooze` is Some(days chosen) for the snooze form, None for the false-alarm form.
    let (ctx, snooze, reason) = match ia.submission() {
        Submission::Settings(parsed) => return save_settings(state, viewer, parsed).await,
        Submission::Other => return Ok(Ack::Empty),
        Submission::Snooze { ctx, days } => (ctx, Some(days), None),
        Submission::FalseAlarm { ctx, reason } => (ctx, None, reason),
    };
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
                escape(&super::kit::truncate(&r, 300))
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
    score: &'a crate::domain::DealScore,
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
            let mut blocks = deal_card_blocks(
                deal,
                score,
                deal_url(state, deal).as_deref(),
                CardKind::Alert,
            );
            insert_standing(&mut blocks, standing);
            blocks.push(context(note));
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
                let mut blocks = deal_card_blocks(
                    deal,
                    score,
                    deal_url(state, deal).as_deref(),
                    CardKind::Alert,
                );
                blocks.retain(|b| b["type"] != "actions");
                insert_standing(&mut blocks, standing);
                blocks.push(context(note));
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

async fn save_settings(
    state: &AppState,
    viewer: &Viewer,
    parsed: Result<SettingsForm, std::collections::BTreeMap<String, String>>,
) -> anyhow::Result<Ack> {
    let form = match parsed {
        Ok(s) => s,
        Err(errors) => {
            return Ok(Ack::Json(
                json!({"response_action": "errors", "errors": errors}),
            ));
        }
    };
    // Only an admin's form carries the tenant's bands, but the form is the client's word: the
    // role is checked here, before anything is saved (a role changed while the form was open,
    // or a crafted submission, gets an inline error and changes nothing).
    if form.risk.is_some() && !viewer.is_admin() {
        audit(state, viewer, "slack.settings.risk_denied", None, None).await;
        return Ok(modal_errors(vec![(
            settings::BANDS_BLOCK,
            "Only admins can change the risk bands and the alert budget.".into(),
        )]));
    }
    let current = state
        .store
        .get_alert_settings(&viewer.tenant, &viewer.user.user_id)
        .await?
        .unwrap_or_default();
    let new = from_notification(&form.notification, current);
    state
        .store
        .upsert_alert_settings(&viewer.tenant, &viewer.user.user_id, &new)
        .await?;
    audit(
        state,
        viewer,
        "slack.settings.save",
        Some(&viewer.user.user_id),
        Some(serde_json::to_value(&new)?),
    )
    .await;
    if let Some(risk) = form.risk {
        let previous = risk_settings::current(&state.store, &viewer.tenant).await?;
        if risk != previous {
            // Forgets the cached standing too: the next card uses the new edges.
            risk_settings::replace(&state.store, Some(&state.standing), &viewer.tenant, risk)
                .await?;
            audit(
                state,
                viewer,
                "slack.settings.risk",
                None,
                Some(json!({"previous": previous, "new": risk})),
            )
            .await;
        }
    }
    Ok(Ack::Empty)
}

/// Stored alert settings as the modal shows them. Quiet hours with equal ends mean "none".
pub fn to_notification(s: &AlertSettings) -> NotificationSettings {
    let quiet = (s.quiet_start, s.quiet_end);
    NotificationSettings {
        critical_alerts: s.critical_enabled,
        via_slack: s.channels.contains(&Channel::Slack),
        via_email: s.channels.contains(&Channel::Email),
        digest_time: s.digest_time,
        time_zone: s.time_zone,
        quiet_hours: (quiet.0 != quiet.1).then_some(quiet),
        max_deals: s.max_deals,
    }
}

/// The modal's answer merged into the stored settings (the threshold is not on the form).
pub fn from_notification(n: &NotificationSettings, base: AlertSettings) -> AlertSettings {
    let channels = [(n.via_slack, Channel::Slack), (n.via_email, Channel::Email)]
        .into_iter()
        .filter_map(|(on, ch)| on.then_some(ch))
        .collect();
    let (quiet_start, quiet_end) = n.quiet_hours.unwrap_or((NaiveTime::MIN, NaiveTime::MIN));
    AlertSettings {
        critical_enabled: n.critical_alerts,
        channels,
        digest_time: n.digest_time,
        time_zone: n.time_zone,
        quiet_start,
        quiet_end,
        max_deals: n.max_deals,
        ..base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_between_the_modal_and_storage() {
        let stored = AlertSettings {
            channels: vec![Channel::Slack],
            time_zone: chrono_tz::Europe::Berlin,
            threshold: 80,
            ..AlertSettings::default()
        };
        let n = to_notification(&stored);
        assert!(n.via_slack && !n.via_email);
        assert_eq!(
            n.quiet_hours.map(|q| q.0.to_string()),
            Some("20:00:00".into())
        );
        let back = from_notification(&n, stored.clone());
        assert_eq!(back, stored);
        let none = NotificationSettings {
            quiet_hours: None,
            ..n
        };
        let saved = from_notification(&none, stored);
        assert_eq!(to_notification(&saved).quiet_hours, None);
    }

    #[test]
    fn a_payload_without_a_user_is_a_clear_error() {
        let p = json!({"type": "block_actions", "team": {"id": "T1"}});
        assert_eq!(
            Interaction::parse(&p).unwrap_err(),
            "payload has no user.id"
        );
    }
}
