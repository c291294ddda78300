//! Issue 16 in Slack: an admin sets the tenant's band edges and alert budget in the settings
//! form (nobody else can), the next card uses them at once; and relative risk with the
//! low-skill line shows wherever Slack shows a score — the card redrawn after Snooze or Mark
//! false alarm, App Home, and the manager's Slack digest.
use super::post_alert;
use crate::support::{SlackApp, block_actions, tenant, view_submission};
use reqwest::StatusCode;
use serde_json::{Value, json};
use skygeni::domain::RiskBands;
use skygeni::engine::LOW_SKILL_LINE;
use skygeni::notify::planner::AlertPolicy;
use skygeni::slack::blocks::settings::*;
use skygeni::store::RiskSettingsRow;

/// A settings submission with every personal field filled; `risk` adds the admin fields.
fn settings_values(risk: Option<(&str, &str)>) -> Value {
    let mut v = json!({
        ALERTS_BLOCK: {VALUE_ACTION: {"type": "radio_buttons", "selected_option": {"value": "on"}}},
        CHANNELS_BLOCK: {VALUE_ACTION: {"type": "checkboxes", "selected_options": [{"value": "slack"}]}},
        DIGEST_TIME_BLOCK: {VALUE_ACTION: {"type": "timepicker", "selected_time": "08:00"}},
        TIME_ZONE_BLOCK: {VALUE_ACTION: {"type": "static_select", "selected_option": {"value": "UTC"}}},
        QUIET_FROM_BLOCK: {VALUE_ACTION: {"type": "timepicker", "selected_time": null}},
        QUIET_UNTIL_BLOCK: {VALUE_ACTION: {"type": "timepicker", "selected_time": null}},
        MAX_DEALS_BLOCK: {VALUE_ACTION: {"type": "number_input", "value": "10"}},
    });
    if let Some((bands, per_day)) = risk {
        v[BANDS_BLOCK] = json!({VALUE_ACTION: {"type": "plain_text_input", "value": bands}});
        v[ALERT_BUDGET_BLOCK] = json!({VALUE_ACTION: {"type": "number_input", "value": per_day}});
    }
    v
}

/// The score and category the card of `/deal-risk <query>` shows ("57/100 (high)").
async fn card_score(app: &SlackApp, query: &str) -> (u8, String) {
    let (status, v) = app.command("UREP0", query).await;
    assert_eq!(status, StatusCode::OK);
    let fields = v["attachments"][0]["blocks"][1]["fields"].to_string();
    let at = fields.find("*Risk score*\\n").expect("score field") + "*Risk score*\\n".len();
    let rest = &fields[at..];
    let (score, rest) = rest.split_once("/100 (").unwrap();
    let category = rest.split(')').next().unwrap();
    (score.parse().unwrap(), category.to_string())
}

#[tokio::test]
async fn an_admins_settings_form_sets_the_bands_and_the_next_card_uses_them() {
    let app = SlackApp::spawn().await;
    // The admin's form carries the tenant's current edges and budget; a rep's does not.
    app.command("UADMIN", "settings").await;
    app.wait_for("views.update", 1).await;
    app.command("UREP0", "settings").await;
    app.wait_for("views.update", 2).await;
    let forms: Vec<Value> = app
        .fake
        .calls_to("views.update")
        .iter()
        .map(|c| c.body["view"].clone())
        .collect();
    let admin_form = forms
        .iter()
        .find(|f| f.to_string().contains(BANDS_BLOCK))
        .expect("the admin's form has the band field");
    let bands_input = admin_form["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block_id"] == BANDS_BLOCK)
        .unwrap();
    assert_eq!(bands_input["element"]["initial_value"], "25,50,75");
    assert_eq!(
        forms
            .iter()
            .filter(|f| f.to_string().contains(BANDS_BLOCK))
            .count(),
        1,
        "the rep's form has no band fields"
    );

    let (score, category) = card_score(&app, "acme rockets").await;
    assert_eq!(category, RiskBands::default().category(score).as_str());
    let (status, ack) = app
        .interact(&view_submission(
            "UADMIN",
            "settings_modal",
            "",
            settings_values(Some(("5,10,15", "7"))),
        ))
        .await;
    assert_eq!((status, &ack), (StatusCode::OK, &Value::Null), "{ack}");
    assert_eq!(
        app.store.risk_settings(&tenant()).await.unwrap(),
        Some(RiskSettingsRow {
            low_max: 5,
            medium_max: 10,
            high_max: 15,
            alerts_per_day: 7
        })
    );
    // The card was drawn (and the standing cached) a moment ago: the new edges apply anyway.
    let want = RiskBands::new(5, 10, 15).unwrap().category(score);
    assert_ne!(want, RiskBands::default().category(score), "score {score}");
    let (again, category) = card_score(&app, "acme rockets").await;
    assert_eq!((again, category.as_str()), (score, want.as_str()));
    let actions = app.audit_actions().await;
    assert!(
        actions.contains(&"slack.settings.risk".to_string()),
        "{actions:?}"
    );

    // Bad edges: Slack's inline error on the field, nothing saved.
    let (_, ack) = app
        .interact(&view_submission(
            "UADMIN",
            "settings_modal",
            "",
            settings_values(Some(("50,40,90", "7"))),
        ))
        .await;
    assert_eq!(ack["response_action"], "errors", "{ack}");
    assert!(
        ack["errors"][BANDS_BLOCK]
            .as_str()
            .is_some_and(|m| m.contains("band edges must rise")),
        "{ack}"
    );
    assert_eq!(
        app.store
            .risk_settings(&tenant())
            .await
            .unwrap()
            .map(|r| r.high_max),
        Some(15)
    );
}

#[tokio::test]
async fn a_non_admin_submitting_band_edges_is_refused_and_nothing_is_saved() {
    let app = SlackApp::spawn().await;
    for user in ["UREP0", "UMGR"] {
        let (status, ack) = app
            .interact(&view_submission(
                user,
                "settings_modal",
                "",
                settings_values(Some(("40,70,90", "3"))),
            ))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ack["response_action"], "errors", "{user}: {ack}");
        assert!(
            ack["errors"][BANDS_BLOCK]
                .as_str()
                .is_some_and(|m| m.contains("Only admins")),
            "{user}: {ack}"
        );
    }
    assert_eq!(app.store.risk_settings(&tenant()).await.unwrap(), None);
    assert_eq!(
        app.store
            .get_alert_settings(&tenant(), "rep_0")
            .await
            .unwrap(),
        None,
        "a refused form saves nothing, not even the personal part"
    );
    let actions = app.audit_actions().await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "slack.settings.risk_denied")
            .count(),
        2
    );
}

/// The relative-risk and low-skill lines of a redrawn card (the section under the score).
fn assert_standing_in(msg: &Value) {
    let blocks = msg["attachments"][0]["blocks"]
        .as_array()
        .expect("card blocks");
    let standing = blocks[2]["text"]["text"].as_str().unwrap_or_default();
    assert!(
        standing.starts_with("*Relative risk:* riskier than ")
            && standing.contains("% of your open deals;")
            && standing.contains(LOW_SKILL_LINE),
        "{msg}"
    );
}

#[tokio::test]
async fn the_card_redrawn_after_snooze_or_false_alarm_keeps_its_relative_risk() {
    let app = SlackApp::spawn().await;
    let snoozed = post_alert(&app, &app.acme).await;
    let flagged = post_alert(&app, &app.acme_labs).await;
    app.interact(&block_actions(
        "UREP0",
        "deal_snooze",
        &app.acme,
        Some(&snoozed),
    ))
    .await;
    app.interact(&block_actions(
        "UREP0",
        "deal_false_alarm",
        &app.acme_labs,
        Some(&flagged),
    ))
    .await;
    app.wait_for("views.open", 2).await;
    let modals: Vec<Value> = app
        .fake
        .calls_to("views.open")
        .iter()
        .map(|c| c.body["view"].clone())
        .collect();
    let meta = |callback: &str| {
        modals
            .iter()
            .find(|m| m["callback_id"] == callback)
            .unwrap()["private_metadata"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let snooze = json!({"snooze_for": {"snooze_for": {"type": "radio_buttons", "selected_option": {"value": "1"}}}});
    let (_, ack) = app
        .interact(&view_submission(
            "UREP0",
            "snooze_modal",
            &meta("snooze_modal"),
            snooze,
        ))
        .await;
    assert_eq!(ack, Value::Null);
    let (_, ack) = app
        .interact(&view_submission(
            "UREP0",
            "false_alarm_modal",
            &meta("false_alarm_modal"),
            json!({}),
        ))
        .await;
    assert_eq!(ack, Value::Null);
    app.wait_for("chat.update", 2).await;
    let snoozed_msg = app.fake.message("D0DM", &snoozed).unwrap();
    assert!(snoozed_msg.to_string().contains("Snoozed by Rita Rep"));
    assert_standing_in(&snoozed_msg);
    let flagged_msg = app.fake.message("D0DM", &flagged).unwrap();
    assert!(
        flagged_msg
            .to_string()
            .contains("Marked as a false alarm by")
    );
    assert_standing_in(&flagged_msg);
}

#[tokio::test]
async fn app_home_says_where_each_listed_deal_stands_and_that_skill_is_low() {
    let app = SlackApp::spawn().await;
    app.event(
        &json!({"type": "event_callback", "team_id": "T0FAKE", "api_app_id": "A0FAKE",
        "event_id": "EvHome", "event_time": 1700000000,
        "event": {"type": "app_home_opened", "user": "UMGR", "channel": "D0MGR", "tab": "home"}}),
    )
    .await;
    app.wait_for("views.publish", 1).await;
    let view = app.fake.calls_to("views.publish")[0].body["view"].clone();
    let blocks = view["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 100);
    let rows: Vec<&str> = blocks
        .windows(2)
        .filter(|w| {
            w[1]["block_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("home_deal:"))
        })
        .map(|w| w[0]["text"]["text"].as_str().unwrap())
        .collect();
    assert!(!rows.is_empty(), "{view}");
    for row in &rows {
        assert!(
            row.contains("_Relative risk: riskier than ") && row.contains("usual loss rate_"),
            "{row}"
        );
    }
    assert_eq!(
        view.to_string().matches(LOW_SKILL_LINE).count(),
        1,
        "{view}"
    );
    let _: slack_morphism::prelude::SlackView = serde_json::from_value(view).unwrap();
}

#[tokio::test]
async fn the_slack_digest_gives_each_deal_the_same_relative_risk_as_the_email() {
    use crate::support::{TestDb, add_user, fakes_and_dispatcher, links, score, utc};
    use skygeni::domain::Deal;
    use skygeni::jobs::scheduler::{JobKind, Scheduler, SchedulerConfig};
    use skygeni::notify::dispatcher::DispatchConfig;

    let db = TestDb::new().await;
    let store = db.store().await;
    let t = tenant();
    add_user(&store, &t, "mgr", "manager", None).await;
    add_user(&store, &t, "rep", "rep", Some("mgr")).await;
    store
        .set_user_delivery(&t, "mgr", Some("UMGR1"), "UTC")
        .await
        .unwrap();
    let deals: Vec<Deal> = ["Acme Corp", "Beta Inc", "Gamma Ltd"]
        .iter()
        .enumerate()
        .map(|(i, company)| {
            let mut d = Deal::example(&format!("D{i}"));
            d.sales_rep_id = "rep".into();
            d.company = Some(company.to_string());
            d
        })
        .collect();
    store.upsert_deals(&t, &deals, &mut |_| {}).await.unwrap();
    store
        .record_scores(
            &t,
            utc("2024-02-29T00:00:00Z"),
            &[score("D0", 62), score("D1", 70), score("D2", 81)],
            &AlertPolicy::default(),
            &mut |_| {},
        )
        .await
        .unwrap();
    let scheduler = Scheduler::new(
        store.clone(),
        SchedulerConfig::new(vec![JobKind::Digest]),
        links(),
        None,
    )
    .unwrap();
    let ran = scheduler
        .run_once(utc("2024-03-01T08:00:00Z"))
        .await
        .unwrap();
    assert!(ran.iter().any(|r| r.job == "digest:mgr" && r.ok), "{ran:?}");
    let (slack, sendgrid, dispatcher) =
        fakes_and_dispatcher(&store, DispatchConfig::default(), &["UMGR1"]).await;
    dispatcher
        .run_once(utc("2024-03-01T08:01:00Z"))
        .await
        .unwrap();

    // The manager also gets the critical alert for Gamma (81); the digest is the other DM.
    let posted: Vec<Value> = slack
        .calls_to("chat.postMessage")
        .into_iter()
        .map(|c| c.body)
        .filter(|b| b.to_string().contains("Daily deal-risk digest"))
        .collect();
    assert_eq!(posted.len(), 1, "one Slack digest");
    let blocks = posted[0]["blocks"]
        .as_array()
        .expect("digest blocks")
        .clone();
    let rows: Vec<String> = blocks
        .iter()
        .filter(|b| b["accessory"]["action_id"] == "deal_view")
        .map(|b| b["text"]["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(rows.len(), 3, "{blocks:?}");
    let emails = sendgrid.sent();
    let digest_email = emails
        .iter()
        .find(|m| m.subject.contains("Daily Pipeline Health Report"))
        .expect("the digest email");
    let email_text = digest_email.text.as_deref().unwrap();
    for row in &rows {
        let sentence = row
            .split("_Relative risk: ")
            .nth(1)
            .and_then(|r| r.split('_').next())
            .unwrap_or_else(|| panic!("no relative risk in {row}"));
        assert!(sentence.starts_with("riskier than "), "{row}");
        assert!(
            email_text.contains(sentence),
            "the email says the same: {sentence} / {email_text}"
        );
    }
    // The riskiest deal is listed first and stands highest in the team's pipeline.
    assert!(
        rows[0].contains("Gamma Ltd") && rows[0].contains("riskier than 83 %"),
        "{rows:?}"
    );
    let all = posted[0].to_string();
    assert_eq!(all.matches(LOW_SKILL_LINE).count(), 1, "{all}");
}
