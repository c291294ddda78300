//! A SkyGeni user's Slack account: the mapping (`users.slack_user_id`) the bot resolves
//! viewers by, and the links that need proof — pending one-time codes
//! (`slack_link_requests`, only the code's SHA-256 stored) — and the admin unlink. Policy (who
//! may link what, how long a code lives) is the caller's; this is storage only.
use crate::domain::TenantId;
use crate::store::users::DIRECT_REPORTS;
use crate::store::{Store, StoreResult, UserRow, format_ts};
use chrono::{DateTime, Utc};

/// What checking a confirmation code found.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeCheck {
    /// The code matched a live request of this Slack user (now used): link to this user id.
    Valid { user_id: String },
    /// No live request, or the code is wrong (the attempt is counted).
    Invalid,
}

/// The live link request of a Slack user, as checked against a code.
#[derive(sqlx::FromRow)]
struct LinkRequest {
    request_id: String,
    user_id: String,
    code_hash: String,
}

impl Store {
    /// The user mapped to a Slack user id, with their direct reports when they manage a team.
    pub async fn user_by_slack_id(
        &self,
        tenant: &TenantId,
        slack_user_id: &str,
    ) -> StoreResult<Option<(UserRow, Vec<UserRow>)>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let me: Option<UserRow> = sqlx::query_as(
            "SELECT user_id, email, name, role, manager_id, time_zone FROM users \
             WHERE tenant_id = $1 AND slack_user_id = $2 ORDER BY user_id LIMIT 1",
        )
        .bind(tenant.as_str().to_string())
        .bind(slack_user_id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(me) = me else {
            tx.commit().await?;
            return Ok(None);
        };
        let reports = if me.role == "manager" {
            sqlx::query_as(DIRECT_REPORTS)
                .bind(tenant.as_str().to_string())
                .bind(me.user_id.clone())
                .fetch_all(&mut *tx)
                .await?
        } else {
            Vec::new()
        };
        tx.commit().await?;
        Ok(Some((me, reports)))
    }

    /// SkyGeni users of the tenant linked to a Slack account (App Home refresh after scoring).
    pub async fn slack_linked_users(&self, tenant: &TenantId) -> StoreResult<Vec<String>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT user_id FROM users WHERE tenant_id = $1 AND slack_user_id IS NOT NULL \
             ORDER BY user_id",
        )
        .bind(tenant.as_str().to_string())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// The Slack user id of a SkyGeni user, if mapped (for DMs).
    pub async fn slack_id_of(
        &self,
        tenant: &TenantId,
        user_id: &str,
    ) -> StoreResult<Option<String>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT slack_user_id FROM users WHERE tenant_id = $1 AND user_id = $2")
                .bind(tenant.as_str().to_string())
                .bind(user_id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(row.and_then(|r| r.0))
    }

    /// Admin mapping: sets a user's Slack id whatever it was. Returns false for an unknown user.
    pub async fn set_slack_user_id(
        &self,
        tenant: &TenantId,
        user_id: &str,
        slack_user_id: &str,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query(
            "UPDATE users SET slack_user_id = NULL WHERE tenant_id = $1 AND slack_user_id = $2",
        )
        .bind(tenant.as_str().to_string())
        .bind(slack_user_id.to_string())
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query(
            "UPDATE users SET slack_user_id = $3 WHERE tenant_id = $1 AND user_id = $2",
        )
        .bind(tenant.as_str().to_string())
        .bind(user_id.to_string())
        .bind(slack_user_id.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

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
        let row: Option<LinkRequest> = sqlx::query_as(
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
        let out = if constant_time_eq(row.code_hash.as_bytes(), code_hash.as_bytes()) {
            // `used_at IS NULL` again: two concurrent confirmations cannot both use it.
            let done = sqlx::query(
                "UPDATE slack_link_requests SET used_at = $3 \
                 WHERE tenant_id = $1 AND request_id = $2 AND used_at IS NULL",
            )
            .bind(tenant.as_str().to_string())
            .bind(row.request_id.clone())
            .bind(format_ts(now))
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 1 {
                CodeCheck::Valid {
                    user_id: row.user_id,
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
            .bind(row.request_id.clone())
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
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
