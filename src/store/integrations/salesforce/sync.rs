//! The Salesforce sync's own state: per-source watermarks and deferrals (`sync_state`), and
//! the webhook notifications already handled (a redelivery is claimed once).
use crate::domain::TenantId;
use crate::store::{Store, StoreResult, format_ts};

/// The source's row in `sync_state`.
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow)]
pub struct SyncStateRow {
    pub high_water_mark: Option<String>,
    pub last_sync_at: Option<String>,
    pub last_count: Option<i64>,
    pub status: String,
    pub detail: Option<String>,
    pub deferred_until: Option<String>,
}

impl Store {
    pub async fn sync_state(&self, tenant: &TenantId, source: &str) -> StoreResult<SyncStateRow> {
        let mut tx = self.begin_tenant(tenant).await?;
        let row = sqlx::query_as(
            "SELECT high_water_mark, last_sync_at, last_count, status, detail, deferred_until \
             FROM sync_state WHERE tenant_id = $1 AND source = $2",
        )
        .bind(tenant.as_str().to_string())
        .bind(source.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.unwrap_or_else(|| SyncStateRow {
            status: "never".into(),
            ..Default::default()
        }))
    }

    pub async fn put_sync_state(
        &self,
        tenant: &TenantId,
        source: &str,
        s: &SyncStateRow,
    ) -> StoreResult<()> {
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query(
            "INSERT INTO sync_state (tenant_id, source, high_water_mark, last_sync_at, last_count, status, detail, deferred_until) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (tenant_id, source) DO UPDATE SET \
             high_water_mark = excluded.high_water_mark, last_sync_at = excluded.last_sync_at, \
             last_count = excluded.last_count, status = excluded.status, detail = excluded.detail, \
             deferred_until = excluded.deferred_until",
        )
        .bind(tenant.as_str().to_string())
        .bind(source.to_string())
        .bind(s.high_water_mark.clone())
        .bind(s.last_sync_at.clone())
        .bind(s.last_count)
        .bind(s.status.clone())
        .bind(s.detail.clone())
        .bind(s.deferred_until.clone())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Claim a webhook notification id: `true` the first time, `false` for a redelivery.
    pub async fn claim_sf_notification(
        &self,
        tenant: &TenantId,
        notification_id: &str,
        record_count: usize,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_tenant(tenant).await?;
        let done = sqlx::query(
            "INSERT INTO salesforce_notifications (tenant_id, notification_id, received_at, record_count) \
             VALUES ($1,$2,$3,$4) ON CONFLICT (tenant_id, notification_id) DO NOTHING",
        )
        .bind(tenant.as_str().to_string())
        .bind(notification_id.to_string())
        .bind(format_ts(self.now()))
        .bind(record_count as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forget a claimed notification whose processing failed, so Salesforce's retry is handled.
    pub async fn release_sf_notification(
        &self,
        tenant: &TenantId,
        notification_id: &str,
    ) -> StoreResult<()> {
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query(
            "DELETE FROM salesforce_notifications WHERE tenant_id = $1 AND notification_id = $2",
        )
        .bind(tenant.as_str().to_string())
        .bind(notification_id.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
