//! The retention purge: rows older than their cutoff go, per tenant, in one transaction
//! (the policy, which cutoffs, is `jobs::retention`'s).
use super::{Store, StoreResult, format_ts};
use crate::domain::TenantId;
use chrono::{DateTime, NaiveDate, Utc};

/// Rows older than these are purged (see `jobs::retention` for the policy).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PurgeCutoffs {
    /// Closed deals whose close date is before this day.
    pub closed_deals_before: NaiveDate,
    pub scores_before: DateTime<Utc>,
    pub audit_before: DateTime<Utc>,
    pub idempotency_keys_before: DateTime<Utc>,
    /// Finished job runs and sent outbox rows.
    pub done_work_before: DateTime<Utc>,
}

/// Rows deleted per table by one purge.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PurgeCounts {
    pub deals: u64,
    pub risk_scores: u64,
    /// Snoozes, feedback and action Tasks of the purged deals.
    pub deal_children: u64,
    pub audit_log: u64,
    pub idempotency_keys: u64,
    pub job_runs: u64,
    pub outbox: u64,
}

impl PurgeCounts {
    pub fn total(&self) -> u64 {
        self.deals
            + self.risk_scores
            + self.deal_children
            + self.audit_log
            + self.idempotency_keys
            + self.job_runs
            + self.outbox
    }
}

impl Store {
    /// Delete every row older than its cutoff, in one tenant transaction. A deal's *current*
    /// score is never purged (an open deal must keep its score however old it is).
    pub async fn purge_old_rows(
        &self,
        tenant: &TenantId,
        c: &PurgeCutoffs,
    ) -> StoreResult<PurgeCounts> {
        let t = tenant.as_str().to_string();
        let deals_before = c.closed_deals_before.to_string();
        let mut tx = self.begin_tenant(tenant).await?;
        // Old closed deals: a deal without a close date counts from its last update.
        const OLD_DEALS: &str = "SELECT deal_id FROM deals WHERE tenant_id = $1 AND outcome IS NOT NULL \
             AND COALESCE(closed_date, substr(updated_at, 1, 10)) < $2";
        let mut counts = PurgeCounts::default();
        for table in ["snoozes", "feedback", "action_tasks"] {
            let sql =
                format!("DELETE FROM {table} WHERE tenant_id = $1 AND deal_id IN ({OLD_DEALS})");
            counts.deal_children += sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(t.clone())
                .bind(deals_before.clone())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        counts.risk_scores += sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM risk_scores WHERE tenant_id = $1 AND deal_id IN ({OLD_DEALS})"
        )))
        .bind(t.clone())
        .bind(deals_before.clone())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        counts.deals = sqlx::query(
            "DELETE FROM deals WHERE tenant_id = $1 AND outcome IS NOT NULL \
             AND COALESCE(closed_date, substr(updated_at, 1, 10)) < $2",
        )
        .bind(t.clone())
        .bind(deals_before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        counts.risk_scores += sqlx::query(
            "DELETE FROM risk_scores WHERE tenant_id = $1 AND scored_at < $2 \
             AND NOT EXISTS (SELECT 1 FROM deals d WHERE d.tenant_id = risk_scores.tenant_id \
                 AND d.deal_id = risk_scores.deal_id AND d.scored_at = risk_scores.scored_at)",
        )
        .bind(t.clone())
        .bind(format_ts(c.scores_before))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let simple: [(&str, &str, DateTime<Utc>); 4] = [
            (
                "audit_log",
                "DELETE FROM audit_log WHERE tenant_id = $1 AND at < $2",
                c.audit_before,
            ),
            (
                "idempotency_keys",
                "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND created_at < $2",
                c.idempotency_keys_before,
            ),
            (
                "job_runs",
                "DELETE FROM job_runs WHERE tenant_id = $1 AND finished_at IS NOT NULL AND finished_at < $2",
                c.done_work_before,
            ),
            (
                "outbox",
                "DELETE FROM outbox WHERE tenant_id = $1 AND status = 'sent' AND sent_at IS NOT NULL AND sent_at < $2",
                c.done_work_before,
            ),
        ];
        for (table, sql, before) in simple {
            let n = sqlx::query(sql)
                .bind(t.clone())
                .bind(format_ts(before))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            match table {
                "audit_log" => counts.audit_log = n,
                "idempotency_keys" => counts.idempotency_keys = n,
                "job_runs" => counts.job_runs = n,
                _ => counts.outbox = n,
            }
        }
        tx.commit().await?;
        Ok(counts)
    }
}
