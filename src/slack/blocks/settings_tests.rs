//! Settings modal: valid Block Kit, and what it shows parses back to the same settings.
use super::*;
use crate::domain::{RiskBands, RiskSettings};
use crate::slack::blocks::kit_check::assert_valid_view;

/// What Slack submits when the user saves without changing anything: each element's initial
/// value, in `view.state.values` shape.
fn submitted_unchanged(modal: &Value) -> Value {
    skygeni_fakes::slack::submitted_unchanged(modal, VALUE_ACTION)
}

fn t(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

#[test]
fn the_settings_modal_is_valid_and_round_trips_every_setting() {
    let cases = [
        NotificationSettings::default(),
        NotificationSettings {
            critical_alerts: false,
            via_slack: false,
            via_email: true,
            digest_time: t(7, 30),
            time_zone: "Asia/Kolkata".parse().unwrap(),
            quiet_hours: Some((t(20, 0), t(7, 0))),
            max_deals: 50,
        },
        NotificationSettings {
            via_slack: false,
            time_zone: "Pacific/Chatham".parse().unwrap(),
            max_deals: 1,
            ..NotificationSettings::default()
        },
    ];
    for s in cases {
        let modal = settings_modal(&s, None);
        assert_valid_view(&modal);
        assert_eq!(modal["callback_id"], callbacks::SETTINGS);
        assert_eq!(
            parse_settings(&submitted_unchanged(&modal)),
            Ok(SettingsForm {
                notification: s.clone(),
                risk: None
            }),
            "{s:?}"
        );
        assert!(
            !modal.to_string().contains(BANDS_BLOCK),
            "no band fields on a non-admin's form"
        );
    }
}

#[test]
fn invalid_submissions_report_errors_against_the_right_blocks() {
    let good = submitted_unchanged(&settings_modal(&NotificationSettings::default(), None));
    let cases: Vec<(&str, Value, &str)> = vec![
        (MAX_DEALS_BLOCK, json!({"value": "0"}), MAX_DEALS_BLOCK),
        (MAX_DEALS_BLOCK, json!({"value": "51"}), MAX_DEALS_BLOCK),
        (MAX_DEALS_BLOCK, json!({"value": "ten"}), MAX_DEALS_BLOCK),
        (
            TIME_ZONE_BLOCK,
            json!({"selected_option": {"value": "Mars/Olympus"}}),
            TIME_ZONE_BLOCK,
        ),
        (
            DIGEST_TIME_BLOCK,
            json!({"selected_time": null}),
            DIGEST_TIME_BLOCK,
        ),
        (
            QUIET_FROM_BLOCK,
            json!({"selected_time": "22:00"}),
            QUIET_UNTIL_BLOCK,
        ),
    ];
    for (block, state, err_block) in cases {
        let mut v = good.clone();
        v[block] = json!({VALUE_ACTION: state});
        let errs = parse_settings(&v).expect_err(block);
        assert!(errs.contains_key(err_block), "{block}: {errs:?}");
    }
    let mut same = good.clone();
    same[QUIET_FROM_BLOCK] = json!({VALUE_ACTION: {"selected_time": "22:00"}});
    same[QUIET_UNTIL_BLOCK] = json!({VALUE_ACTION: {"selected_time": "22:00"}});
    assert!(
        parse_settings(&same).is_err(),
        "zero-length quiet hours are refused"
    );
}

#[test]
fn an_admins_form_shows_the_tenants_bands_and_budget_and_round_trips_them() {
    let risk = RiskSettings {
        bands: RiskBands::new(40, 70, 90).unwrap(),
        alerts_per_day: 12,
    };
    let modal = settings_modal(&NotificationSettings::default(), Some(&risk));
    assert_valid_view(&modal);
    let blocks = modal["blocks"].as_array().unwrap();
    let input_of = |id: &str| {
        blocks
            .iter()
            .find(|b| b["block_id"] == id)
            .unwrap_or_else(|| panic!("{id} missing"))["element"]
            .clone()
    };
    assert_eq!(input_of(BANDS_BLOCK)["initial_value"], "40,70,90");
    assert_eq!(input_of(ALERT_BUDGET_BLOCK)["initial_value"], "12");
    assert_eq!(input_of(ALERT_BUDGET_BLOCK)["max_value"], "1000");
    let form = parse_settings(&submitted_unchanged(&modal)).unwrap();
    assert_eq!(form.risk, Some(risk));
    assert_eq!(form.notification, NotificationSettings::default());
}

#[test]
fn bad_band_edges_or_budget_are_errors_on_their_own_field() {
    let risk = RiskSettings::default();
    let good = submitted_unchanged(&settings_modal(
        &NotificationSettings::default(),
        Some(&risk),
    ));
    let cases = [
        (BANDS_BLOCK, "50,40,90", "band edges must rise"),
        (BANDS_BLOCK, "25,50,100", "below 100"),
        (BANDS_BLOCK, "25,50", "three whole numbers"),
        (ALERT_BUDGET_BLOCK, "0", "from 1 to 1000"),
        (ALERT_BUDGET_BLOCK, "5000", "from 1 to 1000"),
    ];
    for (block, value, says) in cases {
        let mut v = good.clone();
        v[block] = json!({VALUE_ACTION: {"value": value}});
        let errs = parse_settings(&v).expect_err(value);
        assert_eq!(errs.len(), 1, "{value}: {errs:?}");
        assert!(errs[block].contains(says), "{value}: {errs:?}");
    }
    // One admin field without the other is refused, not half-applied.
    let mut half = good.clone();
    half.as_object_mut().unwrap().remove(ALERT_BUDGET_BLOCK);
    let errs = parse_settings(&half).unwrap_err();
    assert!(errs.contains_key(ALERT_BUDGET_BLOCK), "{errs:?}");
}

#[test]
fn a_saved_digest_size_outside_the_rule_is_shown_as_saved_with_a_hint_and_refused_unchanged() {
    let s = NotificationSettings {
        max_deals: 70,
        ..NotificationSettings::default()
    };
    let modal = settings_modal(&s, None);
    assert_valid_view(&modal);
    let block = modal["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block_id"] == MAX_DEALS_BLOCK)
        .unwrap()
        .clone();
    assert_eq!(block["element"]["initial_value"], "70", "shown as saved");
    assert!(
        block["hint"]["text"].as_str().unwrap().contains("1 to 50"),
        "{block}"
    );
    let errs = parse_settings(&submitted_unchanged(&modal)).unwrap_err();
    assert_eq!(errs[MAX_DEALS_BLOCK], "Enter a whole number from 1 to 50.");
}
