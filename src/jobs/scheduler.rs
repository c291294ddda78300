//! The scheduler: cron schedules evaluated in each tenant's (nightly, weekly) or each
//! manager's (digest) IANA time zone, each run claimed once across replicas by inserting its
//! `job_runs` row (tenant, job, scheduled time). A run missed while no replica was up is
//! caught up once — only the newest missed fire time within the catch-up window runs — and
//! never twice, because its row then exists.
//!
//! A claim is a lease the runner extends while it works (heartbeat every third of the lease);
//! a replica that dies mid-run stops extending it and the next pass of any replica takes the
//! run over. Within a pass a scheduler works on `concurrency` tenants at once, each tenant's
//! jobs in order (the nightly score before that tenant's digests).
//!
//! Jobs (tenant time unless said): nightly score 02:00 (the Salesforce sync and App Home
//! publish plug in through [`NightlyHooks`]), the daily digest at each manager's
//! `digest_time` (08:00 by default, manager's zone), the weekly CRO summary Monday 09:00,
//! retention purge 03:30 nightly, calibration check 05:00 daily, monthly retrain 04:00 on the
//! 1st (tenant models; the global model in UTC, its run recorded under the `default` tenant).
use super::digest::queue_manager_digest;
use crate::domain::{AlertSettings, TenantId};
use crate::notify::compose::Links;
use crate::notify::email::EmailRenderer;
use crate::store::{Store, UserContact};
use chrono::{DateTime, NaiveTime, Timelike, Utc};
use chrono_tz::Tz;
use futures_util::stream::{self, StreamExt};
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Every scheduled job the product has. Only the ones [`JobKind::registered`] returns run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    NightlyScore,
    Digest,
    WeeklySummary,
    Retention,
    MonthlyRetrain,
    CalibrationCheck,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::NightlyScore => "nightly_score",
            JobKind::Digest => "digest",
            JobKind::WeeklySummary => "weekly_summary",
            JobKind::Retention => "retention",
            JobKind::MonthlyRetrain => "monthly_retrain",
            JobKind::CalibrationCheck => "calibration_check",
        }
    }

    /// The jobs this build runs.
    pub fn registered() -> Vec<JobKind> {
        vec![
            JobKind::NightlyScore,
            JobKind::Digest,
            JobKind::WeeklySummary,
            JobKind::Retention,
            JobKind::MonthlyRetrain,
            JobKind::CalibrationCheck,
        ]
    }
}

pub type HookFuture<'a, T = ()> = Pin<Box<dyn Future<Output = anyhow::Result<T>> + Send + 'a>>;

/// What the CRM step of a nightly run did.
#[derive(Debug, Clone, PartialEq)]
pub enum CrmSync {
    /// No CRM connected: the nightly scores the deals it has.
    NotConnected,
    /// Pulled, scored every open deal and wrote the changes back: nothing left to score.
    Synced(String),
    /// No sync tonight (CRM unavailable after retries, API limit, schema halt). The run is
    /// flagged, the deals already stored are still scored, and the next night catches up
    /// from the stored high-water mark.
    Skipped(String),
}

/// Work around the nightly score that other parts of the product own.
pub trait NightlyHooks: Send + Sync {
    /// Before scoring: pull changes from the CRM (`crm::salesforce::sync::sync_tenant` for
    /// tenants with a Salesforce connection).
    fn sync_crm<'a>(&'a self, tenant: &'a TenantId, now: DateTime<Utc>) -> HookFuture<'a, CrmSync>;
    /// After scoring: refresh what shows scores (Slack App Home `publish_home`).
    fn after_score<'a>(&'a self, tenant: &'a TenantId) -> HookFuture<'a>;
}

use crate::domain::Clock;

#[derive(Clone)]
pub struct SchedulerConfig {
    pub nightly: cron::Schedule,
    pub weekly: cron::Schedule,
    pub retention: cron::Schedule,
    pub retrain: cron::Schedule,
    pub calibration: cron::Schedule,
    /// Signs the chart URLs in Slack messages (`notify::chart_route::url_secret`).
    pub chart_secret: Option<Vec<u8>>,
    /// Missed runs older than this are skipped (the next regular run covers them).
    pub catch_up: chrono::Duration,
    pub jobs: Vec<JobKind>,
    pub save_rate: f64,
    pub tick: Duration,
    /// A claim without a heartbeat for this long is taken over by another replica.
    pub lease: chrono::Duration,
    /// Tenants worked on at once within a pass.
    pub concurrency: usize,
}

impl SchedulerConfig {
    /// Default schedules running `jobs`, catch-up window 12 h.
    pub fn new(jobs: Vec<JobKind>) -> SchedulerConfig {
        let c = |e: &str| parse_cron(e, "default schedule").expect("default schedules are valid");
        SchedulerConfig {
            nightly: c(crate::domain::schedule::NIGHTLY_CRON),
            weekly: c(crate::domain::schedule::WEEKLY_CRON),
            retention: c(crate::domain::schedule::RETENTION_CRON),
            retrain: c(crate::domain::schedule::MONTHLY_RETRAIN_CRON),
            calibration: c(crate::domain::schedule::CALIBRATION_CRON),
            chart_secret: None,
            catch_up: chrono::Duration::hours(12),
            jobs,
            save_rate: crate::engine::pipeline::DEFAULT_SAVE_RATE,
            tick: Duration::from_secs(30),
            lease: chrono::Duration::minutes(5),
            concurrency: 4,
        }
    }

    pub fn from_settings(s: &crate::config::Settings) -> anyhow::Result<SchedulerConfig> {
        Ok(SchedulerConfig {
            nightly: parse_cron(&s.nightly_cron, "SKYGENI_NIGHTLY_CRON")?,
            weekly: parse_cron(&s.weekly_cron, "SKYGENI_WEEKLY_CRON")?,
            chart_secret: crate::notify::chart_route::url_secret(s),
            catch_up: chrono::Duration::hours(i64::from(s.scheduler_catch_up_hours)),
            lease: chrono::Duration::seconds(i64::from(s.scheduler_lease_secs.max(3))),
            concurrency: s.scheduler_concurrency.clamp(1, 64) as usize,
            ..SchedulerConfig::new(JobKind::registered())
        })
    }

    fn schedule(&self, kind: JobKind) -> Option<&cron::Schedule> {
        match kind {
            JobKind::NightlyScore => Some(&self.nightly),
            JobKind::WeeklySummary => Some(&self.weekly),
            JobKind::Retention => Some(&self.retention),
            JobKind::MonthlyRetrain => Some(&self.retrain),
            JobKind::CalibrationCheck => Some(&self.calibration),
            JobKind::Digest => None, // per manager, from their digest_time
        }
    }
}

/// Jobs that run once per tenant on the tenant's clock.
const TENANT_JOBS: [JobKind; 5] = [
    JobKind::NightlyScore,
    JobKind::WeeklySummary,
    JobKind::Retention,
    JobKind::MonthlyRetrain,
    JobKind::CalibrationCheck,
];

pub fn parse_cron(expr: &str, name: &str) -> anyhow::Result<cron::Schedule> {
    cron::Schedule::from_str(expr).map_err(|e| {
        anyhow::anyhow!(
            "{name} {expr:?} is not a valid cron expression (sec min hour dom mon dow): {e}"
        )
    })
}

/// The newest fire time of `schedule` in zone `tz` that is ≤ `now` and within `catch_up`.
pub fn last_due(
    schedule: &cron::Schedule,
    tz: Tz,
    now: DateTime<Utc>,
    catch_up: chrono::Duration,
) -> Option<DateTime<Utc>> {
    let from = (now - catch_up).with_timezone(&tz);
    schedule
        .after(&from)
        .map(|t| t.with_timezone(&Utc))
        .take_while(|t| *t <= now)
        .last()
}

/// The daily schedule at a user's `digest_time`.
fn digest_schedule(t: NaiveTime) -> cron::Schedule {
    parse_cron(
        &format!("0 {} {} * * *", t.minute(), t.hour()),
        "digest_time",
    )
    .expect("a generated daily expression is valid")
}

/// How a run ended when it did not fail: `flagged` runs did their main work but need a look
/// (the nightly scored while the CRM sync could not run).
pub struct Done {
    pub status: &'static str,
    pub detail: String,
}

impl From<String> for Done {
    fn from(detail: String) -> Done {
        Done {
            status: "ok",
            detail,
        }
    }
}

/// One run the pass started.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunOutcome {
    pub tenant: String,
    pub job: String,
    pub scheduled_for: DateTime<Utc>,
    pub ok: bool,
    /// ok | flagged | failed
    pub status: String,
    pub detail: String,
}

pub struct Scheduler {
    store: Store,
    cfg: SchedulerConfig,
    links: Links,
    renderer: EmailRenderer,
    hooks: Option<Arc<dyn NightlyHooks>>,
    worker: String,
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

    /// Claim `(tenant, job, due)`; when this worker won, run `work` while a heartbeat extends
    /// the lease, and record the result. A claim lost meanwhile (this replica stalled past its
    /// lease and another took over) stops the work and leaves the row to the new runner.
    /// `(now, pass)`: the pass's clock reading and when the pass started. A pass over many
    /// tenants takes minutes, so claim, lease and finish times are `now` plus the time since
    /// then — stamping them with the pass's start would hand out leases already expired.
    async fn claimed<F, Fut>(
        &self,
        tenant: &TenantId,
        job: &str,
        due: DateTime<Utc>,
        (now, pass): (DateTime<Utc>, std::time::Instant),
        work: F,
    ) -> anyhow::Result<Option<RunOutcome>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<Done>>,
    {
        let lease = self.cfg.lease;
        let now = now + chrono::Duration::from_std(pass.elapsed()).unwrap_or_default();
        if !self
            .store
            .claim_job_run(tenant, job, due, &self.worker, now, lease)
            .await?
        {
            return Ok(None);
        }
        let (lost_tx, mut lost_rx) = tokio::sync::watch::channel(false);
        // A task of its own, so a CPU-heavy step inside `work` cannot starve the heartbeat.
        let beat = tokio::spawn(heartbeat(
            self.store.clone(),
            tenant.clone(),
            job.to_string(),
            due,
            self.worker.clone(),
            now,
            lease,
            lost_tx,
        ));
        let started = std::time::Instant::now();
        let result = tokio::select! {
            r = work() => r,
            _ = lost_rx.wait_for(|lost| *lost) => Err(anyhow::anyhow!(
                "claim lost: the lease expired and another replica took the run over"
            )),
        };
        beat.abort();
        // Finishing time on the caller's clock (tests drive it), advanced by the real run time.
        let finished = now + chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
        let (status, detail) = match result {
            Ok(d) => (d.status, d.detail),
            Err(e) => ("failed", format!("{e:#}")),
        };
        let ok = status != "failed";
        if !self
            .store
            .finish_job_run(tenant, job, due, &self.worker, status, &detail, finished)
            .await?
        {
            tracing::warn!(tenant = %tenant, job, %due, "run taken over by another replica; its result stands");
            return Ok(None);
        }
        let kind = job.split(':').next().unwrap_or(job).to_string();
        metrics::counter!("skygeni_job_runs_total", "job" => kind.clone(), "status" => status)
            .increment(1);
        metrics::gauge!("skygeni_job_last_run_timestamp_seconds", "job" => kind)
            .set(now.timestamp() as f64);
        if !ok {
            tracing::error!(tenant = %tenant, job, %due, detail, "scheduled job failed");
        }
        Ok(Some(RunOutcome {
            tenant: tenant.to_string(),
            job: job.to_string(),
            scheduled_for: due,
            ok,
            status: status.to_string(),
            detail,
        }))
    }

    async fn nightly(&self, tenant: &TenantId, tz: Tz, now: DateTime<Utc>) -> anyhow::Result<Done> {
        let crm = match &self.hooks {
            Some(h) => h.sync_crm(tenant, now).await?,
            None => CrmSync::NotConnected,
        };
        let done = match crm {
            // The sync scored every open deal (and wrote the changes back); scoring again
            // would only add a second, identical history row per deal.
            CrmSync::Synced(detail) => Done::from(detail),
            CrmSync::NotConnected | CrmSync::Skipped(_) => {
                let as_of = now.with_timezone(&tz).date_naive();
                let (summary, ..) = crate::service::batch::score_open_deals(
                    &self.store,
                    tenant,
                    as_of,
                    &mut |_, _| {},
                )
                .await?;
                let scored = format!(
                    "scored {} deals with {} in {:.1} s",
                    summary.deals_scored,
                    summary.model_version,
                    summary.score_secs + summary.write_secs
                );
                match crm {
                    CrmSync::Skipped(why) => Done {
                        status: "flagged",
                        detail: format!("{why}; {scored} already stored (no CRM changes tonight)"),
                    },
                    _ => Done::from(scored),
                }
            }
        };
        if let Some(h) = &self.hooks {
            h.after_score(tenant).await?;
        }
        Ok(done)
    }

    /// Every manager whose digest time has come (in their zone) and whose run is unclaimed.
    async fn digests(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        pass: std::time::Instant,
    ) -> anyhow::Result<Vec<RunOutcome>> {
        let users = self.store.user_contacts(tenant).await?;
        let managers: Vec<&UserContact> = users
            .iter()
            .filter(|u| {
                u.role == "manager"
                    || users
                        .iter()
                        .any(|r| r.manager_id.as_deref() == Some(&u.user_id))
            })
            .collect();
        let mut due = Vec::new();
        // A manager who switched the daily digest off (POST /v1/alerts/configure) is skipped.
        for m in managers
            .into_iter()
            .filter(|m| m.settings.as_ref().is_none_or(|s| s.digest_enabled))
        {
            let digest_time = m
                .settings
                .as_ref()
                .map_or(AlertSettings::default().digest_time, |s| s.digest_time);
            if let Some(at) = last_due(
                &digest_schedule(digest_time),
                m.zone(),
                now,
                self.cfg.catch_up,
            ) {
                due.push((m, at));
            }
        }
        if due.is_empty() {
            return Ok(Vec::new());
        }
        // Loaded once per tenant and pass, only when some digest is due.
        let history = self.store.load_deals(tenant).await?;
        let loaded = crate::service::models::load_scorer(&self.store, tenant, &history).await?;
        let open: Vec<_> = history.into_iter().filter(|d| d.is_open()).collect();
        let mut out = Vec::new();
        for (m, at) in due {
            let job = format!("{}:{}", JobKind::Digest.as_str(), m.user_id);
            let date = at.with_timezone(&m.zone()).date_naive();
            let r = self
                .claimed(tenant, &job, at, (now, pass), || async {
                    let d = queue_manager_digest(
                        &self.store,
                        tenant,
                        m,
                        &users,
                        &open,
                        &loaded,
                        date,
                        now,
                        self.cfg.save_rate,
                        &self.links,
                        &self.renderer,
                    )
                    .await?;
                    Ok(Done::from(format!(
                        "digest for {} on {}: {} deals listed, {} messages queued",
                        d.manager, d.date, d.deals_listed, d.queued
                    )))
                })
                .await?;
            out.extend(r);
        }
        Ok(out)
    }
}

/// Extend the lease every third of it until aborted; report a lost claim on `lost`.
#[allow(clippy::too_many_arguments)]
async fn heartbeat(
    store: Store,
    tenant: TenantId,
    job: String,
    due: DateTime<Utc>,
    worker: String,
    now: DateTime<Utc>,
    lease: chrono::Duration,
    lost: tokio::sync::watch::Sender<bool>,
) {
    let started = std::time::Instant::now();
    let every = (lease / 3).to_std().unwrap_or(Duration::from_secs(1));
    loop {
        tokio::time::sleep(every).await;
        let at = now + chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
        match store
            .extend_job_run(&tenant, &job, due, &worker, at + lease)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                let _ = lost.send(true);
                return;
            }
            // A database blip: try again at the next beat (the lease still has two thirds).
            Err(e) => {
                tracing::warn!(tenant = %tenant, job, error = %e, "job heartbeat failed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn due_times_are_evaluated_in_the_zone_and_only_the_newest_missed_run_counts() {
        let eight = digest_schedule(NaiveTime::from_hms_opt(8, 0, 0).unwrap());
        let ny = chrono_tz::America::New_York;
        let w = chrono::Duration::hours(12);
        // 08:00 EST = 13:00 UTC.
        assert_eq!(last_due(&eight, ny, utc("2024-03-01T12:59:59Z"), w), None);
        assert_eq!(
            last_due(&eight, ny, utc("2024-03-01T13:00:00Z"), w),
            Some(utc("2024-03-01T13:00:00Z"))
        );
        // Down for three days: one run (the newest), if still within the window.
        assert_eq!(
            last_due(&eight, ny, utc("2024-03-04T20:00:00Z"), w),
            Some(utc("2024-03-04T13:00:00Z"))
        );
        assert_eq!(last_due(&eight, ny, utc("2024-03-05T02:00:00Z"), w), None);
        // Kolkata 08:00 IST = 02:30 UTC; after the US DST change NY 08:00 = 12:00 UTC.
        assert_eq!(
            last_due(
                &eight,
                chrono_tz::Asia::Kolkata,
                utc("2024-03-01T02:30:00Z"),
                w
            ),
            Some(utc("2024-03-01T02:30:00Z"))
        );
        assert_eq!(
            last_due(&eight, ny, utc("2024-03-11T12:00:00Z"), w),
            Some(utc("2024-03-11T12:00:00Z"))
        );
    }

    #[test]
    fn a_bad_cron_expression_names_the_setting() {
        let err = parse_cron("every night", "SKYGENI_NIGHTLY_CRON").unwrap_err();
        assert!(err.to_string().contains("SKYGENI_NIGHTLY_CRON"), "{err}");
        assert!(parse_cron("0 0 9 * * Mon", "x").is_ok());
    }
}
