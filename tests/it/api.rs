//! REST API v1 over real HTTP on 127.0.0.1:0: every endpoint, auth and RBAC, error shapes,
//! rate limits (in process and through the real Redis), idempotency, audit and RLS.
use crate::support::TestDb;
use chrono::NaiveDate;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use skygeni::app::Application;
use skygeni::auth::{Role, issue_token, verify_token};
use skygeni::config::Settings;
use skygeni::crm::parse_csv_bytes;
use skygeni::crm::synthetic::generated_csv;
use skygeni::domain::alert_settings::format_hhmm;
use skygeni::domain::{ModelScope, TenantId};
use skygeni::store::{Backend, NewUser, Store};

pub(crate) const SECRET: &str = "test-jwt-secret-0123456789abcdef";

pub(crate) fn t(s: &str) -> TenantId {
    TenantId::parse(s).unwrap()
}

pub(crate) fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 6, 1).unwrap()
}

pub(crate) struct TestApp {
    pub(crate) base: String,
    pub(crate) state: skygeni::app::AppState,
    pub(crate) store: Store,
    pub(crate) client: reqwest::Client,
    _db: TestDb,
}

impl TestApp {
    pub(crate) async fn spawn() -> TestApp {
        TestApp::spawn_with(&[]).await
    }

    /// A server on a free port with its own database; `extra` are more settings variables.
    pub(crate) async fn spawn_with(extra: &[(&str, &str)]) -> TestApp {
        let db = TestDb::new().await;
        TestApp::spawn_on(db, extra).await
    }

    pub(crate) async fn spawn_on(db: TestDb, extra: &[(&str, &str)]) -> TestApp {
        let (base, state) = start_server(&db.url, extra).await;
        TestApp {
            base,
            state,
            store: db.store().await,
            client: reqwest::Client::new(),
            _db: db,
        }
    }

    pub(crate) fn token(&self, tenant: &str, role: Role, sub: &str) -> String {
        issue_token(&SecretString::from(SECRET), &t(tenant), role, sub, 3600).unwrap()
    }

    pub(crate) async fn get(
        &self,
        path: &str,
        token: &str,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        read(r).await
    }

    pub(crate) async fn post(
        &self,
        path: &str,
        token: &str,
        body: &Value,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        read(r).await
    }

    /// `n` generated deals (reps rep_0..rep_24, one in five open) for `tenant`.
    pub(crate) async fn seed(
        &self,
        tenant: &str,
        n: usize,
        prefix: &str,
    ) -> Vec<skygeni::domain::Deal> {
        let tenant = t(tenant);
        if self.store.get_tenant(&tenant).await.is_err() {
            self.store.add_tenant(&tenant, "Test", "UTC").await.unwrap();
        }
        let deals = parse_csv_bytes(generated_csv(n, prefix).as_bytes(), as_of())
            .unwrap()
            .deals;
        self.store
            .upsert_deals(&tenant, &deals, &mut |_| {})
            .await
            .unwrap();
        deals
    }

    /// Score every open deal and store the scores (what the nightly batch does).
    /// Train and register the default tenant's production model on `deals` (logistic only,
    /// 3 folds: fast enough for a test).
    pub(crate) async fn train_default(
        &self,
        deals: &[skygeni::domain::Deal],
    ) -> skygeni::engine::TrainReport {
        let cfg = skygeni::engine::TrainConfig {
            gbt: None,
            folds: 3,
            ..Default::default()
        };
        skygeni::service::models::train_and_register(
            &self.store,
            &ModelScope::Tenant(TenantId::default_tenant()),
            deals,
            &cfg,
            false,
        )
        .await
        .unwrap()
    }

    pub(crate) async fn batch_score(&self, tenant: &str) {
        skygeni::service::batch::score_open_deals(&self.store, &t(tenant), as_of(), &mut |_, _| {})
            .await
            .unwrap();
    }

    pub(crate) async fn audit_actions(&self, tenant: &str) -> Vec<skygeni::store::AuditRow> {
        self.state.flush_audit().await;
        self.store.list_audit(&t(tenant), 1000).await.unwrap()
    }
}

/// The service on a free port over `db_url`; `extra` are more settings variables.
pub(crate) async fn build_app(db_url: &str, extra: &[(&str, &str)]) -> Application {
    let mut vars = vec![
        ("SKYGENI_DATABASE_URL", db_url),
        ("SKYGENI_BIND", "127.0.0.1:0"),
        ("SKYGENI_JWT_SECRET", SECRET),
    ];
    vars.extend_from_slice(extra);
    let settings = Settings::from_vars(vars).unwrap();
    Application::build(settings).await.unwrap()
}

/// A running server that stops when the returned sender fires; the handle yields its result.
async fn start_stoppable(
    db_url: &str,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let app = build_app(db_url, &[]).await;
    let base = format!("http://127.0.0.1:{}", app.port());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    (base, tx, server)
}

pub(crate) async fn start_server(
    db_url: &str,
    extra: &[(&str, &str)],
) -> (String, skygeni::app::AppState) {
    let app = build_app(db_url, extra).await;
    let base = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    tokio::spawn(app.run_until(std::future::pending()));
    (base, state)
}

pub(crate) async fn read(r: reqwest::Response) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body, headers)
}

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

#[tokio::test]
async fn healthz_answers_and_readyz_reports_database_migrations_and_a_degraded_model() {
    let app = TestApp::spawn().await;
    let (s, body, _) = app.get("/healthz", "").await;
    assert_eq!((s, body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, body, _) = app.get("/readyz", "").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"]["ok"], true);
    assert_eq!(body["migrations"]["ok"], true, "{body}");
    assert!(body["migrations"]["applied"].as_u64().unwrap() >= 2);
    assert_eq!(
        body["model"]["degraded"], true,
        "no model registered yet: {body}"
    );
    assert_eq!(body["rate_limits"], "in_process");
}

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
    let audit = app.audit_actions("default").await;
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
async fn another_tenants_deal_is_a_404_like_a_missing_one_and_the_attempt_is_audited() {
    let app = TestApp::spawn().await;
    let other = app.seed("other-co", 50, "X").await;
    app.seed("default", 50, "D").await;
    let theirs = other.iter().find(|d| d.is_open()).unwrap();
    let tok = app.token("default", Role::Admin, "admin_1");

    let (s, cross, headers) = app
        .post("/v1/deals/score", &tok, &json!({"deal_id": theirs.deal_id}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{cross}");
    assert_error(&cross, "not_found");
    let (s, missing, _) = app
        .post("/v1/deals/score", &tok, &json!({"deal_id": "NO-SUCH-DEAL"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        cross["message"]
            .as_str()
            .unwrap()
            .replace(&theirs.deal_id, "ID"),
        missing["message"]
            .as_str()
            .unwrap()
            .replace("NO-SUCH-DEAL", "ID"),
        "nothing tells another tenant's deal from a missing one"
    );
    let rid = headers["x-request-id"].to_str().unwrap();
    assert_eq!(cross["request_id"], rid);
    let audit = app.audit_actions("default").await;
    let row = audit
        .iter()
        .find(|a| a.target.as_deref() == Some(theirs.deal_id.as_str()))
        .expect("the attempt is audited in the caller's tenant");
    assert_eq!(
        (
            row.action.as_str(),
            row.actor.as_str(),
            row.request_id.as_deref()
        ),
        ("deal.not_found", "admin_1", Some(rid))
    );
    assert!(
        app.audit_actions("other-co").await.is_empty(),
        "nothing is written into the other tenant"
    );
}

#[tokio::test]
async fn a_rep_sees_only_their_own_deals_and_a_manager_their_teams() {
    let app = TestApp::spawn().await;
    let deals = app.seed("default", 500, "R").await;
    app.batch_score("default").await;
    let tenant = TenantId::default_tenant();
    for (id, role, manager) in [
        ("mgr_1", "manager", None),
        ("rep_3", "rep", Some("mgr_1")),
        ("rep_4", "rep", Some("mgr_1")),
        ("rep_2", "rep", None),
    ] {
        app.store
            .upsert_user(
                &tenant,
                &NewUser {
                    user_id: id,
                    email: None,
                    name: None,
                    role,
                    manager_id: manager,
                },
            )
            .await
            .unwrap();
    }
    let ids = |body: &Value| -> Vec<String> {
        body["deals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["rep_id"].as_str().unwrap().to_string())
            .collect()
    };
    let all = "/v1/deals/high-risk?risk_category=low,medium,high,critical&limit=200";

    let (s, rep, _) = app
        .get(all, &app.token("default", Role::Rep, "rep_3"))
        .await;
    assert_eq!(s, StatusCode::OK, "{rep}");
    let open_of = |r: &str| {
        deals
            .iter()
            .filter(|d| d.is_open() && d.sales_rep_id == r)
            .count() as u64
    };
    assert_eq!(
        rep["pagination"]["total_count"].as_u64().unwrap(),
        open_of("rep_3")
    );
    assert!(ids(&rep).iter().all(|r| r == "rep_3"), "{:?}", ids(&rep));

    let (_, mgr, _) = app
        .get(all, &app.token("default", Role::Manager, "mgr_1"))
        .await;
    assert_eq!(
        mgr["pagination"]["total_count"].as_u64().unwrap(),
        open_of("rep_3") + open_of("rep_4")
    );
    assert!(ids(&mgr).iter().all(|r| r == "rep_3" || r == "rep_4"));

    let (_, admin, _) = app.get(all, &app.token("default", Role::Admin, "a")).await;
    let open_total = deals.iter().filter(|d| d.is_open()).count() as u64;
    assert_eq!(
        admin["pagination"]["total_count"].as_u64().unwrap(),
        open_total
    );

    // Scoring someone else's stored deal: the same 404 as a missing deal, audited as denied.
    let not_mine = deals
        .iter()
        .find(|d| d.is_open() && d.sales_rep_id == "rep_2")
        .unwrap();
    let (s, body, _) = app
        .post(
            "/v1/deals/score",
            &app.token("default", Role::Rep, "rep_3"),
            &json!({"deal_id": not_mine.deal_id}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    assert!(
        app.audit_actions("default")
            .await
            .iter()
            .any(|a| a.action == "deal.access_denied"
                && a.target.as_deref() == Some(not_mine.deal_id.as_str()))
    );
    // …while the manager may score a team member's deal.
    let team_deal = deals
        .iter()
        .find(|d| d.is_open() && d.sales_rep_id == "rep_4")
        .unwrap();
    let (s, body, _) = app
        .post(
            "/v1/deals/score",
            &app.token("default", Role::Manager, "mgr_1"),
            &json!({"deal_id": team_deal.deal_id, "as_of": "2024-06-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_rep_also_sees_deals_whose_owner_email_is_theirs() {
    let app = TestApp::spawn().await;
    let mut deals = app.seed("default", 500, "O").await;
    let tenant = TenantId::default_tenant();
    let shared = deals
        .iter_mut()
        .find(|d| d.is_open() && d.sales_rep_id == "rep_2")
        .unwrap();
    shared.owner_email = Some("Pat.Rep3@Example.com".into());
    let shared = shared.clone();
    app.store
        .upsert_deals(&tenant, std::slice::from_ref(&shared), &mut |_| {})
        .await
        .unwrap();
    app.batch_score("default").await;
    app.store
        .upsert_user(
            &tenant,
            &NewUser {
                user_id: "rep_3",
                email: Some("pat.rep3@example.com"),
                name: Some("Pat"),
                role: "rep",
                manager_id: None,
            },
        )
        .await
        .unwrap();
    let tok = app.token("default", Role::Rep, "rep_3");
    let (s, body, _) = app
        .get(
            "/v1/deals/high-risk?risk_category=low,medium,high,critical&limit=200",
            &tok,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let own = deals
        .iter()
        .filter(|d| d.is_open() && d.sales_rep_id == "rep_3")
        .count() as u64;
    assert_eq!(
        body["pagination"]["total_count"].as_u64().unwrap(),
        own + 1,
        "{body}"
    );
    assert!(
        body["deals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["deal_id"] == shared.deal_id.as_str()),
        "the owner-email deal is listed"
    );
    let (s, body, _) = app
        .post(
            "/v1/deals/score",
            &tok,
            &json!({"deal_id": shared.deal_id, "as_of": "2024-06-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

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
    let audit = app.audit_actions("default").await;
    assert!(
        audit
            .iter()
            .any(|a| a.action == "pipeline.metrics"
                && a.request_id.as_deref() == Some("trace-abc-123")),
        "{audit:?}"
    );
}

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

#[tokio::test]
async fn alert_settings_are_validated_and_upserted_for_the_caller() {
    let app = TestApp::spawn().await;
    let tok = app.token("default", Role::Rep, "rep_7");
    let (s, body, _) = app
        .post(
            "/v1/alerts/configure",
            &tok,
            &json!({
                "critical_deals": {"threshold": 70, "channels": ["slack"]},
                "daily_digest": {"timezone": "Asia/Kolkata", "time": "08:30"}
            }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        (body["user_id"].as_str(), body["settings_updated"].as_bool()),
        (Some("rep_7"), Some(true))
    );
    assert!(
        body["effective_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{body}"
    );
    let (s, _, _) = app
        .post(
            "/v1/alerts/configure",
            &tok,
            &json!({"critical_deals": {"threshold": 80}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let stored = app
        .store
        .get_alert_settings(&TenantId::default_tenant(), "rep_7")
        .await
        .unwrap()
        .expect("settings stored for the caller");
    assert_eq!(
        (
            stored.time_zone.name(),
            format_hhmm(stored.digest_time),
            stored.threshold,
            stored.channel_names()
        ),
        ("Asia/Kolkata", "08:30".to_string(), 80, vec!["slack"]),
        "a partial update keeps the other fields"
    );
    for (input, field) in [
        (
            json!({"daily_digest": {"timezone": "Mars/Olympus_Mons"}}),
            "daily_digest.timezone",
        ),
        (
            json!({"daily_digest": {"time": "25:00"}}),
            "daily_digest.time",
        ),
        (
            json!({"critical_deals": {"threshold": -1}}),
            "critical_deals.threshold",
        ),
        (
            json!({"critical_deals": {"channels": ["slack", "pager"]}}),
            "critical_deals.channels",
        ),
        (
            json!({"critical_deals": {"threshold": "high"}}),
            "critical_deals.threshold",
        ),
    ] {
        let (s, body, _) = app.post("/v1/alerts/configure", &tok, &input).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{input}: {body}");
        assert_error(&body, "validation_error");
        assert_eq!(body["details"]["field"], field, "{input}: {body}");
    }
}

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

#[tokio::test]
async fn requests_without_a_valid_token_are_unauthorized() {
    let app = TestApp::spawn().await;
    let now = chrono::Utc::now().timestamp() as u64;
    let claims = json!({"sub": "u", "tenant_id": "default", "role": "admin", "exp": now + 3600});
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims)
    );
    let expired = {
        let c = json!({"sub": "u", "tenant_id": "default", "role": "admin", "exp": now - 120});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &c,
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    };
    let wrong_secret = issue_token(
        &SecretString::from("not-our-secret"),
        &TenantId::default_tenant(),
        Role::Admin,
        "u",
        3600,
    )
    .unwrap();
    let bad_role = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "u", "tenant_id": "default", "role": "owner", "exp": now + 3600}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let cases: [(&str, Option<String>); 6] = [
        ("no header", None),
        ("malformed", Some("Bearer not.a.jwt".into())),
        ("expired", Some(format!("Bearer {expired}"))),
        ("wrong signature", Some(format!("Bearer {wrong_secret}"))),
        ("alg none", Some(format!("Bearer {alg_none}"))),
        ("unknown role", Some(format!("Bearer {bad_role}"))),
    ];
    for (name, header) in cases {
        let mut req = app.client.get(format!("{}/v1/pipeline/metrics", app.base));
        if let Some(h) = header {
            req = req.header("authorization", h);
        }
        let (s, body, _) = read(req.send().await.unwrap()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{name}: {body}");
        assert_error(&body, "unauthorized");
    }
    let basic = app
        .client
        .get(format!("{}/v1/pipeline/metrics", app.base))
        .header("authorization", "Basic dTpw")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
}

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

#[tokio::test]
async fn the_request_after_the_per_user_limit_gets_429_with_retry_after() {
    let app = TestApp::spawn_with(&[("SKYGENI_RATE_LIMIT_USER_PER_MIN", "100")]).await;
    let tok = app.token("default", Role::Admin, "busy");
    for i in 0..100 {
        let (s, body, _) = app.get("/v1/deals/high-risk", &tok).await;
        assert_eq!(s, StatusCode::OK, "request {}: {body}", i + 1);
    }
    let (s, body, headers) = app.get("/v1/deals/high-risk", &tok).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_error(&body, "rate_limit_exceeded");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(body["details"]["scope"], "user");
    assert_eq!(
        body["retry_after"].as_u64(),
        Some(retry),
        "the design's retry_after matches the header: {body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Max 100 requests per minute"),
        "{body}"
    );
    let (s, _, _) = app
        .get(
            "/v1/deals/high-risk",
            &app.token("default", Role::Admin, "calm"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "another user has their own budget");
}

#[tokio::test]
async fn the_tenant_limit_covers_all_its_users_together() {
    let app = TestApp::spawn_with(&[("SKYGENI_RATE_LIMIT_TENANT_PER_MIN", "3")]).await;
    for user in ["u1", "u2", "u3"] {
        let (s, _, _) = app
            .get(
                "/v1/deals/high-risk",
                &app.token("default", Role::Admin, user),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    let (s, body, _) = app
        .get(
            "/v1/deals/high-risk",
            &app.token("default", Role::Admin, "u4"),
        )
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["details"]["scope"], "tenant");
    app.store
        .add_tenant(&t("other"), "Other", "UTC")
        .await
        .unwrap();
    let (s, _, _) = app
        .get(
            "/v1/deals/high-risk",
            &app.token("other", Role::Admin, "u1"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "other tenants are unaffected");
}

#[tokio::test]
async fn rate_limits_are_shared_through_redis_by_every_replica() {
    let db = TestDb::new().await;
    let url = db.url.clone();
    let redis = [
        ("SKYGENI_REDIS_URL", "redis://127.0.0.1:6379"),
        ("SKYGENI_RATE_LIMIT_USER_PER_MIN", "3"),
    ];
    let app = TestApp::spawn_on(db, &redis).await;
    let (second, _) = start_server(&url, &redis).await;
    let (_, ready, _) = app.get("/readyz", "").await;
    assert_eq!(ready["rate_limits"], "redis", "{ready}");
    // A tenant of its own, so reruns within a minute do not share counters.
    let tenant = format!("rl-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    app.store
        .add_tenant(&t(&tenant), "RL", "UTC")
        .await
        .unwrap();
    let tok = app.token(&tenant, Role::Admin, "u");
    for base in [&app.base, &second, &app.base] {
        let r = app
            .client
            .get(format!("{base}/v1/deals/high-risk"))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = app
        .client
        .get(format!("{second}/v1/deals/high-risk"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the 4th request counts across replicas"
    );
    assert!(r.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn an_unreachable_redis_falls_back_to_in_process_limits() {
    let app = TestApp::spawn_with(&[
        ("SKYGENI_REDIS_URL", "redis://127.0.0.1:1"),
        ("SKYGENI_RATE_LIMIT_USER_PER_MIN", "2"),
    ])
    .await;
    let (_, ready, _) = app.get("/readyz", "").await;
    assert_eq!(ready["rate_limits"], "in_process");
    let tok = app.token("default", Role::Admin, "u");
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(app.get("/v1/deals/high-risk", &tok).await.0.as_u16());
    }
    assert_eq!(statuses, vec![200, 200, 429]);
}

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
        .audit_actions("default")
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

#[tokio::test]
async fn skygeni_serve_answers_and_exits_cleanly_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let db = TestDb::new().await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_skygeni"))
        .arg("serve")
        .env("SKYGENI_DATABASE_URL", &db.url)
        .env("SKYGENI_BIND", "127.0.0.1:0")
        .env("SKYGENI_JWT_SECRET", SECRET)
        .env_remove("SKYGENI_CONFIG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let port: u16 = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "serve exited before listening"
        );
        if let Some(p) = line.trim().strip_prefix("skygeni listening on port ") {
            break p.parse().unwrap();
        }
    };
    let r = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "graceful exit, got {status:?}");
}

#[tokio::test]
async fn on_postgres_row_level_security_hides_other_tenants_rows_from_a_query_without_where() {
    let app = TestApp::spawn().await;
    app.seed("tenant-a", 20, "A").await;
    app.seed("tenant-b", 30, "B").await;
    // Audit rows for both tenants through the API.
    for tenant in ["tenant-a", "tenant-b"] {
        let (s, _, _) = app
            .get(
                "/v1/deals/high-risk",
                &app.token(tenant, Role::Admin, "adm"),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    if app.store.backend() != Backend::Postgres {
        // SQLite has no row-level security; the application's WHERE clauses are the only
        // guard there, and the cross-tenant API test covers them on both backends.
        return;
    }
    let ids = app
        .store
        .unscoped_texts_for_tests(&t("tenant-a"), "SELECT deal_id FROM deals")
        .await
        .unwrap();
    assert_eq!(ids.len(), 20);
    assert!(ids.iter().all(|id| id.starts_with('A')), "{ids:?}");
    app.state.flush_audit().await;
    let tenants = app
        .store
        .unscoped_texts_for_tests(&t("tenant-a"), "SELECT DISTINCT tenant_id FROM audit_log")
        .await
        .unwrap();
    assert_eq!(tenants, vec!["tenant-a".to_string()]);
}

#[tokio::test]
async fn the_openapi_document_is_served_and_describes_every_v1_route() {
    let app = TestApp::spawn().await;
    let (s, doc, _) = app.get("/v1/openapi.json", "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for (method, path) in skygeni::api::ROUTES {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} undocumented"
        );
    }
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|ops| ops.as_object().unwrap().len())
        .sum();
    assert_eq!(
        documented,
        skygeni::api::ROUTES.len(),
        "no stale paths or methods"
    );
}

#[tokio::test]
async fn metrics_expose_request_latency_per_route_and_scoring_latency() {
    let app = TestApp::spawn().await;
    let (s, _, _) = app
        .post(
            "/v1/deals/score",
            &app.token("default", Role::Admin, "a"),
            &inline_deal(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let text = crate::support::metrics_text(&app.client, &app.base).await;
    assert!(
        text.lines()
            .any(|l| l.starts_with("http_request_duration_seconds_bucket")
                && l.contains("route=\"/v1/deals/score\"")),
        "{text}"
    );
    assert!(text.contains("skygeni_score_duration_seconds"), "{text}");
}

#[tokio::test]
async fn the_server_drains_and_stops_when_told_to_shut_down() {
    let db = TestDb::new().await;
    let (base, tx, server) = start_stoppable(&db.url).await;
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    tx.send(()).unwrap();
    server.await.unwrap().expect("clean shutdown");
    assert!(
        reqwest::Client::new()
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_err(),
        "no longer listening"
    );
}

#[test]
fn the_token_command_prints_a_verifiable_token_and_needs_the_secret() {
    let run = |secret: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_skygeni"));
        cmd.args([
            "token", "--tenant", "acme", "--role", "manager", "--sub", "user_1", "--ttl", "600",
        ])
        .env_remove("SKYGENI_JWT_SECRET")
        .env_remove("SKYGENI_CONFIG");
        if let Some(s) = secret {
            cmd.env("SKYGENI_JWT_SECRET", s);
        }
        cmd.output().unwrap()
    };
    let out = run(None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SKYGENI_JWT_SECRET"));
    let out = run(Some("cli-secret"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let claims = verify_token(&SecretString::from("cli-secret"), token.trim()).unwrap();
    assert_eq!(
        (claims.sub.as_str(), claims.role, claims.tenant_id.as_str()),
        ("user_1", Role::Manager, "acme")
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
    let rows = burst_rows(&app.audit_actions("default").await);
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
    let db = TestDb::new().await;
    let (base, tx, server) = start_stoppable(&db.url).await;
    let token = issue_token(
        &SecretString::from(SECRET),
        &TenantId::default_tenant(),
        Role::Rep,
        "rep_1",
        3600,
    )
    .unwrap();
    let n = 60;
    let ids = score_burst(&reqwest::Client::new(), &base, &token, n).await;
    // No flush: stop the server right away, while entries are still queued.
    tx.send(()).unwrap();
    server.await.unwrap().expect("clean shutdown");
    let store = db.store().await;
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
    let audited = app.audit_actions("default").await;
    assert!(audited.len() >= 3, "{} audit rows", audited.len());
}
