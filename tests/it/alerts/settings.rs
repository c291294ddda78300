//! One rule for a user's alert settings: `POST /v1/alerts/configure` and the Slack settings
//! modal refuse the same values (the domain's `AlertSettings::check_*`), and what the API saved
//! is shown by the modal as saved and survives an unchanged save there.
use crate::support::{SlackApp, tenant, view_submission};
use reqwest::StatusCode;
use serde_json::{Value, json};
use skygeni::api::alerts::{AlertConfig, apply};
use skygeni::auth::Role;
use skygeni::domain::AlertSettings;
use skygeni::slack::blocks::settings::{
    MAX_DEALS_BLOCK, NotificationSettings, VALUE_ACTION, parse_settings, settings_modal,
};

/// What Slack submits when the user saves `view` without changing anything.
fn submitted_unchanged(view: &Value) -> Value {
    skygeni_fakes::slack::submitted_unchanged(view, VALUE_ACTION)
}

#[test]
fn the_api_and_the_slack_modal_refuse_the_same_digest_sizes_by_one_rule() {
    let form = submitted_unchanged(&settings_modal(&NotificationSettings::default(), None));
    for (max_deals, allowed) in [
        (0, false),
        (1, true),
        (25, true),
        (26, true),
        (50, true),
        (51, false),
        (500, false),
    ] {
        let rule = AlertSettings::check_max_deals(max_deals);
        assert_eq!(rule.is_ok(), allowed, "domain rule, {max_deals}");

        let cfg: AlertConfig =
            serde_json::from_value(json!({"daily_digest": {"max_deals": max_deals}})).unwrap();
        match apply(AlertSettings::default(), cfg) {
            Ok(s) => {
                assert!(allowed, "API accepted {max_deals}");
                assert_eq!(s.max_deals, max_deals, "API saves it as sent");
            }
            Err(e) => {
                assert!(!allowed, "API refused {max_deals}");
                let body = serde_json::to_value(e.body()).unwrap();
                assert_eq!(body["details"]["field"], "daily_digest.max_deals");
                assert_eq!(
                    body["message"], "daily_digest.max_deals must be between 1 and 50",
                    "{body}"
                );
            }
        }

        let mut submitted = form.clone();
        submitted[MAX_DEALS_BLOCK][VALUE_ACTION]["value"] = json!(max_deals.to_string());
        match parse_settings(&submitted) {
            Ok(f) => {
                assert!(allowed, "Slack accepted {max_deals}");
                assert_eq!(
                    f.notification.max_deals, max_deals,
                    "Slack keeps it as typed"
                );
            }
            Err(errors) => {
                assert!(!allowed, "Slack refused {max_deals}");
                assert_eq!(errors.keys().collect::<Vec<_>>(), [MAX_DEALS_BLOCK]);
                let rule = rule.unwrap_err();
                assert!(
                    matches!(
                        rule.problem,
                        skygeni::domain::AlertSettingsProblem::OutOfRange { lo: 1, hi: 50 }
                    ),
                    "{rule:?}"
                );
                assert_eq!(
                    errors[MAX_DEALS_BLOCK],
                    "Enter a whole number from 1 to 50."
                );
            }
        }
    }
}

#[tokio::test]
async fn a_digest_size_saved_through_the_api_round_trips_through_the_slack_modal_unchanged() {
    let app = SlackApp::spawn().await;
    let token = app.token("default", Role::Rep, "rep_0");
    // 42: allowed by the API, above the 25 the modal used to clamp to.
    let r = app
        .client
        .post(format!("{}/v1/alerts/configure", app.base))
        .bearer_auth(&token)
        .json(&json!({"daily_digest": {"max_deals": 42, "timezone": "Asia/Kolkata"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["settings"]["daily_digest"]["max_deals"], 42, "{body}");
    let saved = app
        .store
        .get_alert_settings(&tenant(), "rep_0")
        .await
        .unwrap()
        .expect("saved by the API");

    let (status, _) = app.command("UREP0", "settings").await;
    assert_eq!(status, StatusCode::OK);
    app.wait_for("views.update", 1).await;
    let view = app.fake.calls_to("views.update")[0].body["view"].clone();
    let max_deals = view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block_id"] == MAX_DEALS_BLOCK)
        .expect("the digest size input")
        .clone();
    assert_eq!(
        max_deals["element"]["initial_value"], "42",
        "shown as saved: {max_deals}"
    );
    assert_eq!(max_deals["element"]["max_value"], "50", "{max_deals}");

    let (status, ack) = app
        .interact(&view_submission(
            "UREP0",
            "settings_modal",
            "",
            submitted_unchanged(&view),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ack, Value::Null, "saved without errors: {ack}");
    let after = app
        .store
        .get_alert_settings(&tenant(), "rep_0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after, saved, "an unchanged save in Slack changes nothing");
}

#[tokio::test]
async fn the_store_keeps_the_text_forms_and_reads_a_row_the_rules_refuse_field_by_field() {
    use skygeni::domain::Channel;
    use skygeni::domain::alert_settings::format_hhmm;
    let db = crate::support::TestDb::new().await;
    let store = db.store().await;
    let t = skygeni::domain::TenantId::default_tenant();
    store
        .upsert_user(
            &t,
            &skygeni::store::NewUser {
                user_id: "u1",
                email: Some("u1@example.com"),
                name: None,
                role: "rep",
                manager_id: None,
            },
        )
        .await
        .unwrap();
    let saved = AlertSettings {
        channels: vec![Channel::Email, Channel::Slack],
        digest_time: chrono::NaiveTime::from_hms_opt(7, 30, 0).unwrap(),
        time_zone: chrono_tz::Asia::Kolkata,
        quiet_enabled: false,
        max_deals: 42,
        ..AlertSettings::default()
    };
    store.upsert_alert_settings(&t, "u1", &saved).await.unwrap();
    assert_eq!(
        store.get_alert_settings(&t, "u1").await.unwrap(),
        Some(saved.clone())
    );
    let columns = store
        .unscoped_texts_for_tests(
            &t,
            "SELECT channels || ' ' || digest_time || ' ' || time_zone || ' ' || quiet_start \
             FROM alert_settings",
        )
        .await
        .unwrap();
    assert_eq!(columns, [r#"["email","slack"] 07:30 Asia/Kolkata 20:00"#]);

    // A row edited by hand (or saved before the rules): each refused field reads as its
    // default, the rest as stored; unknown channels are dropped, as they never reached anyone.
    store
        .unscoped_execute_for_tests(
            &t,
            "UPDATE alert_settings SET digest_time = '7:30', time_zone = 'Mars/Olympus', \
             channels = '[\"sms\",\"slack\",\"slack\"]', quiet_end = '24:30'",
        )
        .await
        .unwrap();
    let read = store.get_alert_settings(&t, "u1").await.unwrap().unwrap();
    let d = AlertSettings::default();
    assert_eq!(
        (
            format_hhmm(read.digest_time),
            read.time_zone,
            read.channels.clone(),
            format_hhmm(read.quiet_end),
            read.max_deals,
        ),
        (
            "08:00".to_string(),
            d.time_zone,
            vec![Channel::Slack],
            "08:00".to_string(),
            42
        )
    );
    let contacts = store.user_contacts(&t).await.unwrap();
    assert_eq!(contacts.len(), 1);
    assert_eq!(
        contacts[0].settings.as_ref(),
        Some(&read),
        "one mapping for both reads"
    );
    assert_eq!(
        contacts[0].time_zone, "UTC",
        "the user's own zone, not the settings'"
    );
}
