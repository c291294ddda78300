//! A stateful fake Salesforce org (login server and instance on one port), faithful to
//! `shared/reference/salesforce.md` in the parts SkyGeni uses: OAuth web-server flow with PKCE,
//! refresh and JWT bearer grants; REST SOQL `query`/`queryAll` with `nextRecordsUrl` paging
//! (enough SOQL: field lists with `Account.X` relationships, `COUNT()`, `WHERE` with `AND` of
//! `=`, `>`, `>=`, `<`, `IN (…)`, `LIMIT`); `describe`; sObject Collections update (per-record
//! errors, 200-record cap) and upsert by external id; Bulk API 2.0 query (CSV + locators) and
//! ingest jobs; the `Sforce-Limit-Info` header; 401 `INVALID_SESSION_ID` on an expired token;
//! 403 `REQUEST_LIMIT_EXCEEDED` when the daily limit is used up or on demand. Every call is
//! recorded and [`Faults`] apply to every call. JWT signatures are not verified (claims are).
mod bulk;
mod soql;

use crate::faults::{Fault, Faults};
use crate::server::FakeServer;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Form, Json, Router};
use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub const API_VERSION: &str = "v66.0";
pub const CLIENT_ID: &str = "fake-consumer-key";
pub const CLIENT_SECRET: &str = "fake-consumer-secret";
pub const ORG_ID: &str = "00DFAKE000000001AA";

/// One recorded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub method: String,
    pub path: String,
}

/// A sObject record: field name → JSON value; relationship fields flat (`"Account.Name"`).
pub type Record = Map<String, Value>;

pub(crate) struct Org {
    pub base_url: String,
    /// Field name → describe type, per object.
    pub schema: BTreeMap<String, BTreeMap<String, String>>,
    /// Object → records by Id (Opportunity, User, OpportunityHistory, Task).
    pub records: BTreeMap<String, BTreeMap<String, Record>>,
    pub clock: chrono::DateTime<chrono::Utc>,
    next_id: u64,
    access_tokens: HashMap<String, ()>,
    refresh_tokens: HashMap<String, ()>,
    codes: HashMap<String, (String, String)>,
    pub api_used: u64,
    pub api_max: u64,
    pub limit_exceeded: bool,
    pub page_size: usize,
    pub record_errors: HashMap<String, Vec<String>>,
    pub cursors: HashMap<String, Vec<Value>>,
    pub query_jobs: HashMap<String, bulk::QueryJob>,
    pub ingest_jobs: HashMap<String, bulk::IngestJob>,
    pub calls: Vec<Call>,
    /// `Object.Field=value` → record id, for upserts by external id.
    pub external_ids: HashMap<String, String>,
}

impl Org {
    pub fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:015}", self.next_id)
    }

    /// Advance the org clock one second and return it in Salesforce's datetime format.
    pub fn tick(&mut self) -> String {
        self.clock += chrono::Duration::seconds(1);
        sf_datetime(self.clock)
    }

    pub fn field_type(&self, object: &str, field: &str) -> Option<&str> {
        if let Some((rel, f)) = field.split_once('.') {
            let target = match rel {
                "Account" => "Account",
                "Owner" => "User",
                _ => return None,
            };
            return self.schema.get(target)?.get(f).map(String::as_str);
        }
        self.schema.get(object)?.get(field).map(String::as_str)
    }

    /// Apply an update to one record; the per-record error the API would report, if any.
    pub fn update(
        &mut self,
        object: &str,
        id: &str,
        fields: &Record,
    ) -> Result<(), (String, String)> {
        if let Some(queue) = self.record_errors.get_mut(id)
            && !queue.is_empty()
        {
            let code = queue.remove(0);
            return Err((code.clone(), format!("{code} (injected)")));
        }
        for f in fields.keys() {
            if self.field_type(object, f).is_none() {
                return Err((
                    "INVALID_FIELD".into(),
                    format!("No such column '{f}' on sobject of type {object}"),
                ));
            }
        }
        let stamp = self.tick();
        let Some(rec) = self.records.get_mut(object).and_then(|m| m.get_mut(id)) else {
            return Err(("ENTITY_IS_DELETED".into(), "entity is deleted".into()));
        };
        if rec.get("IsDeleted") == Some(&Value::Bool(true)) {
            return Err(("ENTITY_IS_DELETED".into(), "entity is deleted".into()));
        }
        for (k, v) in fields {
            rec.insert(k.clone(), v.clone());
        }
        rec.insert("SystemModstamp".into(), Value::String(stamp));
        Ok(())
    }
}

/// Salesforce's datetime format: `2026-11-27T21:54:36.000+0000`.
pub fn sf_datetime(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

fn default_schema() -> BTreeMap<String, BTreeMap<String, String>> {
    let obj = |fields: &[(&str, &str)]| {
        fields
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect::<BTreeMap<_, _>>()
    };
    BTreeMap::from([
        (
            "Opportunity".to_string(),
            obj(&[
                ("Id", "id"),
                ("Name", "string"),
                ("AccountId", "reference"),
                ("Amount", "currency"),
                ("StageName", "picklist"),
                ("CreatedDate", "datetime"),
                ("CloseDate", "date"),
                ("IsClosed", "boolean"),
                ("IsWon", "boolean"),
                ("IsDeleted", "boolean"),
                ("OwnerId", "reference"),
                ("LeadSource", "picklist"),
                ("Type", "picklist"),
                ("LastActivityDate", "date"),
                ("SystemModstamp", "datetime"),
                ("Risk_Score__c", "double"),
                ("Risk_Category__c", "picklist"),
                ("Win_Probability__c", "percent"),
                ("Risk_Factors__c", "textarea"),
                ("Risk_Scored_At__c", "datetime"),
                ("Risk_Model_Version__c", "string"),
            ]),
        ),
        (
            "Account".to_string(),
            obj(&[
                ("Id", "id"),
                ("Name", "string"),
                ("Industry", "picklist"),
                ("BillingCountry", "string"),
            ]),
        ),
        (
            "User".to_string(),
            obj(&[
                ("Id", "id"),
                ("Name", "string"),
                ("Email", "email"),
                ("ManagerId", "reference"),
                ("TimeZoneSidKey", "picklist"),
                ("IsActive", "boolean"),
            ]),
        ),
        (
            "OpportunityHistory".to_string(),
            obj(&[
                ("Id", "id"),
                ("OpportunityId", "reference"),
                ("StageName", "picklist"),
                ("Amount", "currency"),
                ("CloseDate", "date"),
                ("CreatedDate", "datetime"),
                ("IsDeleted", "boolean"),
            ]),
        ),
        (
            "Task".to_string(),
            obj(&[
                ("Id", "id"),
                ("WhatId", "reference"),
                ("OwnerId", "reference"),
                ("Subject", "combobox"),
                ("Description", "textarea"),
                ("ActivityDate", "date"),
                ("Status", "picklist"),
                ("Priority", "picklist"),
                ("IsClosed", "boolean"),
                ("SkyGeni_Key__c", "string"),
            ]),
        ),
    ])
}

/// Handle to the fake org; clones share state.
#[derive(Clone)]
pub struct FakeSalesforce {
    pub(crate) org: Arc<Mutex<Org>>,
    pub faults: Faults,
}

impl Default for FakeSalesforce {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeSalesforce {
    pub fn new() -> FakeSalesforce {
        let org = Org {
            base_url: String::new(),
            schema: default_schema(),
            records: BTreeMap::new(),
            clock: chrono::DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
                .expect("valid")
                .with_timezone(&chrono::Utc),
            next_id: 0,
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            codes: HashMap::new(),
            api_used: 0,
            api_max: 1_000_000,
            limit_exceeded: false,
            page_size: 2_000,
            record_errors: HashMap::new(),
            cursors: HashMap::new(),
            query_jobs: HashMap::new(),
            ingest_jobs: HashMap::new(),
            calls: Vec::new(),
            external_ids: HashMap::new(),
        };
        FakeSalesforce {
            org: Arc::new(Mutex::new(org)),
            faults: Faults::default(),
        }
    }

    /// Serve on `127.0.0.1:port` (0 = any); the org's instance URL becomes the server's URL.
    pub async fn start(&self, port: u16) -> anyhow::Result<FakeServer> {
        let server = FakeServer::start(self.router(), port).await?;
        self.org.lock().base_url = server.url();
        Ok(server)
    }

    pub fn router(&self) -> Router {
        let data = format!("/services/data/{API_VERSION}");
        Router::new()
            .route("/services/oauth2/authorize", get(authorize))
            .route("/services/oauth2/token", post(token))
            .route(&format!("{data}/query"), get(query))
            .route(&format!("{data}/queryAll"), get(query_all))
            .route(&format!("{data}/query/{{cursor}}"), get(query_more))
            .route(
                &format!("{data}/sobjects/{{object}}/describe"),
                get(describe),
            )
            .route(
                &format!("{data}/composite/sobjects"),
                patch(collections_update),
            )
            .route(
                &format!("{data}/composite/sobjects/{{object}}/{{field}}"),
                patch(collections_upsert),
            )
            .route(&format!("{data}/jobs/query"), post(bulk::create_query))
            .route(
                &format!("{data}/jobs/query/{{id}}"),
                get(bulk::query_status),
            )
            .route(
                &format!("{data}/jobs/query/{{id}}/results"),
                get(bulk::query_results),
            )
            .route(&format!("{data}/jobs/ingest"), post(bulk::create_ingest))
            .route(
                &format!("{data}/jobs/ingest/{{id}}"),
                patch(bulk::close_ingest).get(bulk::ingest_status),
            )
            .route(
                &format!("{data}/jobs/ingest/{{id}}/batches"),
                axum::routing::put(bulk::upload_ingest),
            )
            .route(
                &format!("{data}/jobs/ingest/{{id}}/{{kind}}"),
                get(bulk::ingest_results),
            )
            .layer(middleware::from_fn_with_state(self.clone(), gate))
            // Bulk API 2.0 accepts uploads up to 150 MB.
            .layer(axum::extract::DefaultBodyLimit::max(150 * 1024 * 1024))
            .with_state(self.clone())
    }

    // ----- test controls -----

    /// Insert or replace a record (`Id` required); stamps SystemModstamp like a save.
    pub fn put(&self, object: &str, mut rec: Record) -> String {
        let mut org = self.org.lock();
        let id = match rec.get("Id").and_then(Value::as_str) {
            Some(id) => id.to_string(),
            None => {
                let prefix = match object {
                    "Opportunity" => "006",
                    "User" => "005",
                    "Task" => "00T",
                    _ => "0XX",
                };
                let id = org.new_id(prefix);
                rec.insert("Id".into(), Value::String(id.clone()));
                id
            }
        };
        let stamp = org.tick();
        rec.insert("SystemModstamp".into(), Value::String(stamp.clone()));
        rec.entry("CreatedDate").or_insert(Value::String(stamp));
        rec.entry("IsDeleted").or_insert(Value::Bool(false));
        org.records
            .entry(object.into())
            .or_default()
            .insert(id.clone(), rec);
        id
    }

    /// Change fields of a record as a user would (stamps SystemModstamp).
    pub fn edit(&self, object: &str, id: &str, fields: Record) {
        let mut org = self.org.lock();
        org.update(object, id, &fields).expect("record exists");
    }

    /// Move a record to the recycle bin (IsDeleted = true; only `queryAll` returns it).
    pub fn delete(&self, object: &str, id: &str) {
        let mut org = self.org.lock();
        let stamp = org.tick();
        let rec = org
            .records
            .get_mut(object)
            .and_then(|m| m.get_mut(id))
            .expect("record exists");
        rec.insert("IsDeleted".into(), Value::Bool(true));
        rec.insert("SystemModstamp".into(), Value::String(stamp));
    }

    pub fn record(&self, object: &str, id: &str) -> Option<Record> {
        self.org.lock().records.get(object)?.get(id).cloned()
    }

    pub fn records(&self, object: &str) -> Vec<Record> {
        self.org
            .lock()
            .records
            .get(object)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Move the org clock forward (time passes between syncs).
    pub fn advance(&self, by: chrono::Duration) {
        self.org.lock().clock += by;
    }

    /// Drop a field from an object's schema (an admin deleted it).
    pub fn remove_field(&self, object: &str, field: &str) {
        if let Some(s) = self.org.lock().schema.get_mut(object) {
            s.remove(field);
        }
    }

    pub fn set_field_type(&self, object: &str, field: &str, kind: &str) {
        if let Some(s) = self.org.lock().schema.get_mut(object) {
            s.insert(field.into(), kind.into());
        }
    }

    /// Invalidate every access token (sessions time out); refresh tokens stay valid.
    pub fn expire_access_tokens(&self) {
        self.org.lock().access_tokens.clear();
    }

    /// Revoke refresh tokens too (an admin revoked the app).
    pub fn revoke_refresh_tokens(&self) {
        self.org.lock().refresh_tokens.clear();
    }

    /// Answer every data call with 403 REQUEST_LIMIT_EXCEEDED while on.
    pub fn set_limit_exceeded(&self, on: bool) {
        self.org.lock().limit_exceeded = on;
    }

    /// Daily API allowance and current usage (reported in Sforce-Limit-Info).
    pub fn set_api_usage(&self, used: u64, max: u64) {
        let mut org = self.org.lock();
        org.api_used = used;
        org.api_max = max;
    }

    pub fn api_used(&self) -> u64 {
        self.org.lock().api_used
    }

    /// Records per query page (Salesforce: up to 2,000).
    pub fn set_page_size(&self, n: usize) {
        self.org.lock().page_size = n.max(1);
    }

    /// The next write to record `id` fails with `status_code` (once per call to this).
    pub fn fail_next_write(&self, id: &str, status_code: &str) {
        self.org
            .lock()
            .record_errors
            .entry(id.into())
            .or_default()
            .push(status_code.into());
    }

    pub fn calls(&self) -> Vec<Call> {
        self.org.lock().calls.clone()
    }

    /// Calls whose method matches and path contains `fragment`.
    pub fn count(&self, method: &str, fragment: &str) -> usize {
        self.org
            .lock()
            .calls
            .iter()
            .filter(|c| c.method == method && c.path.contains(fragment))
            .count()
    }

    pub fn clear_calls(&self) {
        self.org.lock().calls.clear();
    }

    pub fn url(&self) -> String {
        self.org.lock().base_url.clone()
    }

    /// A valid refresh token for the org (what the web-server flow would have granted).
    pub fn issue_refresh_token(&self) -> String {
        let token = format!("5Aep{}", uuid::Uuid::new_v4().simple());
        self.org.lock().refresh_tokens.insert(token.clone(), ());
        token
    }

    /// `n` open and closed Opportunities with Accounts, owners (with a manager) and stage
    /// history, deterministic for a given `seed`. Returns their ids.
    pub fn seed_opportunities(&self, n: usize, owners: usize, seed: u64) -> Vec<String> {
        let mut rng = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut next = move |m: u64| {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (rng >> 33) % m.max(1)
        };
        let mut org = self.org.lock();
        let manager = "005MGR000000000001".to_string();
        let mut users = vec![(manager.clone(), None)];
        for i in 0..owners.max(1) {
            users.push((format!("005REP{i:012}"), Some(manager.clone())));
        }
        for (i, (id, mgr)) in users.iter().enumerate() {
            let mut u = Record::new();
            u.insert("Id".into(), json!(id));
            u.insert("Name".into(), json!(format!("User {i}")));
            u.insert("Email".into(), json!(format!("user{i}@example.com")));
            u.insert(
                "ManagerId".into(),
                mgr.clone().map_or(Value::Null, Value::String),
            );
            u.insert(
                "TimeZoneSidKey".into(),
                json!(if i % 2 == 0 {
                    "Asia/Kolkata"
                } else {
                    "America/New_York"
                }),
            );
            u.insert("IsActive".into(), json!(true));
            org.records
                .entry("User".into())
                .or_default()
                .insert(id.clone(), u);
        }
        const STAGES: [&str; 5] = [
            "Prospecting",
            "Qualification",
            "Proposal",
            "Negotiation",
            "Closed Won",
        ];
        const INDUSTRIES: [&str; 6] = [
            "Software",
            "Financial Services",
            "Healthcare",
            "Education",
            "Retail",
            "Manufacturing",
        ];
        const SOURCES: [&str; 4] = ["Inbound", "Outbound", "Referral", "Partner"];
        const REGIONS: [&str; 4] = ["North America", "Europe", "APAC", "India"];
        let today = org.clock.date_naive();
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let id = format!("006S{seed:02}{i:012}");
            let created = today - chrono::Duration::days(10 + next(300) as i64);
            let closed = next(10) < 4;
            let won = closed && next(2) == 0;
            let stage = if closed {
                if won { "Closed Won" } else { "Closed Lost" }
            } else {
                STAGES[next(4) as usize]
            };
            let close = created + chrono::Duration::days(30 + next(120) as i64);
            let amount = (5_000 + next(200_000)) as f64;
            let owner = &users[1 + (i % owners.max(1))].0;
            let stamp = sf_datetime(org.clock);
            let mut r = Record::new();
            r.insert("Id".into(), json!(id));
            r.insert("Name".into(), json!(format!("Deal {i}")));
            r.insert("AccountId".into(), json!(format!("001S{i:014}")));
            r.insert(
                "Account.Name".into(),
                json!(format!("Account {}", i % 5000)),
            );
            r.insert(
                "Account.Industry".into(),
                json!(INDUSTRIES[next(6) as usize]),
            );
            r.insert(
                "Account.BillingCountry".into(),
                json!(REGIONS[next(4) as usize]),
            );
            r.insert("Amount".into(), json!(amount));
            r.insert("StageName".into(), json!(stage));
            r.insert(
                "CreatedDate".into(),
                json!(format!("{created}T09:00:00.000+0000")),
            );
            r.insert("CloseDate".into(), json!(close.to_string()));
            r.insert("IsClosed".into(), json!(closed));
            r.insert("IsWon".into(), json!(won));
            r.insert("IsDeleted".into(), json!(false));
            r.insert("OwnerId".into(), json!(owner));
            r.insert("LeadSource".into(), json!(SOURCES[next(4) as usize]));
            r.insert("Type".into(), json!("New Business"));
            r.insert(
                "LastActivityDate".into(),
                json!((today - chrono::Duration::days(next(40) as i64)).to_string()),
            );
            r.insert("SystemModstamp".into(), json!(stamp));
            // Stage history: created in Prospecting, later moved (with a close-date push and
            // an amount cut on some deals).
            let hist = org.records.entry("OpportunityHistory".into()).or_default();
            let mut h = |k: usize,
                         stage: &str,
                         amt: f64,
                         close: chrono::NaiveDate,
                         at: chrono::NaiveDate| {
                let mut r = Record::new();
                let hid = format!("008S{seed:02}{i:010}{k:02}");
                r.insert("Id".into(), json!(hid));
                r.insert("OpportunityId".into(), json!(id));
                r.insert("StageName".into(), json!(stage));
                r.insert("Amount".into(), json!(amt));
                r.insert("CloseDate".into(), json!(close.to_string()));
                r.insert(
                    "CreatedDate".into(),
                    json!(format!("{at}T09:00:00.000+0000")),
                );
                r.insert("IsDeleted".into(), json!(false));
                hist.insert(hid, r);
            };
            let first_close = close - chrono::Duration::days(if i % 3 == 0 { 21 } else { 0 });
            let first_amount = if i % 4 == 0 { amount * 1.3 } else { amount };
            h(0, "Prospecting", first_amount, first_close, created);
            if stage != "Prospecting" {
                h(
                    1,
                    stage,
                    amount,
                    close,
                    created + chrono::Duration::days(5 + next(20) as i64),
                );
            }
            org.records
                .entry("Opportunity".into())
                .or_default()
                .insert(id.clone(), r);
            ids.push(id);
        }
        ids
    }
}

fn sf_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!([{"message": message, "errorCode": code, "fields": []}])),
    )
        .into_response()
}

/// Every call: record it, apply faults, check the bearer token and the API limit on data
/// calls, count usage and report it in Sforce-Limit-Info.
async fn gate(State(sf): State<FakeSalesforce>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    sf.org.lock().calls.push(Call {
        method: req.method().to_string(),
        path: format!(
            "{path}{}",
            req.uri()
                .query()
                .map(|q| format!("?{q}"))
                .unwrap_or_default()
        ),
    });
    let (fault, latency) = sf.faults.take();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        Some(Fault::ServerError(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return sf_error(status, "SERVER_UNAVAILABLE", "injected server error");
        }
        Some(Fault::RateLimited { retry_after_secs }) => {
            let mut r = sf_error(
                StatusCode::TOO_MANY_REQUESTS,
                "REQUEST_LIMIT_EXCEEDED",
                "ConcurrentPerOrgLongTxn Limit exceeded",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            return r;
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        // The connection never answers; the client's timeout fires.
        Some(Fault::Drop) => tokio::time::sleep(std::time::Duration::from_secs(3600)).await,
        None => {}
    }
    if !path.starts_with("/services/data/") {
        return next.run(req).await;
    }
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let usage = {
        let mut org = sf.org.lock();
        if !token.is_some_and(|t| org.access_tokens.contains_key(&t)) {
            return sf_error(
                StatusCode::UNAUTHORIZED,
                "INVALID_SESSION_ID",
                "Session expired or invalid",
            );
        }
        if org.limit_exceeded || org.api_used >= org.api_max {
            return sf_error(
                StatusCode::FORBIDDEN,
                "REQUEST_LIMIT_EXCEEDED",
                "TotalRequests Limit exceeded.",
            );
        }
        org.api_used += 1;
        format!("api-usage={}/{}", org.api_used, org.api_max)
    };
    let mut resp = next.run(req).await;
    resp.headers_mut().insert(
        "Sforce-Limit-Info",
        HeaderValue::from_str(&usage).expect("ascii"),
    );
    resp
}

async fn authorize(
    State(sf): State<FakeSalesforce>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (Some(redirect), Some(state)) = (q.get("redirect_uri"), q.get("state")) else {
        return (
            StatusCode::BAD_REQUEST,
            "redirect_uri and state are required",
        )
            .into_response();
    };
    if q.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || q.get("response_type").map(String::as_str) != Some("code")
    {
        return (
            StatusCode::BAD_REQUEST,
            "invalid client_id or response_type",
        )
            .into_response();
    }
    let challenge = q.get("code_challenge").cloned().unwrap_or_default();
    let code = format!("aPrx{}", uuid::Uuid::new_v4().simple());
    sf.org
        .lock()
        .codes
        .insert(code.clone(), (challenge, redirect.clone()));
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let location = format!("{redirect}{sep}code={code}&state={}", urlencode(state));
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn grant_error(desc: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": "invalid_grant", "error_description": desc})),
    )
        .into_response()
}

async fn token(
    State(sf): State<FakeSalesforce>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    use base64::Engine;
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    let mut org = sf.org.lock();
    let mut refresh = None;
    match get("grant_type") {
        "authorization_code" => {
            if get("client_id") != CLIENT_ID || get("client_secret") != CLIENT_SECRET {
                return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_client", "error_description": "invalid client credentials"}))).into_response();
            }
            let Some((challenge, redirect)) = org.codes.remove(get("code")) else {
                return grant_error("invalid authorization code");
            };
            let digest = <sha2::Sha256 as sha2::Digest>::digest(get("code_verifier").as_bytes());
            let expect = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
            if challenge != expect || redirect != get("redirect_uri") {
                return grant_error("invalid code verifier or redirect_uri");
            }
            let r = format!("5Aep{}", uuid::Uuid::new_v4().simple());
            org.refresh_tokens.insert(r.clone(), ());
            refresh = Some(r);
        }
        "refresh_token" => {
            if get("client_id") != CLIENT_ID
                || !org.refresh_tokens.contains_key(get("refresh_token"))
            {
                return grant_error("expired access/refresh token");
            }
        }
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => {
            let claims = get("assertion")
                .split('.')
                .nth(1)
                .and_then(|p| {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(p)
                        .ok()
                })
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
            let Some(c) = claims else {
                return grant_error("invalid assertion");
            };
            let now = chrono::Utc::now().timestamp();
            let exp = c["exp"].as_i64().unwrap_or(0);
            if c["iss"] != CLIENT_ID
                || c["sub"].as_str().is_none_or(str::is_empty)
                || exp < now
                || exp > now + 300
            {
                return grant_error("invalid assertion");
            }
        }
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "unsupported_grant_type"})),
            )
                .into_response();
        }
    }
    let access = format!("00DFAKE!{}", uuid::Uuid::new_v4().simple());
    org.access_tokens.insert(access.clone(), ());
    let mut body = json!({
        "access_token": access,
        "instance_url": org.base_url,
        "id": format!("{}/id/{ORG_ID}/005MGR000000000001", org.base_url),
        "token_type": "Bearer",
        "issued_at": chrono::Utc::now().timestamp_millis().to_string(),
        "signature": "fake",
        "scope": "api refresh_token",
    });
    if let Some(r) = refresh {
        body["refresh_token"] = json!(r);
    }
    Json(body).into_response()
}

async fn query(
    State(sf): State<FakeSalesforce>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    run_query(&sf, q.get("q").map(String::as_str).unwrap_or(""), false)
}

async fn query_all(
    State(sf): State<FakeSalesforce>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    run_query(&sf, q.get("q").map(String::as_str).unwrap_or(""), true)
}

fn run_query(sf: &FakeSalesforce, text: &str, all: bool) -> Response {
    let mut org = sf.org.lock();
    let parsed = match soql::parse(text) {
        Ok(p) => p,
        Err(e) => return sf_error(StatusCode::BAD_REQUEST, "MALFORMED_QUERY", &e),
    };
    let rows = match soql::execute(&org, &parsed, all) {
        Ok(r) => r,
        Err(e) => return sf_error(StatusCode::BAD_REQUEST, "INVALID_FIELD", &e),
    };
    if parsed.count_only {
        return Json(json!({"totalSize": rows.len(), "done": true, "records": []})).into_response();
    }
    let records: Vec<Value> = rows.iter().map(|r| soql::to_json(&parsed, r)).collect();
    page(&mut org, records)
}

fn page(org: &mut Org, mut records: Vec<Value>) -> Response {
    let total = records.len();
    let rest = if records.len() > org.page_size {
        records.split_off(org.page_size)
    } else {
        Vec::new()
    };
    let mut body = json!({"totalSize": total, "done": rest.is_empty(), "records": records});
    if !rest.is_empty() {
        let cursor = format!("01g{}-{}", uuid::Uuid::new_v4().simple(), org.page_size);
        body["nextRecordsUrl"] = json!(format!("/services/data/{API_VERSION}/query/{cursor}"));
        org.cursors.insert(cursor, rest);
    }
    Json(body).into_response()
}

async fn query_more(State(sf): State<FakeSalesforce>, Path(cursor): Path<String>) -> Response {
    let mut org = sf.org.lock();
    let Some(rest) = org.cursors.remove(&cursor) else {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY_LOCATOR",
            "invalid query locator",
        );
    };
    page(&mut org, rest)
}

async fn describe(State(sf): State<FakeSalesforce>, Path(object): Path<String>) -> Response {
    let org = sf.org.lock();
    let Some(fields) = org.schema.get(&object) else {
        return sf_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
        );
    };
    let fields: Vec<Value> = fields
        .iter()
        .map(|(name, kind)| json!({"name": name, "type": kind, "externalId": name == "SkyGeni_Key__c"}))
        .collect();
    Json(json!({"name": object, "fields": fields})).into_response()
}

fn record_error(code: &str, message: &str) -> Value {
    json!({"success": false, "errors": [{"statusCode": code, "message": message, "fields": []}]})
}

async fn collections_update(State(sf): State<FakeSalesforce>, Json(body): Json<Value>) -> Response {
    let records = body["records"].as_array().cloned().unwrap_or_default();
    if records.len() > 200 {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        );
    }
    let mut org = sf.org.lock();
    let mut out = Vec::new();
    for r in records {
        let Some(obj) = r.as_object() else {
            return sf_error(
                StatusCode::BAD_REQUEST,
                "JSON_PARSER_ERROR",
                "record is not an object",
            );
        };
        let object = r["attributes"]["type"].as_str().unwrap_or("").to_string();
        let Some(id) = obj.get("id").and_then(Value::as_str).map(str::to_string) else {
            out.push(record_error(
                "MISSING_ARGUMENT",
                "Id not specified in an update call",
            ));
            continue;
        };
        let fields: Record = obj
            .iter()
            .filter(|(k, _)| *k != "attributes" && *k != "id")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        match org.update(&object, &id, &fields) {
            Ok(()) => out.push(json!({"id": id, "success": true, "errors": []})),
            Err((code, msg)) => out.push(record_error(&code, &msg)),
        }
    }
    Json(Value::Array(out)).into_response()
}

async fn collections_upsert(
    State(sf): State<FakeSalesforce>,
    Path((object, field)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    let records = body["records"].as_array().cloned().unwrap_or_default();
    if records.len() > 200 {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "EXCEEDED_ID_LIMIT",
            "cannot submit more than 200 records into this call",
        );
    }
    let mut org = sf.org.lock();
    let mut out = Vec::new();
    for r in records {
        let Some(key) = r.get(&field).and_then(Value::as_str).map(str::to_string) else {
            out.push(record_error(
                "MISSING_ARGUMENT",
                &format!("{field} not specified"),
            ));
            continue;
        };
        let fields: Record = r
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| *k != "attributes")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let index_key = format!("{object}.{field}={key}");
        let existing = org.external_ids.get(&index_key).cloned();
        match existing {
            Some(id) => match org.update(&object, &id, &fields) {
                Ok(()) => {
                    out.push(json!({"id": id, "success": true, "errors": [], "created": false}))
                }
                Err((code, msg)) => out.push(record_error(&code, &msg)),
            },
            None => {
                if let Some(bad) = fields.keys().find(|f| org.field_type(&object, f).is_none()) {
                    out.push(record_error(
                        "INVALID_FIELD",
                        &format!("No such column '{bad}'"),
                    ));
                    continue;
                }
                let id = org.new_id("00T");
                let stamp = org.tick();
                let mut rec = fields;
                rec.insert("Id".into(), json!(id));
                rec.entry("Status").or_insert(json!("Not Started"));
                rec.insert("IsClosed".into(), json!(false));
                rec.insert("IsDeleted".into(), json!(false));
                rec.insert("SystemModstamp".into(), json!(stamp));
                org.records
                    .entry(object.clone())
                    .or_default()
                    .insert(id.clone(), rec);
                org.external_ids.insert(index_key, id.clone());
                out.push(json!({"id": id, "success": true, "errors": [], "created": true}));
            }
        }
    }
    Json(Value::Array(out)).into_response()
}

impl FakeSalesforce {
    /// The rep completes a Task (Status Completed, IsClosed true).
    pub fn complete_task(&self, id: &str) {
        let mut org = self.org.lock();
        if let Some(t) = org.records.get_mut("Task").and_then(|m| m.get_mut(id)) {
            t.insert("Status".into(), json!("Completed"));
            t.insert("IsClosed".into(), json!(true));
        }
    }
}
