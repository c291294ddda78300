//! Users of a tenant: who they are for RBAC (role, manager), their zone and delivery details.
//! Users that imports and the Salesforce sync bring in are in `imported`, who left which
//! mailing list in `unsubscribes`; the Slack account link is with the Slack integration.
mod imported;
mod unsubscribes;

pub use imported::SfUser;

use crate::domain::TenantId;
use crate::store::{Store, StoreError, StoreResult, format_ts};

/// A user as RBAC needs it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct UserRow {
    pub user_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub role: String,
    pub manager_id: Option<String>,
    pub time_zone: String,
}

/// A user with the columns the `users list` CLI prints.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct ListedUser {
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub user: UserRow,
    pub slack_user_id: Option<String>,
}

/// A new or updated user.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub user_id: &'a str,
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
    pub role: &'a str,
    pub manager_id: Option<&'a str>,
}

/// The user row the API needs for scoping, by id (`$2`).
pub(in crate::store) const USER_BY_ID: &str = "SELECT user_id, email, name, role, manager_id, time_zone FROM users \
     WHERE tenant_id = $1 AND user_id = $2";
/// Users whose manager is `$2`.
pub(in crate::store) const DIRECT_REPORTS: &str = "SELECT user_id, email, name, role, manager_id, time_zone FROM users \
     WHERE tenant_id = $1 AND manager_id = $2 ORDER BY user_id";

impl Store {
    pub async fn upsert_user(&self, tenant: &TenantId, u: &NewUser<'_>) -> StoreResult<()> {
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query(
            "INSERT INTO users (tenant_id, user_id, email, name, role, manager_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, user_id) DO UPDATE SET \
             email = excluded.email, name = excluded.name, role = excluded.role, manager_id = excluded.manager_id",
        )
        .bind(tenant.as_str().to_string())
        .bind(u.user_id.to_string())
        .bind(u.email.map(str::to_string))
        .bind(u.name.map(str::to_string))
        .bind(u.role.to_string())
        .bind(u.manager_id.map(str::to_string))
        .bind(format_ts(self.now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn get_user(&self, tenant: &TenantId, user_id: &str) -> StoreResult<Option<UserRow>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let row = sqlx::query_as(USER_BY_ID)
            .bind(tenant.as_str().to_string())
            .bind(user_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Users whose `manager_id` is `manager` (direct reports).
    pub async fn team_of(&self, tenant: &TenantId, manager: &str) -> StoreResult<Vec<UserRow>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows = sqlx::query_as(DIRECT_REPORTS)
            .bind(tenant.as_str().to_string())
            .bind(manager.to_string())
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Every user of the tenant, by id.
    pub async fn list_users(&self, tenant: &TenantId) -> StoreResult<Vec<ListedUser>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows = sqlx::query_as(
            "SELECT user_id, email, name, role, manager_id, time_zone, slack_user_id FROM users \
             WHERE tenant_id = $1 ORDER BY user_id",
        )
        .bind(tenant.as_str().to_string())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// The user with `email` (case-insensitive) and their current Slack id.
    pub async fn user_by_email(
        &self,
        tenant: &TenantId,
        email: &str,
    ) -> StoreResult<Option<ListedUser>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let row = sqlx::query_as(
            "SELECT user_id, email, name, role, manager_id, time_zone, slack_user_id FROM users \
             WHERE tenant_id = $1 AND LOWER(email) = $2 ORDER BY user_id LIMIT 1",
        )
        .bind(tenant.as_str().to_string())
        .bind(email.trim().to_lowercase())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Sets a user's IANA time zone (validated by the caller).
    pub async fn set_user_time_zone(
        &self,
        tenant: &TenantId,
        user_id: &str,
        time_zone: &str,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_tenant(tenant).await?;
        let done =
            sqlx::query("UPDATE users SET time_zone = $3 WHERE tenant_id = $1 AND user_id = $2")
                .bind(tenant.as_str().to_string())
                .bind(user_id.to_string())
                .bind(time_zone.to_string())
                .execute(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Link a user to their Slack user id and set their IANA time zone.
    pub async fn set_user_delivery(
        &self,
        tenant: &TenantId,
        user_id: &str,
        slack_user_id: Option<&str>,
        time_zone: &str,
    ) -> StoreResult<()> {
        if time_zone.parse::<chrono_tz::Tz>().is_err() {
            return Err(StoreError::Other(anyhow::anyhow!(
                "unknown time zone {time_zone:?}: use an IANA name such as America/New_York"
            )));
        }
        let mut tx = self.begin_tenant(tenant).await?;
        let n = sqlx::query(
            "UPDATE users SET slack_user_id = $3, time_zone = $4 WHERE tenant_id = $1 AND user_id = $2",
        )
        .bind(tenant.as_str().to_string())
        .bind(user_id.to_string())
        .bind(slack_user_id.map(str::to_string))
        .bind(time_zone.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
