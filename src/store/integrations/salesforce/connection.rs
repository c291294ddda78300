//! A tenant's connected Salesforce org: its sealed tokens and field mapping, the org → tenant
//! routing the webhook uses with each org's sealed secret, and the single-use OAuth states
//! of the connect flow.
use crate::domain::TenantId;
use crate::store::{Store, StoreError, StoreResult, format_ts};
use chrono::{DateTime, Duration, Utc};

/// A tenant's connected org, tokens still sealed (the caller opens them with `SecretBox`).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SfConnectionRow {
    pub org_id: String,
    /// `web_server` (refresh token) or `jwt_bearer` (username + the app's private key).
    pub auth_flow: String,
    pub instance_url_sealed: String,
    pub refresh_token_sealed: Option<String>,
    pub jwt_username: Option<String>,
    /// JSON of the per-tenant field mapping (`{}` = defaults).
    pub field_mapping: String,
}

/// Connection columns replaced on their own.
enum ConnColumn {
    FieldMapping,
    WebhookSecret,
}

impl Store {
    pub async fn save_sf_connection(
        &self,
        tenant: &TenantId,
        c: &SfConnectionRow,
    ) -> StoreResult<()> {
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query(
            "INSERT INTO salesforce_connections (tenant_id, org_id, auth_flow, instance_url_sealed, \
             refresh_token_sealed, jwt_username, field_mapping, connected_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) \
             ON CONFLICT (tenant_id) DO UPDATE SET org_id = excluded.org_id, auth_flow = excluded.auth_flow, \
             instance_url_sealed = excluded.instance_url_sealed, refresh_token_sealed = excluded.refresh_token_sealed, \
             jwt_username = excluded.jwt_username, connected_at = excluded.connected_at",
        )
        .bind(tenant.as_str().to_string())
        .bind(c.org_id.clone())
        .bind(c.auth_flow.clone())
        .bind(c.instance_url_sealed.clone())
        .bind(c.refresh_token_sealed.clone())
        .bind(c.jwt_username.clone())
        .bind(c.field_mapping.clone())
        .bind(format_ts(self.now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        // Routing row, outside the tenant scope (the table has no tenant policy).
        sqlx::query(
            "INSERT INTO salesforce_orgs (org_id, tenant_id) VALUES ($1, $2) \
             ON CONFLICT (org_id) DO UPDATE SET tenant_id = excluded.tenant_id",
        )
        .bind(c.org_id.clone())
        .bind(tenant.as_str().to_string())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn sf_connection(&self, tenant: &TenantId) -> StoreResult<Option<SfConnectionRow>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let row = sqlx::query_as(
            "SELECT org_id, auth_flow, instance_url_sealed, refresh_token_sealed, jwt_username, field_mapping \
             FROM salesforce_connections WHERE tenant_id = $1",
        )
        .bind(tenant.as_str().to_string())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Replace the tenant's field mapping (JSON).
    pub async fn set_sf_field_mapping(&self, tenant: &TenantId, json: &str) -> StoreResult<()> {
        self.set_connection_column(tenant, ConnColumn::FieldMapping, json)
            .await
    }

    /// Which tenant connected this org (webhook routing).
    pub async fn tenant_for_sf_org(&self, org_id: &str) -> StoreResult<Option<TenantId>> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT tenant_id FROM salesforce_orgs WHERE org_id = $1")
                .bind(org_id.to_string())
                .fetch_optional(self.pool())
                .await?;
        row.map(|(t,)| TenantId::parse(&t).map_err(|e| anyhow::anyhow!("{e}").into()))
            .transpose()
    }

    pub async fn save_oauth_state(
        &self,
        tenant: &TenantId,
        state: &str,
        verifier_sealed: &str,
    ) -> StoreResult<()> {
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query(
            "INSERT INTO salesforce_oauth_states (tenant_id, state, pkce_verifier_sealed, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant.as_str().to_string())
        .bind(state.to_string())
        .bind(verifier_sealed.to_string())
        .bind(format_ts(self.now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Use an OAuth state once: returns the sealed PKCE verifier if the state exists, is unused
    /// and younger than `max_age`; marks it used either way so it can never be replayed.
    pub async fn take_oauth_state(
        &self,
        tenant: &TenantId,
        state: &str,
        now: DateTime<Utc>,
        max_age: Duration,
    ) -> StoreResult<Option<String>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let row: Option<(String, String)> = sqlx::query_as(
            "UPDATE salesforce_oauth_states SET used_at = $3 \
             WHERE tenant_id = $1 AND state = $2 AND used_at IS NULL \
             RETURNING pkce_verifier_sealed, created_at",
        )
        .bind(tenant.as_str().to_string())
        .bind(state.to_string())
        .bind(format_ts(now))
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.and_then(|(verifier, created)| {
            let created = DateTime::parse_from_rfc3339(&created).ok()?;
            (now.signed_duration_since(created) <= max_age).then_some(verifier)
        }))
    }

    /// Store the sealed webhook secret of the tenant's connected org.
    pub async fn set_sf_webhook_secret(&self, tenant: &TenantId, sealed: &str) -> StoreResult<()> {
        self.set_connection_column(tenant, ConnColumn::WebhookSecret, sealed)
            .await
    }

    /// Replace one column of the tenant's connection row (NotFound: not connected).
    async fn set_connection_column(
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
            return Err(StoreError::NotFound);
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
}
