//! `POST /v1/deals/score`: a deal sent in the body or a stored one by id, the tenant's model
//! cached per tenant, hostile strings refused or stored intact.
use super::{assert_error, inline_deal};
use crate::support::TestApp;
use reqwest::StatusCode;
use serde_json::json;
use skygeni::auth::Role;
use skygeni::domain::TenantId;

#[tokio::test]
async fn scoring_a_deal_sent_in_the_body_returns_the_whole_score() {
    let app = TestApp::spawn().await;
    app.seed("default", 300, "S").await;
    let tok = app.token("default", Role::Rep, "rep_1");
    let (s, body, headers) = app.post("/v1/deals/score", &tok, &inline_deal()).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(headers.contains_key("x-request-id"));
    for field in [
        "risk_score",
        "risk_category",
        "win_probability",
        "confidence",
        "risk_factors",
        "recommendations",
        "similar_deals",
        "scored_at",
        "model_version",
        "degraded",
    ] {
        assert!(body.get(field).is_some(), "missing {field}: {body}");
    }
    assert_eq!(body["deal_id"], "NEW-1");
    assert_eq!(body["deal_source"], "request");
    assert_eq!(body["degraded"], true, "no model: segment rates");
    assert_eq!(body["risk_factors"].as_array().unwrap().len(), 3);
    assert!(!body["recommendations"].as_array().unwrap().is_empty());
    let score = body["risk_score"].as_u64().unwrap();
    assert!(score <= 100);
    let audit = app.audit_rows("default").await;
    assert!(
        audit.iter().any(|a| a.action == "deal.score"
            && a.target.as_deref() == Some("NEW-1")
            && a.request_id.as_deref() == headers["x-request-id"].to_str().ok()),
        "scoring is audited with the request id: {audit:?}"
    );
}

#[tokio::test]
async fn scoring_a_stored_deal_by_id_uses_the_tenants_production_model() {
    let app = TestApp::spawn().await;
    let deals = app.seed("default", 600, "M").await;
    let report = app.train_default(&deals).await;
    let version = report.model.expect("enough history to train").version;
    let open = deals.iter().find(|d| d.is_open()).unwrap();
    let tok = app.token("default", Role::Admin, "boss");
    let (s, body, _) = app
        .post(
            "/v1/deals/score",
            &tok,
            &json!({"deal_id": open.deal_id, "as_of": "2024-06-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["deal_source"], "stored");
    assert_eq!(body["model_version"], version.as_str());
    assert_eq!(body["model_source"], "tenant");
    assert_eq!(body["degraded"], false);

    let closed = deals.iter().find(|d| !d.is_open()).unwrap();
    let (s, body, _) = app
        .post("/v1/deals/score", &tok, &json!({"deal_id": closed.deal_id}))
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "closed deals are not scored: {body}"
    );
    assert_error(&body, "validation_error");
}

#[tokio::test]
async fn the_scorer_is_loaded_once_per_tenant_and_reloaded_after_invalidation() {
    let app = TestApp::spawn().await;
    let deals = app.seed("default", 600, "C").await;
    let tok = app.token("default", Role::Admin, "a");
    let (_, before, _) = app.post("/v1/deals/score", &tok, &inline_deal()).await;
    assert_eq!(before["model_source"], "degraded", "{before}");
    let version = app.train_default(&deals).await.model.unwrap().version;
    let (_, cached, _) = app.post("/v1/deals/score", &tok, &inline_deal()).await;
    assert_eq!(
        (cached["model_source"].as_str(), &cached["model_version"]),
        (Some("degraded"), &before["model_version"]),
        "requests reuse the cached scorer: no model query per request"
    );
    app.state.scorers.invalidate(&TenantId::default_tenant());
    let (_, after, _) = app.post("/v1/deals/score", &tok, &inline_deal()).await;
    assert_eq!(
        (
            after["model_source"].as_str(),
            after["model_version"].as_str()
        ),
        (Some("tenant"), Some(version.as_str()))
    );
}

#[tokio::test]
async fn hostile_strings_in_a_scoring_request_never_reach_the_database_as_an_error() {
    let app = TestApp::spawn().await;
    app.seed("default", 300, "H").await;
    let token = app.token("default", Role::Admin, "admin_1");
    for (field, value, ok) in [
        ("deal_id", "x\u{0}y", false),
        ("deal_id", "'; DROP TABLE deals;--", true),
        ("industry", "\u{0}", false),
        ("industry", "株式会社 🚀 שלום", true),
        ("region", "$1 $$ \\N %s", true),
        ("sales_rep_id", "rep\u{1b}[31m", false),
    ] {
        let mut body = json!({
            "deal_id": "HOSTILE-1", "created_date": "2024-02-01", "deal_amount": 12000.0,
            "industry": "SaaS", "region": "Europe", "product_type": "Pro",
            "lead_source": "Partner", "deal_stage": "Proposal", "as_of": "2024-06-01"
        });
        body[field] = json!(value);
        let (status, resp, _) = app.post("/v1/deals/score", &token, &body).await;
        if ok {
            assert_eq!(status, StatusCode::OK, "{field}={value:?}: {resp}");
        } else {
            // A control character in an id or text is refused up front, naming the field.
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{field}={value:?}: {resp}"
            );
            assert_error(&resp, "validation_error");
            assert_eq!(resp["details"]["field"], field, "{resp}");
        }
    }
    // Every accepted request's audit row made it (one bad row would fail the whole batch).
    let audited = app.audit_rows("default").await;
    assert!(audited.len() >= 3, "{} audit rows", audited.len());
}
