//! The CRM sync pipeline, on any [`CrmSource`]: pull what changed since the stored watermark
//! → upsert the validated deals (deletions, owners) → score every open deal through the batch
//! path (`record_scores`, so alerting sees crossings) → write risk fields back → follow-up
//! Tasks, with the sync state (watermark, deferral, status) and the report's counts.
//! [`sync_records`] is the short path for a few records a change notification named.
//!
//! Why here and not in `jobs/`: the nightly job runs it, but so do `skygeni sync` and the
//! Salesforce webhook route, and an edge (`crm/`) may call `service/`, never `jobs/`.
//! `jobs/` keeps the scheduling: when the nightly runs it, and what a flagged sync means for
//! that night's scoring.
use super::batch;
use crate::crm::QualityReport;
use crate::crm::source::{CrmSource, Progress, Pulled, RecordError, Stop};
use crate::domain::{Deal, DealScore, TenantId};
use crate::store::{Store, SyncStateRow, WritebackRejection, format_ts};
use chrono::{DateTime, Utc};

/// A sync is flagged when the CRM holds this share fewer deal records than at the last one.
const VOLUME_DROP: f64 = 0.2;

/// Counts and flags of one sync (printed by `skygeni sync`, logged by the scheduler).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SyncReport {
    pub tenant: String,
    /// ok | ok_volume_drop | deferred | unavailable | limit_reserve | halted | failed
    pub status: String,
    /// Why the sync stopped, when it did.
    pub detail: Option<String>,
    pub full_load: bool,
    pub used_bulk_query: bool,
    /// Deal records in the CRM now (Salesforce: Opportunity `COUNT()`).
    pub org_count: u64,
    pub pulled: u64,
    pub upserted: u64,
    pub unchanged: u64,
    pub deleted: u64,
    pub rejected: u64,
    pub users: u64,
    pub scored: u64,
    pub written_back: u64,
    pub writeback_unchanged: u64,
    /// Transient errors (row locks), retried on the next run.
    pub writeback_failed: u64,
    pub writeback_skipped: u64,
    /// Refused for good in this run (validation rule, required field, …); not retried.
    pub writeback_rejected: u64,
    pub used_bulk_ingest: bool,
    /// Tasks the API reported as created (`"created": true`).
    pub tasks_created: u64,
    /// Upserts that found the Task already in the CRM.
    pub tasks_matched: u64,
    pub tasks_skipped: u64,
    pub tasks_failed: u64,
    /// Per-record errors of this run (write-back and Tasks).
    pub record_errors: Vec<RecordError>,
    /// Deals whose current risk values the CRM refuses (this run or earlier ones), waiting
    /// for an admin to fix the record or the rule.
    pub writeback_refused: Vec<WritebackRejection>,
    /// `--force`: a deferral was overridden.
    pub forced: bool,
    pub api_calls: u64,
    pub volume_drop: bool,
    pub schema_halt: Option<String>,
    pub deferred_until: Option<DateTime<Utc>>,
    pub high_water_mark: Option<String>,
    pub quality: QualityReport,
}

/// Sync `source`'s tenant now. A stop the source recognises ([`CrmSource::stop`]: API limit,
/// outage after the client's retries, daily-limit reserve, schema halt) is reported in
/// `Ok(SyncReport)` with the state stored, so the caller moves on to the next tenant; other
/// failures are stored as `failed` and returned as errors. A sync that stops keeps the old
/// watermark, so the next one pulls everything changed meanwhile. While an earlier stop's
/// deferral lasts the CRM is not called at all, unless `force`.
pub async fn sync(
    store: &Store,
    source: &dyn CrmSource,
    now: DateTime<Utc>,
    force: bool,
    progress: Progress<'_>,
) -> anyhow::Result<SyncReport> {
    let (tenant, crm) = (source.tenant(), source.names());
    let mut report = SyncReport {
        tenant: tenant.to_string(),
        ..Default::default()
    };
    let mut state = store.sync_state(tenant, crm.id).await?;
    if let Some(until) = state.deferred_until.as_deref().and_then(parse_ts)
        && until > now
    {
        if !force {
            report.status = "deferred".into();
            report.deferred_until = Some(until);
            report.detail = Some(
                state
                    .detail
                    .clone()
                    .unwrap_or_else(|| format!("the last sync ended {}", state.status)),
            );
            return Ok(report);
        }
        report.forced = true;
        tracing::info!(tenant = %tenant, until = %until, "{} sync forced during a deferral", crm.name);
    }
    source.connect().await?;
    let result = run(store, source, &state, now, &mut report, progress).await;
    report.api_calls = source.api_calls();
    state.last_sync_at = Some(format_ts(now));
    state.deferred_until = None;
    match result {
        Ok(hwm) => {
            state.high_water_mark = hwm.clone();
            report.high_water_mark = hwm;
            state.last_count = Some(report.org_count as i64);
            report.status = if report.volume_drop {
                "ok_volume_drop"
            } else {
                "ok"
            }
            .into();
            state.detail = report.volume_drop.then(|| {
                format!(
                    "{} count dropped by more than 20 % since the last sync",
                    crm.record
                )
            });
        }
        Err(e) => {
            let Some(stop) = source.stop(&e) else {
                state.status = "failed".into();
                state.detail = Some(format!("{e:#}"));
                store.put_sync_state(tenant, crm.id, &state).await?;
                return Err(e.context(format!("{} sync failed for tenant {tenant}", crm.name)));
            };
            report.status = stop.status().into();
            report.deferred_until = stop.retry_in().map(|d| now + d);
            if let Stop::SchemaChanged(why) = stop {
                report.schema_halt = Some(why);
            }
            tracing::warn!(tenant = %tenant, status = %report.status, error = %format!("{e:#}"), "{} sync stopped", crm.name);
            state.detail = Some(format!("{e:#}"));
            report.detail = state.detail.clone();
            state.deferred_until = report.deferred_until.map(format_ts);
        }
    }
    state.status = report.status.clone();
    store.put_sync_state(tenant, crm.id, &state).await?;
    Ok(report)
}

/// The steps of [`sync`]; returns the new watermark.
async fn run(
    store: &Store,
    source: &dyn CrmSource,
    state: &SyncStateRow,
    now: DateTime<Utc>,
    report: &mut SyncReport,
    progress: Progress<'_>,
) -> anyhow::Result<Option<String>> {
    let (tenant, crm) = (source.tenant(), source.names());
    let since = state.high_water_mark.as_deref().and_then(parse_ts);
    progress("schema", 0, 1);
    let census = source.census(since).await?;
    let count = census.records;
    report.org_count = count;
    if let Some(prev) = state.last_count.filter(|p| *p > 0)
        && (count as f64) < prev as f64 * (1.0 - VOLUME_DROP)
    {
        report.volume_drop = true;
        tracing::warn!(tenant = %tenant, prev, count, "{} {} count dropped by more than 20 %; continuing", crm.name, crm.record);
    }
    report.full_load = since.is_none();
    report.used_bulk_query = census.bulk;
    let as_of = now.date_naive();
    let pulled = source.pull(since, census, as_of, progress).await?;
    let hwm = pulled
        .newest_change
        .or(since)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
    upsert(store, tenant, pulled, report, progress).await?;
    progress("score", 0, 1);
    let (_summary, open, scores, loaded) =
        batch::score_open_deals(store, tenant, as_of, &mut |d, t| progress("score", d, t)).await?;
    report.scored = scores.len() as u64;
    let win_rate = loaded.scorer.stats().overall_win_rate;
    finish(
        store,
        source,
        &open,
        (&scores, win_rate),
        now,
        report,
        progress,
    )
    .await?;
    Ok(hwm)
}

/// Re-pull these records (a change notification's ids), store them, score those still open,
/// write back and upsert Tasks.
pub async fn sync_records(
    store: &Store,
    source: &dyn CrmSource,
    ids: &[String],
    now: DateTime<Utc>,
) -> anyhow::Result<SyncReport> {
    let tenant = source.tenant();
    let mut report = SyncReport {
        tenant: tenant.to_string(),
        ..Default::default()
    };
    source.connect().await?;
    let as_of = now.date_naive();
    let pulled = source.pull_records(ids, as_of).await?;
    let mut quiet = |_: &str, _: u64, _: u64| {};
    upsert(store, tenant, pulled, &mut report, &mut quiet).await?;
    let (open, scores, win_rate) = batch::score_deals(store, tenant, ids, as_of).await?;
    report.scored = scores.len() as u64;
    finish(
        store,
        source,
        &open,
        (&scores, win_rate),
        now,
        &mut report,
        &mut quiet,
    )
    .await?;
    report.api_calls = source.api_calls();
    report.status = "ok".into();
    Ok(report)
}

/// Store a pull: deals upserted, deletions, owners as users.
async fn upsert(
    store: &Store,
    tenant: &TenantId,
    pulled: Pulled,
    report: &mut SyncReport,
    progress: Progress<'_>,
) -> anyhow::Result<()> {
    report.pulled += pulled.live;
    report.rejected += pulled.quality.rejected;
    report.quality = pulled.quality;
    let total = pulled.deals.len() as u64;
    let counts = store
        .upsert_deals(tenant, &pulled.deals, &mut |d| progress("store", d, total))
        .await?;
    report.upserted += counts.new + counts.changed;
    report.unchanged += counts.unchanged;
    if !pulled.deleted.is_empty() {
        report.deleted += store.delete_deals(tenant, &pulled.deleted).await?;
    }
    report.users += store.upsert_sf_users(tenant, &pulled.owners).await?;
    Ok(())
}

/// Write-back and Tasks for freshly scored deals, and the records the CRM refuses.
async fn finish(
    store: &Store,
    source: &dyn CrmSource,
    open: &[Deal],
    (scores, overall_win_rate): (&[DealScore], f64),
    now: DateTime<Utc>,
    report: &mut SyncReport,
    progress: Progress<'_>,
) -> anyhow::Result<()> {
    progress("write-back", 0, scores.len() as u64);
    // Ranked in the tenant's whole open pipeline as now stored (a webhook rescores only a few
    // deals; their standing is still against every open deal).
    let current = store.current_scores(source.tenant()).await?;
    let ranks = crate::engine::PipelineRanks::new(
        current.iter().map(|s| 1.0 - s.win_probability),
        overall_win_rate,
    );
    let wb = source.write_back(scores, &ranks, now).await?;
    report.written_back += wb.written;
    report.writeback_unchanged += wb.unchanged;
    report.writeback_failed += wb.failed;
    report.writeback_skipped += wb.skipped;
    report.writeback_rejected += wb.rejected;
    report.used_bulk_ingest |= wb.used_bulk;
    report.record_errors.extend(wb.errors);
    progress("tasks", 0, scores.len() as u64);
    let t = source.upsert_tasks(open, scores, now.date_naive()).await?;
    report.tasks_created += t.created;
    report.tasks_matched += t.matched;
    report.tasks_skipped += t.skipped;
    report.tasks_failed += t.failed;
    report.record_errors.extend(t.errors);
    report.writeback_refused = source.refusals(&mut report.quality).await?;
    progress("done", 1, 1);
    Ok(())
}

/// A stored watermark or deferral time (written by `format_ts` or as RFC 3339).
fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

#[cfg(test)]
#[path = "crm_sync_tests.rs"]
mod tests;
