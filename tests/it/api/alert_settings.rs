//! `POST /v1/alerts/configure`: validated field by field, upserted for the caller.
use super::assert_error;
use crate::support::TestApp;
use reqwest::StatusCode;
use serde_json::json;
use skygeni::auth::Role;
use skygeni::domain::TenantId;
use skygeni::domain::alert_settings::format_hhmm;

#[tokio::test]
async fn alert_settings_are_validated_and_upserted_for_the_caller() {
    let app = TestApp::spawn().await;
    let tok = app.token("default", Role::Rep, "rep_7");
    let (s, body, _) = app
        .post(
            "/v1/alerts/configure",
            &tok,
            &json!({
                "critical_deals": {"threshold": 70, "channels": ["slack"]},
                "daily_digest": {"timezone": "Asia/Kolkata", "time": "08:30"}
            }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        (body["user_id"].as_str(), body["settings_updated"].as_bool()),
        (Some("rep_7"), Some(true))
    );
    assert!(
        body["effective_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{body}"
    );
    let (s, _, _) = app
        .post(
            "/v1/alerts/configure",
            &tok,
            &json!({"critical_deals": {"threshold": 80}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let stored = app
        .store
        .get_alert_settings(&TenantId::default_tenant(), "rep_7")
        .await
        .unwrap()
        .expect("settings stored for the caller");
    assert_eq!(
        (
            stored.time_zone.name(),
            format_hhmm(stored.digest_time),
            stored.threshold,
            stored.channel_names()
        ),
        ("Asia/Kolkata", "08:30".to_string(), 80, vec!["slack"]),
        "a partial update keeps the other fields"
    );
    for (input, field) in [
        (
            json!({"daily_digest": {"timezone": "Mars/Olympus_Mons"}}),
            "daily_digest.timezone",
        ),
        (
            json!({"daily_digest": {"time": "25:00"}}),
            "daily_digest.time",
        ),
        (
            json!({"critical_deals": {"threshold": -1}}),
            "critical_deals.threshold",
        ),
        (
            json!({"critical_deals": {"channels": ["slack", "pager"]}}),
            "critical_deals.channels",
        ),
        (
            json!({"critical_deals": {"threshold": "high"}}),
            "critical_deals.threshold",
        ),
    ] {
        let (s, body, _) = app.post("/v1/alerts/configure", &tok, &input).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{input}: {body}");
        assert_error(&body, "validation_error");
        assert_eq!(body["details"]["field"], field, "{input}: {body}");
    }
}
