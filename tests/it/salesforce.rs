//! Salesforce two-way sync against the stateful fake org: full and incremental loads,
//! deletions, schema halts, token refresh, limit deferral, write-back of changed scores only,
//! Tasks never duplicated, the OAuth and JWT connect flows, and signed webhooks.
use crate::support::TestDb;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::TimeZone;
use serde_json::{Value, json};
use skygeni::config::Settings;
use skygeni::crm::salesforce::client::SfError;
use skygeni::crm::salesforce::{SyncContext, sync_tenant, webhook};
use skygeni::crypto::SecretBox;
use skygeni::domain::TenantId;
use skygeni::store::{SfConnectionRow, Store};
use skygeni_fakes::salesforce::{CLIENT_ID, CLIENT_SECRET, FakeSalesforce, ORG_ID};
use skygeni_fakes::{FakeServer, Fault};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

pub(crate) const KEY: &str = "0000000000000000000000000000000000000000000000000000000000000001";
pub(crate) const JWT_SECRET: &str = "api-test-secret";

pub(crate) struct Org {
    pub(crate) _db: TestDb,
    pub(crate) store: Store,
    pub(crate) fake: FakeSalesforce,
    pub(crate) server: FakeServer,
    pub(crate) ctx: SyncContext,
    pub(crate) tenant: TenantId,
}

pub(crate) fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc.with_ymd_and_hms(2026, 11, 28, 6, 0, 0).unwrap()
}

pub(crate) fn settings(login: &str) -> Settings {
    let jwt_key = format!(
        "{}/tests/fixtures/salesforce_jwt_test_key.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    Settings::from_vars([
        ("SALESFORCE_LOGIN_URL", login),
        ("SALESFORCE_CLIENT_ID", CLIENT_ID),
        ("SALESFORCE_CLIENT_SECRET", CLIENT_SECRET),
        ("SALESFORCE_JWT_PRIVATE_KEY", jwt_key.as_str()),
        ("SKYGENI_ENCRYPTION_KEY", KEY),
        ("SKYGENI_JWT_SECRET", JWT_SECRET),
        ("SKYGENI_PUBLIC_URL", "http://skygeni.test"),
        ("SKYGENI_BIND", "127.0.0.1:0"),
    ])
    .unwrap()
}

/// Store `tenant`'s connection to `fake` (served at `url`) as the web-server flow leaves it:
/// a sealed instance URL and refresh token.
pub(crate) async fn connect(store: &Store, tenant: &TenantId, fake: &FakeSalesforce, url: &str) {
    let secrets = SecretBox::new(Some(KEY), None).unwrap();
    store
        .save_sf_connection(
            tenant,
            &SfConnectionRow {
                org_id: fake.org_id(),
                auth_flow: "web_server".into(),
                instance_url_sealed: secrets.seal(tenant.as_str(), url),
                refresh_token_sealed: Some(
                    secrets.seal(tenant.as_str(), &fake.issue_refresh_token()),
                ),
                jwt_username: None,
                field_mapping: "{}".into(),
            },
        )
        .await
        .unwrap();
}

/// A fake org with `n` Opportunities, connected to the default tenant with a refresh token.
pub(crate) async fn org(n: usize) -> Org {
    let db = TestDb::new().await;
    let store = db.store().await;
    let fake = FakeSalesforce::new();
    let server = fake.start(0).await.unwrap();
    fake.seed_opportunities(n, 3, 1);
    let secrets = Arc::new(SecretBox::new(Some(KEY), None).unwrap());
    let tenant = TenantId::default_tenant();
    connect(&store, &tenant, &fake, &server.url()).await;
    let mut ctx = SyncContext::new(store.clone(), Arc::new(settings(&server.url())), secrets);
    ctx.config.client.retry_base = Duration::from_millis(5);
    ctx.config.client.timeout = Duration::from_millis(500);
    ctx.config.bulk_poll = Duration::from_millis(5);
    Org {
        _db: db,
        store,
        fake,
        server,
        ctx,
        tenant,
    }
}

impl Org {
    pub(crate) async fn sync_at(
        &self,
        at: chrono::DateTime<chrono::Utc>,
    ) -> skygeni::crm::salesforce::SyncReport {
        sync_tenant(&self.ctx, &self.tenant, at, &mut |_, _, _| {})
            .await
            .unwrap()
    }

    pub(crate) async fn sync(&self) -> skygeni::crm::salesforce::SyncReport {
        self.sync_at(now()).await
    }

    /// Give the org a webhook secret as connecting does, and read it back from the org's
    /// SkyGeni_Settings__c org default, where the package's Apex reads it.
    pub(crate) async fn webhook_secret(&self) -> String {
        skygeni::crm::salesforce::org_secret::after_connect(
            &self.ctx.settings,
            &self.store,
            &self.ctx.secrets,
            &self.ctx.http,
            &self.tenant,
        )
        .await
        .unwrap();
        self.fake
            .records("SkyGeni_Settings__c")
            .into_iter()
            .find(|r| r["SetupOwnerId"] == json!(self.fake.org_id()))
            .expect("the org default holds the secret")["Webhook_Secret__c"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub(crate) fn open_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .fake
            .records("Opportunity")
            .into_iter()
            .filter(|r| r["IsClosed"] == json!(false) && r["IsDeleted"] == json!(false))
            .map(|r| r["Id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    }
}

#[tokio::test]
async fn a_first_load_pulls_everything_with_bulk_and_writes_scores_back() {
    let o = org(40).await;
    let r = o.sync().await;
    assert_eq!(r.status, "ok", "{r:?}");
    assert!(
        r.full_load && r.used_bulk_query,
        "first loads use Bulk API 2.0"
    );
    assert_eq!(r.pulled, 40);
    assert_eq!(r.rejected, 0, "{:?}", r.quality);
    assert_eq!(o.store.count_deals(&o.tenant).await.unwrap(), 40);
    assert_eq!(r.users, 4, "three owners and their manager");
    let manager = o
        .store
        .get_user(&o.tenant, "005MGR000000000001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(manager.role, "manager");
    let rep = o
        .store
        .get_user(&o.tenant, "005REP000000000000")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            rep.role.as_str(),
            rep.manager_id.as_deref(),
            rep.time_zone.as_str()
        ),
        ("rep", Some("005MGR000000000001"), "America/New_York")
    );
    let open = o.open_ids();
    assert_eq!(r.scored as usize, open.len());
    assert_eq!(r.written_back as usize, open.len());
    let deals = o.store.load_open_deals(&o.tenant).await.unwrap();
    assert!(
        deals
            .iter()
            .all(|d| d.stage_entered_date.is_some() && d.close_date_pushes.is_some()),
        "history feeds the activity signals"
    );
    assert!(deals.iter().any(|d| d.close_date_pushes == Some(1)));
    assert!(deals.iter().all(|d| {
        d.owner_email
            .as_deref()
            .is_some_and(|e| e.ends_with("@example.com"))
    }));
    let rec = o.fake.record("Opportunity", &open[0]).unwrap();
    let score = rec["Risk_Score__c"].as_f64().expect("score written");
    assert!((0.0..=100.0).contains(&score));
    // Relative risk ends the factors text (issue 16).
    let factors = rec["Risk_Factors__c"].as_str().expect("factors written");
    assert!(
        factors.contains("\nRelative risk: riskier than ") && factors.ends_with("usual loss rate"),
        "{factors}"
    );
    assert!(
        ["low", "medium", "high", "critical"].contains(&rec["Risk_Category__c"].as_str().unwrap())
    );
    assert!(
        rec["Risk_Scored_At__c"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-28T06:00:00")
    );
    assert_eq!(
        o.fake.count("POST", "/jobs/query"),
        2,
        "Opportunities and their history by Bulk query"
    );
    assert!(r.high_water_mark.is_some());
    let state = o.store.sync_state(&o.tenant, "salesforce").await.unwrap();
    assert_eq!((state.status.as_str(), state.last_count), ("ok", Some(40)));
    assert!(r.api_calls > 0 && r.api_calls < 40, "{} calls", r.api_calls);
}

#[tokio::test]
async fn an_incremental_sync_pulls_only_what_changed_page_by_page() {
    let o = org(12).await;
    o.sync().await;
    // Our own write-back moved SystemModstamp; the next sync absorbs that and writes nothing.
    let settle = o.sync().await;
    assert!(!settle.full_load && !settle.used_bulk_query);
    assert_eq!(settle.written_back, 0);
    o.fake.advance(chrono::Duration::hours(1));
    let ids = o.open_ids();
    o.fake.edit(
        "Opportunity",
        &ids[0],
        json!({"Amount": 66_666.0}).as_object().unwrap().clone(),
    );
    o.sync().await;
    o.fake.advance(chrono::Duration::hours(1));
    o.fake.set_page_size(1);
    o.fake.edit(
        "Opportunity",
        &ids[1],
        json!({"Amount": 77_777.0}).as_object().unwrap().clone(),
    );
    o.fake.edit(
        "Opportunity",
        &ids[2],
        json!({"StageName": "Negotiation"})
            .as_object()
            .unwrap()
            .clone(),
    );
    o.fake.clear_calls();
    let r = o.sync().await;
    assert_eq!(r.status, "ok");
    // ids[0] changed within the overlap window before the high-water mark, so it is re-read
    // (and found unchanged); everything older is not.
    assert_eq!((r.pulled, r.upserted, r.unchanged), (3, 2, 1), "{r:?}");
    assert!(
        o.fake.count("GET", "/query/") >= 1,
        "followed nextRecordsUrl"
    );
    assert!(
        o.fake
            .calls()
            .iter()
            .any(|c| c.path.contains("queryAll") && c.path.contains("SystemModstamp"))
    );
    let deal = o
        .store
        .load_deals(&o.tenant)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.deal_id == ids[1])
        .unwrap();
    assert_eq!(deal.amount, 77_777.0);
}

#[tokio::test]
async fn a_deleted_opportunity_is_removed_and_a_big_drop_is_flagged() {
    let o = org(10).await;
    o.sync().await;
    o.sync().await;
    o.fake.advance(chrono::Duration::hours(1));
    let ids = o.open_ids();
    for id in &ids[..3] {
        o.fake.delete("Opportunity", id);
    }
    let r = o.sync().await;
    assert_eq!(r.deleted, 3, "{r:?}");
    assert!(r.volume_drop, "10 → 7 is a drop of more than 20 %");
    assert_eq!(r.status, "ok_volume_drop");
    let left = o.store.load_deals(&o.tenant).await.unwrap();
    assert_eq!(left.len(), 7);
    assert!(!left.iter().any(|d| d.deal_id == ids[0]));
}

#[tokio::test]
async fn a_schema_change_halts_the_tenant_with_a_clear_reason() {
    let o = org(5).await;
    o.fake.remove_field("Opportunity", "StageName");
    o.fake
        .set_field_type("Opportunity", "Risk_Score__c", "string");
    let r = o.sync().await;
    assert_eq!(r.status, "halted");
    let why = r.schema_halt.unwrap();
    assert!(why.contains("Opportunity.StageName is missing"), "{why}");
    assert!(
        why.contains("Risk_Score__c changed type to string"),
        "{why}"
    );
    assert_eq!(
        o.store.count_deals(&o.tenant).await.unwrap(),
        0,
        "nothing pulled"
    );
    let state = o.store.sync_state(&o.tenant, "salesforce").await.unwrap();
    assert_eq!(state.status, "halted");
    assert!(state.detail.unwrap().contains("StageName"));
    assert_eq!(state.high_water_mark, None);
}

#[tokio::test]
async fn an_expired_session_is_refreshed_once_then_a_revoked_grant_asks_to_reconnect() {
    let o = org(3).await;
    let conn = o.store.sf_connection(&o.tenant).await.unwrap().unwrap();
    let client = o.ctx.client_for(&o.tenant, &conn).unwrap();
    assert_eq!(
        client
            .count("SELECT COUNT() FROM Opportunity")
            .await
            .unwrap(),
        3
    );
    o.fake.expire_access_tokens();
    assert_eq!(
        client
            .count("SELECT COUNT() FROM Opportunity")
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        o.fake.count("POST", "/services/oauth2/token"),
        2,
        "initial token + one refresh"
    );
    o.fake.expire_access_tokens();
    o.fake.revoke_refresh_tokens();
    let err = client
        .count("SELECT COUNT() FROM Opportunity")
        .await
        .unwrap_err();
    assert!(matches!(err, SfError::Reconnect(_)), "{err:?}");
    assert!(err.to_string().contains("reconnect Salesforce"), "{err}");
}

#[tokio::test]
async fn timeouts_are_retried_three_times_then_reported() {
    let o = org(3).await;
    let conn = o.store.sf_connection(&o.tenant).await.unwrap().unwrap();
    let client = o.ctx.client_for(&o.tenant, &conn).unwrap();
    client
        .count("SELECT COUNT() FROM Opportunity")
        .await
        .unwrap();
    o.fake.faults.next(2, Fault::Drop);
    assert_eq!(
        client
            .count("SELECT COUNT() FROM Opportunity")
            .await
            .unwrap(),
        3
    );
    o.fake.faults.next(4, Fault::Drop);
    let err = client
        .count("SELECT COUNT() FROM Opportunity")
        .await
        .unwrap_err();
    assert!(
        matches!(err, SfError::Unavailable { attempts: 4, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn request_limit_exceeded_defers_the_tenant_for_fifteen_minutes() {
    let o = org(4).await;
    o.fake.set_limit_exceeded(true);
    let r = o.sync().await;
    assert_eq!(r.status, "deferred");
    assert_eq!(
        r.deferred_until,
        Some(now() + chrono::Duration::minutes(15))
    );
    o.fake.set_limit_exceeded(false);
    o.fake.clear_calls();
    let r = o.sync_at(now() + chrono::Duration::minutes(5)).await;
    assert_eq!(r.status, "deferred");
    assert!(o.fake.calls().is_empty(), "no call while deferred");
    let r = o.sync_at(now() + chrono::Duration::minutes(16)).await;
    assert_eq!(r.status, "ok");
    assert_eq!(r.pulled, 4);
}

#[tokio::test]
async fn the_sync_stops_before_the_orgs_daily_api_limit() {
    let o = org(4).await;
    o.fake.set_api_usage(99_990, 100_000);
    let r = o.sync().await;
    assert_eq!(r.status, "limit_reserve", "{r:?}");
    assert!(r.deferred_until.is_some());
    assert!(
        o.fake.api_used() < 100_000,
        "the last calls are left for the org's own users"
    );
}

#[tokio::test]
async fn only_changed_scores_are_written_back_and_failed_records_are_retried() {
    let o = org(20).await;
    let ids = o.open_ids();
    // Lock contention on one record (also on the in-run retry), another deleted meanwhile.
    for _ in 0..2 {
        o.fake.fail_next_write(&ids[0], "UNABLE_TO_LOCK_ROW");
    }
    o.fake.fail_next_write(&ids[1], "ENTITY_IS_DELETED");
    let first = o.sync().await;
    assert_eq!(
        (first.writeback_failed, first.writeback_skipped),
        (1, 1),
        "{first:?}"
    );
    assert_eq!(first.written_back as usize, ids.len() - 2);
    assert_eq!(
        o.fake
            .record("Opportunity", &ids[0])
            .unwrap()
            .get("Risk_Score__c"),
        None
    );
    let second = o.sync().await;
    assert_eq!(
        second.written_back, 1,
        "the locked record is retried, the deleted one is not"
    );
    assert!(o.fake.record("Opportunity", &ids[0]).unwrap()["Risk_Score__c"].is_number());
    o.fake.clear_calls();
    let third = o.sync().await;
    assert_eq!(third.written_back, 0);
    assert_eq!(third.writeback_unchanged as usize, ids.len());
    assert_eq!(
        o.fake.count("PATCH", "/composite/sobjects"),
        0,
        "unchanged scores are not sent"
    );
}

#[tokio::test]
async fn tasks_are_created_once_and_a_closed_task_is_never_reopened() {
    let o = org(30).await;
    let first = o.sync().await;
    assert!(first.tasks_created > 0, "{first:?}");
    let tasks = o.fake.records("Task");
    assert_eq!(tasks.len() as u64, first.tasks_created);
    let t = &tasks[0];
    assert!(
        t["SkyGeni_Key__c"]
            .as_str()
            .unwrap()
            .starts_with(t["WhatId"].as_str().unwrap())
    );
    assert!(t["OwnerId"].as_str().unwrap().starts_with("005"));
    assert_eq!(t["Priority"], "High");
    assert_eq!(t["ActivityDate"], "2026-11-29");
    let closed_id = t["Id"].as_str().unwrap().to_string();
    o.fake.complete_task(&closed_id);
    let again = o.sync().await;
    assert_eq!(again.tasks_created, 0);
    assert_eq!(again.tasks_skipped, first.tasks_created);
    assert_eq!(
        o.fake.records("Task").len() as u64,
        first.tasks_created,
        "no duplicates"
    );
    assert_eq!(
        o.fake.record("Task", &closed_id).unwrap()["IsClosed"],
        true,
        "still closed"
    );
}

pub(crate) fn signed(body: &Value, ts: i64, secret: &str) -> Request<Body> {
    let raw = serde_json::to_vec(body).unwrap();
    let ts = ts.to_string();
    Request::post("/webhooks/salesforce")
        .header("content-type", "application/json")
        .header("X-SkyGeni-Timestamp", &ts)
        .header(
            "X-SkyGeni-Signature",
            webhook::sign(secret.as_bytes(), &ts, &raw),
        )
        .body(Body::from(raw))
        .unwrap()
}

pub(crate) async fn app(o: &Org) -> axum::Router {
    let state = skygeni::app::AppState::new(settings(&o.server.url()), o.store.clone())
        .await
        .unwrap();
    skygeni::http::router(state)
}

pub(crate) async fn json_body(resp: axum::response::Response) -> Value {
    serde_json::from_slice(
        &axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap(),
    )
    .unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_webhook_with_a_bad_signature_gets_401_and_nothing_happens() {
    let o = org(5).await;
    let secret = o.webhook_secret().await;
    let app = app(&o).await;
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
    let app = app(&o).await;
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
    let deal = o
        .store
        .load_deals(&o.tenant)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.deal_id == id)
        .unwrap();
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
async fn an_admin_connects_an_org_with_the_oauth_web_server_flow() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let fake = FakeSalesforce::new();
    let server = fake.start(0).await.unwrap();
    let s = settings(&server.url());
    let state = skygeni::app::AppState::new(s.clone(), store.clone())
        .await
        .unwrap();
    let app = skygeni::http::router(state);
    let tenant = TenantId::default_tenant();
    let token = skygeni::auth::issue_token(
        s.jwt_secret.as_ref().unwrap(),
        &tenant,
        skygeni::auth::Role::Admin,
        "admin",
        60,
    )
    .unwrap();
    let rep = skygeni::auth::issue_token(
        s.jwt_secret.as_ref().unwrap(),
        &tenant,
        skygeni::auth::Role::Rep,
        "rep",
        60,
    )
    .unwrap();
    let resp = app
        .clone()
        .oneshot(
            Request::get(format!("/salesforce/connect?token={rep}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = app
        .clone()
        .oneshot(
            Request::get("/salesforce/connect")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let login = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(
        login.contains("code_challenge=") && login.contains("state=default."),
        "{login}"
    );
    // The browser logs in at Salesforce, which redirects back with a code.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let back = http.get(&login).send().await.unwrap();
    let callback = back.headers()["location"].to_str().unwrap().to_string();
    let path = callback
        .strip_prefix("http://skygeni.test")
        .unwrap()
        .to_string();
    let resp = app
        .clone()
        .oneshot(Request::get(&path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let conn = store.sf_connection(&tenant).await.unwrap().unwrap();
    assert_eq!(conn.org_id, ORG_ID);
    assert!(
        !conn.instance_url_sealed.contains("127.0.0.1"),
        "sealed at rest"
    );
    assert!(
        !conn
            .refresh_token_sealed
            .as_deref()
            .unwrap()
            .starts_with("5Aep"),
        "sealed at rest"
    );
    assert_eq!(
        store.tenant_for_sf_org(ORG_ID).await.unwrap(),
        Some(tenant.clone())
    );
    let again = app
        .oneshot(Request::get(&path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        StatusCode::BAD_REQUEST,
        "a state is single-use"
    );
    // The stored refresh token works for a sync.
    fake.seed_opportunities(3, 1, 2);
    let mut ctx = SyncContext::new(
        store.clone(),
        Arc::new(s),
        Arc::new(SecretBox::new(Some(KEY), None).unwrap()),
    );
    ctx.config.bulk_poll = Duration::from_millis(5);
    let r = sync_tenant(&ctx, &tenant, now(), &mut |_, _, _| {})
        .await
        .unwrap();
    assert_eq!((r.status.as_str(), r.pulled), ("ok", 3));
}

#[tokio::test]
async fn the_jwt_bearer_flow_connects_a_server_to_server_org() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let fake = FakeSalesforce::new();
    let server = fake.start(0).await.unwrap();
    fake.seed_opportunities(4, 2, 3);
    let s = Arc::new(settings(&server.url()));
    let secrets = Arc::new(SecretBox::new(Some(KEY), None).unwrap());
    let tenant = TenantId::default_tenant();
    let http = reqwest::Client::new();
    let org = skygeni::crm::salesforce::oauth::connect_jwt(
        &s,
        &store,
        &secrets,
        &http,
        &tenant,
        "integration@acme.example",
    )
    .await
    .unwrap();
    assert_eq!(org, ORG_ID);
    let mut ctx = SyncContext::new(store.clone(), s, secrets);
    ctx.config.bulk_poll = Duration::from_millis(5);
    let r = sync_tenant(&ctx, &tenant, now(), &mut |_, _, _| {})
        .await
        .unwrap();
    assert_eq!((r.status.as_str(), r.pulled), ("ok", 4));
    assert!(
        o_token_calls(&fake) >= 2,
        "JWT grant for connect and for the sync"
    );
}

fn o_token_calls(fake: &FakeSalesforce) -> usize {
    fake.count("POST", "/services/oauth2/token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skygeni_sync_connects_with_jwt_and_prints_counts_and_the_quality_report() {
    let db = TestDb::new().await;
    db.store().await;
    let fake = FakeSalesforce::new();
    let server = fake.start(0).await.unwrap();
    fake.seed_opportunities(6, 2, 4);
    let key = format!(
        "{}/tests/fixtures/salesforce_jwt_test_key.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    let run = |args: Vec<&'static str>| {
        let (url, login, key) = (db.url.clone(), server.url(), key.clone());
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_skygeni"))
                .args(args)
                .env("SKYGENI_DATABASE_URL", url)
                .env("SALESFORCE_LOGIN_URL", login)
                .env("SALESFORCE_CLIENT_ID", CLIENT_ID)
                .env("SALESFORCE_CLIENT_SECRET", CLIENT_SECRET)
                .env("SALESFORCE_JWT_PRIVATE_KEY", key)
                .env("SKYGENI_ENCRYPTION_KEY", KEY)
                .env_remove("SKYGENI_CONFIG")
                .output()
                .unwrap()
        })
    };
    let out = run(vec!["sync", "--jwt-username", "integration@acme.example"])
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Salesforce sync for default: ok"), "{text}");
    assert!(
        text.contains("full load (Bulk API 2.0): 6 Opportunities in the org, 6 pulled"),
        "{text}"
    );
    assert!(
        text.contains("Data quality: 6 rows read, 6 accepted, 0 rejected"),
        "{text}"
    );
    let out = run(vec!["sync", "--json"]).await.unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["status"].as_str(), v["full_load"].as_bool()),
        (Some("ok"), Some(false)),
        "{v}"
    );
    assert_eq!(v["written_back"], 0, "nothing changed since the first run");
}

/// The nightly's hooks in a test: the real nightly Salesforce step on the test's context.
struct SyncHooks(SyncContext);

impl skygeni::jobs::scheduler::NightlyHooks for SyncHooks {
    fn sync_crm<'a>(
        &'a self,
        tenant: &'a TenantId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> skygeni::jobs::scheduler::HookFuture<'a, skygeni::jobs::scheduler::CrmSync> {
        Box::pin(skygeni::jobs::nightly_hooks::nightly_sync(
            &self.0, tenant, now,
        ))
    }

    fn after_score<'a>(&'a self, _: &'a TenantId) -> skygeni::jobs::scheduler::HookFuture<'a> {
        Box::pin(async { Ok(()) })
    }
}

/// Salesforce down for a whole night: the scheduler's nightly retries the calls, then defers
/// the sync and flags the run (job_runs status `flagged`, sync_state `unavailable` with the
/// reason), still scores the deals it has, and keeps the high-water mark, so the next night
/// (Salesforce healthy) pulls every change made meanwhile and writes the new scores back.
#[tokio::test]
async fn salesforce_down_for_a_night_defers_flags_scores_and_the_next_night_catches_up() {
    use skygeni::jobs::scheduler::{JobKind, Scheduler, SchedulerConfig};
    let o = org(30).await;
    let hooks: Arc<dyn skygeni::jobs::scheduler::NightlyHooks> = Arc::new(SyncHooks(o.ctx.clone()));
    let cfg = SchedulerConfig::new(vec![JobKind::NightlyScore]);
    let s = Scheduler::new(o.store.clone(), cfg, crate::alerts::links(), Some(hooks)).unwrap();
    let night = |d: u32| chrono::Utc.with_ymd_and_hms(2026, 11, d, 2, 0, 0).unwrap();

    // Night 0, healthy: the first load.
    let ran = s.run_once(night(27)).await.unwrap();
    assert_eq!(ran.len(), 1, "{ran:?}");
    assert_eq!(ran[0].status, "ok", "{ran:?}");
    assert!(
        ran[0].detail.contains("salesforce ok: pulled 30"),
        "{ran:?}"
    );
    let hwm = o.store.sync_state(&o.tenant, "salesforce").await.unwrap();
    let before: std::collections::HashMap<String, String> = o
        .store
        .current_scores(&o.tenant)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.deal_id, s.scored_at))
        .collect();
    assert!(!before.is_empty());

    // During the day users change two open deals and add one; then Salesforce goes down
    // (503 on every call, the token endpoint included) for the whole of night 1.
    let open = o.open_ids();
    for id in &open[..2] {
        let mut f = serde_json::Map::new();
        f.insert("Amount".into(), json!(1_234.0));
        o.fake.edit("Opportunity", id, f);
    }
    let mut new = o.fake.record("Opportunity", &open[2]).unwrap();
    new.insert("Id".into(), json!("006NEWDURINGOUTAGE"));
    new.insert("Name".into(), json!("Added during the outage"));
    o.fake.put("Opportunity", new);
    o.fake.clear_calls();
    o.fake.faults.always(Fault::ServerError(503));
    let ran = s.run_once(night(28)).await.unwrap();
    assert_eq!(ran.len(), 1, "{ran:?}");
    assert_eq!(ran[0].status, "flagged", "{ran:?}");
    assert!(ran[0].ok, "flagged is not failed: {ran:?}");
    assert!(
        ran[0]
            .detail
            .contains("FLAGGED salesforce sync unavailable")
            && ran[0].detail.contains("503")
            && ran[0]
                .detail
                .contains(&format!("scored {} deals", before.len())),
        "{ran:?}"
    );
    // Retried (1 + 3 retries of the first call), then given up for the night.
    assert_eq!(o.fake.calls().len(), 4, "{:?}", o.fake.calls());
    let st = o.store.sync_state(&o.tenant, "salesforce").await.unwrap();
    assert_eq!(st.status, "unavailable", "{st:?}");
    assert!(st.deferred_until.is_some() && st.detail.as_deref().unwrap_or("").contains("503"));
    assert_eq!(
        st.high_water_mark, hwm.high_water_mark,
        "the mark stays put"
    );
    let runs = o.store.job_runs(&o.tenant, 5).await.unwrap();
    assert_eq!(runs[0].status, "flagged", "visible in `skygeni jobs`");
    // The stored deals were still scored tonight.
    let during = o.store.current_scores(&o.tenant).await.unwrap();
    assert_eq!(during.len(), before.len());
    assert!(during.iter().all(|s| s.scored_at > before[&s.deal_id]));
    let amount = |id: &str| {
        let store = o.store.clone();
        let (tenant, id) = (o.tenant.clone(), id.to_string());
        async move {
            store
                .load_deals(&tenant)
                .await
                .unwrap()
                .into_iter()
                .find(|d| d.deal_id == id)
                .map(|d| d.amount)
        }
    };
    assert_ne!(amount(&open[0]).await, Some(1_234.0), "not synced yet");

    // Night 2, Salesforce healthy again: every change made meanwhile arrives.
    o.fake.faults.clear();
    let ran = s.run_once(night(29)).await.unwrap();
    assert_eq!(ran[0].status, "ok", "{ran:?}");
    assert!(!ran[0].detail.contains("FLAGGED"), "{ran:?}");
    assert_eq!(amount(&open[0]).await, Some(1_234.0));
    assert_eq!(amount(&open[1]).await, Some(1_234.0));
    assert!(amount("006NEWDURINGOUTAGE").await.is_some(), "the new deal");
    assert_eq!(
        o.store.count_deals(&o.tenant).await.unwrap(),
        31,
        "nothing lost"
    );
    let st = o.store.sync_state(&o.tenant, "salesforce").await.unwrap();
    assert_eq!((st.status.as_str(), st.deferred_until), ("ok", None));
    // The new deal's score reached Salesforce.
    let rec = o.fake.record("Opportunity", "006NEWDURINGOUTAGE").unwrap();
    assert!(
        rec.get("Risk_Score__c").is_some_and(|v| v.is_number()),
        "{rec:?}"
    );
}
