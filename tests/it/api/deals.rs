//! The read endpoints over the pipeline: `GET /v1/deals/high-risk` (filter, sort, paginate,
//! summary) and `GET /v1/pipeline/metrics` (tenant or own scope).
use super::assert_error;
use crate::support::TestApp;
use reqwest::StatusCode;
use serde_json::json;
use skygeni::auth::Role;

#[tokio::test]
async fn high_risk_lists_filter_sort_paginate_and_summarise() {
    let app = TestApp::spawn().await;
    app.seed("default", 800, "H").await;
    app.batch_score("default").await;
    let tok = app.token("default", Role::Admin, "a");
    let (s, body, _) = app
        .get("/v1/deals/high-risk?risk_category=low,medium,high,critical&sort_by=amount&order=desc&limit=7&offset=2", &tok)
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let deals = body["deals"].as_array().unwrap();
    assert_eq!(deals.len(), 7);
    assert_eq!(
        body["pagination"],
        json!({"limit": 7, "offset": 2, "total_count": 160, "has_more": true})
    );
    let amounts: Vec<f64> = deals
        .iter()
        .map(|d| d["amount"].as_f64().unwrap())
        .collect();
    assert!(
        amounts.windows(2).all(|w| w[0] >= w[1]),
        "sorted by amount desc: {amounts:?}"
    );
    let by_cat = body["summary"]["deals_by_category"].as_object().unwrap();
    let at_risk: u64 = by_cat.values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(
        by_cat.keys().collect::<Vec<_>>(),
        ["critical", "high"],
        "the summary is the at-risk pipeline"
    );
    let avg = body["summary"]["average_risk_score"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&avg), "{avg}");

    let (_, risky, _) = app
        .get("/v1/deals/high-risk?sort_by=risk_score", &tok)
        .await;
    assert_eq!(
        risky["pagination"]["total_count"].as_u64().unwrap(),
        at_risk,
        "the default listing is the at-risk pipeline the summary counts"
    );
    for d in risky["deals"].as_array().unwrap() {
        let cat = d["risk_category"].as_str().unwrap();
        assert!(cat == "high" || cat == "critical", "default filter: {cat}");
    }
    let scores: Vec<i64> = risky["deals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["risk_score"].as_i64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");

    for (query, field) in [
        ("limit=201", "limit"),
        ("sort_by=colour", "sort_by"),
        ("order=up", "order"),
        ("risk_category=scary", "risk_category"),
        ("colour=red", "colour"),
    ] {
        let (s, body, _) = app.get(&format!("/v1/deals/high-risk?{query}"), &tok).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_error(&body, "validation_error");
        assert_eq!(body["details"]["field"], field, "{query}: {body}");
    }
}

#[tokio::test]
async fn pipeline_metrics_cover_the_tenant_for_an_admin_and_own_deals_for_a_rep() {
    let app = TestApp::spawn().await;
    let deals = app.seed("default", 500, "P").await;
    let (s, admin, _) = app
        .get(
            "/v1/pipeline/metrics?as_of=2024-06-01",
            &app.token("default", Role::Admin, "a"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{admin}");
    let open = deals.iter().filter(|d| d.is_open()).count() as u64;
    assert_eq!(admin["total_open_deals"].as_u64().unwrap(), open);
    assert_eq!(admin["scope"], "tenant");
    assert_eq!(admin["tenant_id"], "default");
    for field in [
        "pipeline_value",
        "risk_adjusted_value",
        "optimism_gap",
        "rem_score",
        "win_rate_pct",
        "risk_distribution",
        "trend_indicators",
        "recovery",
    ] {
        assert!(admin.get(field).is_some(), "missing {field}");
    }
    let (_, rep, _) = app
        .get(
            "/v1/pipeline/metrics?as_of=2024-06-01",
            &app.token("default", Role::Rep, "rep_0"),
        )
        .await;
    let mine = deals
        .iter()
        .filter(|d| d.is_open() && d.sales_rep_id == "rep_0")
        .count() as u64;
    assert_eq!(
        (
            rep["total_open_deals"].as_u64().unwrap(),
            rep["scope"].as_str()
        ),
        (mine, Some("own"))
    );
    assert!(rep["pipeline_value"].as_f64().unwrap() < admin["pipeline_value"].as_f64().unwrap());
}
