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
mod handlers;
pub mod metadata;
pub mod orgs;
mod soql;

use handlers::*;

use crate::faults::Faults;
use crate::server::FakeServer;
use axum::Router;
use axum::middleware;
use axum::routing::{get, patch, post};
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
    /// The org's id (in the identity URL the token endpoint returns).
    pub org_id: String,
    /// JWT bearer `aud` values this org accepts (its login server, plus any Experience site).
    pub audiences: Vec<String>,
    /// Record id → (status code, message) that every write to it fails with: a validation
    /// rule, a required field, no access. Unlike `record_errors` these never clear by retrying.
    pub refusals: HashMap<String, (String, String)>,
    /// Write attempts per record id (accepted or not).
    pub attempts: HashMap<String, u32>,
    /// Every Bulk API 2.0 query job: (SOQL, rows it returned).
    pub bulk_queries: Vec<(String, usize)>,
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
    /// Accepted risk-field writes per Opportunity id and upserts per Task external id: the
    /// load kit's "written back once" check counts here, not in SkyGeni's own tables.
    pub writes: HashMap<String, u32>,
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
                "Opportunity" if object == "OpportunityHistory" => "Opportunity",
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
        *self.attempts.entry(id.to_string()).or_default() += 1;
        if let Some((code, message)) = self.refusals.get(id) {
            return Err((code.clone(), message.clone()));
        }
        if let Some(queue) = self.record_errors.get_mut(id)
            && !queue.is_empty()
        {
            let code = queue.remove(0);
            let message = match code.as_str() {
                "UNABLE_TO_LOCK_ROW" => "unable to obtain exclusive access to this record".into(),
                "ENTITY_IS_LOCKED" => "the entity is locked for editing (approval process)".into(),
                _ => format!("{code} (injected)"),
            };
            return Err((code, message));
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
        if object == "Opportunity" && fields.contains_key("Risk_Score__c") {
            *self.writes.entry(format!("Opportunity:{id}")).or_default() += 1;
        }
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
        // The package's hierarchy custom setting (org default row: SetupOwnerId = org id).
        (
            "SkyGeni_Settings__c".to_string(),
            obj(&[
                ("Id", "id"),
                ("SetupOwnerId", "reference"),
                ("Enabled__c", "boolean"),
                ("Webhook_Secret__c", "string"),
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
            org_id: ORG_ID.into(),
            audiences: vec!["https://login.salesforce.com".into()],
            refusals: HashMap::new(),
            attempts: HashMap::new(),
            bulk_queries: Vec::new(),
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
            writes: HashMap::new(),
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
                "/services/apexrest/skygeni/settings",
                axum::routing::put(metadata::put_settings),
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
        // Upserts by external id find records put here too.
        if let Some(key) = rec.get("SkyGeni_Key__c").and_then(Value::as_str) {
            let index = format!("{object}.SkyGeni_Key__c={key}");
            org.external_ids.insert(index, id.clone());
        }
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

    /// Accepted writes per key (`Opportunity:<id>` risk fields, `Task:<external id>`).
    pub fn writes(&self) -> HashMap<String, u32> {
        self.org.lock().writes.clone()
    }

    /// A sandbox: its login server is test.salesforce.com, so that is the JWT `aud` it takes.
    pub fn set_sandbox(&self) {
        self.org.lock().audiences = vec!["https://test.salesforce.com".into()];
    }

    /// Also accept an Experience Cloud site URL as JWT `aud`.
    pub fn accept_audience(&self, url: &str) {
        self.org.lock().audiences.push(url.into());
    }

    pub fn set_org_id(&self, id: &str) {
        self.org.lock().org_id = id.into();
    }

    pub fn org_id(&self) -> String {
        self.org.lock().org_id.clone()
    }

    /// Every write to record `id` fails with this per-record error until [`Self::allow_writes`]
    /// (a validation rule, a required field, no access: retrying cannot help).
    pub fn refuse_writes(&self, id: &str, status_code: &str, message: &str) {
        self.org
            .lock()
            .refusals
            .insert(id.into(), (status_code.into(), message.into()));
    }

    pub fn allow_writes(&self, id: &str) {
        self.org.lock().refusals.remove(id);
    }

    /// Write attempts on record `id` so far (accepted or refused).
    pub fn write_attempts(&self, id: &str) -> u32 {
        self.org.lock().attempts.get(id).copied().unwrap_or(0)
    }

    /// The org default's `SkyGeni_Settings__c.Webhook_Secret__c` (what the Apex signs with).
    pub fn webhook_secret(&self) -> Option<String> {
        let org = self.org.lock();
        org.records
            .get("SkyGeni_Settings__c")?
            .values()
            .find(|r| r.get("SetupOwnerId").and_then(Value::as_str) == Some(org.org_id.as_str()))?
            .get("Webhook_Secret__c")?
            .as_str()
            .map(str::to_string)
    }

    /// Bulk API 2.0 query jobs so far: (SOQL, rows returned).
    pub fn bulk_queries(&self) -> Vec<(String, usize)> {
        self.org.lock().bulk_queries.clone()
    }

    /// Accept `token` as a refresh token (a multi-org fake names its orgs' tokens).
    pub fn accept_refresh_token(&self, token: &str) {
        self.org.lock().refresh_tokens.insert(token.into(), ());
    }

    /// The instance URL the token endpoint hands out (a multi-org fake serves each org
    /// under its own path).
    pub fn set_url(&self, url: &str) {
        self.org.lock().base_url = url.into();
    }

    /// Forget the call log and the write counts.
    pub fn reset_counters(&self) {
        let mut org = self.org.lock();
        org.calls.clear();
        org.writes.clear();
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
        self.seed_org(n, owners, seed, "")
    }

    /// [`FakeSalesforce::seed_opportunities`] with `tag` in every user id and email, so the
    /// orgs of a multi-org fake have distinct people (digest keys are per user id).
    pub fn seed_org(&self, n: usize, owners: usize, seed: u64, tag: &str) -> Vec<String> {
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
        let manager = format!("005MGR{tag}{:0w$}", 1, w = 12 - tag.len().min(11));
        let mut users = vec![(manager.clone(), None)];
        for i in 0..owners.max(1) {
            users.push((
                format!("005REP{tag}{i:0w$}", w = 12 - tag.len().min(11)),
                Some(manager.clone()),
            ));
        }
        for (i, (id, mgr)) in users.iter().enumerate() {
            let mut u = Record::new();
            u.insert("Id".into(), json!(id));
            u.insert("Name".into(), json!(format!("User {i}")));
            u.insert("Email".into(), json!(format!("user{i}{tag}@example.com")));
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
        // Salesforce's standard Account.Industry and Opportunity.LeadSource picklist values,
        // as a new org ships them (not the model's segment names).
        const INDUSTRIES: [&str; 6] = [
            "Technology",
            "Banking",
            "Healthcare",
            "Education",
            "Retail",
            "Manufacturing",
        ];
        const SOURCES: [&str; 4] = [
            "Web",
            "Partner Referral",
            "Purchased List",
            "Employee Referral",
        ];
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
