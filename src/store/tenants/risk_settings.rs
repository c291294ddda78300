//! A tenant's risk-band edges and daily alert budget (no row: the design's defaults, which
//! the caller supplies — the store holds no policy).
use crate::domain::{RiskBands, TenantId};
use crate::store::{Store, StoreResult, format_ts};

/// The stored settings, as integers: band upper edges and alerts per recipient per day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct RiskSettingsRow {
    pub low_max: i64,
    pub medium_max: i64,
    pub high_max: i64,
    pub alerts_per_day: i64,
}

impl Store {
    pub async fn risk_settings(&self, tenant: &TenantId) -> StoreResult<Option<RiskSettingsRow>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let row = sqlx::query_as(
            "SELECT low_max, medium_max, high_max, alerts_per_day FROM risk_settings \
             WHERE tenant_id = $1",
        )
        .bind(tenant.as_str().to_string())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// The tenant's own band edges, if it set them.
    pub async fn risk_bands(&self, tenant: &TenantId) -> StoreResult<Option<RiskBands>> {
        Ok(self.risk_settings(tenant).await?.and_then(|r| {
            let edge = |v: i64| u8::try_from(v).ok();
            RiskBands::new(edge(r.low_max)?, edge(r.medium_max)?, edge(r.high_max)?).ok()
        }))
    }

    /// Replaces the tenant's settings (the table's CHECKs refuse edges out of order).
    pub async fn set_risk_settings(
        &self,
        tenant: &TenantId,
        s: RiskSettingsRow,
    ) -> StoreResult<()> {
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query(
            "INSERT INTO risk_settings (tenant_id, low_max, medium_max, high_max, alerts_per_day, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id) DO UPDATE SET \
             low_max = excluded.low_max, medium_max = excluded.medium_max, \
             high_max = excluded.high_max, alerts_per_day = excluded.alerts_per_day, \
             updated_at = excluded.updated_at",
        )
        .bind(tenant.as_str().to_string())
        .bind(s.low_max)
        .bind(s.medium_max)
        .bind(s.high_max)
        .bind(s.alerts_per_day)
        .bind(format_ts(self.now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
