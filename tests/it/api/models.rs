//! `GET /v1/models/performance`: admins only; metrics, prediction distribution and drift, as the
//! OpenAPI document describes them.
use super::assert_error;
use crate::support::TestApp;
use reqwest::StatusCode;
use skygeni::auth::Role;

#[tokio::test]
async fn model_performance_is_for_admins_and_reports_metrics_distribution_and_drift() {
    let app = TestApp::spawn().await;
    let deals = app.seed("default", 600, "Q").await;
    app.train_default(&deals).await;
    app.batch_score("default").await;

    let (s, body, _) = app
        .get(
            "/v1/models/performance",
            &app.token("default", Role::Manager, "m"),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_error(&body, "forbidden");

    let (s, body, _) = app
        .get(
            "/v1/models/performance?as_of=2024-06-01",
            &app.token("default", Role::Admin, "a"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["degraded"], false);
    assert!(
        body["model"]["metrics"]["out_of_fold"]["log_loss"]
            .as_f64()
            .is_some(),
        "{body}"
    );
    let open = deals.iter().filter(|d| d.is_open()).count() as u64;
    assert_eq!(body["prediction_detail"]["deals"].as_u64().unwrap(), open);
    let shares: f64 = body["prediction_distribution"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!(
        (shares - 1.0).abs() < 1e-9,
        "shares of all predictions: {body}"
    );
    assert!(
        body["performance_metrics"]["roc_auc"].as_f64().is_some(),
        "{body}"
    );
    assert!(body["next_retrain_scheduled"].as_str().is_some(), "{body}");
    let hist: u64 = body["prediction_detail"]["histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["deals"].as_u64().unwrap())
        .sum();
    assert_eq!(hist, open);
    for drift in [
        &body["drift"]["predictions"],
        &body["drift"]["features"]["amount"],
        &body["drift"]["features"]["deal_age_days"],
    ] {
        let psi = drift["psi"].as_f64().expect("a PSI value");
        let want = if psi < 0.1 {
            "healthy"
        } else if psi < 0.25 {
            "warning"
        } else {
            "alert"
        };
        assert_eq!(drift["status"], want, "{drift}");
    }
    // The OpenAPI document describes exactly the fields the endpoint answers with.
    let (_, doc, _) = app.get("/v1/openapi.json", "").await;
    let schema = &doc["components"]["schemas"]["ModelPerformance"];
    let declared = schema["properties"].as_object().expect("described");
    for key in body.as_object().unwrap().keys() {
        assert!(
            declared.contains_key(key),
            "{key} is not in the OpenAPI schema"
        );
    }
    for key in schema["required"].as_array().unwrap() {
        assert!(body.get(key.as_str().unwrap()).is_some(), "{key} missing");
    }
    for key in body["lifecycle"].as_object().unwrap().keys() {
        assert!(
            declared["lifecycle"]["properties"].get(key).is_some(),
            "lifecycle.{key}"
        );
    }
}
