//! Alerts: each user's settings (`settings`), the critical-alert crossing checked while scores
//! are recorded (`enqueue`), and the alert log read back. Snoozes and false alarms are the
//! deal's (`store::deals`).
mod enqueue;
mod settings;

pub(super) use enqueue::enqueue_critical_alerts;

use crate::domain::TenantId;
use crate::store::{Store, StoreResult};

impl Store {
    /// (deal_id, user_id, created_at) of the tenant's critical alerts, oldest first.
    pub async fn critical_alerts(
        &self,
        tenant: &TenantId,
    ) -> StoreResult<Vec<(String, String, String)>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows = sqlx::query_as(
            "SELECT deal_id, user_id, created_at FROM alerts WHERE tenant_id = $1 AND kind = 'critical' \
             ORDER BY created_at, deal_id, user_id",
        )
        .bind(tenant.as_str().to_string())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows)
    }
}
