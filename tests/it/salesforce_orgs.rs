//! The Salesforce integration on real orgs (issue 14), against the fake org written from
//! Salesforce's documentation: per-org webhook secrets written into the org at connect, every
//! unauthenticated notification the same 401; the JWT `aud` Salesforce accepts; permanent
//! write-back errors reported and not retried, transient ones retried, `tasks_created` from
//! the API's `created`; the first load's history query filtered; standard picklist values on
//! model segments; `skygeni sync` during a deferral; the package deploy the fake org checks.
use crate::salesforce::{KEY, Org, app, connect, json_body, now, org, settings, signed};
use crate::support::TestDb;
use axum::http::StatusCode;
use serde_json::{Value, json};
use skygeni::crm::salesforce::{SyncContext, sync_tenant};
use skygeni::crypto::SecretBox;
use skygeni::domain::TenantId;
use skygeni_fakes::salesforce::{CLIENT_ID, FakeSalesforce};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
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
async fn each_org_signs_with_its_own_secret_and_every_failure_is_the_same_401() {
    let o = org(4).await;
    let a_secret = o.webhook_secret().await;
    assert_eq!(a_secret.len(), 64, "32 random bytes, hex");
    let stored = o.store.sf_webhook_secret(&o.tenant).await.unwrap().unwrap();
    assert!(!stored.contains(&a_secret), "sealed at rest");
    let (b_fake, b_server, b_tenant) = second_org(&o).await;
    let mut b_ctx = o.ctx.clone();
    b_ctx.settings = Arc::new(settings(&b_server.url()));
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
    let app = app(&o).await;
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

#[tokio::test]
async fn the_jwt_audience_is_login_salesforce_com_and_the_org_refuses_its_my_domain_url() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let fake = FakeSalesforce::new();
    let server = fake.start(0).await.unwrap();
    fake.seed_opportunities(2, 1, 3);
    let secrets = Arc::new(SecretBox::new(Some(KEY), None).unwrap());
    let http = reqwest::Client::new();
    let tenant = TenantId::default_tenant();
    let s = settings(&server.url());
    let connect_as = |s: skygeni::config::Settings| {
        let (store, secrets, http, tenant) =
            (store.clone(), secrets.clone(), http.clone(), tenant.clone());
        async move {
            skygeni::crm::salesforce::oauth::connect_jwt(
                &s,
                &store,
                &secrets,
                &http,
                &tenant,
                "integration@acme.example",
            )
            .await
        }
    };
    connect_as(s.clone()).await.unwrap();
    // The old assertion (aud = the login URL the request goes to) is refused.
    let key = std::fs::read_to_string(format!(
        "{}/tests/fixtures/salesforce_jwt_test_key.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let bad = skygeni::crm::salesforce::oauth::jwt_assertion(
        CLIENT_ID,
        "integration@acme.example",
        &server.url(),
        &key,
        chrono::Utc::now(),
    )
    .unwrap();
    let resp = http
        .post(format!("{}/services/oauth2/token", server.url()))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", bad.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    // A sandbox takes only test.salesforce.com; an Experience site URL comes from the setting.
    fake.set_sandbox();
    let err = connect_as(s.clone()).await.unwrap_err();
    assert!(format!("{err:#}").contains("audience"), "{err:#}");
    fake.accept_audience("https://acme.my.site.com/partners");
    let mut site = s.clone();
    site.salesforce_jwt_audience = Some("https://acme.my.site.com/partners/".into());
    connect_as(site).await.unwrap();
}

#[tokio::test]
async fn permanent_write_back_errors_are_reported_once_not_retried_and_locks_are_retried() {
    let o = org(12).await;
    let app = app(&o).await; // installs the metrics recorder
    let ids = o.open_ids();
    let rule = "Close Date must not be in the past for an open deal";
    o.fake
        .refuse_writes(&ids[0], "FIELD_CUSTOM_VALIDATION_EXCEPTION", rule);
    o.fake.refuse_writes(
        &ids[1],
        "INSUFFICIENT_ACCESS_OR_READONLY",
        "insufficient access rights on object id",
    );
    o.fake.fail_next_write(&ids[2], "ENTITY_IS_LOCKED");
    let first = o.sync().await;
    assert_eq!(
        (first.writeback_rejected, first.writeback_failed),
        (2, 0),
        "{first:?}"
    );
    assert_eq!(
        first.written_back as usize,
        ids.len() - 2,
        "the locked one landed on the in-run retry"
    );
    let v = serde_json::to_value(&first).unwrap();
    let errors = v["record_errors"].as_array().unwrap();
    let refused = errors
        .iter()
        .find(|e| e["record_id"] == json!(ids[0]))
        .unwrap_or_else(|| panic!("{errors:?}"));
    assert_eq!(
        (
            refused["status_code"].as_str(),
            refused["message"].as_str(),
            refused["permanent"].as_bool()
        ),
        (
            Some("FIELD_CUSTOM_VALIDATION_EXCEPTION"),
            Some(rule),
            Some(true)
        )
    );
    // The locked record was tried twice in the run and landed; no error left to report.
    assert_eq!(o.fake.write_attempts(&ids[2]), 2);
    assert!(o.fake.record("Opportunity", &ids[2]).unwrap()["Risk_Score__c"].is_number());
    assert!(
        errors.iter().all(|e| e["record_id"] != json!(ids[2])),
        "{errors:?}"
    );
    let dq = &first.quality.warnings["salesforce_writeback_refused"];
    assert_eq!(dq.count, 2, "{dq:?}");
    assert!(
        dq.examples
            .iter()
            .any(|e| e.deal_id.as_deref() == Some(ids[0].as_str()) && e.detail.contains(rule))
    );
    let metrics = json_body_text(&app).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("skygeni_salesforce_record_errors_total")
                && l.contains("status_code=\"FIELD_CUSTOM_VALIDATION_EXCEPTION\"")
                && l.contains("kind=\"permanent\"")),
        "{metrics}"
    );
    assert!(
        metrics.contains("skygeni_salesforce_writeback_refused{tenant=\"default\"} 2"),
        "{metrics}"
    );
    // The next sync: the refused values are not sent again, and still reported.
    let attempts = o.fake.write_attempts(&ids[0]);
    let second = o.sync_at(now() + chrono::Duration::hours(1)).await;
    assert_eq!(
        o.fake.write_attempts(&ids[0]),
        attempts,
        "not retried every night"
    );
    assert_eq!(second.writeback_rejected, 0);
    assert_eq!(second.writeback_refused.len(), 2, "{second:?}");
    assert!(
        second
            .writeback_refused
            .iter()
            .all(|r| !r.status_code.is_empty() && !r.message.is_empty())
    );
    // Fixed in Salesforce and the values change: written again.
    o.fake.allow_writes(&ids[0]);
    o.fake.edit(
        "Opportunity",
        &ids[0],
        json!({"Amount": 7_777_777.0, "StageName": "Prospecting"})
            .as_object()
            .unwrap()
            .clone(),
    );
    let third = o.sync_at(now() + chrono::Duration::hours(2)).await;
    assert!(
        third
            .writeback_refused
            .iter()
            .all(|r| r.record_id != ids[0]),
        "{third:?}"
    );
    assert!(o.fake.record("Opportunity", &ids[0]).unwrap()["Risk_Score__c"].is_number());
}

async fn json_body_text(app: &axum::Router) -> String {
    let resp = app
        .clone()
        .oneshot(
            axum::http::Request::get("/metrics")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    String::from_utf8(
        axum::body::to_bytes(resp.into_body(), 1 << 22)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap()
}

#[tokio::test]
async fn tasks_created_counts_what_the_api_created_not_what_was_sent() {
    let o = org(30).await;
    let first = o.sync().await;
    assert!(first.tasks_created > 0, "{first:?}");
    let in_org = o.fake.records("Task").len() as u64;
    assert_eq!(first.tasks_created, in_org);
    // A second SkyGeni database on the same org (its Task memory lost): every upsert matches
    // a Task the org already has, and the API says created: false.
    let db = TestDb::new().await;
    let store = db.store().await;
    let secrets = Arc::new(SecretBox::new(Some(KEY), None).unwrap());
    let tenant = TenantId::default_tenant();
    connect(&store, &tenant, &o.fake, &o.server.url()).await;
    let mut ctx = SyncContext::new(store, Arc::new(settings(&o.server.url())), secrets);
    ctx.config.bulk_poll = Duration::from_millis(5);
    let r = sync_tenant(&ctx, &tenant, now(), &mut |_, _, _| {})
        .await
        .unwrap();
    assert_eq!(
        (r.tasks_created, r.tasks_matched),
        (0, first.tasks_created),
        "{r:?}"
    );
    assert_eq!(o.fake.records("Task").len() as u64, in_org, "no duplicates");
}

#[tokio::test]
async fn the_first_load_reads_history_of_open_opportunities_in_the_window_only() {
    let o = org(40).await;
    let open: std::collections::HashSet<String> = o.open_ids().into_iter().collect();
    // An open deal's snapshot from four years ago is outside the window.
    let old_deal = o.open_ids()[0].clone();
    let mut h = serde_json::Map::new();
    for (k, v) in [
        ("Id", json!("008OLDSNAPSHOT0001")),
        ("OpportunityId", json!(old_deal)),
        ("StageName", json!("Prospecting")),
        ("Amount", json!(1000.0)),
        ("CloseDate", json!("2022-06-01")),
        ("CreatedDate", json!("2022-01-05T09:00:00.000+0000")),
    ] {
        h.insert(k.into(), v);
    }
    o.fake.put("OpportunityHistory", h);
    let r = o.sync().await;
    assert!(r.full_load && r.used_bulk_query);
    let history: Vec<(String, usize)> = o
        .fake
        .bulk_queries()
        .into_iter()
        .filter(|(q, _)| q.contains("FROM OpportunityHistory"))
        .collect();
    assert_eq!(history.len(), 1, "{history:?}");
    let (soql, rows) = &history[0];
    assert!(
        soql.contains("Opportunity.IsClosed = false") && soql.contains("CreatedDate >="),
        "{soql}"
    );
    let cutoff = (now() - chrono::Duration::days(730)).to_rfc3339();
    let wanted = o
        .fake
        .records("OpportunityHistory")
        .iter()
        .filter(|h| open.contains(h["OpportunityId"].as_str().unwrap()))
        .filter(|h| h["CreatedDate"].as_str().unwrap() >= &cutoff[..10])
        .count();
    let all = o.fake.records("OpportunityHistory").len();
    assert_eq!(
        *rows, wanted,
        "only open deals' recent history ({all} rows in the org)"
    );
    assert!(*rows < all);
}

#[tokio::test]
async fn standard_picklist_values_score_on_model_segments_and_unmapped_ones_are_reported() {
    let o = org(30).await;
    let r = o.sync().await;
    let deals = o.store.load_deals(&o.tenant).await.unwrap();
    let sources: std::collections::BTreeSet<&str> =
        deals.iter().map(|d| d.lead_source.as_str()).collect();
    assert!(
        sources
            .iter()
            .all(|s| ["Inbound", "Outbound", "Referral", "Partner"].contains(s)),
        "Web, Partner Referral, Purchased List, Employee Referral map onto the model: {sources:?}"
    );
    let industries: std::collections::BTreeSet<&str> =
        deals.iter().map(|d| d.industry.as_str()).collect();
    assert!(
        industries.contains("SaaS"),
        "Technology → SaaS: {industries:?}"
    );
    // Manufacturing has no model segment: said so in the report, not silently unseen.
    let unmapped = &r.quality.warnings["segment_value_unmapped"];
    assert!(
        unmapped
            .examples
            .iter()
            .all(|e| e.detail.contains("\"Manufacturing\"")),
        "{unmapped:?}"
    );
    assert_eq!(
        unmapped.count as usize,
        deals
            .iter()
            .filter(|d| d.industry == "Manufacturing")
            .count()
    );
    // The tenant maps it through the field mapping: no warning, deals land on the segment.
    o.store
        .set_sf_field_mapping(
            &o.tenant,
            r#"{"values": {"industry": {"Manufacturing": "SaaS"}}}"#,
        )
        .await
        .unwrap();
    for d in &deals {
        o.fake.edit(
            "Opportunity",
            &d.deal_id,
            json!({"Type": "Existing Business"})
                .as_object()
                .unwrap()
                .clone(),
        );
    }
    let again = o.sync_at(now() + chrono::Duration::hours(1)).await;
    assert!(
        !again
            .quality
            .warnings
            .contains_key("segment_value_unmapped"),
        "{:?}",
        again.quality
    );
    assert!(
        o.store
            .load_deals(&o.tenant)
            .await
            .unwrap()
            .iter()
            .all(|d| d.industry != "Manufacturing")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skygeni_sync_during_a_deferral_says_until_when_and_why_and_force_overrides_it() {
    let o = org(5).await;
    o.fake.set_limit_exceeded(true);
    let deferred = o.sync_at(chrono::Utc::now()).await;
    assert_eq!(deferred.status, "deferred");
    o.fake.set_limit_exceeded(false);
    let run = |args: Vec<&'static str>| {
        let (url, login) = (o._db.url.clone(), o.server.url());
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_skygeni"))
                .args(args)
                .env("SKYGENI_DATABASE_URL", url)
                .env("SALESFORCE_LOGIN_URL", login)
                .env("SALESFORCE_CLIENT_ID", CLIENT_ID)
                .env(
                    "SALESFORCE_CLIENT_SECRET",
                    skygeni_fakes::salesforce::CLIENT_SECRET,
                )
                .env("SKYGENI_ENCRYPTION_KEY", KEY)
                .env_remove("SKYGENI_CONFIG")
                .output()
                .unwrap()
        })
    };
    let out = run(vec!["sync"]).await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    // To the minute: the stored deferral keeps less precision than the in-memory one.
    let until = deferred
        .deferred_until
        .unwrap()
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    assert!(
        text.contains(&format!("not run: deferred until {until}"))
            && text.contains("REQUEST_LIMIT_EXCEEDED")
            && text.contains("--force"),
        "{text}"
    );
    let out = run(vec!["sync", "--force"]).await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("ok (forced during a deferral)"), "{text}");
    assert!(text.contains("5 pulled"), "{text}");
}

#[test]
fn the_fake_org_deploys_the_package_and_refuses_the_old_layout_and_a_placeholder_url() {
    let pkg = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("salesforce_package");
    let env: HashMap<String, String> = [(
        "SKYGENI_PUBLIC_URL".to_string(),
        "https://skygeni.acme.example".to_string(),
    )]
    .into();
    let fake = FakeSalesforce::new();
    fake.without_package();
    let deployed = fake.deploy(&pkg, &env).unwrap_or_else(|e| panic!("{e:#?}"));
    assert!(
        deployed["Task"].contains_key("SkyGeni_Key__c"),
        "{deployed:?}"
    );
    assert!(deployed["SkyGeni_Settings__c"].contains_key("Webhook_Secret__c"));
    // Unset URL: the replacement fails the deploy, no placeholder reaches the org.
    let errs = FakeSalesforce::new()
        .deploy(&pkg, &HashMap::new())
        .unwrap_err();
    assert!(
        errs.iter().any(|e| e.contains("SKYGENI_PUBLIC_URL")),
        "{errs:?}"
    );
    // The old layout: the key field under objects/Task.
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&pkg, tmp.path());
    let objects = tmp.path().join("force-app/main/default/objects");
    std::fs::rename(objects.join("Activity"), objects.join("Task")).unwrap();
    let fresh = FakeSalesforce::new();
    fresh.without_package();
    let errs = fresh.deploy(tmp.path(), &env).unwrap_err();
    assert!(
        errs.iter()
            .any(|e| e
                .contains("Task.SkyGeni_Key__c: bad value for restricted picklist field: Task")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("no CustomField named Task.SkyGeni_Key__c")),
        "{errs:?}"
    );
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}
