//! What CSV imports remember per tenant: the column mapping given for an export (by header
//! key). The deal owners an export names become users (`store::users`).
use super::{Store, StoreResult, format_ts};
use crate::domain::TenantId;

impl Store {
    /// Saves (or replaces) the mapping JSON for the export whose header hashes to `header_key`.
    pub async fn save_import_mapping(
        &self,
        tenant: &TenantId,
        header_key: &str,
        mapping_json: &str,
    ) -> StoreResult<()> {
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query(
            "INSERT INTO import_mappings (tenant_id, header_key, mapping, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, header_key) DO UPDATE SET \
             mapping = excluded.mapping, updated_at = excluded.updated_at",
        )
        .bind(tenant.as_str().to_string())
        .bind(header_key.to_string())
        .bind(mapping_json.to_string())
        .bind(format_ts(self.now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The mapping JSON saved for this export's header, if any.
    pub async fn import_mapping(
        &self,
        tenant: &TenantId,
        header_key: &str,
    ) -> StoreResult<Option<String>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT mapping FROM import_mappings WHERE tenant_id = $1 AND header_key = $2",
        )
        .bind(tenant.as_str().to_string())
        .bind(header_key.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.map(|r| r.0))
    }
}
