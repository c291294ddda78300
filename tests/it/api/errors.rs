//! Bad requests answer in the error shape: unknown, missing and malformed JSON, bodies over 1 MB,
//! unknown routes and wrong methods.
use super::{assert_error, inline_deal};
use crate::support::{TestApp, read};
use reqwest::StatusCode;
use serde_json::json;
use skygeni::auth::Role;

#[tokio::test]
async fn unknown_json_fields_malformed_json_and_missing_fields_are_named_validation_errors() {
    let app = TestApp::spawn().await;
    let tok = app.token("default", Role::Admin, "a");
    let mut deal = inline_deal();
    deal["colour"] = json!("red");
    let (s, body, _) = app.post("/v1/deals/score", &tok, &deal).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error(&body, "validation_error");
    assert_eq!(body["details"]["field"], "colour");

    let (s, body, _) = app
        .post(
            "/v1/deals/score",
            &tok,
            &json!({"deal_id": "N", "deal_amount": 5.0}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["details"]["field"], "created_date", "{body}");

    let r = app
        .client
        .post(format!("{}/v1/deals/score", app.base))
        .bearer_auth(&tok)
        .header("content-type", "application/json")
        .body("{\"deal_id\": ")
        .send()
        .await
        .unwrap();
    let (s, body, _) = read(r).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_error(&body, "validation_error");
}

#[tokio::test]
async fn a_body_over_one_megabyte_is_rejected_with_413_in_our_error_shape() {
    let app = TestApp::spawn().await;
    let tok = app.token("default", Role::Admin, "a");
    let big = json!({"deal_id": "x".repeat(1024 * 1024 + 10)});
    for key in [None, Some("big-1")] {
        let mut req = app
            .client
            .post(format!("{}/v1/deals/score", app.base))
            .bearer_auth(&tok)
            .json(&big);
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        let (s, body, _) = read(req.send().await.unwrap()).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "key {key:?}: {body}");
        assert_error(&body, "validation_error");
    }
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_in_the_error_shape() {
    let app = TestApp::spawn().await;
    let (s, body, _) = app.get("/v2/nothing", "").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_error(&body, "not_found");
    let (s, body, _) = app
        .get("/v1/deals/score", &app.token("default", Role::Admin, "a"))
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert!(body["request_id"].is_string(), "{body}");
}
