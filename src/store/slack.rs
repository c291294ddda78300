//! What the Slack bot needs from storage: workspace → tenant routing and sealed tokens,
//! single-use OAuth states, Slack-user ↔ SkyGeni-user mapping, deal lookup for `/deal-risk`,
//! and the button outcomes (one snooze per deal, one false-alarm row per deal and score).
use super::access::user_from_row;
use super::deals::{DEAL_COLUMNS, deal_from_row};
use super::{Store, StoreResult, format_ts};
use crate::domain::{Deal, TenantId};
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::UserRow;

/// One installed Slack workspace; tokens still sealed.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackInstall {
    pub tenant_id: TenantId,
    pub team_id: String,
    pub team_name: Option<String>,
    pub bot_user_id: Option<String>,
    pub scope: Option<String>,
    pub bot_token_sealed: String,
    pub refresh_token_sealed: Option<String>,
    pub expires_at: Option<String>,
    pub installed_by: Option<String>,
    pub active: bool,
}

/// The snooze in force on a deal after a snooze click.
#[derive(Debug, Clone, PartialEq)]
pub struct SnoozeRow {
    pub user_id: String,
    pub until: String,
    /// False when an unexpired snooze already existed (double click, second user).
    pub created: bool,
}

/// The feedback row id of a false alarm on `deal_id` at `risk_score`: the same deal at the same
/// score is one false alarm however often (or by however many people) it is clicked.
pub fn false_alarm_id(deal_id: &str, risk_score: i64) -> String {
    format!("false_alarm:{deal_id}:{risk_score}")
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
        let now = format_ts(Utc::now());
        let bound: Option<(String,)> =
            sqlx::query_as("SELECT tenant_id FROM slack_teams WHERE team_id = $1")
                .bind(i.team_id.clone())
                .fetch_optional(self.pool())
                .await?;
        if let Some((t,)) = bound
            && t != i.tenant_id.as_str()
        {
            return Err(super::StoreError::Conflict(format!(
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
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str().to_string())
            .bind(team_id.unwrap_or("").to_string())
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        row.map(|r| install_from_row(&r)).transpose()
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
        .bind(format_ts(Utc::now()))
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
        let now = format_ts(Utc::now());
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

    /// The user mapped to a Slack user id, with their direct reports when they manage a team.
    pub async fn user_by_slack_id(
        &self,
        tenant: &TenantId,
        slack_user_id: &str,
    ) -> StoreResult<Option<(UserRow, Vec<UserRow>)>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let me = sqlx::query(
            "SELECT user_id, email, name, role, manager_id, time_zone FROM users \
             WHERE tenant_id = $1 AND slack_user_id = $2 ORDER BY user_id LIMIT 1",
        )
        .bind(tenant.as_str().to_string())
        .bind(slack_user_id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(me) = me.map(|r| user_from_row(&r)).transpose()? else {
            tx.commit().await?;
            return Ok(None);
        };
        let reports = if me.role == "manager" {
            sqlx::query(
                "SELECT user_id, email, name, role, manager_id, time_zone FROM users \
                 WHERE tenant_id = $1 AND manager_id = $2 ORDER BY user_id",
            )
            .bind(tenant.as_str().to_string())
            .bind(me.user_id.clone())
            .fetch_all(&mut *tx)
            .await?
        } else {
            Vec::new()
        };
        tx.commit().await?;
        let reports = reports
            .iter()
            .map(user_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
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

    /// Open deals whose id equals `query` or whose company / deal name / id contains it
    /// (case-insensitive), at most `limit`, by id. The `/deal-risk <query>` candidate set: an
    /// indexed id hit or a bounded scan, never the whole pipeline into memory.
    pub async fn find_open_deals(
        &self,
        tenant: &TenantId,
        query: &str,
        limit: i64,
    ) -> StoreResult<Vec<Deal>> {
        let q = query.trim().to_lowercase();
        let like = format!(
            "%{}%",
            q.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let cols = DEAL_COLUMNS.join(", ");
        let mut tx = self.begin_tenant(tenant).await?;
        // An id is the common case from buttons and pasted links: one primary-key read, and
        // the name scan only when it finds nothing.
        // No `outcome IS NULL` here: with it PostgreSQL prefers the partial open-deals index
        // and filters every open deal of the tenant (17 ms at 100k deals, measured) instead of
        // the primary key; openness is checked on the one row instead.
        let exact = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {cols} FROM deals WHERE tenant_id = $1 AND deal_id = $2"
        )))
        .bind(tenant.as_str().to_string())
        .bind(query.trim().to_string())
        .fetch_optional(&mut *tx)
        .await?
        .filter(|r| {
            r.try_get::<Option<String>, _>("outcome")
                .ok()
                .flatten()
                .is_none()
        });
        let rows = match exact {
            Some(row) => vec![row],
            None => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {cols} FROM deals WHERE tenant_id = $1 AND outcome IS NULL AND \
                     (LOWER(company) LIKE $2 ESCAPE '\\' OR LOWER(deal_name) LIKE $2 ESCAPE '\\' \
                      OR LOWER(deal_id) LIKE $2 ESCAPE '\\') ORDER BY deal_id LIMIT $3"
                )))
                .bind(tenant.as_str().to_string())
                .bind(like)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?
            }
        };
        tx.commit().await?;
        rows.iter()
            .map(deal_from_row)
            .collect::<anyhow::Result<Vec<_>>>()
            .map_err(Into::into)
    }

    /// One deal by id (open or not).
    pub async fn deal_by_id(&self, tenant: &TenantId, deal_id: &str) -> StoreResult<Option<Deal>> {
        let sql = format!(
            "SELECT {} FROM deals WHERE tenant_id = $1 AND deal_id = $2",
            DEAL_COLUMNS.join(", ")
        );
        let mut tx = self.begin_tenant(tenant).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str().to_string())
            .bind(deal_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row.map(|r| deal_from_row(&r)).transpose()?)
    }

    /// Snoozes a deal until `until` unless an unexpired snooze exists (then that one stands).
    /// Returns the snooze in force.
    pub async fn snooze_deal(
        &self,
        tenant: &TenantId,
        deal_id: &str,
        user_id: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<SnoozeRow> {
        let mut tx = self.begin_tenant(tenant).await?;
        // Replaces only an expired snooze: a double click or a second user leaves the first.
        let done = sqlx::query(
            "INSERT INTO snoozes (tenant_id, deal_id, user_id, until, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant_id, deal_id) DO UPDATE SET user_id = excluded.user_id, \
             until = excluded.until, created_at = excluded.created_at WHERE snoozes.until <= excluded.created_at",
        )
        .bind(tenant.as_str().to_string())
        .bind(deal_id.to_string())
        .bind(user_id.to_string())
        .bind(format_ts(until))
        .bind(format_ts(now))
        .execute(&mut *tx)
        .await?;
        let (user_id, until): (String, String) = sqlx::query_as(
            "SELECT user_id, until FROM snoozes WHERE tenant_id = $1 AND deal_id = $2",
        )
        .bind(tenant.as_str().to_string())
        .bind(deal_id.to_string())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(SnoozeRow {
            user_id,
            until,
            created: done.rows_affected() > 0,
        })
    }

    /// Records a false alarm on `deal_id` at `risk_score` (one row per deal and score, see
    /// [`false_alarm_id`]). Returns whether this call created it.
    pub async fn record_false_alarm(
        &self,
        tenant: &TenantId,
        deal_id: &str,
        user_id: &str,
        reason: Option<&str>,
        risk_score: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_tenant(tenant).await?;
        let done = sqlx::query(
            "INSERT INTO feedback (tenant_id, feedback_id, deal_id, user_id, kind, reason, risk_score, created_at) \
             VALUES ($1, $2, $3, $4, 'false_alarm', $5, $6, $7) ON CONFLICT (tenant_id, feedback_id) DO NOTHING",
        )
        .bind(tenant.as_str().to_string())
        .bind(false_alarm_id(deal_id, risk_score))
        .bind(deal_id.to_string())
        .bind(user_id.to_string())
        .bind(reason.map(str::to_string))
        .bind(risk_score)
        .bind(format_ts(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Rows of a table for one deal (test helper for the once-only guarantees).
    #[doc(hidden)]
    pub async fn count_deal_rows_for_tests(
        &self,
        tenant: &TenantId,
        table: &'static str,
        deal_id: &str,
    ) -> StoreResult<i64> {
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE tenant_id = $1 AND deal_id = $2");
        let mut tx = self.begin_tenant(tenant).await?;
        let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str().to_string())
            .bind(deal_id.to_string())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n)
    }
}

fn install_from_row(r: &sqlx::any::AnyRow) -> StoreResult<SlackInstall> {
    let tenant: String = r.try_get("tenant_id")?;
    Ok(SlackInstall {
        tenant_id: TenantId::parse(&tenant).map_err(|e| anyhow::anyhow!("bad tenant id: {e}"))?,
        team_id: r.try_get("team_id")?,
        team_name: r.try_get("team_name")?,
        bot_user_id: r.try_get("bot_user_id")?,
        scope: r.try_get("scope")?,
        bot_token_sealed: r.try_get("bot_token")?,
        refresh_token_sealed: r.try_get("refresh_token")?,
        expires_at: r.try_get("expires_at")?,
        installed_by: r.try_get("installed_by")?,
        active: r.try_get::<i64, _>("active")? != 0,
    })
}
