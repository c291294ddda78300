//! Many fake orgs behind one port, for the load kit's nightly run (one org per tenant). Org
//! `k` is served under `/org/{k}` (its instance URL) and accepts the refresh token
//! [`refresh_token`]`(k)`; the shared login endpoint `/services/oauth2/token` routes a token
//! grant to its org by that token. Control routes: `POST /_control/orgs` creates orgs with
//! generated Opportunities (deterministic per org), `POST|DELETE /_control/orgs/{k}/faults`
//! switches faults for one org (a Salesforce outage for one tenant), `POST
//! /_control/orgs/{k}/edit` changes Opportunities as users would, `GET /_control/calls`
//! reports API calls and the accepted writes per record, with duplicates (`DELETE` resets
//! those counters).
use super::FakeSalesforce;
use crate::control;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use parking_lot::RwLock;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use tower::ServiceExt;

/// The refresh token org `k` accepts.
pub fn refresh_token(k: usize) -> String {
    format!("5Aep-org{k}-loadkit")
}

/// Cap on orgs and records so a typo cannot exhaust memory.
const MAX_ORGS: usize = 10_000;
const MAX_RECORDS: usize = 2_000_000;

struct Org {
    sf: FakeSalesforce,
    router: Router,
}

#[derive(Clone)]
pub struct FakeOrgs {
    base_url: Arc<RwLock<String>>,
    orgs: Arc<RwLock<Vec<Arc<Org>>>>,
}

impl Default for FakeOrgs {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Deserialize)]
struct CreateOrgs {
    orgs: usize,
    opportunities: usize,
    #[serde(default = "default_owners")]
    owners: usize,
}

fn default_owners() -> usize {
    20
}

#[derive(Deserialize)]
struct Edit {
    /// Change the amount and stage of this many open Opportunities (the first ones by id).
    changes: usize,
}

impl FakeOrgs {
    pub fn new() -> FakeOrgs {
        FakeOrgs {
            base_url: Arc::default(),
            orgs: Arc::default(),
        }
    }

    /// Set the server's URL once it is bound (instance URLs are built from it).
    pub fn set_url(&self, url: &str) {
        *self.base_url.write() = url.trim_end_matches('/').to_string();
        for (k, o) in self.orgs.read().iter().enumerate() {
            o.sf.set_url(&format!("{url}/org/{k}"));
        }
    }

    pub fn org(&self, k: usize) -> Option<FakeSalesforce> {
        self.orgs.read().get(k).map(|o| o.sf.clone())
    }

    /// Add `n` orgs with `opportunities` each (org `k` seeded with seed `k`, so runs repeat).
    pub fn create(&self, n: usize, opportunities: usize, owners: usize) -> usize {
        let base = self.base_url.read().clone();
        let start = self.orgs.read().len();
        let made: Vec<Arc<Org>> = (start..start + n)
            .map(|k| {
                let sf = FakeSalesforce::new();
                // Fixed width, so no two orgs share a user id (digest keys are per user id).
                sf.seed_org(opportunities, owners.max(1), k as u64, &format!("o{k:05}"));
                sf.accept_refresh_token(&refresh_token(k));
                // Each org its own id (webhook routing and secrets are per org).
                sf.set_org_id(&format!("00DFAKEORG{k:06}AA"));
                sf.set_url(&format!("{base}/org/{k}"));
                let router = sf
                    .router()
                    .merge(control::router(sf.faults.clone()))
                    .route("/_control/edit", post(edit).with_state(sf.clone()));
                Arc::new(Org { sf, router })
            })
            .collect();
        let mut orgs = self.orgs.write();
        orgs.extend(made);
        orgs.len()
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/services/oauth2/token", post(token))
            .route("/org/{k}/{*rest}", any(forward))
            .route("/_control/orgs", post(create))
            .route("/_control/orgs/{k}/{*rest}", any(control_forward))
            .route("/_control/calls", get(calls).delete(reset))
            .with_state(self.clone())
    }
}

async fn create(State(f): State<FakeOrgs>, Json(c): Json<CreateOrgs>) -> Response {
    let total = f.orgs.read().len() + c.orgs;
    if total > MAX_ORGS || c.orgs.saturating_mul(c.opportunities) > MAX_RECORDS {
        return (StatusCode::BAD_REQUEST, "too many orgs or records").into_response();
    }
    let f2 = f.clone();
    // Seeding a million records takes seconds: keep it off the async workers.
    let orgs = tokio::task::spawn_blocking(move || f2.create(c.orgs, c.opportunities, c.owners))
        .await
        .unwrap_or(0);
    Json(json!({"orgs": orgs})).into_response()
}

/// Hand the request to org `k`'s own router with the `/org/{k}` prefix removed.
async fn to_org(f: &FakeOrgs, k: usize, path: &str, mut req: Request) -> Response {
    let Some(org) = f.orgs.read().get(k).cloned() else {
        return (StatusCode::NOT_FOUND, format!("no org {k}")).into_response();
    };
    let q = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    *req.uri_mut() = format!("{path}{q}").parse::<Uri>().expect("valid path");
    // The outer route's path parameters live in the extensions; the org's own routes must
    // see only theirs.
    let (mut parts, body) = req.into_parts();
    parts.extensions = Default::default();
    let req = Request::from_parts(parts, body);
    match org.router.clone().oneshot(req).await {
        Ok(r) => r,
        Err(e) => match e {},
    }
}

async fn forward(
    State(f): State<FakeOrgs>,
    Path((k, rest)): Path<(usize, String)>,
    req: Request,
) -> Response {
    to_org(&f, k, &format!("/{rest}"), req).await
}

async fn control_forward(
    State(f): State<FakeOrgs>,
    Path((k, rest)): Path<(usize, String)>,
    req: Request,
) -> Response {
    to_org(&f, k, &format!("/_control/{rest}"), req).await
}

/// The login endpoint: a refresh-token grant goes to the org that issued the token.
async fn token(State(f): State<FakeOrgs>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let form: BTreeMap<String, String> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
    let k = form
        .get("refresh_token")
        .and_then(|t| t.strip_prefix("5Aep-org"))
        .and_then(|t| t.split('-').next())
        .and_then(|k| k.parse::<usize>().ok());
    let Some(k) = k else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant", "error_description": "unknown refresh token"})),
        )
            .into_response();
    };
    let req = Request::from_parts(parts, Body::from(bytes));
    to_org(&f, k, "/services/oauth2/token", req).await
}

/// Change `changes` open Opportunities (amount −10 %, stage Negotiation) as a user would, so
/// the next incremental sync must pick them up. Returns the changed ids.
async fn edit(State(sf): State<FakeSalesforce>, Json(e): Json<Edit>) -> Response {
    let mut open: Vec<(String, f64)> = sf
        .records("Opportunity")
        .into_iter()
        .filter(|r| r.get("IsClosed") == Some(&json!(false)))
        .filter_map(|r| {
            Some((
                r.get("Id")?.as_str()?.to_string(),
                r.get("Amount")?.as_f64()?,
            ))
        })
        .collect();
    open.sort_by(|a, b| a.0.cmp(&b.0));
    let mut changed = Vec::new();
    for (id, amount) in open.into_iter().take(e.changes) {
        let mut fields = super::Record::new();
        fields.insert("Amount".into(), json!((amount * 0.9).round()));
        fields.insert("StageName".into(), json!("Negotiation"));
        sf.edit("Opportunity", &id, fields);
        changed.push(id);
    }
    Json(json!({"changed": changed})).into_response()
}

/// Forget every org's call log and write counts (the load kit counts each night alone).
async fn reset(State(f): State<FakeOrgs>) -> StatusCode {
    for o in f.orgs.read().iter() {
        o.sf.reset_counters();
    }
    StatusCode::NO_CONTENT
}

/// Totals over every org: API calls (from each org's call log), accepted risk-field writes
/// and Task upserts per record, and how many records were written more than once.
async fn calls(State(f): State<FakeOrgs>) -> Json<Value> {
    let orgs: Vec<Arc<Org>> = f.orgs.read().clone();
    let (mut api_calls, mut token_calls) = (0usize, 0usize);
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    let (mut opp_writes, mut opp_records, mut opp_dup) = (0u64, 0u64, 0u64);
    let (mut task_writes, mut task_keys, mut task_dup) = (0u64, 0u64, 0u64);
    let mut per_org_calls = Vec::with_capacity(orgs.len());
    for o in &orgs {
        let calls = o.sf.calls();
        let mut n = 0usize;
        for c in &calls {
            if c.path.starts_with("/_control") {
                continue;
            }
            if c.path.starts_with("/services/oauth2") {
                token_calls += 1;
                continue;
            }
            n += 1;
            let family: String = c
                .path
                .split(['/', '?'])
                .filter(|p| !p.is_empty())
                .skip(3)
                .take(2)
                .map(|p| if p.len() > 12 { "{id}" } else { p })
                .collect::<Vec<_>>()
                .join("/");
            *by_kind.entry(format!("{} {family}", c.method)).or_default() += 1;
        }
        api_calls += n;
        per_org_calls.push(n);
        for (key, w) in o.sf.writes() {
            let w = u64::from(w);
            if key.starts_with("Opportunity:") {
                opp_writes += w;
                opp_records += 1;
                opp_dup += w.saturating_sub(1);
            } else {
                task_writes += w;
                task_keys += 1;
                task_dup += w.saturating_sub(1);
            }
        }
    }
    per_org_calls.sort_unstable();
    let pct = |p: f64| {
        per_org_calls
            .get(((per_org_calls.len() as f64 - 1.0) * p).round().max(0.0) as usize)
            .copied()
            .unwrap_or(0)
    };
    Json(json!({
        "orgs": orgs.len(),
        "api_calls": api_calls,
        "token_calls": token_calls,
        "calls": by_kind,
        "api_calls_per_org": {"p50": pct(0.5), "max": pct(1.0)},
        "opportunity_writes": opp_writes,
        "opportunities_written": opp_records,
        "opportunity_duplicate_writes": opp_dup,
        "task_upserts": task_writes,
        "task_keys": task_keys,
        "task_duplicate_upserts": task_dup,
    }))
}
