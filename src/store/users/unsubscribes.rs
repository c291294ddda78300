//! Who left which mailing list (`email_unsubscribes`): written by the one-click unsubscribe
//! route, read when digests and weekly summaries are queued.
use crate::domain::TenantId;
use crate::store::{Store, StoreResult, format_ts};
use chrono::{DateTime, Utc};

impl Store {
    /// Record that `user_id` left `list` (idempotent: a second click keeps the first time).
    /// Returns false when the tenant has no such user (nothing is written).
    pub async fn unsubscribe_email(
        &self,
        tenant: &TenantId,
        user_id: &str,
        list: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_tenant(tenant).await?;
        let known: Option<(String,)> =
            sqlx::query_as("SELECT user_id FROM users WHERE tenant_id = $1 AND user_id = $2")
                .bind(tenant.as_str().to_string())
                .bind(user_id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        if known.is_none() {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO email_unsubscribes (tenant_id, user_id, list, unsubscribed_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, user_id, list) DO NOTHING",
        )
        .bind(tenant.as_str().to_string())
        .bind(user_id.to_string())
        .bind(list.to_string())
        .bind(format_ts(at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The users of `tenant` who left `list`.
    pub async fn email_unsubscribed(
        &self,
        tenant: &TenantId,
        list: &str,
    ) -> StoreResult<Vec<String>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT user_id FROM email_unsubscribes WHERE tenant_id = $1 AND list = $2 ORDER BY user_id",
        )
        .bind(tenant.as_str().to_string())
        .bind(list.to_string())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }
}
