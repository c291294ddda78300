//! One rule for a user's alert settings: `POST /v1/alerts/configure` and the Slack settings
//! modal refuse the same values (the domain's `AlertSettings::check_*`), and what the API saved
//! is shown by the modal as saved and survives an unchanged save there.
use crate::slack::{JWT, SlackApp, tenant, view_submission};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use skygeni::api::alerts::{AlertConfig, apply};
use skygeni::auth::{Role, issue_token};
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
    let token = issue_token(
        &SecretString::from(JWT),
        &tenant(),
        Role::Rep,
        "rep_0",
        3600,
    )
    .unwrap();
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
