//! Modals opened from buttons: snooze and false alarm (the settings modal is in
//! [`super::settings`]), plus parsers for their `view_submission` values, the deal-details
//! modal, and the loading and notice modals. Block and action ids are constants shared by both
//! sides.
use super::callbacks;
use super::card::{CardKind, Standing, deal_card_blocks, insert_standing};
use super::kit::*;
use super::views::deal_title_md;
use crate::domain::{Deal, DealScore};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const SNOOZE_BLOCK: &str = "snooze_for";
pub const SNOOZE_ACTION: &str = "snooze_for";
/// (label, days): the choices the design names.
pub const SNOOZE_CHOICES: [(&str, u32); 3] = [("1 day", 1), ("3 days", 3), ("1 week", 7)];
pub const REASON_BLOCK: &str = "false_alarm_reason";
pub const REASON_ACTION: &str = "reason";
pub const MAX_REASON_CHARS: u64 = 1000;

/// What a modal needs to finish its job later: the deal, and the message the button was on so
/// the handler can update it (the design: each click updates the original message).
/// Travels as JSON in `private_metadata` (≤ 3000 chars).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModalContext {
    pub deal_id: String,
    pub channel_id: Option<String>,
    pub message_ts: Option<String>,
    /// The clicked message's `response_url`: confirms on an ephemeral card go through it (the
    /// bot may not be in the channel, so chat.postEphemeral would answer channel_not_found).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_url: Option<String>,
}

impl ModalContext {
    pub fn to_metadata(&self) -> String {
        let s = serde_json::to_string(self).expect("plain struct serialises");
        // A deal id this long is not one we could act on. What is left is not JSON, so
        // `from_metadata` returns None and the handler answers "deal not found" instead of
        // acting on a cut id.
        if s.chars().count() <= 3000 {
            s
        } else {
            truncate(&self.deal_id, 2900)
        }
    }

    pub fn from_metadata(s: &str) -> Option<ModalContext> {
        serde_json::from_str(s).ok()
    }
}

fn modal(
    callback_id: &str,
    title: &str,
    submit: &str,
    ctx: Option<&ModalContext>,
    blocks: Vec<Value>,
) -> Value {
    let mut v = json!({"type": "modal", "callback_id": callback_id,
        "title": plain(title, MAX_MODAL_TITLE), "submit": plain(submit, MAX_MODAL_TITLE),
        "close": plain("Cancel", MAX_MODAL_TITLE), "blocks": blocks});
    if let Some(c) = ctx {
        v["private_metadata"] = json!(c.to_metadata());
    }
    v
}

fn input(block_id: &str, label: &str, element: Value, optional: bool) -> Value {
    json!({"type": "input", "block_id": block_id, "label": plain(label, 2000), "element": element, "optional": optional})
}

pub fn snooze_modal(deal: &Deal, ctx: &ModalContext) -> Value {
    let options: Vec<Value> = SNOOZE_CHOICES
        .iter()
        .map(|(l, d)| option(l, &d.to_string()))
        .collect();
    let radio = json!({"type": "radio_buttons", "action_id": SNOOZE_ACTION,
        "options": options, "initial_option": options[0]});
    modal(
        callbacks::SNOOZE,
        "Snooze alerts",
        "Snooze",
        Some(ctx),
        vec![
            section(&format!(
                "No alerts for *{}* until the snooze ends.",
                truncate(&deal_title_md(deal), 500)
            )),
            input(SNOOZE_BLOCK, "Snooze for", radio, false),
        ],
    )
}

pub fn false_alarm_modal(deal: &Deal, ctx: &ModalContext) -> Value {
    let text = json!({"type": "plain_text_input", "action_id": REASON_ACTION, "multiline": true,
        "max_length": MAX_REASON_CHARS,
        "placeholder": plain("e.g. the customer signed the order form yesterday", 150)});
    modal(
        callbacks::FALSE_ALARM,
        "Mark false alarm",
        "Save",
        Some(ctx),
        vec![
            section(&format!(
                "Alerts for *{}* stop until its risk score rises further. \
            Your feedback also helps us measure the model.",
                truncate(&deal_title_md(deal), 500)
            )),
            input(REASON_BLOCK, "Why is this a false alarm?", text, true),
        ],
    )
}

/// The deal card in a modal (the View deal button): no buttons, where the deal stands, and the
/// Salesforce link when there is one.
pub fn deal_details_modal(
    deal: &Deal,
    score: &DealScore,
    standing: &Standing,
    deal_url: Option<&str>,
) -> Value {
    let mut blocks = deal_card_blocks(deal, score, deal_url, CardKind::Alert);
    blocks.retain(|b| b["type"] != "actions");
    insert_standing(&mut blocks, standing);
    if let Some(u) = deal_url {
        blocks.push(section(&link(u, "Open in Salesforce")));
    }
    json!({"type": "modal", "title": plain("Deal details", MAX_MODAL_TITLE),
        "close": plain("Close", MAX_MODAL_TITLE), "blocks": blocks})
}

/// A placeholder modal shown while the real one is prepared.
pub fn loading_modal() -> Value {
    json!({"type": "modal", "title": {"type": "plain_text", "text": "SkyGeni"},
           "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Loading…"}}]})
}

/// A short note in a modal with only a Close button (a click with no message to answer in).
pub fn notice_modal(title: &str, text: &str) -> Value {
    json!({"type": "modal", "title": plain(title, MAX_MODAL_TITLE),
           "close": plain("Close", MAX_MODAL_TITLE), "blocks": [section(text)]})
}

/// Days chosen in a submitted snooze modal (`view.state.values`); `None` if absent or unknown.
pub fn parse_snooze_days(values: &Value) -> Option<u32> {
    let v = values[SNOOZE_BLOCK][SNOOZE_ACTION]["selected_option"]["value"].as_str()?;
    SNOOZE_CHOICES
        .iter()
        .map(|(_, d)| *d)
        .find(|d| d.to_string() == v)
}

/// The optional reason from a submitted false-alarm modal, trimmed; `None` when left empty.
pub fn parse_false_alarm_reason(values: &Value) -> Option<String> {
    let r = values[REASON_BLOCK][REASON_ACTION]["value"]
        .as_str()?
        .trim();
    (!r.is_empty()).then(|| truncate(r, MAX_REASON_CHARS as usize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slack::blocks::kit_check::assert_valid_view;

    fn ctx() -> ModalContext {
        ModalContext {
            deal_id: "D42".into(),
            channel_id: Some("C1".into()),
            message_ts: Some("1600000000.000100".into()),
            response_url: None,
        }
    }

    #[test]
    fn snooze_and_false_alarm_modals_are_valid_views_carrying_their_context() {
        let mut d = Deal::example("D42");
        d.company = Some("Ärger & Söhne ".repeat(200));
        for (v, cb) in [
            (snooze_modal(&d, &ctx()), callbacks::SNOOZE),
            (false_alarm_modal(&d, &ctx()), callbacks::FALSE_ALARM),
        ] {
            assert_valid_view(&v);
            assert_eq!(v["callback_id"], cb);
            let meta = ModalContext::from_metadata(v["private_metadata"].as_str().unwrap());
            assert_eq!(meta, Some(ctx()));
        }
    }

    #[test]
    fn the_snooze_modal_offers_one_day_three_days_and_a_week() {
        let v = snooze_modal(&Deal::example("D1"), &ctx());
        let opts = v["blocks"][1]["element"]["options"].as_array().unwrap();
        let values: Vec<&str> = opts.iter().map(|o| o["value"].as_str().unwrap()).collect();
        assert_eq!(values, ["1", "3", "7"]);
    }

    #[test]
    fn submitted_snooze_and_reason_values_parse() {
        let values = json!({SNOOZE_BLOCK: {SNOOZE_ACTION: {"type": "radio_buttons", "selected_option": {"value": "7"}}},
            REASON_BLOCK: {REASON_ACTION: {"type": "plain_text_input", "value": "  signed yesterday  "}}});
        assert_eq!(parse_snooze_days(&values), Some(7));
        assert_eq!(
            parse_false_alarm_reason(&values).as_deref(),
            Some("signed yesterday")
        );
        let odd = json!({SNOOZE_BLOCK: {SNOOZE_ACTION: {"selected_option": {"value": "365"}}},
            REASON_BLOCK: {REASON_ACTION: {"value": null}}});
        assert_eq!(
            parse_snooze_days(&odd),
            None,
            "only offered choices are accepted"
        );
        assert_eq!(parse_false_alarm_reason(&odd), None);
        assert_eq!(parse_snooze_days(&json!({})), None);
    }

    #[test]
    fn an_oversized_deal_id_cannot_overflow_private_metadata() {
        let c = ModalContext {
            deal_id: "x".repeat(5000),
            channel_id: None,
            message_ts: None,
            response_url: None,
        };
        let meta = c.to_metadata();
        assert!(meta.chars().count() <= 3000);
        assert_eq!(
            ModalContext::from_metadata(&meta),
            None,
            "a cut id is never acted on"
        );
    }
}
