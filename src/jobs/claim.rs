//! Claiming a run once across replicas: the `job_runs` row (tenant, job, scheduled time) is a
//! lease the runner extends while it works (heartbeat every third of the lease); a replica that
//! dies mid-run stops extending it and the next pass of any replica takes the run over.
use super::scheduler::Scheduler;
use crate::domain::TenantId;
use crate::store::Store;
use chrono::{DateTime, Utc};
use std::future::Future;
use std::time::Duration;

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

impl Scheduler {
    /// Claim `(tenant, job, due)`; when this worker won, run `work` while a heartbeat extends
    /// the lease, and record the result. A claim lost meanwhile (this replica stalled past its
    /// lease and another took over) stops the work and leaves the row to the new runner.
    /// `(now, pass)`: the pass's clock reading and when the pass started. A pass over many
    /// tenants takes minutes, so claim, lease and finish times are `now` plus the time since
    /// then — stamping them with the pass's start would hand out leases already expired.
    pub(super) async fn claimed<F, Fut>(
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
