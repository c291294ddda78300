//! Events API deliveries as Slack really sends them: org-wide (Enterprise Grid) envelopes
//! without a top-level `team_id`, redelivered `event_id`s, and revocations of the
//! single-workspace token.
use crate::support::SlackApp;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// An org-wide delivery: no top-level team_id, `authorizations[].team_id: null`.
fn grid(event_id: &str, event: Value) -> Value {
    json!({"type": "event_callback", "enterprise_id": "E0ORG", "api_app_id": "A0FAKE",
           "event_id": event_id, "event_time": 1700000000, "is_ext_shared_channel": false,
           "authorizations": [{"enterprise_id": "E0ORG", "team_id": null, "user_id": "UBOT",
                               "is_bot": true, "is_enterprise_install": true}],
           "event": event})
}

#[tokio::test]
async fn org_wide_envelopes_are_accepted_and_a_redelivered_event_is_handled_once() {
    let app = SlackApp::spawn().await;
    // The Home view in the event names the workspace.
    let home = grid(
        "EvGrid1",
        json!({"type": "app_home_opened", "user": "UMGR", "channel": "D0MGR", "tab": "home",
               "view": {"id": "VHOME", "team_id": "T0FAKE", "type": "home"}}),
    );
    let (status, _) = app.event(&home).await;
    assert_eq!(status, StatusCode::OK);
    app.wait_for("views.publish", 1).await;
    // Slack retries the same event_id (e.g. after a slow ack): acknowledged, not redone.
    let (status, _) = app.event(&home).await;
    assert_eq!(status, StatusCode::OK);
    // An envelope naming no workspace at all is still acknowledged.
    let (status, _) = app
        .event(&grid(
            "EvGrid2",
            json!({"type": "app_home_opened", "user": "UMGR", "tab": "home"}),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(app.fake.count("views.publish"), 1, "handled once");
}

#[tokio::test]
async fn a_revoked_single_workspace_token_is_not_used_again() {
    let app = SlackApp::spawn().await;
    let (_, v) = app.command("UREP0", "top").await;
    assert!(v.to_string().contains("riskiest"), "{v}");
    let (status, _) = app
        .event(
            &json!({"type": "event_callback", "team_id": "T0FAKE", "api_app_id": "A0FAKE",
            "event_id": "EvRevoke", "event_time": 1700000000,
            "event": {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["UBOT"]}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, v) = app.command("UREP0", "top").await;
    assert!(v.to_string().contains("isn't connected"), "{v}");
    assert!(
        app.audit_actions()
            .await
            .contains(&"slack.workspace.tokens_revoked".to_string())
    );
}

#[tokio::test]
async fn an_org_wide_app_uninstalled_stops_the_single_workspace_token() {
    let app = SlackApp::spawn().await;
    let (status, _) = app
        .event(&grid("EvUninstall", json!({"type": "app_uninstalled"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, v) = app.command("UREP0", "top").await;
    assert!(v.to_string().contains("isn't connected"), "{v}");
}
