//! App Home: published when opened and by the nightly's `publish_home`; a manager's team view, an
//! admin's charts.
use crate::support::{SlackApp, TEAM, tenant};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn app_home_is_published_on_open_and_by_publish_home() {
    let app = SlackApp::spawn().await;
    let (status, _) = app
        .event(&json!({"type": "event_callback", "team_id": TEAM, "api_app_id": "A0FAKE",
            "event_id": "Ev1", "event_time": 1700000000,
            "event": {"type": "app_home_opened", "user": "UMGR", "channel": "D0MGR", "tab": "home"}}))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.wait_for("views.publish", 1).await;
    let call = &app.fake.calls_to("views.publish")[0];
    assert_eq!(call.body["user_id"], "UMGR");
    let view = call.body["view"].clone();
    assert_eq!(view["type"], "home");
    assert!(view["blocks"].as_array().unwrap().len() <= 100);
    let s = view.to_string();
    assert!(
        s.contains("Your team") && s.contains("win rate"),
        "manager comparison: {s}"
    );
    let _: slack_morphism::prelude::SlackView = serde_json::from_value(view).unwrap();
    // The nightly job's entry point.
    let published = skygeni::slack::handlers::app_home::publish_home(&app.state, &tenant(), "mgr")
        .await
        .unwrap();
    assert!(published);
    assert_eq!(app.fake.count_ok("views.publish"), 2);
    // A manager's Home has no tenant-wide charts; an admin's carries two signed chart images.
    assert!(!s.contains("/charts/"), "{s}");
    app.event(
        &json!({"type": "event_callback", "team_id": TEAM, "api_app_id": "A0FAKE",
        "event_id": "Ev2", "event_time": 1700000001,
        "event": {"type": "app_home_opened", "user": "UADMIN", "channel": "D0ADM", "tab": "home"}}),
    )
    .await;
    app.wait_for("views.publish", 3).await;
    let admin_view = app.fake.calls_to("views.publish")[2].body["view"].clone();
    let images: Vec<&serde_json::Value> = admin_view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "image")
        .collect();
    assert_eq!(images.len(), 2, "{admin_view}");
    assert!(
        images
            .iter()
            .all(|b| b["image_url"].as_str().unwrap().contains("/charts/")),
        "{images:?}"
    );
    let _: slack_morphism::prelude::SlackView = serde_json::from_value(admin_view).unwrap();
    assert!(
        !skygeni::slack::handlers::app_home::publish_home(&app.state, &tenant(), "rep_9")
            .await
            .unwrap(),
        "not mapped to Slack: nothing to publish"
    );
}
