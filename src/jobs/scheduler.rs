//! The scheduler: cron schedules evaluated in each tenant's (nightly, weekly) or each
//! manager's (digest) IANA time zone, each run claimed once across replicas by inserting its
//! `job_runs` row (tenant, job, scheduled time). A run missed while no replica was up is
//! caught up once — only the newest missed fire time within the catch-up window runs — and
//! never twice, because its row then exists. Within a pass a scheduler works on `concurrency`
//! tenants at once, each tenant's jobs in order (the nightly score before that tenant's
//! digests).
//!
//! Jobs (tenant time unless said): nightly score 02:00 (the CRM sync and App Home publish
//! plug in through [`NightlyHooks`]), the daily digest at each manager's `digest_time` (08:00
//! by default, manager's zone), the weekly CRO summary Monday 09:00, retention purge 03:30
//! nightly, calibration check 05:00 daily, monthly retrain 04:00 on the 1st (tenant models;
//! the global model in UTC, its run recorded under the `default` tenant).
//!
//! This file is the run loop and the per-tenant pass. `schedule` says when a job is due,
//! `claim` holds a run's claim and lease, `nightly` and `digest` are the two jobs with more to
//! them than one call, `scheduled` has the bodies of the others.
use super::schedule::{TENANT_JOBS, last_due};
use crate::domain::{Clock, TenantId};
use crate::notify::compose::Links;
use crate::notify::email::EmailRenderer;
use crate::store::Store;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures_util::stream::{self, StreamExt};
use std::sync::Arc;

pub use super::claim::{Done, RunOutcome};
pub use super::nightly::{CrmSync, HookFuture, NightlyHooks};
pub use super::schedule::{JobKind, SchedulerConfig, parse_cron};

pub struct Scheduler {
    pub(super) store: Store,
    pub(super) cfg: SchedulerConfig,
    pub(super) links: Links,
    pub(super) renderer: EmailRenderer,
    pub(super) hooks: Option<Arc<dyn NightlyHooks>>,
    /// Names this replica on the runs it claims.
    pub(super) worker: String,
}

impl Scheduler {
    pub fn new(
        store: Store,
        cfg: SchedulerConfig,
        links: Links,
        hooks: Option<Arc<dyn NightlyHooks>>,
    ) -> anyhow::Result<Scheduler> {
        Ok(Scheduler {
            store,
            cfg,
            links,
            renderer: EmailRenderer::new()?,
            hooks,
            // The pid lets an operator (and the load kit) tell which process ran a job.
            worker: format!(
                "scheduler-{}-{}",
                std::process::id(),
                &uuid::Uuid::new_v4().simple().to_string()[..12]
            ),
        })
    }

    /// One pass at `now`: claim and run every due run that is unclaimed or whose claim
    /// expired. A tenant whose pass fails does not stop the others; the first error is
    /// returned after the pass.
    pub async fn run_once(&self, now: DateTime<Utc>) -> anyhow::Result<Vec<RunOutcome>> {
        let tenants = self.store.list_tenants().await?;
        let pass = std::time::Instant::now();
        let results: Vec<anyhow::Result<Vec<RunOutcome>>> = stream::iter(tenants)
            .map(|t| self.tenant_pass(t, now, pass))
            .buffer_unordered(self.cfg.concurrency.max(1))
            .collect()
            .await;
        let mut out = Vec::new();
        let mut first_err = None;
        for r in results {
            match r {
                Ok(o) => out.extend(o),
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "scheduler pass for a tenant failed");
                    first_err.get_or_insert(e);
                }
            }
        }
        // The global model is retrained once (UTC); its run row lives under the default tenant.
        if self.cfg.jobs.contains(&JobKind::MonthlyRetrain)
            && let Some(due) = last_due(&self.cfg.retrain, chrono_tz::UTC, now, self.cfg.catch_up)
        {
            let default = TenantId::default_tenant();
            let r = self
                .claimed(
                    &default,
                    "monthly_retrain:global",
                    due,
                    (now, pass),
                    || async {
                        super::scheduled::monthly_retrain(
                            &self.store,
                            &crate::domain::ModelScope::Global,
                            now,
                        )
                        .await
                        .map(Done::from)
                    },
                )
                .await?;
            out.extend(r);
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// One tenant's due runs, in order: its tenant-clock jobs, then its managers' digests.
    async fn tenant_pass(
        &self,
        t: crate::store::Tenant,
        now: DateTime<Utc>,
        pass: std::time::Instant,
    ) -> anyhow::Result<Vec<RunOutcome>> {
        let mut out = Vec::new();
        let tenant = TenantId::parse(&t.tenant_id).map_err(anyhow::Error::msg)?;
        let tz: Tz = t.time_zone.parse().unwrap_or(chrono_tz::UTC);
        for kind in TENANT_JOBS {
            let Some(schedule) = self.cfg.schedule(kind) else {
                continue;
            };
            if !self.cfg.jobs.contains(&kind) {
                continue;
            }
            let Some(due) = last_due(schedule, tz, now, self.cfg.catch_up) else {
                continue;
            };
            let r = self
                .claimed(&tenant, kind.as_str(), due, (now, pass), || {
                    self.tenant_job(kind, &tenant, tz, now)
                })
                .await?;
            out.extend(r);
        }
        if self.cfg.jobs.contains(&JobKind::Digest) {
            out.extend(self.digests(&tenant, now, pass).await?);
        }
        Ok(out)
    }

    async fn tenant_job(
        &self,
        kind: JobKind,
        tenant: &TenantId,
        tz: Tz,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Done> {
        use super::scheduled;
        let detail = match kind {
            JobKind::NightlyScore => return self.nightly(tenant, tz, now).await,
            JobKind::WeeklySummary => {
                scheduled::weekly_summary(
                    &self.store,
                    tenant,
                    now,
                    &self.links,
                    self.cfg.chart_secret.as_deref(),
                )
                .await
            }
            JobKind::Retention => scheduled::retention(&self.store, tenant, now).await,
            JobKind::MonthlyRetrain => {
                let scope = crate::domain::ModelScope::Tenant(tenant.clone());
                scheduled::monthly_retrain(&self.store, &scope, now).await
            }
            JobKind::CalibrationCheck => {
                scheduled::calibration_check(&self.store, tenant, now).await
            }
            JobKind::Digest => anyhow::bail!("digests run per manager"),
        };
        detail.map(Done::from)
    }

    /// Loop on `clock` every tick until `shutdown` turns true.
    pub async fn run(
        self,
        clock: Arc<dyn Clock>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        tracing::info!(worker = %self.worker, "scheduler started");
        while !*shutdown.borrow() {
            if let Err(e) = self.run_once(clock.now()).await {
                tracing::error!(error = %format!("{e:#}"), "scheduler pass failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.cfg.tick) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!(worker = %self.worker, "scheduler stopped");
    }
}
