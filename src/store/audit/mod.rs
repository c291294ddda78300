//! Audit log: who did what to which tenant's data, and when. Entries are written one at a
//! time or in batches by the background writer (`writer`).
pub mod writer;

use crate::domain::TenantId;
use crate::store::sql::values_sql;
use crate::store::{Store, StoreResult, format_ts, storable_text};
use chrono::{DateTime, Utc};

/// Rows per multi-row INSERT on PostgreSQL (8 binds each; far below its parameter limit).
const PG_INSERT_ROWS: usize = 500;

/// One audit entry to record.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub detail: Option<serde_json::Value>,
}

/// An owned audit entry stamped with the time it happened, for deferred (batched) writes.
#[derive(Debug, Clone)]
pub struct PendingAudit {
    pub tenant: TenantId,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub request_id: Option<String>,
    pub detail: Option<String>,
}

impl PendingAudit {
    /// Stamp `entry` with `at`, the time it happened.
    pub fn at(tenant: &TenantId, entry: AuditEntry<'_>, at: DateTime<Utc>) -> PendingAudit {
        PendingAudit {
            tenant: tenant.clone(),
            at: format_ts(at),
            actor: storable_text(entry.actor),
            action: storable_text(entry.action),
            target: entry.target.map(storable_text),
            request_id: entry.request_id.map(storable_text),
            detail: entry.detail.map(|d| d.to_string()),
        }
    }
}

/// A stored audit row.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct AuditRow {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub request_id: Option<String>,
    pub detail: Option<String>,
}

impl Store {
    pub async fn record_audit(&self, tenant: &TenantId, entry: AuditEntry<'_>) -> StoreResult<()> {
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query(
            "INSERT INTO audit_log (tenant_id, audit_id, at, actor, action, target, request_id, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(tenant.as_str().to_string())
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(format_ts(self.now()))
        .bind(storable_text(entry.actor))
        .bind(storable_text(entry.action))
        .bind(entry.target.map(storable_text))
        .bind(entry.request_id.map(storable_text))
        .bind(entry.detail.map(|d| d.to_string()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Write many entries of one tenant in one tenant-scoped transaction (multi-row INSERTs).
    /// Entries whose tenant differs from `tenant` are rejected by row-level security on
    /// PostgreSQL; callers group by tenant first.
    pub async fn record_audit_batch(
        &self,
        tenant: &TenantId,
        entries: &[PendingAudit],
    ) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_tenant(tenant).await?;
        for part in self.insert_batches(entries, PG_INSERT_ROWS) {
            let sql = format!(
                "INSERT INTO audit_log (tenant_id, audit_id, at, actor, action, target, request_id, detail) VALUES {}",
                values_sql(self.backend(), part.len(), 8)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for e in part {
                q = q
                    .bind(e.tenant.as_str().to_string())
                    // Time-ordered (v7): each batch appends to the primary-key index instead of
                    // dirtying a random page per row (v4 made every audit batch rewrite
                    // hundreds of index pages, most of the SQLite API server's write cost).
                    .bind(uuid::Uuid::now_v7().to_string())
                    .bind(e.at.clone())
                    .bind(e.actor.clone())
                    .bind(e.action.clone())
                    .bind(e.target.clone())
                    .bind(e.request_id.clone())
                    .bind(e.detail.clone());
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Newest first.
    pub async fn list_audit(&self, tenant: &TenantId, limit: i64) -> StoreResult<Vec<AuditRow>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows = sqlx::query_as::<_, AuditRow>(
            "SELECT at, actor, action, target, request_id, detail FROM audit_log \
             WHERE tenant_id = $1 ORDER BY at DESC LIMIT $2",
        )
        .bind(tenant.as_str().to_string())
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows)
    }
}
