//! `/deal-risk`: help and usage, deal lookup and its card, scoping by role, unmapped users, and a
//! slow lookup finished through `response_url`.
use crate::support::{SIGNING_SECRET, SlackApp};
use chrono::Utc;
use reqwest::StatusCode;
use serde_json::Value;

fn text_of(v: &Value) -> String {
    v.to_string()
}

#[tokio::test]
async fn help_unknown_and_bad_arguments_answer_with_usage() {
    let app = SlackApp::spawn().await;
    for text in ["help", "", "?!"] {
        let (status, v) = app.command("UREP0", text).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(v["response_type"], "ephemeral");
        assert!(text_of(&v).contains("/deal-risk top"), "{text:?}: {v}");
    }
    let (_, v) = app.command("UREP0", "top 99").await;
    assert!(
        text_of(&v).contains("`top` takes a number from 1 to 25"),
        "{v}"
    );
}

#[tokio::test]
async fn a_deal_lookup_shows_the_card_and_maps_the_user_once_by_email() {
    let app = SlackApp::spawn().await;
    let (status, v) = app.command("UREP0", "acme rockets").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["response_type"], "ephemeral");
    let s = text_of(&v);
    assert!(s.contains("Acme Rockets"), "{v}");
    assert!(s.contains("/100"), "score shown: {v}");
    assert!(v["attachments"][0]["color"].is_string(), "category colour");
    assert!(
        s.contains(&format!(
            "https://acme.my.salesforce.com/lightning/r/Opportunity/{}/view",
            app.acme
        )),
        "deep link: {v}"
    );
    assert_eq!(app.fake.count("users.info"), 1);
    // Mapped and cached: the next command needs no Slack lookup.
    let (_, v) = app.command("UREP0", &app.acme.clone()).await;
    assert!(text_of(&v).contains("Acme Rockets"));
    assert_eq!(app.fake.count("users.info"), 1);
    // Several matches → a pick list.
    let (_, v) = app.command("UREP0", "acme").await;
    let s = text_of(&v);
    assert!(
        s.contains("2 deals match") && s.contains("Acme Labs"),
        "{v}"
    );
    assert!(s.contains("deal_pick"));
    // Nothing matches.
    let (_, v) = app.command("UREP0", "initech").await;
    assert!(!text_of(&v).contains("Acme"));
    let actions = app.audit_actions().await;
    assert!(
        actions.contains(&"slack.deal.view".to_string()),
        "{actions:?}"
    );
    assert!(actions.contains(&"slack.command.lookup".to_string()));
}

#[tokio::test]
async fn the_deal_card_shows_relative_risk_and_the_low_skill_line() {
    // The app has no trained model: scores are segment rates, which is low skill by definition.
    let app = SlackApp::spawn().await;
    let (status, v) = app.command("UREP0", "acme rockets").await;
    assert_eq!(status, StatusCode::OK);
    let blocks = v["attachments"][0]["blocks"]
        .as_array()
        .expect("card blocks");
    let standing = blocks[2]["text"]["text"].as_str().unwrap_or_default();
    assert!(
        standing.contains("*Relative risk:* riskier than ")
            && standing.contains("% of your open deals;")
            && standing.contains("usual loss rate"),
        "next to the score: {v}"
    );
    assert!(
        standing.contains(skygeni::engine::LOW_SKILL_LINE),
        "low skill said: {v}"
    );
}

#[tokio::test]
async fn another_teams_deal_is_answered_exactly_like_a_deal_that_does_not_exist() {
    let app = SlackApp::spawn().await;
    let (_, theirs) = app.command("UREP0", &app.globex).await;
    let (_, missing) = app.command("UREP0", "D999999").await;
    let s = text_of(&theirs);
    assert!(s.contains("No open deal matches"), "{theirs}");
    assert!(
        !s.contains("Globex"),
        "nothing about the deal leaks: {theirs}"
    );
    assert_eq!(
        text_of(&theirs).replace(&app.globex, "Q"),
        text_of(&missing).replace("D999999", "Q"),
        "not-yours and does-not-exist read the same"
    );
    let (_, v) = app.command("UREP0", "acme\u{0}rockets").await;
    assert!(text_of(&v).contains("control characters"), "{v}");
    // The admin sees it.
    let (_, v) = app.command("UADMIN", "globex").await;
    assert!(text_of(&v).contains("Globex Widgets"));
    assert!(
        app.audit_actions()
            .await
            .contains(&"slack.deal.access_denied".to_string())
    );
}

#[tokio::test]
async fn top_pipeline_and_rep_are_scoped_by_role() {
    let app = SlackApp::spawn().await;
    let (_, v) = app.command("UREP0", "top 25").await;
    let s = text_of(&v);
    assert!(s.contains("Acme"), "{v}");
    assert!(!s.contains("Globex"), "a rep sees only their deals");
    let (_, v) = app.command("UADMIN", "top 25").await;
    assert_eq!(v["response_type"], "ephemeral");
    assert!(v["blocks"].as_array().is_some_and(|b| !b.is_empty()));
    let (_, v) = app.command("UMGR", "pipeline").await;
    assert_eq!(v["response_type"], "ephemeral");
    assert!(
        text_of(&v).contains("RAPV") || text_of(&v).contains("risk-adjusted"),
        "{v}"
    );
    // rep: managers only, and only their team.
    let (_, v) = app.command("UMGR", "rep <@UREP0|rita>").await;
    let s = text_of(&v);
    assert!(
        s.contains("Portfolio: Rita Rep") && s.contains("Acme"),
        "{v}"
    );
    let (_, v) = app.command("UMGR", "rep <@UREP5|omar>").await;
    assert!(text_of(&v).contains("isn't on your team"), "{v}");
    let (_, v) = app.command("UREP0", "rep <@UREP5|omar>").await;
    assert!(text_of(&v).contains("is for managers"), "{v}");
}

#[tokio::test]
async fn unmapped_users_are_told_how_to_link() {
    let app = SlackApp::spawn().await;
    let (_, v) = app.command("USTRANGER", "top").await;
    let s = text_of(&v);
    assert!(
        s.contains("/deal-risk link") && s.contains("stranger@elsewhere.test"),
        "{v}"
    );
    let (_, v) = app.command("USTRANGER", "link nobody@acme.test").await;
    assert!(text_of(&v).contains("No SkyGeni user has the email"), "{v}");
}

#[tokio::test]
async fn a_slow_lookup_is_acknowledged_and_finished_through_response_url() {
    let app = SlackApp::spawn().await;
    // Learn the single workspace's team first (auth.test), so the delay hits users.info.
    app.command("UREP0", "help").await;
    // users.info takes 2.5 s: beyond the inline budget.
    app.fake.faults().next(
        1,
        skygeni_fakes::Fault::Delay(std::time::Duration::from_millis(2500)),
    );
    let (body, rid) = app.command_body("UREP0", "acme rockets");
    let r = app
        .post_signed(
            "/slack/commands",
            &body,
            "application/x-www-form-urlencoded",
            SIGNING_SECRET,
            Utc::now().timestamp(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let ack: Value = r.json().await.unwrap();
    assert_eq!(ack["text"], "Working on it…");
    for _ in 0..200 {
        if !app.fake.responses(&rid).is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let late = &app.fake.responses(&rid)[0];
    assert_eq!(late["response_type"], "ephemeral");
    assert!(late.to_string().contains("Acme Rockets"));
}
