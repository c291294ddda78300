//! Salesforce as a [`CrmSource`]: schema check and `COUNT()` (the census), Opportunities
//! incremental by `SystemModstamp` with an overlap (Bulk API 2.0 for first loads and large
//! orgs), their OpportunityHistory and owners (up to three managers up), validation like an
//! imported file; write-back of risk fields (`writeback`) and follow-up Tasks (`tasks`).
//!
//! [`sync_tenant`] (the nightly job, `skygeni sync`) and [`sync_records`] (the webhook) run the
//! pipeline in `service::crm_sync` on a tenant's org; the pipeline lives in `service/` so that
//! this edge's webhook route may call it too.
use super::client::{FlatRecord, SfClient, SfError};
use super::context::SyncContext;
use super::pull::{self, FieldMapping};
use super::related::{self, IN_CHUNK};
use super::{bulk, org_secret, tasks, writeback};
use crate::crm::QualityReport;
use crate::crm::source::{
    Census, CrmFuture, CrmNames, CrmSource, Progress, Pulled, Stop, TaskCounts, WritebackCounts,
};
use crate::domain::{Deal, DealScore, TenantId};
use crate::engine::PipelineRanks;
use crate::service::crm_sync::{self, SyncReport};
use crate::store::WritebackRejection;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

/// `sync_state.source` of this integration.
pub const SOURCE: &str = "salesforce";

static NAMES: CrmNames = CrmNames {
    id: SOURCE,
    name: "Salesforce",
    record: "Opportunity",
};

/// The org's schema no longer has a field we read or write (or its type changed).
#[derive(Debug, thiserror::Error)]
#[error("Salesforce schema changed, sync halted for this tenant: {0}")]
pub struct SchemaChanged(pub String);

/// Sync one tenant now. Deferral (API limit, or Salesforce still unavailable after the
/// client's retries), a schema halt and stopping before the daily limit are reported in
/// `Ok(SyncReport)` (with the state stored) so the caller moves on to the next tenant; other
/// failures are stored as `failed` and returned as errors. A sync that stops keeps the old
/// high-water mark, so the next one pulls everything changed meanwhile.
pub async fn sync_tenant(
    ctx: &SyncContext,
    tenant: &TenantId,
    now: DateTime<Utc>,
    progress: Progress<'_>,
) -> anyhow::Result<SyncReport> {
    sync_tenant_with(ctx, tenant, now, false, progress).await
}

/// [`sync_tenant`]; `force` runs even while an earlier sync's deferral lasts (an admin who
/// knows the limit was raised or the outage is over).
pub async fn sync_tenant_with(
    ctx: &SyncContext,
    tenant: &TenantId,
    now: DateTime<Utc>,
    force: bool,
    progress: Progress<'_>,
) -> anyhow::Result<SyncReport> {
    let org = SalesforceSource::new(ctx, tenant);
    crm_sync::sync(&ctx.store, &org, now, force, progress).await
}

/// Re-pull these Opportunities (the webhook's ids), store them, score those still open,
/// write back and create Tasks.
pub async fn sync_records(
    ctx: &SyncContext,
    tenant: &TenantId,
    ids: &[String],
    now: DateTime<Utc>,
) -> anyhow::Result<SyncReport> {
    let org = SalesforceSource::new(ctx, tenant);
    crm_sync::sync_records(&ctx.store, &org, ids, now).await
}

/// One tenant's org; [`CrmSource::connect`] opens it.
pub struct SalesforceSource<'a> {
    ctx: &'a SyncContext,
    tenant: &'a TenantId,
    org: OnceLock<Connected>,
}

struct Connected {
    client: SfClient,
    mapping: FieldMapping,
}

impl<'a> SalesforceSource<'a> {
    /// No call yet: the pipeline connects once it has decided to run.
    pub fn new(ctx: &'a SyncContext, tenant: &'a TenantId) -> SalesforceSource<'a> {
        SalesforceSource {
            ctx,
            tenant,
            org: OnceLock::new(),
        }
    }

    fn org(&self) -> anyhow::Result<&Connected> {
        self.org
            .get()
            .ok_or_else(|| anyhow::anyhow!("the Salesforce org was used before connect()"))
    }

    /// Pulled Opportunities → deals: history signals, owners, validation. `missing` are ids
    /// asked for that the org no longer has (hard-deleted).
    async fn validate(
        &self,
        records: Vec<FlatRecord>,
        missing: Vec<String>,
        bulk_history: bool,
        as_of: NaiveDate,
        progress: Progress<'_>,
    ) -> anyhow::Result<Pulled> {
        let Connected { client, mapping } = self.org()?;
        let (deleted, live): (Vec<FlatRecord>, Vec<FlatRecord>) = records
            .into_iter()
            .partition(|r| r.get("IsDeleted").cloned().flatten().as_deref() == Some("true"));
        let ids: Vec<String> = live
            .iter()
            .filter_map(|r| r.get("Id").cloned().flatten())
            .collect();
        progress("history", 0, ids.len() as u64);
        let history_rows =
            related::history(client, &self.ctx.config, &ids, bulk_history, as_of).await?;
        let history = pull::history_signals(&history_rows);
        progress("owners", 0, 1);
        let owners = related::pull_users(client, &live).await?;
        let owner_emails: HashMap<String, String> = owners
            .iter()
            .filter_map(|u| Some((u.user_id.clone(), u.email.clone()?.to_ascii_lowercase())))
            .collect();
        let mut quality = QualityReport::default();
        let deals = pull::to_deals(&live, mapping, &history, &owner_emails, as_of, &mut quality);
        Ok(Pulled {
            live: live.len() as u64,
            deals,
            deleted: deleted
                .iter()
                .filter_map(|r| r.get("Id").cloned().flatten())
                .chain(missing)
                .collect(),
            owners,
            quality,
            newest_change: None,
        })
    }
}

impl CrmSource for SalesforceSource<'_> {
    fn names(&self) -> &'static CrmNames {
        &NAMES
    }

    fn tenant(&self) -> &TenantId {
        self.tenant
    }

    fn connect(&self) -> CrmFuture<'_, ()> {
        Box::pin(async move {
            let (ctx, tenant) = (self.ctx, self.tenant);
            let conn = ctx.connection(tenant).await?;
            let mapping = FieldMapping::parse(&conn.field_mapping)?;
            let client = ctx.client_for(tenant, &conn)?;
            // Orgs connected before secrets were per org get theirs on their next sync.
            if ctx.store.sf_webhook_secret(tenant).await?.is_none()
                && let Err(e) =
                    org_secret::rotate(&client, &ctx.store, &ctx.secrets, tenant, &conn.org_id)
                        .await
            {
                tracing::warn!(tenant = %tenant, error = %format!("{e:#}"), "could not give the org a webhook secret; change notifications stay off until it has one");
            }
            self.org
                .set(Connected { client, mapping })
                .map_err(|_| anyhow::anyhow!("the Salesforce org is already connected"))
        })
    }

    fn census(&self, since: Option<DateTime<Utc>>) -> CrmFuture<'_, Census> {
        Box::pin(async move {
            let Connected { client, mapping } = self.org()?;
            let opp = client.describe("Opportunity").await?;
            let acc = client.describe("Account").await?;
            let problems = pull::schema_problems(&opp, &acc, mapping);
            if !problems.is_empty() {
                return Err(SchemaChanged(problems.join("; ")).into());
            }
            let records = client.count("SELECT COUNT() FROM Opportunity").await?;
            Ok(Census {
                records,
                bulk: since.is_none() || records > self.ctx.config.bulk_threshold,
            })
        })
    }

    fn pull<'a>(
        &'a self,
        since: Option<DateTime<Utc>>,
        census: Census,
        as_of: NaiveDate,
        progress: Progress<'a>,
    ) -> CrmFuture<'a, Pulled> {
        Box::pin(async move {
            let Connected { client, mapping } = self.org()?;
            let cfg = &self.ctx.config;
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
            progress("pull", 0, census.records);
            // Incremental pulls use queryAll so deletions since the last sync come back
            // (IsDeleted).
            let records = if census.bulk {
                bulk::query(client, &soql, since.is_some(), cfg.bulk_poll).await?
            } else {
                client
                    .query(&format!("{soql} ORDER BY SystemModstamp, Id"), true)
                    .await?
            };
            progress("pull", records.len() as u64, census.records);
            let newest_change = records
                .iter()
                .filter_map(|r| r.get("SystemModstamp").cloned().flatten())
                .filter_map(|s| pull::parse_sf_datetime(&s))
                .max();
            // History by Bulk query when the Opportunities came that way and are many or a
            // first load.
            let bulk_history =
                census.bulk && (since.is_none() || records.len() > cfg.writeback_bulk_threshold);
            let pulled = self
                .validate(records, Vec::new(), bulk_history, as_of, progress)
                .await?;
            Ok(Pulled {
                newest_change,
                ..pulled
            })
        })
    }

    fn pull_records<'a>(&'a self, ids: &'a [String], as_of: NaiveDate) -> CrmFuture<'a, Pulled> {
        Box::pin(async move {
            let Connected { client, mapping } = self.org()?;
            let fields = pull::opportunity_select(mapping).join(", ");
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
            let mut quiet = |_: &str, _: u64, _: u64| {};
            self.validate(records, missing, false, as_of, &mut quiet)
                .await
        })
    }

    fn write_back<'a>(
        &'a self,
        scores: &'a [DealScore],
        ranks: &'a PipelineRanks,
        now: DateTime<Utc>,
    ) -> CrmFuture<'a, WritebackCounts> {
        Box::pin(async move {
            let cfg = &self.ctx.config;
            writeback::write_scores(
                &self.org()?.client,
                &self.ctx.store,
                self.tenant,
                scores,
                Some(ranks),
                now,
                cfg.writeback_bulk_threshold,
                cfg.bulk_poll,
            )
            .await
        })
    }

    fn upsert_tasks<'a>(
        &'a self,
        open: &'a [Deal],
        scores: &'a [DealScore],
        today: NaiveDate,
    ) -> CrmFuture<'a, TaskCounts> {
        Box::pin(async move {
            tasks::create_tasks(
                &self.org()?.client,
                &self.ctx.store,
                self.tenant,
                open,
                scores,
                today,
                self.ctx.config.tasks_this_week,
            )
            .await
        })
    }

    /// Also sets the `skygeni_salesforce_writeback_refused{tenant}` gauge.
    fn refusals<'a>(
        &'a self,
        quality: &'a mut QualityReport,
    ) -> CrmFuture<'a, Vec<WritebackRejection>> {
        Box::pin(async move {
            let refused = self.ctx.store.sf_writeback_rejections(self.tenant).await?;
            metrics::gauge!("skygeni_salesforce_writeback_refused", "tenant" => self.tenant.to_string())
                .set(refused.len() as f64);
            for r in &refused {
                quality.warn(
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
            Ok(refused)
        })
    }

    fn stop(&self, error: &anyhow::Error) -> Option<Stop> {
        let cfg = &self.ctx.config;
        match error.downcast_ref::<SfError>() {
            Some(SfError::LimitExceeded(_)) => Some(Stop::LimitExceeded {
                retry_in: cfg.defer_for,
            }),
            // 5xx or timeouts even after the retries: an outage, not our bug. Defer like a
            // limit so nothing hammers the org; the caller still scores what it has.
            Some(SfError::Unavailable { .. }) => Some(Stop::Unavailable {
                retry_in: cfg.defer_for,
            }),
            Some(SfError::DailyLimitReserve { .. }) => Some(Stop::LimitReserve {
                retry_in: cfg.reserve_defer_for,
            }),
            _ => error
                .downcast_ref::<SchemaChanged>()
                .map(|SchemaChanged(why)| Stop::SchemaChanged(why.clone())),
        }
    }

    fn api_calls(&self) -> u64 {
        self.org.get().map_or(0, |o| o.client.api_calls())
    }
}
