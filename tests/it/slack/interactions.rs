//! Buttons and modals: settings, deal details, share and pick, snooze and false alarm (each stored
//! once), and a rate-limited Slack call inside a click.
use super::post_alert;
use crate::support::{SlackApp, block_actions, tenant, view_submission};
use reqwest::StatusCode;
use serde_json::{Value, json};
use skygeni::domain::alert_settings::format_hhmm;

#[tokio::test]
async fn settings_open_a_modal_at_once_fill_it_and_a_submission_is_saved() {
    let app = SlackApp::spawn().await;
    let (status, v) = app.command("UREP0", "settings").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v, Value::Null, "silent ack");
    app.wait_for("views.update", 1).await;
    assert_eq!(app.fake.count_ok("views.open"), 1);
    let upd = &app.fake.calls_to("views.update")[0];
    assert_eq!(upd.body["view"]["callback_id"], "settings_modal");

    use skygeni::slack::blocks::settings::*;
    let values = json!({
        ALERTS_BLOCK: {VALUE_ACTION: {"type": "radio_buttons", "selected_option": {"value": "off"}}},
        CHANNELS_BLOCK: {VALUE_ACTION: {"type": "checkboxes", "selected_options": [{"value": "email"}]}},
        DIGEST_TIME_BLOCK: {VALUE_ACTION: {"type": "timepicker", "selected_time": "07:30"}},
        TIME_ZONE_BLOCK: {VALUE_ACTION: {"type": "static_select", "selected_option": {"value": "Europe/Berlin"}}},
        QUIET_FROM_BLOCK: {VALUE_ACTION: {"type": "timepicker", "selected_time": "21:00"}},
        QUIET_UNTIL_BLOCK: {VALUE_ACTION: {"type": "timepicker", "selected_time": "07:00"}},
        MAX_DEALS_BLOCK: {VALUE_ACTION: {"type": "number_input", "value": "5"}},
    });
    let (status, ack) = app
        .interact(&view_submission(
            "UREP0",
            "settings_modal",
            "",
            values.clone(),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    if ack != Value::Null {
        panic!("settings rejected: {ack}");
    }
    let saved = app
        .store
        .get_alert_settings(&tenant(), "rep_0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(format_hhmm(saved.digest_time), "07:30");
    assert_eq!(saved.time_zone.name(), "Europe/Berlin");
    assert_eq!(saved.max_deals, 5);
    assert_eq!(saved.channel_names(), ["email"]);
    // A bad value is answered with Slack's inline errors, nothing saved.
    let mut bad = values;
    bad[MAX_DEALS_BLOCK][VALUE_ACTION]["value"] = json!("500");
    let (_, ack) = app
        .interact(&view_submission("UREP0", "settings_modal", "", bad))
        .await;
    assert_eq!(ack["response_action"], "errors", "{ack}");
    assert!(ack["errors"][MAX_DEALS_BLOCK].is_string());
}

#[tokio::test]
async fn view_deal_opens_the_details_modal_and_share_and_pick_answer_through_response_url() {
    let app = SlackApp::spawn().await;
    let (status, _) = app
        .interact(&block_actions(
            "UREP0",
            "deal_view",
            &app.acme,
            Some("1700000000.000001"),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.wait_for("views.update", 1).await;
    let details = &app.fake.calls_to("views.update")[0].body["view"];
    assert!(details.to_string().contains("Acme Rockets"));
    assert!(details.to_string().contains("Open in Salesforce"));

    let mut share = block_actions("UREP0", "deal_share", &app.acme, Some("1700000000.000002"));
    share["response_url"] = json!(app.response_url("share1"));
    app.interact(&share).await;
    let mut pick = block_actions(
        "UREP0",
        "deal_pick",
        &app.acme_labs,
        Some("1700000000.000003"),
    );
    pick["response_url"] = json!(app.response_url("pick1"));
    app.interact(&pick).await;
    for _ in 0..200 {
        if !app.fake.responses("share1").is_empty() && !app.fake.responses("pick1").is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let shared = &app.fake.responses("share1")[0];
    assert_eq!(shared["response_type"], "in_channel");
    assert!(shared.to_string().contains("Acme Rockets"));
    let picked = &app.fake.responses("pick1")[0];
    assert_eq!(picked["replace_original"], true);
    assert!(picked.to_string().contains("Acme Labs"));
    // Someone else's deal through a forged button value: refused.
    let mut forged = block_actions(
        "UREP0",
        "deal_share",
        &app.globex,
        Some("1700000000.000004"),
    );
    forged["response_url"] = json!(app.response_url("forged"));
    app.interact(&forged).await;
    for _ in 0..200 {
        if !app.fake.responses("forged").is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let r = &app.fake.responses("forged")[0];
    assert!(r.to_string().contains("can't find the deal") && !r.to_string().contains("Globex"));
}

#[tokio::test]
async fn snooze_twice_or_by_two_people_stores_one_snooze_and_updates_the_message() {
    let app = SlackApp::spawn().await;
    let ts = post_alert(&app, &app.acme).await;
    let (status, _) = app
        .interact(&block_actions("UREP0", "deal_snooze", &app.acme, Some(&ts)))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.wait_for("views.open", 1).await;
    let modal = app.fake.calls_to("views.open")[0].body["view"].clone();
    assert_eq!(modal["callback_id"], "snooze_modal");
    let meta = modal["private_metadata"].as_str().unwrap().to_string();
    let values = |days: &str| json!({"snooze_for": {"snooze_for": {"type": "static_select", "selected_option": {"value": days}}}});
    let (status, ack) = app
        .interact(&view_submission(
            "UREP0",
            "snooze_modal",
            &meta,
            values("3"),
        ))
        .await;
    assert_eq!((status, ack), (StatusCode::OK, Value::Null));
    // Double submit and a second person (the manager) on the same alert.
    app.interact(&view_submission(
        "UREP0",
        "snooze_modal",
        &meta,
        values("3"),
    ))
    .await;
    app.interact(&view_submission("UMGR", "snooze_modal", &meta, values("7")))
        .await;
    assert_eq!(
        app.store
            .count_deal_rows_for_tests(&tenant(), "snoozes", &app.acme)
            .await
            .unwrap(),
        1
    );
    app.wait_for("chat.update", 3).await;
    let msg = app.fake.message("D0DM", &ts).unwrap();
    let s = msg.to_string();
    assert!(
        s.contains("Snoozed by Rita Rep until"),
        "first snoozer stands: {s}"
    );
    // Missing choice → inline error, nothing stored for another deal.
    let (_, ack) = app
        .interact(&view_submission("UREP0", "snooze_modal", &meta, json!({})))
        .await;
    assert_eq!(ack["response_action"], "errors");
    let actions = app.audit_actions().await;
    assert!(actions.contains(&"slack.deal.snooze".to_string()));
    assert!(actions.contains(&"slack.button.deal_snooze".to_string()));
}

#[tokio::test]
async fn false_alarm_clicked_twice_stores_one_feedback_row_with_the_reason() {
    let app = SlackApp::spawn().await;
    let ts = post_alert(&app, &app.acme).await;
    app.interact(&block_actions(
        "UREP0",
        "deal_false_alarm",
        &app.acme,
        Some(&ts),
    ))
    .await;
    app.wait_for("views.open", 1).await;
    let modal = app.fake.calls_to("views.open")[0].body["view"].clone();
    assert_eq!(modal["callback_id"], "false_alarm_modal");
    let meta = modal["private_metadata"].as_str().unwrap().to_string();
    let values = json!({"false_alarm_reason": {"reason": {"type": "plain_text_input", "value": "Signed last week"}}});
    // Two concurrent submissions (double click) and one by the manager.
    let p1 = view_submission("UREP0", "false_alarm_modal", &meta, values.clone());
    let p2 = p1.clone();
    let p3 = view_submission("UMGR", "false_alarm_modal", &meta, json!({}));
    let (a, b, c) = tokio::join!(app.interact(&p1), app.interact(&p2), app.interact(&p3));
    assert_eq!(
        (a.0, b.0, c.0),
        (StatusCode::OK, StatusCode::OK, StatusCode::OK)
    );
    assert_eq!(
        app.store
            .count_deal_rows_for_tests(&tenant(), "feedback", &app.acme)
            .await
            .unwrap(),
        1
    );
    app.wait_for("chat.update", 1).await;
    let s = app.fake.message("D0DM", &ts).unwrap().to_string();
    assert!(s.contains("Marked as a false alarm by"), "{s}");
}

#[tokio::test]
async fn a_rate_limited_slack_call_inside_a_click_is_retried_after_retry_after() {
    let app = SlackApp::spawn().await;
    let ts = post_alert(&app, &app.acme).await;
    app.command("UREP0", "top").await; // maps the user first (users.info)
    // The bot's own calls: views.open answers 429 once, then succeeds on the retry.
    app.fake.faults().next(
        1,
        skygeni_fakes::Fault::RateLimited {
            retry_after_secs: 1,
        },
    );
    let (status, _) = app
        .interact(&block_actions("UREP0", "deal_snooze", &app.acme, Some(&ts)))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.wait_for("views.open", 1).await;
    let opens = app.fake.calls_to("views.open");
    assert_eq!(opens.len(), 2);
    assert_eq!(opens[0].outcome, "http_429");
    assert_eq!(opens[1].outcome, "ok");
}
