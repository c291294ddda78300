//! Scheduled job runs: one row per (tenant, job, scheduled time). Inserting the row claims the
//! run; the primary key makes the claim exclusive across replicas, and a finished run is never
//! started again (so a restart catches a missed run up once, not twice). A claim holds a lease
//! that its runner extends while it works; a `running` row whose lease expired (the replica
//! died) is taken over by the next claim, which names the new worker, so the dead runner's
//! late writes (it may only be paused) can no longer finish or extend the run.
use super::{Store, StoreResult, format_ts};
use crate::domain::TenantId;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct JobRun {
    pub tenant_id: String,
    pub job: String,
    pub scheduled_for: String,
    pub status: String,
    pub claimed_by: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub detail: Option<String>,
    /// 1, plus one per takeover of an expired claim.
    pub attempts: i64,
}

impl Store {
    /// Claim the run of `job` scheduled for `scheduled_for` for `lease`: a new run, or one
    /// still `running` whose lease expired (its runner died). `true`: this worker runs it.
    pub async fn claim_job_run(
        &self,
        tenant: &TenantId,
        job: &str,
        scheduled_for: DateTime<Utc>,
        worker: &str,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_tenant(tenant).await?;
        // One statement for both cases, so two replicas racing for an expired row cannot
        // both win: the row lock serialises them and the second sees the fresh lease.
        let n = sqlx::query(
            "INSERT INTO job_runs (tenant_id, job, scheduled_for, status, claimed_by, started_at, lease_until) \
             VALUES ($1, $2, $3, 'running', $4, $5, $6) \
             ON CONFLICT (tenant_id, job, scheduled_for) DO UPDATE SET claimed_by = excluded.claimed_by, \
             started_at = excluded.started_at, lease_until = excluded.lease_until, \
             attempts = job_runs.attempts + 1 \
             WHERE job_runs.status = 'running' AND job_runs.lease_until IS NOT NULL \
             AND job_runs.lease_until <= excluded.started_at",
        )
        .bind(tenant.as_str().to_string())
        .bind(job.to_string())
        .bind(format_ts(scheduled_for))
        .bind(worker.to_string())
        .bind(format_ts(now))
        .bind(format_ts(now + lease))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Extend this worker's lease on a running job. `false`: the claim was lost (the lease
    /// expired and another worker took the run over), so the caller must stop.
    pub async fn extend_job_run(
        &self,
        tenant: &TenantId,
        job: &str,
        scheduled_for: DateTime<Utc>,
        worker: &str,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_tenant(tenant).await?;
        let n = sqlx::query(
            "UPDATE job_runs SET lease_until = $5 WHERE tenant_id = $1 AND job = $2 \
             AND scheduled_for = $3 AND claimed_by = $4 AND status = 'running'",
        )
        .bind(tenant.as_str().to_string())
        .bind(job.to_string())
        .bind(format_ts(scheduled_for))
        .bind(worker.to_string())
        .bind(format_ts(lease_until))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Record how this worker's claimed run ended (`ok` or `failed`) with a one-line detail.
    /// `false`: the claim had been taken over, so the row was left to the new runner.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_job_run(
        &self,
        tenant: &TenantId,
        job: &str,
        scheduled_for: DateTime<Utc>,
        worker: &str,
        status: &str,
        detail: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_tenant(tenant).await?;
        let n = sqlx::query(
            "UPDATE job_runs SET status = $4, detail = $5, finished_at = $6, lease_until = NULL \
             WHERE tenant_id = $1 AND job = $2 AND scheduled_for = $3 AND claimed_by = $7 \
             AND status = 'running'",
        )
        .bind(tenant.as_str().to_string())
        .bind(job.to_string())
        .bind(format_ts(scheduled_for))
        .bind(status.to_string())
        .bind(detail.chars().take(2000).collect::<String>())
        .bind(format_ts(now))
        .bind(worker.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    /// The newest runs first.
    pub async fn job_runs(&self, tenant: &TenantId, limit: i64) -> StoreResult<Vec<JobRun>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows = sqlx::query_as(
            "SELECT tenant_id, job, scheduled_for, status, claimed_by, started_at, finished_at, detail, attempts \
             FROM job_runs WHERE tenant_id = $1 ORDER BY scheduled_for DESC, job LIMIT $2",
        )
        .bind(tenant.as_str().to_string())
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows)
    }
}
