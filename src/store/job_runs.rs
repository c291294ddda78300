//! Scheduled job runs: one row per (tenant, job, scheduled time). Inserting the row claims the
//! run; the primary key makes the claim exclusive across replicas, and a run that already has
//! a row is never started again (so a restart catches a missed run up once, not twice).
use super::{Store, StoreResult, format_ts};
use crate::domain::TenantId;
use chrono::{DateTime, Utc};
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct JobRun {
    pub tenant_id: String,
    pub job: String,
    pub scheduled_for: String,
    pub status: String,
    pub claimed_by: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub detail: Option<String>,
}

impl Store {
    /// Claim the run of `job` scheduled for `scheduled_for`. `true`: this worker runs it.
    pub async fn claim_job_run(
        &self,
        tenant: &TenantId,
        job: &str,
        scheduled_for: DateTime<Utc>,
        worker: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_tenant(tenant).await?;
        let n = sqlx::query(
            "INSERT INTO job_runs (tenant_id, job, scheduled_for, status, claimed_by, started_at) \
             VALUES ($1, $2, $3, 'running', $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(tenant.as_str().to_string())
        .bind(job.to_string())
        .bind(format_ts(scheduled_for))
        .bind(worker.to_string())
        .bind(format_ts(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Record how a claimed run ended (`ok` or `failed`) with a one-line detail.
    pub async fn finish_job_run(
        &self,
        tenant: &TenantId,
        job: &str,
        scheduled_for: DateTime<Utc>,
        status: &str,
        detail: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query(
            "UPDATE job_runs SET status = $4, detail = $5, finished_at = $6 \
             WHERE tenant_id = $1 AND job = $2 AND scheduled_for = $3",
        )
        .bind(tenant.as_str().to_string())
        .bind(job.to_string())
        .bind(format_ts(scheduled_for))
        .bind(status.to_string())
        .bind(detail.chars().take(2000).collect::<String>())
        .bind(format_ts(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest runs first.
    pub async fn job_runs(&self, tenant: &TenantId, limit: i64) -> StoreResult<Vec<JobRun>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows = sqlx::query(
            "SELECT tenant_id, job, scheduled_for, status, claimed_by, started_at, finished_at, detail \
             FROM job_runs WHERE tenant_id = $1 ORDER BY scheduled_for DESC, job LIMIT $2",
        )
        .bind(tenant.as_str().to_string())
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                Ok(JobRun {
                    tenant_id: r.try_get("tenant_id")?,
                    job: r.try_get("job")?,
                    scheduled_for: r.try_get("scheduled_for")?,
                    status: r.try_get("status")?,
                    claimed_by: r.try_get("claimed_by")?,
                    started_at: r.try_get("started_at")?,
                    finished_at: r.try_get("finished_at")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }
}
