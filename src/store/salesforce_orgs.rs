//! Per-org webhook secrets (sealed; the webhook finds the tenant by org id, then the secret in
//! that tenant's scope) and the write-back values Salesforce refused for good, kept so every
//! sync's report names them until the values change.
use super::{Store, StoreResult};
use crate::domain::TenantId;

/// One Opportunity whose risk fields Salesforce refused (validation rule, required field, …).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WritebackRejection {
    pub record_id: String,
    pub status_code: String,
    pub message: String,
    /// When it was last refused.
    pub at: String,
}

/// Connection columns replaced on their own.
pub(super) enum ConnColumn {
    FieldMapping,
    WebhookSecret,
}

/// deal_id, error_code, error, written_at.
type RejectionRow = (String, Option<String>, Option<String>, Option<String>);

impl Store {
    /// Store the sealed webhook secret of the tenant's connected org.
    pub async fn set_sf_webhook_secret(&self, tenant: &TenantId, sealed: &str) -> StoreResult<()> {
        self.set_connection_column(tenant, ConnColumn::WebhookSecret, sealed)
            .await
    }

    /// Replace one column of the tenant's connection row (NotFound: not connected).
    pub(super) async fn set_connection_column(
        &self,
        tenant: &TenantId,
        column: ConnColumn,
        value: &str,
    ) -> StoreResult<()> {
        // The column name comes from the enum, never from input.
        let sql = match column {
            ConnColumn::FieldMapping => {
                "UPDATE salesforce_connections SET field_mapping = $2 WHERE tenant_id = $1"
            }
            ConnColumn::WebhookSecret => {
                "UPDATE salesforce_connections SET webhook_secret_sealed = $2 WHERE tenant_id = $1"
            }
        };
        let mut tx = self.begin_tenant(tenant).await?;
        let done = sqlx::query(sql)
            .bind(tenant.as_str().to_string())
            .bind(value.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if done.rows_affected() == 0 {
            return Err(super::StoreError::NotFound);
        }
        Ok(())
    }

    /// The sealed webhook secret of the tenant's org, if it has one yet.
    pub async fn sf_webhook_secret(&self, tenant: &TenantId) -> StoreResult<Option<String>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let row: Option<(Option<String>,)> = sqlx::query_as(
            "SELECT webhook_secret_sealed FROM salesforce_connections WHERE tenant_id = $1",
        )
        .bind(tenant.as_str().to_string())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.and_then(|r| r.0))
    }

    /// Webhook routing: the tenant that connected `org_id` and its org's sealed secret.
    /// `None` when the org is unknown or was connected under another org id since.
    pub async fn sf_webhook_route(
        &self,
        org_id: &str,
    ) -> StoreResult<Option<(TenantId, Option<String>)>> {
        let Some(tenant) = self.tenant_for_sf_org(org_id).await? else {
            return Ok(None);
        };
        let mut tx = self.begin_tenant(&tenant).await?;
        let row: Option<(String, Option<String>)> = sqlx::query_as(
            "SELECT org_id, webhook_secret_sealed FROM salesforce_connections WHERE tenant_id = $1",
        )
        .bind(tenant.as_str().to_string())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        // The routing row outlives a reconnect to another org; the connection is the truth.
        Ok(row
            .filter(|(org, _)| org == org_id)
            .map(|(_, secret)| (tenant, secret)))
    }

    /// Records whose current values Salesforce refused for good, oldest first.
    pub async fn sf_writeback_rejections(
        &self,
        tenant: &TenantId,
    ) -> StoreResult<Vec<WritebackRejection>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows: Vec<RejectionRow> = sqlx::query_as(
            "SELECT deal_id, error_code, error, written_at FROM salesforce_writeback \
             WHERE tenant_id = $1 AND status = 'rejected' ORDER BY written_at, deal_id",
        )
        .bind(tenant.as_str().to_string())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|(record_id, code, message, at)| WritebackRejection {
                record_id,
                status_code: code.unwrap_or_default(),
                message: message.unwrap_or_default(),
                at: at.unwrap_or_default(),
            })
            .collect())
    }
}
