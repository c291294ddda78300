//! REST API v1 over real HTTP on 127.0.0.1:0: every endpoint, auth and RBAC, error shapes,
//! rate limits (in process and through the real Redis), idempotency, audit and RLS.
mod access;
mod alert_settings;
mod audit;
mod auth;
mod contract;
mod deals;
mod errors;
mod hostile;
mod idempotency;
mod limits;
mod models;
mod relative;
mod risk_settings;
mod scoring;
mod service;

use serde_json::{Value, json};

/// Every error body: the design's shape with a request id.
pub(crate) fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"], code, "body: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "body: {body}"
    );
    assert!(
        body["request_id"].as_str().is_some_and(|m| !m.is_empty()),
        "body: {body}"
    );
}

pub(crate) fn inline_deal() -> Value {
    json!({
        "deal_id": "NEW-1", "created_date": "2024-03-01", "deal_amount": 42000.0,
        "industry": "SaaS", "region": "Europe", "product_type": "Pro",
        "lead_source": "Partner", "deal_stage": "Proposal", "company": "Acme GmbH",
        "as_of": "2024-06-01"
    })
}
