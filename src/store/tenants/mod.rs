//! Tenant registry: create and list tenants. A tenant's risk-band edges and daily alert
//! budget are in `risk_settings`.
mod risk_settings;

pub use risk_settings::RiskSettingsRow;

use crate::domain::TenantId;
use crate::store::{Store, StoreError, StoreResult, format_ts};

#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct Tenant {
    pub tenant_id: String,
    pub name: String,
    pub time_zone: String,
    pub created_at: String,
}

impl Store {
    /// Add a tenant; `Conflict` when it already exists.
    pub async fn add_tenant(
        &self,
        tenant: &TenantId,
        name: &str,
        time_zone: &str,
    ) -> StoreResult<Tenant> {
        let created_at = format_ts(self.now());
        let mut tx = self.begin_tenant(tenant).await?;
        let inserted = sqlx::query(
            "INSERT INTO tenants (tenant_id, name, time_zone, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id) DO NOTHING",
        )
        .bind(tenant.as_str().to_string())
        .bind(name.to_string())
        .bind(time_zone.to_string())
        .bind(created_at.clone())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Err(StoreError::Conflict(format!(
                "tenant {tenant} already exists"
            )));
        }
        tx.commit().await?;
        Ok(Tenant {
            tenant_id: tenant.to_string(),
            name: name.to_string(),
            time_zone: time_zone.to_string(),
            created_at,
        })
    }

    pub async fn get_tenant(&self, tenant: &TenantId) -> StoreResult<Tenant> {
        let row: Option<Tenant> = sqlx::query_as(
            "SELECT tenant_id, name, time_zone, created_at FROM tenants WHERE tenant_id = $1",
        )
        .bind(tenant.as_str().to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.ok_or(StoreError::NotFound)
    }

    pub async fn list_tenants(&self) -> StoreResult<Vec<Tenant>> {
        let rows = sqlx::query_as(
            "SELECT tenant_id, name, time_zone, created_at FROM tenants ORDER BY tenant_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// The tenant, or a message that tells the user how to create it.
    pub async fn require_tenant(&self, tenant: &TenantId) -> anyhow::Result<Tenant> {
        match self.get_tenant(tenant).await {
            Ok(t) => Ok(t),
            Err(StoreError::NotFound) => anyhow::bail!(
                "tenant {tenant:?} does not exist; create it with `skygeni tenant add {tenant}`"
            ),
            Err(e) => Err(e.into()),
        }
    }
}
