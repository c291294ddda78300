//! The seam between a CRM and the pipeline that keeps it in step with SkyGeni
//! (`service::crm_sync`): a [`CrmSource`] is one tenant's CRM. It pulls what changed (validated
//! deals, deletions, the deals' owners), writes risk fields back and upserts follow-up Tasks.
//! The pipeline owns the order of the steps, the stored sync state (watermark, deferral), the
//! upsert and the scoring; a source owns its API calls, its own bookkeeping (what it last
//! wrote, which Tasks it sent) and what its errors mean ([`CrmSource::stop`]). Salesforce is
//! the source today (`salesforce::source`).
//!
//! Methods return boxed futures ([`CrmFuture`], as the scheduler's hooks do) rather than being
//! `async fn`s: the pipeline takes `&dyn CrmSource`, and a trait with `async fn`s cannot be a
//! trait object. One pipeline body serves every source; a sync makes a handful of these calls,
//! each a round trip to the CRM, so the boxes cost nothing worth a generic copy per source.
use crate::crm::QualityReport;
use crate::domain::{Deal, DealScore, TenantId};
use crate::engine::PipelineRanks;
use crate::store::{SfUser, WritebackRejection};
use chrono::{DateTime, NaiveDate, Utc};

/// What every [`CrmSource`] method returns.
pub type CrmFuture<'a, T> = futures_util::future::BoxFuture<'a, anyhow::Result<T>>;

/// Progress callback: (stage, done, total).
pub type Progress<'a> = &'a mut (dyn FnMut(&str, u64, u64) + Send);

/// How a source is named where the pipeline speaks of it.
#[derive(Debug)]
pub struct CrmNames {
    /// `sync_state.source` (`salesforce`).
    pub id: &'static str,
    /// In logs and messages (`Salesforce`).
    pub name: &'static str,
    /// The record a deal is in that CRM (`Opportunity`).
    pub record: &'static str,
}

/// What the CRM holds before a pull.
#[derive(Debug, Clone, Copy, Default)]
pub struct Census {
    /// Deal records in the CRM now (the volume-drop check compares it with the last sync).
    pub records: u64,
    /// The pull will use the CRM's bulk interface.
    pub bulk: bool,
}

/// What a pull brought.
#[derive(Debug, Default)]
pub struct Pulled {
    /// Records pulled that still exist in the CRM (accepted or rejected by validation).
    pub live: u64,
    /// The accepted ones, validated like an imported file.
    pub deals: Vec<Deal>,
    /// Ids the CRM deleted (or no longer has).
    pub deleted: Vec<String>,
    /// The deals' owners and their managers, to become users.
    pub owners: Vec<SfUser>,
    pub quality: QualityReport,
    /// The newest change among the pulled records: the next pull's `since`.
    pub newest_change: Option<DateTime<Utc>>,
}

/// What writing risk fields back did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct WritebackCounts {
    pub written: u64,
    pub unchanged: u64,
    /// Left for the next run (a transient error: row lock, locked entity).
    pub failed: u64,
    /// The record was deleted in the CRM.
    pub skipped: u64,
    /// Refused for good; in `errors`, not retried until the values change.
    pub rejected: u64,
    pub used_bulk: bool,
    /// Every per-record error of this run.
    pub errors: Vec<RecordError>,
}

/// What upserting follow-up Tasks did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TaskCounts {
    /// Tasks the API says it created (`"created": true`).
    pub created: u64,
    /// Upserts that matched a Task already in the CRM (`"created": false`), e.g. one created
    /// by a run whose answer was lost: the CRM's count, not ours.
    pub matched: u64,
    /// Already created on an earlier run (open or closed by the rep).
    pub skipped: u64,
    pub failed: u64,
    /// Per-record errors (a permanently refused key is remembered and not sent again).
    pub errors: Vec<RecordError>,
}

/// One record the CRM refused, as its API reported it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RecordError {
    /// `Opportunity` (risk fields) or `Task` (follow-up Tasks, record id = the deal).
    pub object: &'static str,
    pub record_id: String,
    pub status_code: String,
    pub message: String,
    /// Retrying cannot help (false: retried, in this run or the next).
    pub permanent: bool,
}

/// Why a sync stopped without failing: the pipeline records it, keeps the watermark, and the
/// caller moves on to the next tenant.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    /// The CRM's API limit was hit (`deferred`).
    LimitExceeded { retry_in: chrono::Duration },
    /// The CRM still did not answer after the client's retries: an outage (`unavailable`).
    Unavailable { retry_in: chrono::Duration },
    /// Stopped before the CRM's daily API allowance ran out (`limit_reserve`).
    LimitReserve { retry_in: chrono::Duration },
    /// A field we read or write is gone or changed type (`halted` until someone fixes it).
    SchemaChanged(String),
}

impl Stop {
    /// `sync_state.status` and the report's status.
    pub fn status(&self) -> &'static str {
        match self {
            Stop::LimitExceeded { .. } => "deferred",
            Stop::Unavailable { .. } => "unavailable",
            Stop::LimitReserve { .. } => "limit_reserve",
            Stop::SchemaChanged(_) => "halted",
        }
    }

    /// How long the tenant waits before the next sync (`None`: until fixed).
    pub fn retry_in(&self) -> Option<chrono::Duration> {
        match self {
            Stop::LimitExceeded { retry_in }
            | Stop::Unavailable { retry_in }
            | Stop::LimitReserve { retry_in } => Some(*retry_in),
            Stop::SchemaChanged(_) => None,
        }
    }
}

/// One tenant's CRM. The pipeline calls [`connect`](CrmSource::connect) first, and only once
/// it has decided to run (a deferred tenant's CRM gets no call), then the other methods.
pub trait CrmSource: Send + Sync {
    fn names(&self) -> &'static CrmNames;
    fn tenant(&self) -> &TenantId;
    /// Open the connection: stored credentials, API client.
    fn connect(&self) -> CrmFuture<'_, ()>;
    /// Check the CRM still has what we read and write, and count its deal records.
    fn census(&self, since: Option<DateTime<Utc>>) -> CrmFuture<'_, Census>;
    /// `CrmSource::pull(since)`: records changed after `since` (all of them when `None`),
    /// deletions included; `as_of` is the day ages are counted to.
    fn pull<'a>(
        &'a self,
        since: Option<DateTime<Utc>>,
        census: Census,
        as_of: NaiveDate,
        progress: Progress<'a>,
    ) -> CrmFuture<'a, Pulled>;
    /// These records again (a change notification named them); ids the CRM no longer has
    /// come back in `deleted`.
    fn pull_records<'a>(&'a self, ids: &'a [String], as_of: NaiveDate) -> CrmFuture<'a, Pulled>;
    /// Write the risk fields of `scores` back where they changed since the last write;
    /// `ranks` places each deal in the tenant's open pipeline (relative risk).
    fn write_back<'a>(
        &'a self,
        scores: &'a [DealScore],
        ranks: &'a PipelineRanks,
        now: DateTime<Utc>,
    ) -> CrmFuture<'a, WritebackCounts>;
    /// Upsert the follow-up Tasks the scores' recommendations ask for (never twice).
    fn upsert_tasks<'a>(
        &'a self,
        open: &'a [Deal],
        scores: &'a [DealScore],
        today: NaiveDate,
    ) -> CrmFuture<'a, TaskCounts>;
    /// Deals whose risk fields the CRM refuses (this run or earlier ones), waiting for an
    /// admin to fix the record or the rule; each is also noted in `quality`.
    fn refusals<'a>(
        &'a self,
        quality: &'a mut QualityReport,
    ) -> CrmFuture<'a, Vec<WritebackRejection>>;
    /// Whether an error of the methods above stops the sync for now instead of failing it.
    fn stop(&self, error: &anyhow::Error) -> Option<Stop>;
    /// API calls made so far.
    fn api_calls(&self) -> u64;
}
