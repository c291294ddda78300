//! Slack account links that need proof: pending one-time codes (`slack_link_requests`, only the
//! code's SHA-256 stored), the admin unlink, and the user listing the `skygeni users` CLI shows.
//! Policy (who may link what, how long a code lives) is the caller's; this is storage only.
use super::access::user_from_row;
use super::{Store, StoreResult, format_ts};
use crate::domain::TenantId;
use crate::store::UserRow;
use chrono::{DateTime, Utc};
use sqlx::Row;

/// A user with the columns the `users list` CLI prints.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ListedUser {
    #[serde(flatten)]
    pub user: UserRow,
    pub slack_user_id: Option<String>,
}

/// What checking a confirmation code found.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeCheck {
    /// The code matched a live request of this Slack user (now used): link to this user id.
    Valid { user_id: String },
    /// No live request, or the code is wrong (the attempt is counted).
    Invalid,
}

impl Store {
    /// Stores a pending link request; earlier unused requests of the same Slack user are
    /// dropped (one live code per Slack user).
    pub async fn create_slack_link_request(
        &self,
        tenant: &TenantId,
        slack_user_id: &str,
        user_id: &str,
        code_hash: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query(
            "DELETE FROM slack_link_requests WHERE tenant_id = $1 AND slack_user_id = $2 AND used_at IS NULL",
        )
        .bind(tenant.as_str().to_string())
        .bind(slack_user_id.to_string())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO slack_link_requests (tenant_id, request_id, slack_user_id, user_id, code_hash, \
             expires_at, attempts, created_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7)",
        )
        .bind(tenant.as_str().to_string())
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(slack_user_id.to_string())
        .bind(user_id.to_string())
        .bind(code_hash.to_string())
        .bind(format_ts(expires_at))
        .bind(format_ts(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Checks `code_hash` against the Slack user's live request (unused, unexpired, fewer than
    /// `max_attempts` wrong guesses). A match marks the request used; a miss counts an attempt.
    pub async fn use_slack_link_code(
        &self,
        tenant: &TenantId,
        slack_user_id: &str,
        code_hash: &str,
        max_attempts: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<CodeCheck> {
        let mut tx = self.begin_tenant(tenant).await?;
        let row = sqlx::query(
            "SELECT request_id, user_id, code_hash FROM slack_link_requests \
             WHERE tenant_id = $1 AND slack_user_id = $2 AND used_at IS NULL AND expires_at > $3 \
             AND attempts < $4 ORDER BY created_at DESC LIMIT 1",
        )
        .bind(tenant.as_str().to_string())
        .bind(slack_user_id.to_string())
        .bind(format_ts(now))
        .bind(max_attempts)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(CodeCheck::Invalid);
        };
        let request_id: String = row.try_get("request_id")?;
        let stored: String = row.try_get("code_hash")?;
        let out = if constant_time_eq(stored.as_bytes(), code_hash.as_bytes()) {
            // `used_at IS NULL` again: two concurrent confirmations cannot both use it.
            let done = sqlx::query(
                "UPDATE slack_link_requests SET used_at = $3 \
                 WHERE tenant_id = $1 AND request_id = $2 AND used_at IS NULL",
            )
            .bind(tenant.as_str().to_string())
            .bind(request_id)
            .bind(format_ts(now))
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 1 {
                CodeCheck::Valid {
                    user_id: row.try_get("user_id")?,
                }
            } else {
                CodeCheck::Invalid
            }
        } else {
            sqlx::query(
                "UPDATE slack_link_requests SET attempts = attempts + 1 \
                 WHERE tenant_id = $1 AND request_id = $2",
            )
            .bind(tenant.as_str().to_string())
            .bind(request_id)
            .execute(&mut *tx)
            .await?;
            CodeCheck::Invalid
        };
        tx.commit().await?;
        Ok(out)
    }

    /// Links `user_id` to `slack_user_id` unless the user is already linked to another Slack
    /// account (`Ok(false)`). The Slack account is cleared from any other user first.
    pub async fn link_slack_user_if_free(
        &self,
        tenant: &TenantId,
        user_id: &str,
        slack_user_id: &str,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_tenant(tenant).await?;
        let current: Option<(Option<String>,)> =
            sqlx::query_as("SELECT slack_user_id FROM users WHERE tenant_id = $1 AND user_id = $2")
                .bind(tenant.as_str().to_string())
                .bind(user_id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        let free = match &current {
            None => false,
            Some((c,)) => c.as_deref().is_none_or(|c| c == slack_user_id),
        };
        if free {
            sqlx::query(
                "UPDATE users SET slack_user_id = NULL WHERE tenant_id = $1 AND slack_user_id = $2",
            )
            .bind(tenant.as_str().to_string())
            .bind(slack_user_id.to_string())
            .execute(&mut *tx)
            .await?;
            // The `IS NULL OR =` guard keeps a concurrent link from being overwritten.
            let done = sqlx::query(
                "UPDATE users SET slack_user_id = $3 WHERE tenant_id = $1 AND user_id = $2 \
                 AND (slack_user_id IS NULL OR slack_user_id = $3)",
            )
            .bind(tenant.as_str().to_string())
            .bind(user_id.to_string())
            .bind(slack_user_id.to_string())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(done.rows_affected() == 1);
        }
        tx.commit().await?;
        Ok(false)
    }

    /// The user with `email` (case-insensitive) and their current Slack id.
    pub async fn user_by_email(
        &self,
        tenant: &TenantId,
        email: &str,
    ) -> StoreResult<Option<ListedUser>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let row = sqlx::query(
            "SELECT user_id, email, name, role, manager_id, time_zone, slack_user_id FROM users \
             WHERE tenant_id = $1 AND LOWER(email) = $2 ORDER BY user_id LIMIT 1",
        )
        .bind(tenant.as_str().to_string())
        .bind(email.trim().to_lowercase())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(|r| listed(&r)).transpose()
    }

    /// Admin: clears the Slack link of the user with `user_id` or `email`; returns the Slack id
    /// it had (`None`: no such user or not linked). Pending codes for that user die with it.
    pub async fn unlink_slack_user(
        &self,
        tenant: &TenantId,
        user_id_or_email: &str,
    ) -> StoreResult<Option<(String, String)>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let row: Option<(String, Option<String>)> = sqlx::query_as(
            "SELECT user_id, slack_user_id FROM users WHERE tenant_id = $1 \
             AND (user_id = $2 OR LOWER(email) = $3) ORDER BY user_id LIMIT 1",
        )
        .bind(tenant.as_str().to_string())
        .bind(user_id_or_email.to_string())
        .bind(user_id_or_email.trim().to_lowercase())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((user_id, Some(slack))) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        sqlx::query("UPDATE users SET slack_user_id = NULL WHERE tenant_id = $1 AND user_id = $2")
            .bind(tenant.as_str().to_string())
            .bind(user_id.clone())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM slack_link_requests WHERE tenant_id = $1 AND user_id = $2 AND used_at IS NULL",
        )
        .bind(tenant.as_str().to_string())
        .bind(user_id.clone())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some((user_id, slack)))
    }

    /// Every user of the tenant, by id.
    pub async fn list_users(&self, tenant: &TenantId) -> StoreResult<Vec<ListedUser>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows = sqlx::query(
            "SELECT user_id, email, name, role, manager_id, time_zone, slack_user_id FROM users \
             WHERE tenant_id = $1 ORDER BY user_id",
        )
        .bind(tenant.as_str().to_string())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(listed).collect()
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
}

fn listed(r: &sqlx::any::AnyRow) -> StoreResult<ListedUser> {
    Ok(ListedUser {
        user: user_from_row(r)?,
        slack_user_id: r.try_get("slack_user_id")?,
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
