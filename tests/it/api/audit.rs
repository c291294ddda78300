//! The audit log: one row per request with its request id (a client's own id echoed), none lost
//! in a burst or on shutdown.
use crate::support::TestApp;
use reqwest::StatusCode;
use serde_json::{Value, json};
use skygeni::auth::Role;
use skygeni::domain::TenantId;

#[tokio::test]
async fn a_client_supplied_request_id_is_echoed_and_recorded_in_the_audit_log() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .get(format!("{}/v1/pipeline/metrics", app.base))
        .bearer_auth(app.token("default", Role::Admin, "a"))
        .header("x-request-id", "trace-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-request-id"], "trace-abc-123");
    let audit = app.audit_rows("default").await;
    assert!(
        audit
            .iter()
            .any(|a| a.action == "pipeline.metrics"
                && a.request_id.as_deref() == Some("trace-abc-123")),
        "{audit:?}"
    );
}

fn new_deal_body(id: &str) -> Value {
    json!({
        "deal_id": id, "created_date": "2024-02-01", "deal_amount": 25000.0,
        "industry": "SaaS", "region": "Europe", "lead_source": "Partner",
        "deal_stage": "Proposal", "as_of": "2024-06-01"
    })
}

/// Concurrently score `n` deals (BURST-0..n); returns every response's request id.
async fn score_burst(client: &reqwest::Client, base: &str, token: &str, n: usize) -> Vec<String> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let (client, url, token) = (
            client.clone(),
            format!("{base}/v1/deals/score"),
            token.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(token)
                .json(&new_deal_body(&format!("BURST-{i}")))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.headers()["x-request-id"].to_str().unwrap().to_string()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids
}

/// The audit rows of `deal.score` for BURST-* deals, as (target, request id), sorted.
fn burst_rows(rows: &[skygeni::store::AuditRow]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = rows
        .iter()
        .filter(|a| a.action == "deal.score")
        .filter_map(|a| Some((a.target.clone()?, a.request_id.clone()?)))
        .filter(|(t, _)| t.starts_with("BURST-"))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_burst_of_requests_leaves_exactly_one_audit_row_each_after_a_flush() {
    let app = TestApp::spawn().await;
    let token = app.token("default", Role::Rep, "rep_1");
    let n = 90; // under the default 100 requests per user and minute
    let mut ids = score_burst(&app.client, &app.base, &token, n).await;
    let rows = burst_rows(&app.audit_rows("default").await);
    assert_eq!(rows.len(), n, "one row per request: {rows:?}");
    let mut targets: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    targets.dedup();
    assert_eq!(targets.len(), n, "every deal audited once");
    let mut audited: Vec<String> = rows.into_iter().map(|r| r.1).collect();
    audited.sort();
    ids.sort();
    assert_eq!(audited, ids, "each row carries its request's id");
}

#[tokio::test]
async fn shutdown_writes_the_audit_entries_still_queued() {
    let mut app = TestApp::spawn().await;
    let token = app.token("default", Role::Rep, "rep_1");
    let n = 60;
    let ids = score_burst(&reqwest::Client::new(), &app.base, &token, n).await;
    // No flush: stop the server right away, while entries are still queued.
    app.stop().await.expect("clean shutdown");
    let store = app.db.store().await;
    let rows = burst_rows(
        &store
            .list_audit(&TenantId::default_tenant(), 1000)
            .await
            .unwrap(),
    );
    assert_eq!(rows.len(), n, "every queued entry was written on shutdown");
    let mut audited: Vec<String> = rows.into_iter().map(|r| r.1).collect();
    audited.sort();
    let mut ids = ids;
    ids.sort();
    assert_eq!(audited, ids);
}
