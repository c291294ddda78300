//! `/deal-risk link`: a stranger cannot take over a SkyGeni user by typing its email. Linking
//! needs Slack's own report of the caller's email, or the one-time code mailed to the address.
use crate::support::SlackApp;
use serde_json::Value;
use skygeni::domain::TenantId;

fn text(v: &Value) -> String {
    v.to_string()
}

/// The code from the newest confirmation email queued for `user_id`.
async fn mailed_code(app: &SlackApp, user_id: &str) -> Option<String> {
    let rows = app
        .store
        .outbox_rows(&TenantId::default_tenant())
        .await
        .unwrap();
    let row = rows
        .iter()
        .filter(|r| r.kind == "slack_link_code" && r.recipient == user_id)
        .max_by_key(|r| r.created_at.clone())?;
    assert_eq!(row.channel, "email");
    let payload: Value = serde_json::from_str(&row.payload).unwrap();
    let body = payload["text"].as_str()?;
    let at = body.find("link confirm ")? + "link confirm ".len();
    Some(body[at..at + 9].to_string())
}

async fn slack_id_of(app: &SlackApp, user_id: &str) -> Option<String> {
    app.store
        .slack_id_of(&TenantId::default_tenant(), user_id)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_strangers_link_changes_nothing_until_the_mailed_code_is_confirmed() {
    let app = SlackApp::spawn().await;
    // USTRANGER's Slack profile says stranger@elsewhere.test; it asks for the admin's account,
    // in both forms Slack may send.
    for form in [
        "link admin@acme.test",
        "link <mailto:admin@acme.test|admin@acme.test>",
    ] {
        let (_, v) = app.command("USTRANGER", form).await;
        assert!(text(&v).contains("emailed a confirmation code"), "{v}");
    }
    assert_eq!(slack_id_of(&app, "boss").await, None, "nothing changed");
    let (_, v) = app.command("USTRANGER", "top").await;
    assert!(text(&v).contains("/deal-risk link"), "still unmapped: {v}");
    // Wrong codes are refused (and audited); the real one is in the admin's mailbox only.
    let (_, v) = app.command("USTRANGER", "link confirm ZZZZ-ZZZZ").await;
    assert!(text(&v).contains("wrong, already used or expired"), "{v}");
    assert_eq!(slack_id_of(&app, "boss").await, None);
    // Someone else cannot use the code sent for USTRANGER's request.
    let code = mailed_code(&app, "boss").await.expect("a code was mailed");
    let (_, v) = app.command("UREP5", &format!("link confirm {code}")).await;
    assert!(text(&v).contains("wrong, already used or expired"), "{v}");
    let actions = app.audit_actions().await;
    assert!(
        actions.iter().any(|a| a == "slack.link.code_sent"),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|a| a == "slack.link.refused"),
        "{actions:?}"
    );
    assert!(!actions.iter().any(|a| a == "slack.link"), "{actions:?}");
}

#[tokio::test]
async fn a_confirmed_code_links_once_and_a_linked_user_is_never_re_pointed() {
    let app = SlackApp::spawn().await;
    let (_, v) = app.command("USTRANGER", "link rep9@acme.test").await;
    assert!(text(&v).contains("emailed a confirmation code"), "{v}");
    let code = mailed_code(&app, "rep_9").await.unwrap();
    let (_, v) = app
        .command(
            "USTRANGER",
            &format!("link confirm {}", code.to_lowercase()),
        )
        .await;
    assert!(text(&v).contains("Linked"), "{v}");
    assert_eq!(
        slack_id_of(&app, "rep_9").await.as_deref(),
        Some("USTRANGER")
    );
    // Single use.
    let (_, v) = app
        .command("USTRANGER", &format!("link confirm {code}"))
        .await;
    assert!(text(&v).contains("wrong, already used or expired"), "{v}");
    // Another Slack user asking for rep9@ now is refused outright, no code is sent.
    let (_, v) = app.command("UREP5", "link rep9@acme.test").await;
    assert!(
        text(&v).contains("already linked to another Slack account"),
        "{v}"
    );
    assert_eq!(
        slack_id_of(&app, "rep_9").await.as_deref(),
        Some("USTRANGER")
    );
    // Only the admin unlink frees it.
    let freed = app
        .store
        .unlink_slack_user(&TenantId::default_tenant(), "rep9@acme.test")
        .await
        .unwrap();
    assert_eq!(freed, Some(("rep_9".to_string(), "USTRANGER".to_string())));
    assert_eq!(slack_id_of(&app, "rep_9").await, None);
    let actions = app.audit_actions().await;
    assert!(actions.iter().any(|a| a == "slack.link"), "{actions:?}");
}

#[tokio::test]
async fn an_email_slack_reports_for_the_caller_links_at_once() {
    let app = SlackApp::spawn().await;
    // UMGR's Slack profile (users.info) says mgr@acme.test.
    let (_, v) = app
        .command("UMGR", "link <mailto:MGR@acme.test|MGR@acme.test>")
        .await;
    assert!(text(&v).contains("Linked"), "{v}");
    assert_eq!(slack_id_of(&app, "mgr").await.as_deref(), Some("UMGR"));
    assert!(mailed_code(&app, "mgr").await.is_none(), "no code needed");
    // users.info went out as Slack reads it: a form/query argument, not a JSON body.
    let call = app.fake.calls_to("users.info").pop().unwrap();
    assert_eq!(call.outcome, "ok");
}
