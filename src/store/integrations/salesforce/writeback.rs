//! What the Salesforce sync wrote back: each record's risk-field hash and outcome (so unchanged
//! scores are not rewritten and failures retried), the values Salesforce refused for good
//! (named in every sync report until they change), and the Tasks created per key.
use crate::domain::TenantId;
use crate::store::sql::values_sql;
use crate::store::{Store, StoreResult, format_ts};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

/// Outcome of one record's write-back, remembered so unchanged scores are not rewritten and
/// failed ones are retried.
#[derive(Debug, Clone, PartialEq)]
pub enum WritebackOutcome {
    /// Written; the hash is what Salesforce now holds.
    Written { hash: String },
    /// Failed in a way worth retrying (UNABLE_TO_LOCK_ROW, …); retried on the next run.
    Retry { error: String },
    /// The record is gone (ENTITY_IS_DELETED): never retried for this hash.
    Skipped { hash: String, error: String },
    /// Salesforce refused these values for good (validation rule, required field, invalid
    /// picklist value, no access): not retried until the values change, and reported.
    Rejected {
        hash: String,
        code: String,
        message: String,
    },
}

/// One Opportunity whose risk fields Salesforce refused (validation rule, required field, …).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WritebackRejection {
    pub record_id: String,
    pub status_code: String,
    pub message: String,
    /// When it was last refused.
    pub at: String,
}

/// A refused write-back as stored (the columns are nullable for the other outcomes).
#[derive(sqlx::FromRow)]
struct RejectionRecord {
    deal_id: String,
    error_code: Option<String>,
    error: Option<String>,
    written_at: Option<String>,
}

impl From<RejectionRecord> for WritebackRejection {
    fn from(r: RejectionRecord) -> WritebackRejection {
        WritebackRejection {
            record_id: r.deal_id,
            status_code: r.error_code.unwrap_or_default(),
            message: r.error.unwrap_or_default(),
            at: r.written_at.unwrap_or_default(),
        }
    }
}

impl Store {
    /// deal_id → hash of the risk fields Salesforce holds (written or skipped).
    pub async fn writeback_hashes(
        &self,
        tenant: &TenantId,
    ) -> StoreResult<HashMap<String, String>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT deal_id, written_hash FROM salesforce_writeback WHERE tenant_id = $1",
        )
        .bind(tenant.as_str().to_string())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .filter_map(|(d, h)| h.map(|h| (d, h)))
            .collect())
    }

    /// Remember write-back outcomes (one transaction).
    pub async fn record_writeback(
        &self,
        tenant: &TenantId,
        at: DateTime<Utc>,
        outcomes: &[(String, WritebackOutcome)],
    ) -> StoreResult<()> {
        let mut tx = self.begin_tenant(tenant).await?;
        let ts = format_ts(at);
        for part in self.insert_batches(outcomes, 500) {
            // A retry keeps the last written hash, so the record stays "changed" until it lands.
            let sql = format!(
                "INSERT INTO salesforce_writeback (tenant_id, deal_id, written_hash, written_at, status, error, attempts, error_code) \
                 VALUES {} ON CONFLICT (tenant_id, deal_id) DO UPDATE SET \
                 written_hash = COALESCE(excluded.written_hash, salesforce_writeback.written_hash), \
                 written_at = excluded.written_at, status = excluded.status, error = excluded.error, \
                 error_code = excluded.error_code, \
                 attempts = CASE WHEN excluded.status = 'retry' THEN salesforce_writeback.attempts + 1 ELSE 0 END",
                values_sql(self.backend(), part.len(), 8)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (deal, o) in part {
                let (hash, status, error, code) = match o {
                    WritebackOutcome::Written { hash } => {
                        (Some(hash.clone()), "written", None, None)
                    }
                    WritebackOutcome::Retry { error } => (None, "retry", Some(error.clone()), None),
                    WritebackOutcome::Skipped { hash, error } => {
                        (Some(hash.clone()), "skipped", Some(error.clone()), None)
                    }
                    // The refused values' hash is remembered so the same values are not sent
                    // again every night; new values get a new hash and are tried.
                    WritebackOutcome::Rejected {
                        hash,
                        code,
                        message,
                    } => (
                        Some(hash.clone()),
                        "rejected",
                        Some(message.clone()),
                        Some(code.clone()),
                    ),
                };
                q = q
                    .bind(tenant.as_str().to_string())
                    .bind(deal.clone())
                    .bind(hash)
                    .bind(ts.clone())
                    .bind(status.to_string())
                    .bind(error)
                    .bind(1i64)
                    .bind(code);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records whose current values Salesforce refused for good, oldest first.
    pub async fn sf_writeback_rejections(
        &self,
        tenant: &TenantId,
    ) -> StoreResult<Vec<WritebackRejection>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows: Vec<RejectionRecord> = sqlx::query_as(
            "SELECT deal_id, error_code, error, written_at FROM salesforce_writeback \
             WHERE tenant_id = $1 AND status = 'rejected' ORDER BY written_at, deal_id",
        )
        .bind(tenant.as_str().to_string())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(WritebackRejection::from).collect())
    }

    /// Task keys already created (Tasks are never recreated or reopened for a key).
    pub async fn sf_task_keys(&self, tenant: &TenantId) -> StoreResult<HashSet<String>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT task_key FROM salesforce_tasks WHERE tenant_id = $1")
                .bind(tenant.as_str().to_string())
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Remember created Tasks: (key, deal_id, Salesforce Task id).
    pub async fn record_sf_tasks(
        &self,
        tenant: &TenantId,
        tasks: &[(String, String, Option<String>)],
    ) -> StoreResult<()> {
        let mut tx = self.begin_tenant(tenant).await?;
        let now = format_ts(self.now());
        for part in self.insert_batches(tasks, 500) {
            let sql = format!(
                "INSERT INTO salesforce_tasks (tenant_id, task_key, deal_id, sf_task_id, created_at) \
                 VALUES {} ON CONFLICT (tenant_id, task_key) DO NOTHING",
                values_sql(self.backend(), part.len(), 5)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (key, deal, id) in part {
                q = q
                    .bind(tenant.as_str().to_string())
                    .bind(key.clone())
                    .bind(deal.clone())
                    .bind(id.clone())
                    .bind(now.clone());
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
