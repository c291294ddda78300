//! Idempotency keys: the first response replayed, a different body refused, a key still in
//! flight a 409.
use super::assert_error;
use crate::support::{TestApp, read};
use reqwest::StatusCode;
use serde_json::{Value, json};
use skygeni::auth::Role;
use skygeni::domain::TenantId;

#[tokio::test]
async fn an_idempotency_key_replays_the_first_response_and_rejects_a_different_body() {
    let app = TestApp::spawn().await;
    let tok = app.token("default", Role::Manager, "m1");
    let send = |body: Value, key: &'static str| {
        app.client
            .post(format!("{}/v1/alerts/configure", app.base))
            .bearer_auth(&tok)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let first =
        json!({"critical_deals": {"threshold": 60}, "daily_digest": {"timezone": "Europe/Berlin"}});
    let (s1, b1, h1) = read(send(first.clone(), "key-1").await.unwrap()).await;
    assert_eq!(s1, StatusCode::OK, "{b1}");
    assert!(!h1.contains_key("idempotent-replayed"));
    let (s2, b2, h2) = read(send(first.clone(), "key-1").await.unwrap()).await;
    assert_eq!(
        (s2, &b2),
        (StatusCode::OK, &b1),
        "same key, same body: same answer"
    );
    assert_eq!(h2["idempotent-replayed"], "true");
    let configured = app
        .audit_rows("default")
        .await
        .into_iter()
        .filter(|a| a.action == "alerts.configure")
        .count();
    assert_eq!(configured, 1, "the replay did not run the handler again");

    let (s3, b3, _) = read(
        send(json!({"critical_deals": {"threshold": 90}}), "key-1")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s3, StatusCode::UNPROCESSABLE_ENTITY, "{b3}");
    assert_error(&b3, "validation_error");
    assert_eq!(b3["details"]["field"], "Idempotency-Key");
    let stored = app
        .store
        .get_alert_settings(&TenantId::default_tenant(), "m1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.threshold, 60,
        "the mismatched request changed nothing"
    );

    let (s4, _, _) = read(
        send(json!({"critical_deals": {"threshold": 90}}), "key-2")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s4, StatusCode::OK, "a new key runs again");
}

#[tokio::test]
async fn a_key_whose_first_request_is_still_running_answers_409_conflict() {
    let app = TestApp::spawn().await;
    let tok = app.token("default", Role::Rep, "r1");
    let body = serde_json::to_vec(&json!({"critical_deals": {"threshold": 55}})).unwrap();
    // The first request has claimed the key but not finished (as if it were still running).
    let hash =
        skygeni::api::guard::request_hash("POST", "/v1/alerts/configure", "r1", "rep", &body);
    app.store
        .claim_idempotency_key(
            &TenantId::default_tenant(),
            "busy-key",
            &hash,
            chrono::Utc::now(),
            chrono::Duration::seconds(60),
        )
        .await
        .unwrap();
    let r = app
        .client
        .post(format!("{}/v1/alerts/configure", app.base))
        .bearer_auth(&tok)
        .header("idempotency-key", "busy-key")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let (s, b, _) = read(r).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert_error(&b, "conflict");
    assert!(
        app.store
            .get_alert_settings(&TenantId::default_tenant(), "r1")
            .await
            .unwrap()
            .is_none(),
        "the duplicate did not run"
    );
}
