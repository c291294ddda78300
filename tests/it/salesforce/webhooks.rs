//! Signed webhooks: each org signs with its own secret (written into the org at connect), every
//! failure the same 401, a signed notification rescores and writes back once.
use crate::support::{Org, connect, json_body, org, signed};
use axum::http::StatusCode;
use serde_json::{Value, json};
use skygeni::domain::TenantId;
use skygeni_fakes::salesforce::{FakeSalesforce, ORG_ID};
use std::sync::Arc;
use tower::ServiceExt;

fn notification(org_id: &str, id: &str) -> Value {
    json!({"notification_id": uuid::Uuid::new_v4().simple().to_string(), "org_id": org_id,
           "object": "Opportunity", "change_type": "update", "record_ids": [id]})
}

/// Status and JSON body without the per-request `request_id`.
async fn status_and_body(
    app: &axum::Router,
    req: axum::http::Request<axum::body::Body>,
) -> (StatusCode, Value) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let mut body = json_body(resp).await;
    if let Some(o) = body.as_object_mut() {
        o.remove("request_id");
    }
    (status, body)
}

/// A second tenant connected to a second org (its own id) in the same database.
async fn second_org(o: &Org) -> (FakeSalesforce, skygeni_fakes::FakeServer, TenantId) {
    let fake = FakeSalesforce::new();
    fake.set_org_id("00DSECOND00000002AA");
    let server = fake.start(0).await.unwrap();
    fake.seed_opportunities(3, 1, 9);
    let tenant = TenantId::parse("acme").unwrap();
    o.store.add_tenant(&tenant, "Acme", "UTC").await.unwrap();
    connect(&o.store, &tenant, &fake, &server.url()).await;
    (fake, server, tenant)
}

#[tokio::test]
async fn a_webhook_with_a_bad_signature_gets_401_and_nothing_happens() {
    let o = org(5).await;
    let secret = o.webhook_secret().await;
    let app = o.router();
    o.fake.clear_calls();
    let id = o.open_ids()[0].clone();
    let body = json!({"notification_id": "n1", "org_id": ORG_ID, "object": "Opportunity", "change_type": "update", "record_ids": [id]});
    let resp = app
        .clone()
        .oneshot(signed(
            &body,
            chrono::Utc::now().timestamp_millis(),
            "wrong-secret",
        ))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let stale = chrono::Utc::now().timestamp_millis() - 6 * 60 * 1000;
    let resp = app.oneshot(signed(&body, stale, &secret)).await.unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::UNAUTHORIZED,
        "replayed notification"
    );
    assert!(o.fake.calls().is_empty(), "nothing pulled");
    assert_eq!(o.store.count_deals(&o.tenant).await.unwrap(), 0);
    assert!(
        o.store
            .claim_sf_notification(&o.tenant, "n1", 1)
            .await
            .unwrap(),
        "id not consumed"
    );
}

#[tokio::test]
async fn a_signed_webhook_rescores_the_deal_writes_back_and_is_handled_once() {
    let o = org(8).await;
    o.sync().await;
    let secret = o.webhook_secret().await;
    let id = o.open_ids()[0].clone();
    let before = o.fake.record("Opportunity", &id).unwrap();
    o.fake.edit(
        "Opportunity",
        &id,
        json!({"Amount": 9_500_000.0, "StageName": "Prospecting"})
            .as_object()
            .unwrap()
            .clone(),
    );
    let app = o.router();
    let body = json!({"notification_id": "abc123", "org_id": ORG_ID, "object": "Opportunity", "change_type": "update", "record_ids": [id], "sent_at": "2026-11-28T06:00:00Z"});
    let resp = app
        .clone()
        .oneshot(signed(
            &body,
            chrono::Utc::now().timestamp_millis(),
            &secret,
        ))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let v = json_body(resp).await;
    assert_eq!(
        (
            v["status"].as_str(),
            v["scored"].as_u64(),
            v["pulled"].as_u64()
        ),
        (Some("processed"), Some(1), Some(1)),
        "{v}"
    );
    let deal = o.stored_deal(&id).await.unwrap();
    assert_eq!(deal.amount, 9_500_000.0, "re-pulled");
    let after = o.fake.record("Opportunity", &id).unwrap();
    assert_ne!(
        after["Risk_Scored_At__c"], before["Risk_Scored_At__c"],
        "written back"
    );
    let scores = o.store.current_scores(&o.tenant).await.unwrap();
    let s = scores.iter().find(|s| s.deal_id == id).unwrap();
    assert_eq!(
        after["Risk_Score__c"].as_f64(),
        Some(f64::from(s.risk_score))
    );
    // A webhook rescores one deal, ranked against every open deal: the sentence stays.
    let factors = after["Risk_Factors__c"].as_str().unwrap_or_default();
    assert!(
        factors.contains("\nRelative risk: riskier than "),
        "{factors}"
    );
    o.fake.clear_calls();
    let resp = app
        .oneshot(signed(
            &body,
            chrono::Utc::now().timestamp_millis(),
            &secret,
        ))
        .await
        .unwrap();
    assert_eq!(json_body(resp).await["status"], "duplicate");
    assert!(o.fake.calls().is_empty(), "a redelivery does nothing");
}

#[tokio::test]
async fn each_org_signs_with_its_own_secret_and_every_failure_is_the_same_401() {
    let o = org(4).await;
    let a_secret = o.webhook_secret().await;
    assert_eq!(a_secret.len(), 64, "32 random bytes, hex");
    let stored = o.store.sf_webhook_secret(&o.tenant).await.unwrap().unwrap();
    assert!(!stored.contains(&a_secret), "sealed at rest");
    let (b_fake, b_server, b_tenant) = second_org(&o).await;
    let mut b_ctx = o.ctx.clone();
    let mut b_settings = o.settings();
    b_settings.salesforce_login_url = b_server.url();
    b_ctx.settings = Arc::new(b_settings);
    skygeni::crm::salesforce::org_secret::after_connect(
        &b_ctx.settings,
        &o.store,
        &o.ctx.secrets,
        &o.ctx.http,
        &b_tenant,
    )
    .await
    .unwrap();
    let b_secret = b_fake.records("SkyGeni_Settings__c")[0]["Webhook_Secret__c"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(a_secret, b_secret, "one secret per org");
    let app = o.router();
    let ts = chrono::Utc::now().timestamp_millis();
    let a_deal = o.open_ids()[0].clone();
    let b_deal = b_fake.records("Opportunity")[0]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    // Org A's secret cannot sign for org B (the body names B's org).
    let forged = status_and_body(
        &app,
        signed(&notification(&b_fake.org_id(), &b_deal), ts, &a_secret),
    )
    .await;
    let unknown = status_and_body(
        &app,
        signed(&notification("00DNOTCONNECTED0AA", &b_deal), ts, &a_secret),
    )
    .await;
    let mut unsigned = signed(&notification(&o.fake.org_id(), &a_deal), ts, &a_secret);
    unsigned.headers_mut().remove("X-SkyGeni-Signature");
    let unsigned = status_and_body(&app, unsigned).await;
    let stale = status_and_body(
        &app,
        signed(
            &notification(&o.fake.org_id(), &a_deal),
            ts - 10 * 60 * 1000,
            &a_secret,
        ),
    )
    .await;
    let garbage = status_and_body(
        &app,
        axum::http::Request::post("/webhooks/salesforce")
            .header("content-type", "application/json")
            .body(axum::body::Body::from("not json"))
            .unwrap(),
    )
    .await;
    assert_eq!(forged.0, StatusCode::UNAUTHORIZED);
    for (what, r) in [
        ("unknown org", &unknown),
        ("unsigned", &unsigned),
        ("stale", &stale),
        ("garbage", &garbage),
    ] {
        assert_eq!(r, &forged, "{what}: same status and body as a forged one");
    }
    assert!(
        b_fake.calls().iter().all(|c| !c.path.contains("/query")),
        "nothing pulled for B"
    );
    // Each org's own secret works for its own org.
    let ok = app
        .clone()
        .oneshot(signed(
            &notification(&o.fake.org_id(), &a_deal),
            ts,
            &a_secret,
        ))
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(json_body(ok).await["status"], "processed");
    // B's own secret passes for B (the re-pull then needs B's login server, which this test's
    // single SALESFORCE_LOGIN_URL is not, so only authentication is checked here).
    let b_own = status_and_body(
        &app,
        signed(&notification(&b_fake.org_id(), &b_deal), ts, &b_secret),
    )
    .await;
    assert_ne!(
        b_own.0,
        StatusCode::UNAUTHORIZED,
        "B's secret for B is accepted"
    );
}

#[tokio::test]
async fn an_org_without_a_secret_gets_one_on_its_next_sync_and_an_org_without_the_package_is_told()
{
    let o = org(3).await;
    assert!(
        o.store
            .sf_webhook_secret(&o.tenant)
            .await
            .unwrap()
            .is_none()
    );
    o.sync().await;
    let rows = o.fake.records("SkyGeni_Settings__c");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (
            rows[0]["SetupOwnerId"].as_str(),
            rows[0]["Enabled__c"].as_bool()
        ),
        (Some(o.fake.org_id().as_str()), Some(true))
    );
    assert!(
        o.store
            .sf_webhook_secret(&o.tenant)
            .await
            .unwrap()
            .is_some()
    );
    // A reconnect rotates the secret in place (the org default is updated, not duplicated).
    let first = rows[0]["Webhook_Secret__c"].clone();
    let again = o.webhook_secret().await;
    assert_ne!(json!(again), first);
    assert_eq!(o.fake.records("SkyGeni_Settings__c").len(), 1);
    // An org without the package cannot take a secret: the connect says so.
    o.fake.without_package();
    let err = skygeni::crm::salesforce::org_secret::after_connect(
        &o.ctx.settings,
        &o.store,
        &o.ctx.secrets,
        &o.ctx.http,
        &o.tenant,
    )
    .await
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("deploy salesforce_package"),
        "{err:#}"
    );
}
