//! A Slack workspace installed for a tenant: workspace → tenant routing, its sealed tokens,
//! and the single-use OAuth states of the install flow.
use crate::domain::TenantId;
use crate::store::sql::Flag;
use crate::store::{Store, StoreError, StoreResult, format_ts};
use chrono::{DateTime, Utc};

/// One installed Slack workspace; tokens still sealed.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SlackInstall {
    #[sqlx(try_from = "String")]
    pub tenant_id: TenantId,
    pub team_id: String,
    pub team_name: Option<String>,
    pub bot_user_id: Option<String>,
    pub scope: Option<String>,
    #[sqlx(rename = "bot_token")]
    pub bot_token_sealed: String,
    #[sqlx(rename = "refresh_token")]
    pub refresh_token_sealed: Option<String>,
    pub expires_at: Option<String>,
    pub installed_by: Option<String>,
    #[sqlx(try_from = "Flag")]
    pub active: bool,
}

const INSTALL_COLUMNS: &str = "tenant_id, team_id, team_name, bot_user_id, scope, bot_token, \
                               refresh_token, expires_at, installed_by, active";

impl Store {
    /// The tenant an active Slack workspace is bound to.
    pub async fn slack_team_tenant(&self, team_id: &str) -> StoreResult<Option<TenantId>> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT tenant_id FROM slack_teams WHERE team_id = $1 AND active = 1")
                .bind(team_id.to_string())
                .fetch_optional(self.pool())
                .await?;
        Ok(row.and_then(|(t,)| TenantId::parse(&t).ok()))
    }

    /// Records an install (or re-install): binds the team to the tenant and stores its tokens.
    /// A team bound to another tenant is a conflict, not a silent re-binding.
    pub async fn save_slack_install(&self, i: &SlackInstall) -> StoreResult<()> {
        let now = format_ts(self.now());
        let bound: Option<(String,)> =
            sqlx::query_as("SELECT tenant_id FROM slack_teams WHERE team_id = $1")
                .bind(i.team_id.clone())
                .fetch_optional(self.pool())
                .await?;
        if let Some((t,)) = bound
            && t != i.tenant_id.as_str()
        {
            return Err(StoreError::Conflict(format!(
                "Slack workspace {} is already bound to another tenant",
                i.team_id
            )));
        }
        let mut tx = self.begin_tenant(&i.tenant_id).await?;
        sqlx::query(
            "INSERT INTO slack_teams (team_id, tenant_id, active, updated_at) VALUES ($1, $2, 1, $3) \
             ON CONFLICT (team_id) DO UPDATE SET active = 1, updated_at = excluded.updated_at",
        )
        .bind(i.team_id.clone())
        .bind(i.tenant_id.as_str().to_string())
        .bind(now.clone())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO slack_installs (tenant_id, team_id, team_name, bot_user_id, scope, bot_token, \
             refresh_token, expires_at, installed_by, active, installed_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $10) \
             ON CONFLICT (tenant_id, team_id) DO UPDATE SET team_name = excluded.team_name, \
             bot_user_id = excluded.bot_user_id, scope = excluded.scope, bot_token = excluded.bot_token, \
             refresh_token = excluded.refresh_token, expires_at = excluded.expires_at, \
             installed_by = excluded.installed_by, active = 1, updated_at = excluded.updated_at",
        )
        .bind(i.tenant_id.as_str().to_string())
        .bind(i.team_id.clone())
        .bind(i.team_name.clone())
        .bind(i.bot_user_id.clone())
        .bind(i.scope.clone())
        .bind(i.bot_token_sealed.clone())
        .bind(i.refresh_token_sealed.clone())
        .bind(i.expires_at.clone())
        .bind(i.installed_by.clone())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The active install of `team_id` in `tenant`, or (team `None`) the tenant's most recently
    /// updated active install.
    pub async fn slack_install(
        &self,
        tenant: &TenantId,
        team_id: Option<&str>,
    ) -> StoreResult<Option<SlackInstall>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let sql = format!(
            "SELECT {INSTALL_COLUMNS} FROM slack_installs WHERE tenant_id = $1 AND active = 1 \
             AND ($2 = '' OR team_id = $2) ORDER BY updated_at DESC LIMIT 1"
        );
        let row = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str().to_string())
            .bind(team_id.unwrap_or("").to_string())
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Replaces a rotated token pair (after a refresh grant).
    pub async fn update_slack_tokens(
        &self,
        tenant: &TenantId,
        team_id: &str,
        bot_token_sealed: &str,
        refresh_token_sealed: Option<&str>,
        expires_at: Option<&str>,
    ) -> StoreResult<()> {
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query(
            "UPDATE slack_installs SET bot_token = $3, refresh_token = $4, expires_at = $5, updated_at = $6 \
             WHERE tenant_id = $1 AND team_id = $2",
        )
        .bind(tenant.as_str().to_string())
        .bind(team_id.to_string())
        .bind(bot_token_sealed.to_string())
        .bind(refresh_token_sealed.map(str::to_string))
        .bind(expires_at.map(str::to_string))
        .bind(format_ts(self.now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// `tokens_revoked` / `app_uninstalled`: the workspace stops being served. Returns whether
    /// an active install was deactivated.
    pub async fn deactivate_slack_team(
        &self,
        tenant: &TenantId,
        team_id: &str,
    ) -> StoreResult<bool> {
        let now = format_ts(self.now());
        let mut tx = self.begin_tenant(tenant).await?;
        let done = sqlx::query(
            "UPDATE slack_installs SET active = 0, updated_at = $3 WHERE tenant_id = $1 AND team_id = $2 AND active = 1",
        )
        .bind(tenant.as_str().to_string())
        .bind(team_id.to_string())
        .bind(now.clone())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE slack_teams SET active = 0, updated_at = $2 WHERE team_id = $1")
            .bind(team_id.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Remembers an OAuth `state` (by hash) for `tenant` until `expires_at`.
    pub async fn create_slack_oauth_state(
        &self,
        state_hash: &str,
        tenant: &TenantId,
        created_by: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO slack_oauth_states (state_hash, tenant_id, created_by, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(state_hash.to_string())
        .bind(tenant.as_str().to_string())
        .bind(created_by.to_string())
        .bind(format_ts(expires_at))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Uses up a state: deletes it and returns (tenant, created_by) when it existed and had not
    /// expired at `now`. A second use finds nothing.
    pub async fn consume_slack_oauth_state(
        &self,
        state_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(TenantId, String)>> {
        let row: Option<(String, String, String)> = sqlx::query_as(
            "DELETE FROM slack_oauth_states WHERE state_hash = $1 RETURNING tenant_id, created_by, expires_at",
        )
        .bind(state_hash.to_string())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.and_then(|(t, by, exp)| {
            (exp > format_ts(now))
                .then(|| TenantId::parse(&t).ok().map(|t| (t, by)))
                .flatten()
        }))
    }
}
