//! The notification settings modal (critical alerts, channels, digest time, time zone, quiet
//! hours, max deals) and the parser for its submission, with per-field errors Slack shows inline.
use super::callbacks;
use super::kit::*;
use chrono::NaiveTime;
use chrono_tz::Tz;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub const ALERTS_BLOCK: &str = "critical_alerts";
pub const CHANNELS_BLOCK: &str = "channels";
pub const DIGEST_TIME_BLOCK: &str = "digest_time";
pub const TIME_ZONE_BLOCK: &str = "time_zone";
pub const QUIET_FROM_BLOCK: &str = "quiet_from";
pub const QUIET_UNTIL_BLOCK: &str = "quiet_until";
pub const MAX_DEALS_BLOCK: &str = "max_deals";
/// Each input's single element uses this action id; the block id tells them apart.
pub const VALUE_ACTION: &str = "value";
pub const MAX_DEALS_LIMIT: u8 = 25;

/// Time zones offered in the select (a static select holds at most 100 options; the full IANA
/// list has ~600). A user's current zone is added when it is not among them.
pub const TIME_ZONES: &[&str] = &[
    "UTC",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Asia/Dubai",
    "Australia/Sydney",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
];

#[derive(Debug, Clone, PartialEq)]
pub struct NotificationSettings {
    pub critical_alerts: bool,
    pub via_slack: bool,
    pub via_email: bool,
    pub digest_time: NaiveTime,
    pub time_zone: Tz,
    /// (from, until) local time; may wrap midnight (20:00–07:00).
    pub quiet_hours: Option<(NaiveTime, NaiveTime)>,
    /// Deals listed in a digest.
    pub max_deals: u8,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        NotificationSettings {
            critical_alerts: true,
            via_slack: true,
            via_email: false,
            digest_time: NaiveTime::from_hms_opt(8, 0, 0).expect("valid time"),
            time_zone: Tz::UTC,
            quiet_hours: None,
            max_deals: 10,
        }
    }
}

fn hhmm(t: NaiveTime) -> String {
    t.format("%H:%M").to_string()
}

fn input(block_id: &str, label: &str, element: Value, optional: bool) -> Value {
    json!({"type": "input", "block_id": block_id, "label": plain(label, 2000), "element": element, "optional": optional})
}

fn timepicker(initial: Option<NaiveTime>) -> Value {
    let mut v = json!({"type": "timepicker", "action_id": VALUE_ACTION});
    if let Some(t) = initial {
        v["initial_time"] = json!(hhmm(t));
    }
    v
}

pub fn settings_modal(s: &NotificationSettings) -> Value {
    let on_off = [option("On", "on"), option("Off", "off")];
    let channels = [option("Slack DM", "slack"), option("Email", "email")];
    let chosen: Vec<Value> = channels
        .iter()
        .filter(|c| {
            (c["value"] == "slack" && s.via_slack) || (c["value"] == "email" && s.via_email)
        })
        .cloned()
        .collect();
    let mut checkboxes =
        json!({"type": "checkboxes", "action_id": VALUE_ACTION, "options": channels});
    if !chosen.is_empty() {
        // Slack rejects an empty initial_options array.
        checkboxes["initial_options"] = json!(chosen);
    }
    let mut zones: Vec<&str> = TIME_ZONES.to_vec();
    if !zones.contains(&s.time_zone.name()) {
        zones.push(s.time_zone.name());
    }
    let zone_opts: Vec<Value> = zones.iter().map(|z| option(z, z)).collect();
    let blocks = vec![
        input(
            ALERTS_BLOCK,
            "Critical deal alerts",
            json!({"type": "radio_buttons", "action_id": VALUE_ACTION,
            "options": on_off, "initial_option": on_off[if s.critical_alerts { 0 } else { 1 }]}),
            false,
        ),
        input(
            CHANNELS_BLOCK,
            "Send alerts and digests by",
            checkboxes,
            true,
        ),
        input(
            DIGEST_TIME_BLOCK,
            "Daily digest at",
            timepicker(Some(s.digest_time)),
            false,
        ),
        input(
            TIME_ZONE_BLOCK,
            "Time zone",
            json!({"type": "static_select", "action_id": VALUE_ACTION,
            "options": zone_opts, "initial_option": option(s.time_zone.name(), s.time_zone.name())}),
            false,
        ),
        input(
            QUIET_FROM_BLOCK,
            "Quiet hours from",
            timepicker(s.quiet_hours.map(|q| q.0)),
            true,
        ),
        input(
            QUIET_UNTIL_BLOCK,
            "Quiet hours until",
            timepicker(s.quiet_hours.map(|q| q.1)),
            true,
        ),
        input(
            MAX_DEALS_BLOCK,
            "Deals per digest (1–25)",
            json!({"type": "number_input", "action_id": VALUE_ACTION,
            "is_decimal_allowed": false, "min_value": "1", "max_value": MAX_DEALS_LIMIT.to_string(),
            "initial_value": s.max_deals.to_string()}),
            false,
        ),
    ];
    json!({"type": "modal", "callback_id": callbacks::SETTINGS, "title": plain("Notification settings", MAX_MODAL_TITLE),
        "submit": plain("Save", MAX_MODAL_TITLE), "close": plain("Cancel", MAX_MODAL_TITLE), "blocks": blocks})
}

/// Reads a submitted settings modal (`view.state.values`). Errors map block id → message, the
/// shape of Slack's `{"response_action":"errors","errors":{..}}` answer.
pub fn parse_settings(values: &Value) -> Result<NotificationSettings, BTreeMap<String, String>> {
    let el = |block: &str| &values[block][VALUE_ACTION];
    let mut errors = BTreeMap::new();
    let mut err = |block: &str, msg: &str| {
        errors.insert(block.to_string(), msg.to_string());
    };
    let time = |block: &str| {
        el(block)["selected_time"]
            .as_str()
            .and_then(|t| NaiveTime::parse_from_str(t, "%H:%M").ok())
    };
    let critical_alerts = el(ALERTS_BLOCK)["selected_option"]["value"].as_str() != Some("off");
    let picked: Vec<&str> = el(CHANNELS_BLOCK)["selected_options"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["value"].as_str())
        .collect();
    let digest_time = time(DIGEST_TIME_BLOCK).unwrap_or_else(|| {
        err(DIGEST_TIME_BLOCK, "Pick a time for the digest.");
        NaiveTime::MIN
    });
    let time_zone = el(TIME_ZONE_BLOCK)["selected_option"]["value"]
        .as_str()
        .and_then(|z| z.parse::<Tz>().ok())
        .unwrap_or_else(|| {
            err(TIME_ZONE_BLOCK, "Pick a time zone.");
            Tz::UTC
        });
    let quiet_hours = match (time(QUIET_FROM_BLOCK), time(QUIET_UNTIL_BLOCK)) {
        (Some(a), Some(b)) if a != b => Some((a, b)),
        (None, None) => None,
        (Some(_), Some(_)) => {
            err(
                QUIET_UNTIL_BLOCK,
                "Quiet hours must end at a different time than they start.",
            );
            None
        }
        _ => {
            err(
                QUIET_UNTIL_BLOCK,
                "Set both ends of the quiet hours, or neither.",
            );
            None
        }
    };
    let max_deals = match el(MAX_DEALS_BLOCK)["value"]
        .as_str()
        .and_then(|v| v.trim().parse::<u8>().ok())
    {
        Some(n) if (1..=MAX_DEALS_LIMIT).contains(&n) => n,
        _ => {
            err(MAX_DEALS_BLOCK, "Enter a whole number from 1 to 25.");
            10
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(NotificationSettings {
        critical_alerts,
        via_slack: picked.contains(&"slack"),
        via_email: picked.contains(&"email"),
        digest_time,
        time_zone,
        quiet_hours,
        max_deals,
    })
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
