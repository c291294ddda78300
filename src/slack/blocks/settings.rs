//! The settings modal — the user's notifications (critical alerts, channels, digest time, time
//! zone, quiet hours, max deals) and, for admins only, the tenant's risk-band edges and daily
//! alert budget — and the parser for its submission, with per-field errors Slack shows inline.
use super::callbacks;
use super::kit::*;
use crate::domain::alert_settings::{MAX_DEALS, format_hhmm};
use crate::domain::{
    AlertSettings, AlertSettingsField, MAX_ALERTS_PER_DAY, RiskBands, RiskSettings,
    parse_alerts_per_day,
};
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
/// Admins only: the tenant's band edges ("25,50,75") and critical alerts per recipient per day.
pub const BANDS_BLOCK: &str = "risk_bands";
pub const ALERT_BUDGET_BLOCK: &str = "alerts_per_day";
/// Each input's single element uses this action id; the block id tells them apart.
pub const VALUE_ACTION: &str = "value";

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
    /// Deals listed in a digest, as saved (the API may have saved any value the domain's
    /// rules allow; the modal shows it as it is, never brought into a narrower range).
    pub max_deals: i64,
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

fn input(block_id: &str, label: &str, element: Value, optional: bool) -> Value {
    json!({"type": "input", "block_id": block_id, "label": plain(label, 2000), "element": element, "optional": optional})
}

fn timepicker(initial: Option<NaiveTime>) -> Value {
    let mut v = json!({"type": "timepicker", "action_id": VALUE_ACTION});
    if let Some(t) = initial {
        v["initial_time"] = json!(format_hhmm(t));
    }
    v
}

/// What a saved settings form asks for: the user's notifications and, when the form carried
/// the admin fields, the tenant's risk settings (whether the submitter may change them is the
/// handler's check, not the parser's).
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsForm {
    pub notification: NotificationSettings,
    pub risk: Option<RiskSettings>,
}

/// The modal; `risk` is `Some` only for admins, who also get the tenant's band edges and alert
/// budget (a rep's or manager's form does not show them).
pub fn settings_modal(s: &NotificationSettings, risk: Option<&RiskSettings>) -> Value {
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
    let mut blocks = vec![
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
        max_deals_input(s.max_deals),
    ];
    if let Some(r) = risk {
        blocks.extend(risk_blocks(r));
    }
    json!({"type": "modal", "callback_id": callbacks::SETTINGS, "title": plain("Notification settings", MAX_MODAL_TITLE),
        "submit": plain("Save", MAX_MODAL_TITLE), "close": plain("Cancel", MAX_MODAL_TITLE), "blocks": blocks})
}

/// The digest size input, bounded by the domain's rule. A saved value outside it (a row from
/// before the rule) is shown as it is, with a hint saying it must change, and without bounds
/// (Slack refuses a view whose initial value lies outside them); saving it unchanged gets the
/// rule's inline error.
fn max_deals_input(v: i64) -> Value {
    let (lo, hi) = (MAX_DEALS.start(), MAX_DEALS.end());
    let mut element = json!({"type": "number_input", "action_id": VALUE_ACTION,
        "is_decimal_allowed": false, "initial_value": v.to_string()});
    let within = MAX_DEALS.contains(&v);
    if within {
        element["min_value"] = json!(lo.to_string());
        element["max_value"] = json!(hi.to_string());
    }
    let mut block = input(
        MAX_DEALS_BLOCK,
        &format!("Deals per digest ({lo}–{hi})"),
        element,
        false,
    );
    if !within {
        block["hint"] = plain(&max_deals_error(), 2000);
    }
    block
}

/// The domain's digest-size rule in the modal's words.
fn max_deals_error() -> String {
    format!(
        "Enter a whole number from {} to {}.",
        MAX_DEALS.start(),
        MAX_DEALS.end()
    )
}

/// The admin part of the form: the tenant's band edges and alert budget, as the CLI takes them.
fn risk_blocks(r: &RiskSettings) -> Vec<Value> {
    let b = r.bands;
    let edges = format!("{},{},{}", b.low_max, b.medium_max, b.high_max);
    vec![
        divider(),
        section(
            "*Risk bands for everyone in your organisation* (admins only)\n\
             Upper edges of low, medium and high; above the last is critical.",
        ),
        input(
            BANDS_BLOCK,
            "Band edges (low, medium, high)",
            json!({"type": "plain_text_input", "action_id": VALUE_ACTION, "initial_value": edges,
                "max_length": 20, "placeholder": plain("25,50,75", 150)}),
            false,
        ),
        input(
            ALERT_BUDGET_BLOCK,
            &format!("Critical alerts per person per day (1–{MAX_ALERTS_PER_DAY})"),
            json!({"type": "number_input", "action_id": VALUE_ACTION,
            "is_decimal_allowed": false, "min_value": "1", "max_value": MAX_ALERTS_PER_DAY.to_string(),
            "initial_value": r.alerts_per_day.to_string()}),
            false,
        ),
    ]
}

/// Reads a submitted settings modal (`view.state.values`). Errors map block id → message, the
/// shape of Slack's `{"response_action":"errors","errors":{..}}` answer. The admin fields are
/// checked by the domain's rules (the CLI's and the API's): bad edges are an error on their
/// block and nothing is saved.
pub fn parse_settings(values: &Value) -> Result<SettingsForm, BTreeMap<String, String>> {
    let el = |block: &str| &values[block][VALUE_ACTION];
    let mut errors = BTreeMap::new();
    let mut err = |block: &str, msg: &str| {
        errors.insert(block.to_string(), msg.to_string());
    };
    // Slack's timepicker sends "HH:MM", the form the domain's one rule reads.
    let time = |block: &str, field: AlertSettingsField| {
        el(block)["selected_time"]
            .as_str()
            .and_then(|t| AlertSettings::parse_time(field, t).ok())
    };
    let critical_alerts = el(ALERTS_BLOCK)["selected_option"]["value"].as_str() != Some("off");
    let picked: Vec<&str> = el(CHANNELS_BLOCK)["selected_options"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["value"].as_str())
        .collect();
    let digest_time =
        time(DIGEST_TIME_BLOCK, AlertSettingsField::DigestTime).unwrap_or_else(|| {
            err(DIGEST_TIME_BLOCK, "Pick a time for the digest.");
            NaiveTime::MIN
        });
    let time_zone = el(TIME_ZONE_BLOCK)["selected_option"]["value"]
        .as_str()
        .and_then(|z| AlertSettings::parse_time_zone(z).ok())
        .unwrap_or_else(|| {
            err(TIME_ZONE_BLOCK, "Pick a time zone.");
            Tz::UTC
        });
    let quiet_hours = match (
        time(QUIET_FROM_BLOCK, AlertSettingsField::QuietStart),
        time(QUIET_UNTIL_BLOCK, AlertSettingsField::QuietEnd),
    ) {
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
        .and_then(|v| v.trim().parse::<i64>().ok())
        .map(AlertSettings::check_max_deals)
    {
        Some(Ok(n)) => n,
        _ => {
            err(MAX_DEALS_BLOCK, &max_deals_error());
            10
        }
    };
    let risk = parse_risk(values, &mut err);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(SettingsForm {
        notification: NotificationSettings {
            critical_alerts,
            via_slack: picked.contains(&"slack"),
            via_email: picked.contains(&"email"),
            digest_time,
            time_zone,
            quiet_hours,
            max_deals,
        },
        risk,
    })
}

/// The admin fields when the form has them (either block present); `None` otherwise.
fn parse_risk(values: &Value, err: &mut impl FnMut(&str, &str)) -> Option<RiskSettings> {
    let text = |block: &str| values[block][VALUE_ACTION]["value"].as_str();
    let present = |block: &str| values.get(block).is_some_and(Value::is_object);
    if !present(BANDS_BLOCK) && !present(ALERT_BUDGET_BLOCK) {
        return None;
    }
    let bands = match text(BANDS_BLOCK).map(RiskBands::parse) {
        Some(Ok(b)) => Some(b),
        Some(Err(e)) => {
            err(BANDS_BLOCK, &truncate(&e, 2000));
            None
        }
        None => {
            err(BANDS_BLOCK, "Enter three edges like 25,50,75.");
            None
        }
    };
    let budget = match text(ALERT_BUDGET_BLOCK).map(parse_alerts_per_day) {
        Some(Ok(n)) => Some(n),
        Some(Err(e)) => {
            err(ALERT_BUDGET_BLOCK, &truncate(&e, 2000));
            None
        }
        None => {
            err(
                ALERT_BUDGET_BLOCK,
                &format!("Enter a whole number from 1 to {MAX_ALERTS_PER_DAY}."),
            );
            None
        }
    };
    Some(RiskSettings {
        bands: bands?,
        alerts_per_day: budget?,
    })
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
