//! Salesforce sync state: connected orgs (sealed tokens), single-use OAuth states, the
//! org → tenant routing table, sync watermarks and deferrals, what was written back, Tasks
//! created, handled webhook notifications, users from the org, and deleted Opportunities.
use super::{Store, StoreResult, format_ts, values_sql};
use crate::domain::TenantId;
use sqlx::Row;
use std::collections::HashMap;

/// A tenant's connected org, tokens still sealed (the caller opens them with `SecretBox`).
#[derive(Debug, Clone, PartialEq)]
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

/// The source's row in `sync_state`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncStateRow {
    pub high_water_mark: Option<String>,
    pub last_sync_at: Option<String>,
    pub last_count: Option<i64>,
    pub status: String,
    pub detail: Option<String>,
    pub deferred_until: Option<String>,
}

/// A user from the org, with the columns `users` keeps for Salesforce.
#[derive(Debug, Clone, PartialEq)]
pub struct SfUser {
    pub user_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub role: &'static str,
    pub manager_id: Option<String>,
    pub time_zone: String,
}

/// Outcome of one record's write-back, remembered so unchanged scores are not rewritten and
/// failed ones are retried.
#[derive(Debug, Clone, PartialEq)]
pub enum WritebackOutcome {
    /// Written; the hash is what Salesforce now holds.
    Written { hash: String },
    /// Failed in a way worth retrying (UNABLE_TO_LOCK_ROW, …); retried on the next run.
    Retry { error: String },
    /// The record is gone (ENTITY_IS_DELETED): never retried for this hash.
    Skipped { hash: String, error: String },
    /// Salesforce refused these values for good (validation rule, required field, invalid
    /// picklist value, no access): not retried until the values change, and reported.
    Rejected {
        hash: String,
        code: String,
        message: String,
    },
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
        .bind(format_ts(chrono::Utc::now()))
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
        let row = sqlx::query(
            "SELECT org_id, auth_flow, instance_url_sealed, refresh_token_sealed, jwt_username, field_mapping \
             FROM salesforce_connections WHERE tenant_id = $1",
        )
        .bind(tenant.as_str().to_string())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(|r| {
            Ok(SfConnectionRow {
                org_id: r.try_get("org_id")?,
                auth_flow: r.try_get("auth_flow")?,
                instance_url_sealed: r.try_get("instance_url_sealed")?,
                refresh_token_sealed: r.try_get("refresh_token_sealed")?,
                jwt_username: r.try_get("jwt_username")?,
                field_mapping: r.try_get("field_mapping")?,
            })
        })
        .transpose()
    }

    /// Replace the tenant's field mapping (JSON).
    pub async fn set_sf_field_mapping(&self, tenant: &TenantId, json: &str) -> StoreResult<()> {
        self.set_connection_column(
            tenant,
            super::salesforce_orgs::ConnColumn::FieldMapping,
            json,
        )
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
        .bind(format_ts(chrono::Utc::now()))
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
        now: chrono::DateTime<chrono::Utc>,
        max_age: chrono::Duration,
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
            let created = chrono::DateTime::parse_from_rfc3339(&created).ok()?;
            (now.signed_duration_since(created) <= max_age).then_some(verifier)
        }))
    }

    pub async fn sync_state(&self, tenant: &TenantId, source: &str) -> StoreResult<SyncStateRow> {
        let mut tx = self.begin_tenant(tenant).await?;
        let row = sqlx::query(
            "SELECT high_water_mark, last_sync_at, last_count, status, detail, deferred_until \
             FROM sync_state WHERE tenant_id = $1 AND source = $2",
        )
        .bind(tenant.as_str().to_string())
        .bind(source.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        match row {
            None => Ok(SyncStateRow {
                status: "never".into(),
                ..Default::default()
            }),
            Some(r) => Ok(SyncStateRow {
                high_water_mark: r.try_get("high_water_mark")?,
                last_sync_at: r.try_get("last_sync_at")?,
                last_count: r.try_get("last_count")?,
                status: r.try_get("status")?,
                detail: r.try_get("detail")?,
                deferred_until: r.try_get("deferred_until")?,
            }),
        }
    }

    pub async fn put_sync_state(
        &self,
        tenant: &TenantId,
        source: &str,
        s: &SyncStateRow,
    ) -> StoreResult<()> {
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query(
            "INSERT INTO sync_state (tenant_id, source, high_water_mark, last_sync_at, last_count, status, detail, deferred_until) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (tenant_id, source) DO UPDATE SET \
             high_water_mark = excluded.high_water_mark, last_sync_at = excluded.last_sync_at, \
             last_count = excluded.last_count, status = excluded.status, detail = excluded.detail, \
             deferred_until = excluded.deferred_until",
        )
        .bind(tenant.as_str().to_string())
        .bind(source.to_string())
        .bind(s.high_water_mark.clone())
        .bind(s.last_sync_at.clone())
        .bind(s.last_count)
        .bind(s.status.clone())
        .bind(s.detail.clone())
        .bind(s.deferred_until.clone())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Insert or update users from the org in one transaction. A user already known by email
    /// under another id (e.g. an admin added by hand) is linked instead of duplicated, and an
    /// admin keeps the admin role.
    pub async fn upsert_sf_users(&self, tenant: &TenantId, users: &[SfUser]) -> StoreResult<u64> {
        let mut tx = self.begin_tenant(tenant).await?;
        let t = tenant.as_str().to_string();
        let by_email: HashMap<String, String> = sqlx::query_as::<_, (String, String)>(
            "SELECT lower(email), user_id FROM users WHERE tenant_id = $1 AND email IS NOT NULL",
        )
        .bind(t.clone())
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let now = format_ts(chrono::Utc::now());
        for u in users {
            let email = u.email.as_ref().map(|e| e.to_ascii_lowercase());
            let linked = email
                .as_ref()
                .and_then(|e| by_email.get(e))
                .filter(|id| **id != u.user_id);
            if let Some(existing) = linked {
                sqlx::query(
                    "UPDATE users SET salesforce_user_id = $3, manager_id = $4, time_zone = $5 \
                     WHERE tenant_id = $1 AND user_id = $2",
                )
                .bind(t.clone())
                .bind(existing.clone())
                .bind(u.user_id.clone())
                .bind(u.manager_id.clone())
                .bind(u.time_zone.clone())
                .execute(&mut *tx)
                .await?;
                continue;
            }
            sqlx::query(
                "INSERT INTO users (tenant_id, user_id, email, name, role, salesforce_user_id, manager_id, time_zone, created_at) \
                 VALUES ($1,$2,$3,$4,$5,$2,$6,$7,$8) ON CONFLICT (tenant_id, user_id) DO UPDATE SET \
                 email = excluded.email, name = excluded.name, \
                 role = CASE WHEN users.role = 'admin' THEN 'admin' ELSE excluded.role END, \
                 salesforce_user_id = excluded.salesforce_user_id, manager_id = excluded.manager_id, \
                 time_zone = excluded.time_zone",
            )
            .bind(t.clone())
            .bind(u.user_id.clone())
            .bind(email)
            .bind(u.name.clone())
            .bind(u.role.to_string())
            .bind(u.manager_id.clone())
            .bind(u.time_zone.clone())
            .bind(now.clone())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(users.len() as u64)
    }

    /// Remove Opportunities deleted in Salesforce with their scores and write-back state.
    pub async fn delete_deals(&self, tenant: &TenantId, ids: &[String]) -> StoreResult<u64> {
        let mut tx = self.begin_tenant(tenant).await?;
        let mut n = 0;
        for id in ids {
            for sql in [
                "DELETE FROM risk_scores WHERE tenant_id = $1 AND deal_id = $2",
                "DELETE FROM salesforce_writeback WHERE tenant_id = $1 AND deal_id = $2",
            ] {
                sqlx::query(sql)
                    .bind(tenant.as_str().to_string())
                    .bind(id.clone())
                    .execute(&mut *tx)
                    .await?;
            }
            n += sqlx::query("DELETE FROM deals WHERE tenant_id = $1 AND deal_id = $2")
                .bind(tenant.as_str().to_string())
                .bind(id.clone())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    /// deal_id → hash of the risk fields Salesforce holds (written or skipped).
    pub async fn writeback_hashes(
        &self,
        tenant: &TenantId,
    ) -> StoreResult<HashMap<String, String>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT deal_id, written_hash FROM salesforce_writeback WHERE tenant_id = $1",
        )
        .bind(tenant.as_str().to_string())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .filter_map(|(d, h)| h.map(|h| (d, h)))
            .collect())
    }

    /// Remember write-back outcomes (one transaction).
    pub async fn record_writeback(
        &self,
        tenant: &TenantId,
        at: chrono::DateTime<chrono::Utc>,
        outcomes: &[(String, WritebackOutcome)],
    ) -> StoreResult<()> {
        let mut tx = self.begin_tenant(tenant).await?;
        let ts = format_ts(at);
        for part in outcomes.chunks(self.rows_per_insert(500)) {
            // A retry keeps the last written hash, so the record stays "changed" until it lands.
            let sql = format!(
                "INSERT INTO salesforce_writeback (tenant_id, deal_id, written_hash, written_at, status, error, attempts, error_code) \
                 VALUES {} ON CONFLICT (tenant_id, deal_id) DO UPDATE SET \
                 written_hash = COALESCE(excluded.written_hash, salesforce_writeback.written_hash), \
                 written_at = excluded.written_at, status = excluded.status, error = excluded.error, \
                 error_code = excluded.error_code, \
                 attempts = CASE WHEN excluded.status = 'retry' THEN salesforce_writeback.attempts + 1 ELSE 0 END",
                values_sql(part.len(), 8)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (deal, o) in part {
                let (hash, status, error, code) = match o {
                    WritebackOutcome::Written { hash } => {
                        (Some(hash.clone()), "written", None, None)
                    }
                    WritebackOutcome::Retry { error } => (None, "retry", Some(error.clone()), None),
                    WritebackOutcome::Skipped { hash, error } => {
                        (Some(hash.clone()), "skipped", Some(error.clone()), None)
                    }
                    // The refused values' hash is remembered so the same values are not sent
                    // again every night; new values get a new hash and are tried.
                    WritebackOutcome::Rejected {
                        hash,
                        code,
                        message,
                    } => (
                        Some(hash.clone()),
                        "rejected",
                        Some(message.clone()),
                        Some(code.clone()),
                    ),
                };
                q = q
                    .bind(tenant.as_str().to_string())
                    .bind(deal.clone())
                    .bind(hash)
                    .bind(ts.clone())
                    .bind(status.to_string())
                    .bind(error)
                    .bind(1i64)
                    .bind(code);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Task keys already created (Tasks are never recreated or reopened for a key).
    pub async fn sf_task_keys(
        &self,
        tenant: &TenantId,
    ) -> StoreResult<std::collections::HashSet<String>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT task_key FROM salesforce_tasks WHERE tenant_id = $1")
                .bind(tenant.as_str().to_string())
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Remember created Tasks: (key, deal_id, Salesforce Task id).
    pub async fn record_sf_tasks(
        &self,
        tenant: &TenantId,
        tasks: &[(String, String, Option<String>)],
    ) -> StoreResult<()> {
        let mut tx = self.begin_tenant(tenant).await?;
        let now = format_ts(chrono::Utc::now());
        for part in tasks.chunks(self.rows_per_insert(500)) {
            let sql = format!(
                "INSERT INTO salesforce_tasks (tenant_id, task_key, deal_id, sf_task_id, created_at) \
                 VALUES {} ON CONFLICT (tenant_id, task_key) DO NOTHING",
                values_sql(part.len(), 5)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (key, deal, id) in part {
                q = q
                    .bind(tenant.as_str().to_string())
                    .bind(key.clone())
                    .bind(deal.clone())
                    .bind(id.clone())
                    .bind(now.clone());
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Claim a webhook notification id: `true` the first time, `false` for a redelivery.
    pub async fn claim_sf_notification(
        &self,
        tenant: &TenantId,
        notification_id: &str,
        record_count: usize,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_tenant(tenant).await?;
        let done = sqlx::query(
            "INSERT INTO salesforce_notifications (tenant_id, notification_id, received_at, record_count) \
             VALUES ($1,$2,$3,$4) ON CONFLICT (tenant_id, notification_id) DO NOTHING",
        )
        .bind(tenant.as_str().to_string())
        .bind(notification_id.to_string())
        .bind(format_ts(chrono::Utc::now()))
        .bind(record_count as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forget a claimed notification whose processing failed, so Salesforce's retry is handled.
    pub async fn release_sf_notification(
        &self,
        tenant: &TenantId,
        notification_id: &str,
    ) -> StoreResult<()> {
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query(
            "DELETE FROM salesforce_notifications WHERE tenant_id = $1 AND notification_id = $2",
        )
        .bind(tenant.as_str().to_string())
        .bind(notification_id.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Open deals among `ids` (the webhook rescored only those).
    pub async fn load_deals_by_id(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> StoreResult<Vec<crate::domain::Deal>> {
        let wanted: std::collections::HashSet<&String> = ids.iter().collect();
        Ok(self
            .load_deals(tenant)
            .await?
            .into_iter()
            .filter(|d| wanted.contains(&d.deal_id))
            .collect())
    }
}
