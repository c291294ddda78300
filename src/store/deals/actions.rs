//! Recommended actions pushed to Salesforce as Tasks (`action_tasks`, keyed by the Task's
//! external id): the Salesforce sync writes their status, the weekly summary reads them back.
use crate::domain::TenantId;
use crate::store::sql::placeholders;
use crate::store::{Store, StoreResult, format_ts};

/// A recommended action pushed to Salesforce as a Task, with its last known status.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct ActionTask {
    pub task_key: String,
    pub deal_id: String,
    pub subject: String,
    pub priority: Option<String>,
    pub status: String,
    pub created_at: String,
    pub completed_at: Option<String>,
}

impl Store {
    /// Record (or update, by external id) a recommended action pushed as a Salesforce Task.
    pub async fn upsert_action_task(&self, tenant: &TenantId, t: &ActionTask) -> StoreResult<()> {
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query(
            "INSERT INTO action_tasks (tenant_id, task_key, deal_id, subject, priority, status, created_at, completed_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (tenant_id, task_key) DO UPDATE SET subject = excluded.subject, \
                 priority = excluded.priority, status = excluded.status, \
                 completed_at = excluded.completed_at, updated_at = excluded.updated_at",
        )
        .bind(tenant.as_str().to_string())
        .bind(t.task_key.clone())
        .bind(t.deal_id.clone())
        .bind(t.subject.clone())
        .bind(t.priority.clone())
        .bind(t.status.clone())
        .bind(t.created_at.clone())
        .bind(t.completed_at.clone())
        .bind(format_ts(self.now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The action Tasks of `deal_ids`.
    pub async fn action_tasks_for(
        &self,
        tenant: &TenantId,
        deal_ids: &[String],
    ) -> StoreResult<Vec<ActionTask>> {
        if deal_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_tenant(tenant).await?;
        let mut out = Vec::new();
        for part in deal_ids.chunks(500) {
            let sql = format!(
                "SELECT task_key, deal_id, subject, priority, status, created_at, completed_at \
                 FROM action_tasks WHERE tenant_id = $1 AND deal_id IN ({}) ORDER BY deal_id, task_key",
                placeholders(2, part.len())
            );
            let mut q = sqlx::query_as::<_, ActionTask>(sqlx::AssertSqlSafe(sql))
                .bind(tenant.as_str().to_string());
            for id in part {
                q = q.bind(id.clone());
            }
            out.extend(q.fetch_all(&mut *tx).await?);
        }
        tx.commit().await?;
        Ok(out)
    }
}
