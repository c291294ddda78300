//! One tenant's Salesforce sync: schema check → pull (incremental by SystemModstamp with an
//! overlap, Bulk API 2.0 for first loads and large orgs) → validated upsert of deals and users
//! → score through the batch path (`record_scores`) → write-back of changed scores → Tasks.
//! The scheduler's nightly job and `skygeni sync` call [`sync_tenant`]; the webhook calls
//! [`sync_records`] for the few Opportunities that changed.
use super::client::{ClientConfig, FlatRecord, SfClient, SfError};
use super::pull::{self, FieldMapping};
use super::{bulk, oauth, org_secret, tasks, writeback};
use crate::config::Settings;
use crate::crm::QualityReport;
use crate::crypto::SecretBox;
use crate::domain::TenantId;
use crate::store::{SfConnectionRow, Store, SyncStateRow, format_ts};
use anyhow::Context;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// `sync_state.source` of this integration.
pub const SOURCE: &str = "salesforce";
/// Ids per `IN (…)` list (keeps SOQL well under its length limit).
const IN_CHUNK: usize = 200;

/// Tuning of a sync; [`SyncConfig::from_settings`] gives the production values.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    pub client: ClientConfig,
    /// Orgs with more Opportunities than this are pulled with Bulk API 2.0.
    pub bulk_threshold: u64,
    /// More changed scores than this are written back with one Bulk ingest job.
    pub writeback_bulk_threshold: usize,
    /// Re-read this much before the high-water mark (clock skew, long transactions).
    pub overlap: chrono::Duration,
    /// Flag a sync when the org has this share fewer Opportunities than last time.
    pub volume_drop: f64,
    /// REQUEST_LIMIT_EXCEEDED defers the tenant this long.
    pub defer_for: chrono::Duration,
    /// Stopping before the daily limit defers the tenant this long.
    pub reserve_defer_for: chrono::Duration,
    pub bulk_poll: Duration,
    pub tasks_this_week: bool,
    /// A first load reads OpportunityHistory of open Opportunities changed within this window
    /// (closed deals are not scored, and older history does not move the signals).
    pub history_window: chrono::Duration,
}

impl SyncConfig {
    pub fn from_settings(s: &Settings) -> SyncConfig {
        SyncConfig {
            client: ClientConfig {
                api_version: s.salesforce_api_version.clone(),
                ..ClientConfig::default()
            },
            bulk_threshold: u64::from(s.salesforce_bulk_threshold),
            writeback_bulk_threshold: 2_000,
            overlap: chrono::Duration::minutes(5),
            volume_drop: 0.2,
            defer_for: chrono::Duration::minutes(15),
            reserve_defer_for: chrono::Duration::hours(1),
            bulk_poll: Duration::from_secs(2),
            tasks_this_week: s.salesforce_tasks_this_week,
            history_window: chrono::Duration::days(730),
        }
    }
}

/// What a sync needs: the store, settings (client id/secret, login URL), an HTTP client and
/// the token sealer.
#[derive(Clone)]
pub struct SyncContext {
    pub store: Store,
    pub settings: Arc<Settings>,
    pub http: reqwest::Client,
    pub secrets: Arc<SecretBox>,
    pub config: SyncConfig,
}

impl SyncContext {
    pub fn new(store: Store, settings: Arc<Settings>, secrets: Arc<SecretBox>) -> SyncContext {
        SyncContext {
            config: SyncConfig::from_settings(&settings),
            store,
            settings,
            http: reqwest::Client::new(),
            secrets,
        }
    }

    pub fn client_for(
        &self,
        tenant: &TenantId,
        conn: &SfConnectionRow,
    ) -> anyhow::Result<SfClient> {
        let (creds, instance) =
            oauth::credentials_for(&self.settings, &self.secrets, tenant, conn)?;
        Ok(SfClient::new(
            self.http.clone(),
            self.config.client.clone(),
            creds,
            instance,
        ))
    }

    async fn connection(&self, tenant: &TenantId) -> anyhow::Result<SfConnectionRow> {
        self.store.sf_connection(tenant).await?.with_context(|| {
            format!(
                "tenant {tenant} has no Salesforce connection: an admin must connect the org \
                 (GET /salesforce/connect, or `skygeni sync --jwt-username` for the JWT flow)"
            )
        })
    }
}

/// The org's schema no longer has a field we read or write (or its type changed).
#[derive(Debug, thiserror::Error)]
#[error("Salesforce schema changed, sync halted for this tenant: {0}")]
pub struct SchemaChanged(pub String);

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
    /// Opportunities in the org now (COUNT()).
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
    /// Upserts that found the Task already in the org.
    pub tasks_matched: u64,
    pub tasks_skipped: u64,
    pub tasks_failed: u64,
    /// Per-record errors of this run (Opportunity write-back and Tasks).
    pub record_errors: Vec<writeback::RecordError>,
    /// Opportunities whose current risk values Salesforce refuses (this run or earlier ones),
    /// waiting for an admin to fix the record or the rule.
    pub writeback_refused: Vec<crate::store::WritebackRejection>,
    /// `--force`: a deferral was overridden.
    pub forced: bool,
    pub api_calls: u64,
    pub volume_drop: bool,
    pub schema_halt: Option<String>,
    pub deferred_until: Option<chrono::DateTime<chrono::Utc>>,
    pub high_water_mark: Option<String>,
    pub quality: QualityReport,
}

/// Progress callback: (stage, done, total).
pub type Progress<'a> = &'a mut (dyn FnMut(&str, u64, u64) + Send);

/// Sync one tenant now. Deferral (API limit, or Salesforce still unavailable after the
/// client's retries), a schema halt and stopping before the daily limit are reported in
/// `Ok(SyncReport)` (with the state stored) so the caller moves on to the next tenant; other
/// failures are stored as `failed` and returned as errors. A sync that stops keeps the old
/// high-water mark, so the next one pulls everything changed meanwhile.
pub async fn sync_tenant(
    ctx: &SyncContext,
    tenant: &TenantId,
    now: chrono::DateTime<chrono::Utc>,
    progress: Progress<'_>,
) -> anyhow::Result<SyncReport> {
    sync_tenant_with(ctx, tenant, now, false, progress).await
}

/// [`sync_tenant`]; `force` runs even while an earlier sync's deferral lasts (an admin who
/// knows the limit was raised or the outage is over).
pub async fn sync_tenant_with(
    ctx: &SyncContext,
    tenant: &TenantId,
    now: chrono::DateTime<chrono::Utc>,
    force: bool,
    progress: Progress<'_>,
) -> anyhow::Result<SyncReport> {
    let mut report = SyncReport {
        tenant: tenant.to_string(),
        ..Default::default()
    };
    let mut state = ctx.store.sync_state(tenant, SOURCE).await?;
    if let Some(until) = state
        .deferred_until
        .as_deref()
        .and_then(pull::parse_sf_datetime)
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
        tracing::info!(tenant = %tenant, until = %until, "Salesforce sync forced during a deferral");
    }
    let conn = ctx.connection(tenant).await?;
    let mapping = FieldMapping::parse(&conn.field_mapping)?;
    let client = ctx.client_for(tenant, &conn)?;
    // Orgs connected before secrets were per org get theirs on their next sync.
    if ctx.store.sf_webhook_secret(tenant).await?.is_none()
        && let Err(e) =
            org_secret::rotate(&client, &ctx.store, &ctx.secrets, tenant, &conn.org_id).await
    {
        tracing::warn!(tenant = %tenant, error = %format!("{e:#}"), "could not give the org a webhook secret; change notifications stay off until it has one");
    }
    let result = run(
        ctx,
        &client,
        tenant,
        &mapping,
        &state,
        now,
        &mut report,
        progress,
    )
    .await;
    report.api_calls = client.api_calls();
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
            state.detail = report
                .volume_drop
                .then(|| "Opportunity count dropped by more than 20 % since the last sync".into());
        }
        Err(e) => {
            let sf = e.downcast_ref::<SfError>();
            if let Some(SfError::LimitExceeded(_)) = sf {
                report.status = "deferred".into();
                report.deferred_until = Some(now + ctx.config.defer_for);
            } else if let Some(SfError::Unavailable { .. }) = sf {
                // 5xx or timeouts even after the retries: an outage, not our bug. Defer like
                // a limit so nothing hammers the org; the caller still scores what it has.
                report.status = "unavailable".into();
                report.deferred_until = Some(now + ctx.config.defer_for);
            } else if let Some(SfError::DailyLimitReserve { .. }) = sf {
                report.status = "limit_reserve".into();
                report.deferred_until = Some(now + ctx.config.reserve_defer_for);
            } else if let Some(SchemaChanged(why)) = e.downcast_ref::<SchemaChanged>() {
                report.status = "halted".into();
                report.schema_halt = Some(why.clone());
            } else {
                state.status = "failed".into();
                state.detail = Some(format!("{e:#}"));
                ctx.store.put_sync_state(tenant, SOURCE, &state).await?;
                return Err(e.context(format!("Salesforce sync failed for tenant {tenant}")));
            }
            tracing::warn!(tenant = %tenant, status = %report.status, error = %format!("{e:#}"), "Salesforce sync stopped");
            state.detail = Some(format!("{e:#}"));
            report.detail = state.detail.clone();
            state.deferred_until = report.deferred_until.map(format_ts);
        }
    }
    state.status = report.status.clone();
    ctx.store.put_sync_state(tenant, SOURCE, &state).await?;
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn run(
    ctx: &SyncContext,
    client: &SfClient,
    tenant: &TenantId,
    mapping: &FieldMapping,
    state: &SyncStateRow,
    now: chrono::DateTime<chrono::Utc>,
    report: &mut SyncReport,
    progress: Progress<'_>,
) -> anyhow::Result<Option<String>> {
    let cfg = &ctx.config;
    progress("schema", 0, 1);
    let opp = client.describe("Opportunity").await?;
    let acc = client.describe("Account").await?;
    let problems = pull::schema_problems(&opp, &acc, mapping);
    if !problems.is_empty() {
        return Err(SchemaChanged(problems.join("; ")).into());
    }
    let count = client.count("SELECT COUNT() FROM Opportunity").await?;
    report.org_count = count;
    if let Some(prev) = state.last_count.filter(|p| *p > 0)
        && (count as f64) < prev as f64 * (1.0 - cfg.volume_drop)
    {
        report.volume_drop = true;
        tracing::warn!(tenant = %tenant, prev, count, "Salesforce Opportunity count dropped by more than 20 %; continuing");
    }
    let since = state
        .high_water_mark
        .as_deref()
        .and_then(pull::parse_sf_datetime);
    report.full_load = since.is_none();
    report.used_bulk_query = report.full_load || count > cfg.bulk_threshold;
    let mut soql = format!(
        "SELECT {} FROM Opportunity",
        pull::opportunity_select(mapping).join(", ")
    );
    if let Some(s) = since {
        soql.push_str(&format!(
            " WHERE SystemModstamp > {}",
            pull::soql_datetime(s - cfg.overlap)
        ));
    }
    progress("pull", 0, count);
    // Incremental pulls use queryAll so deletions since the last sync come back (IsDeleted).
    let records = if report.used_bulk_query {
        bulk::query(client, &soql, since.is_some(), cfg.bulk_poll).await?
    } else {
        client
            .query(&format!("{soql} ORDER BY SystemModstamp, Id"), true)
            .await?
    };
    progress("pull", records.len() as u64, count);
    let hwm = records
        .iter()
        .filter_map(|r| r.get("SystemModstamp").cloned().flatten())
        .filter_map(|s| pull::parse_sf_datetime(&s))
        .max()
        .or(since)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
    let as_of = now.date_naive();
    // History by Bulk query when the Opportunities came that way and are many or a first load.
    let bulk_history = report.used_bulk_query
        && (report.full_load || records.len() > ctx.config.writeback_bulk_threshold);
    ingest(
        ctx,
        client,
        tenant,
        mapping,
        records,
        Vec::new(),
        bulk_history,
        as_of,
        report,
        progress,
    )
    .await?;
    progress("score", 0, 1);
    let (_summary, open, scores, loaded) =
        crate::service::batch::score_open_deals(&ctx.store, tenant, as_of, &mut |d, t| {
            progress("score", d, t)
        })
        .await?;
    report.scored = scores.len() as u64;
    let scored = (scores.as_slice(), loaded.scorer.stats().overall_win_rate);
    finish(ctx, client, tenant, &open, scored, now, report, progress).await?;
    Ok(hwm)
}

/// Store pulled Opportunities: history signals, owners, validation, deal upsert, deletions.
/// `missing` are ids asked for that the org no longer has (hard-deleted).
#[allow(clippy::too_many_arguments)]
async fn ingest(
    ctx: &SyncContext,
    client: &SfClient,
    tenant: &TenantId,
    mapping: &FieldMapping,
    records: Vec<FlatRecord>,
    missing: Vec<String>,
    bulk_history: bool,
    as_of: chrono::NaiveDate,
    report: &mut SyncReport,
    progress: Progress<'_>,
) -> anyhow::Result<()> {
    let (deleted, live): (Vec<FlatRecord>, Vec<FlatRecord>) = records
        .into_iter()
        .partition(|r| r.get("IsDeleted").cloned().flatten().as_deref() == Some("true"));
    report.pulled += live.len() as u64;
    let ids: Vec<String> = live
        .iter()
        .filter_map(|r| r.get("Id").cloned().flatten())
        .collect();
    progress("history", 0, ids.len() as u64);
    let hist_fields = pull::HISTORY_FIELDS.join(", ");
    let history_rows = if bulk_history {
        let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
        bulk::query(
            client,
            &history_bulk_soql(&hist_fields, as_of, ctx.config.history_window),
            false,
            ctx.config.bulk_poll,
        )
        .await?
        .into_iter()
        .filter(|r| {
            r.get("OpportunityId")
                .and_then(|v| v.as_deref())
                .is_some_and(|id| wanted.contains(id))
        })
        .collect()
    } else {
        let mut rows = Vec::new();
        for chunk in ids.chunks(IN_CHUNK) {
            rows.extend(
                client
                    .query(
                        &format!(
                            "SELECT {hist_fields} FROM OpportunityHistory WHERE OpportunityId IN ({})",
                            pull::soql_list(chunk)
                        ),
                        false,
                    )
                    .await?,
            );
        }
        rows
    };
    let history = pull::history_signals(&history_rows);
    progress("owners", 0, 1);
    let users = pull_users(client, &live).await?;
    let owner_emails: HashMap<String, String> = users
        .iter()
        .filter_map(|u| Some((u.user_id.clone(), u.email.clone()?.to_ascii_lowercase())))
        .collect();
    let mut quality = QualityReport::default();
    let deals = pull::to_deals(&live, mapping, &history, &owner_emails, as_of, &mut quality);
    report.rejected += quality.rejected;
    report.quality = quality;
    let total = deals.len() as u64;
    let counts = ctx
        .store
        .upsert_deals(tenant, &deals, &mut |d| progress("store", d, total))
        .await?;
    report.upserted += counts.new + counts.changed;
    report.unchanged += counts.unchanged;
    let gone: Vec<String> = deleted
        .iter()
        .filter_map(|r| r.get("Id").cloned().flatten())
        .chain(missing)
        .collect();
    if !gone.is_empty() {
        report.deleted += ctx.store.delete_deals(tenant, &gone).await?;
    }
    report.users += ctx.store.upsert_sf_users(tenant, &users).await?;
    Ok(())
}

/// The first load's one Bulk query for history: open Opportunities only (closed ones are not
/// scored) and snapshots within the window, never the whole org's history.
pub fn history_bulk_soql(
    fields: &str,
    as_of: chrono::NaiveDate,
    window: chrono::Duration,
) -> String {
    let since = (as_of - window)
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    format!(
        "SELECT {fields} FROM OpportunityHistory WHERE Opportunity.IsClosed = false AND CreatedDate >= {}",
        pull::soql_datetime(since)
    )
}

/// Owners of the pulled Opportunities and their managers (up to three levels up).
async fn pull_users(
    client: &SfClient,
    live: &[FlatRecord],
) -> Result<Vec<crate::store::SfUser>, SfError> {
    let mut wanted: Vec<String> = live
        .iter()
        .filter_map(|r| r.get("OwnerId").cloned().flatten())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut seen: HashSet<String> = HashSet::new();
    let mut rows = Vec::new();
    for _level in 0..4 {
        wanted.retain(|id| seen.insert(id.clone()));
        if wanted.is_empty() {
            break;
        }
        wanted.sort();
        let mut next = Vec::new();
        for chunk in wanted.chunks(IN_CHUNK) {
            let got = client
                .query(
                    &format!(
                        "SELECT {} FROM User WHERE Id IN ({})",
                        pull::USER_FIELDS.join(", "),
                        pull::soql_list(chunk)
                    ),
                    false,
                )
                .await?;
            next.extend(
                got.iter()
                    .filter_map(|r| r.get("ManagerId").cloned().flatten()),
            );
            rows.extend(got);
        }
        wanted = next;
    }
    Ok(pull::to_users(&rows))
}

/// Write-back and Tasks for freshly scored deals.
#[allow(clippy::too_many_arguments)]
async fn finish(
    ctx: &SyncContext,
    client: &SfClient,
    tenant: &TenantId,
    open: &[crate::domain::Deal],
    scored: (&[crate::domain::DealScore], f64),
    now: chrono::DateTime<chrono::Utc>,
    report: &mut SyncReport,
    progress: Progress<'_>,
) -> anyhow::Result<()> {
    let (scores, overall_win_rate) = scored;
    progress("write-back", 0, scores.len() as u64);
    // Ranked in the tenant's whole open pipeline as now stored (a webhook rescores only a few
    // deals; their standing is still against every open deal).
    let current = ctx.store.current_scores(tenant).await?;
    let ranks = crate::engine::PipelineRanks::new(
        current.iter().map(|s| 1.0 - s.win_probability),
        overall_win_rate,
    );
    let wb = writeback::write_scores(
        client,
        &ctx.store,
        tenant,
        scores,
        Some(&ranks),
        now,
        ctx.config.writeback_bulk_threshold,
        ctx.config.bulk_poll,
    )
    .await?;
    report.written_back += wb.written;
    report.writeback_unchanged += wb.unchanged;
    report.writeback_failed += wb.failed;
    report.writeback_skipped += wb.skipped;
    report.writeback_rejected += wb.rejected;
    report.used_bulk_ingest |= wb.used_bulk;
    report.record_errors.extend(wb.errors);
    progress("tasks", 0, scores.len() as u64);
    let t = tasks::create_tasks(
        client,
        &ctx.store,
        tenant,
        open,
        scores,
        now.date_naive(),
        ctx.config.tasks_this_week,
    )
    .await?;
    report.tasks_created += t.created;
    report.tasks_matched += t.matched;
    report.tasks_skipped += t.skipped;
    report.tasks_failed += t.failed;
    report.record_errors.extend(t.errors);
    report_refusals(ctx, tenant, report).await?;
    progress("done", 1, 1);
    Ok(())
}

/// Put the Opportunities Salesforce refuses (this run's and earlier ones not yet fixed) in the
/// report, its data-quality section and the `skygeni_salesforce_writeback_refused` gauge.
async fn report_refusals(
    ctx: &SyncContext,
    tenant: &TenantId,
    report: &mut SyncReport,
) -> anyhow::Result<()> {
    let refused = ctx.store.sf_writeback_rejections(tenant).await?;
    metrics::gauge!("skygeni_salesforce_writeback_refused", "tenant" => tenant.to_string())
        .set(refused.len() as f64);
    for r in &refused {
        report.quality.warn(
            "salesforce_writeback_refused",
            crate::crm::report::RowIssue {
                line: 0,
                deal_id: Some(r.record_id.clone()),
                detail: format!(
                    "Salesforce refuses SkyGeni's risk fields on this Opportunity: {}: {}",
                    r.status_code, r.message
                ),
            },
        );
    }
    report.writeback_refused = refused;
    Ok(())
}

/// Re-pull these Opportunities (the webhook's ids), store them, score those still open,
/// write back and create Tasks.
pub async fn sync_records(
    ctx: &SyncContext,
    tenant: &TenantId,
    ids: &[String],
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<SyncReport> {
    let mut report = SyncReport {
        tenant: tenant.to_string(),
        ..Default::default()
    };
    let conn = ctx.connection(tenant).await?;
    let mapping = FieldMapping::parse(&conn.field_mapping)?;
    let client = ctx.client_for(tenant, &conn)?;
    let fields = pull::opportunity_select(&mapping).join(", ");
    let mut records = Vec::new();
    for chunk in ids.chunks(IN_CHUNK) {
        records.extend(
            client
                .query(
                    &format!(
                        "SELECT {fields} FROM Opportunity WHERE Id IN ({})",
                        pull::soql_list(chunk)
                    ),
                    true,
                )
                .await?,
        );
    }
    let returned: HashSet<String> = records
        .iter()
        .filter_map(|r| r.get("Id").cloned().flatten())
        .collect();
    let missing: Vec<String> = ids
        .iter()
        .filter(|i| !returned.contains(*i))
        .cloned()
        .collect();
    let as_of = now.date_naive();
    let mut quiet = |_: &str, _: u64, _: u64| {};
    ingest(
        ctx,
        &client,
        tenant,
        &mapping,
        records,
        missing,
        false,
        as_of,
        &mut report,
        &mut quiet,
    )
    .await?;
    let (open, scores, win_rate) =
        crate::service::batch::score_deals(&ctx.store, tenant, ids, as_of).await?;
    report.scored = scores.len() as u64;
    finish(
        ctx,
        &client,
        tenant,
        &open,
        (&scores, win_rate),
        now,
        &mut report,
        &mut quiet,
    )
    .await?;
    report.api_calls = client.api_calls();
    report.status = "ok".into();
    Ok(report)
}
