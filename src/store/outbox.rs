//! The outbox: one row per message to send (Slack DM or email), written in the same
//! transaction as the change that caused it, then claimed by dispatcher workers.
//!
//! Claiming sets a random claim token and a lease. A worker that dies between claim and send
//! leaves the row `sending`; once the lease has expired another worker claims it again. Every
//! later update names the token, so a worker whose lease ran out cannot overwrite the result
//! of the worker that took over.
use super::sql::{Flag, values_sql};
use super::{Backend, Store, StoreResult, format_ts};
use crate::domain::{NewOutboxRow, TenantId};
use chrono::{DateTime, Utc};

pub const STATUS_PENDING: &str = "pending";
pub const STATUS_SENDING: &str = "sending";
pub const STATUS_SENT: &str = "sent";
pub const STATUS_DEAD: &str = "dead";

/// A stored outbox row.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct OutboxRow {
    pub tenant_id: String,
    pub outbox_id: String,
    pub kind: String,
    pub channel: String,
    pub recipient: String,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: String,
    pub last_error: Option<String>,
    pub provider_id: Option<String>,
    pub idempotency_key: String,
    pub alert_id: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
    /// The previous attempt may have reached the provider unrecorded (its worker died and the
    /// lease was taken over, or the call timed out): look the message up before sending again.
    #[sqlx(try_from = "Flag")]
    pub verify_before_send: bool,
}

const COLUMNS: &str = "tenant_id, outbox_id, kind, channel, recipient, payload, status, attempts, \
                       next_attempt_at, last_error, provider_id, idempotency_key, alert_id, created_at, sent_at, \
                       verify_before_send";

/// Insert rows inside an open transaction; rows whose idempotency key exists are skipped.
/// Returns how many were inserted.
pub(super) async fn insert_outbox_rows(
    conn: &mut sqlx::AnyConnection,
    store: &Store,
    tenant: &TenantId,
    rows: &[NewOutboxRow],
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let created = format_ts(now);
    let mut inserted = 0;
    for part in store.insert_batches(rows, 400) {
        let sql = format!(
            "INSERT INTO outbox (tenant_id, outbox_id, kind, channel, recipient, payload, status, \
             attempts, next_attempt_at, idempotency_key, alert_id, created_at) VALUES {} \
             ON CONFLICT DO NOTHING",
            values_sql(store.backend(), part.len(), 12)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in part {
            q = q
                .bind(tenant.as_str().to_string())
                .bind(uuid::Uuid::new_v4().to_string())
                .bind(r.kind.clone())
                .bind(r.channel.clone())
                .bind(r.recipient.clone())
                .bind(r.payload.clone())
                .bind(STATUS_PENDING)
                .bind(0i64)
                .bind(format_ts(r.due))
                .bind(r.idempotency_key.clone())
                .bind(r.alert_id.clone())
                .bind(created.clone());
        }
        inserted += q.execute(&mut *conn).await?.rows_affected();
    }
    Ok(inserted)
}

impl Store {
    /// Enqueue messages in their own transaction (digests, fallbacks). Existing keys are kept.
    pub async fn enqueue_outbox(
        &self,
        tenant: &TenantId,
        rows: &[NewOutboxRow],
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut tx = self.begin_tenant(tenant).await?;
        let n = insert_outbox_rows(&mut tx, self, tenant, rows, now).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Claim up to `limit` rows that are due (or whose lease expired) for this worker.
    /// Taking over a row still `sending` marks it `verify_before_send`: the dead worker may
    /// have handed it to the provider before it could record that.
    /// PostgreSQL: `FOR UPDATE SKIP LOCKED`, so concurrent workers take disjoint rows without
    /// waiting. SQLite: the single UPDATE … RETURNING statement is atomic (one writer at a time).
    pub async fn claim_outbox(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: i64,
        token: &str,
    ) -> StoreResult<Vec<OutboxRow>> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE outbox SET status = '{STATUS_SENDING}', claim_token = $3, lease_until = $4, \
             attempts = attempts + 1, \
             verify_before_send = CASE WHEN status = '{STATUS_SENDING}' THEN 1 ELSE verify_before_send END \
             WHERE tenant_id = $1 AND outbox_id IN (\
               SELECT outbox_id FROM outbox WHERE tenant_id = $1 AND \
               ((status = '{STATUS_PENDING}' AND next_attempt_at <= $2) OR \
                (status = '{STATUS_SENDING}' AND lease_until <= $2)) \
               ORDER BY next_attempt_at LIMIT $5{lock}) \
             RETURNING {COLUMNS}"
        );
        let mut tx = self.begin_tenant(tenant).await?;
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str().to_string())
            .bind(format_ts(now))
            .bind(token.to_string())
            .bind(format_ts(now + lease))
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Record a successful send. `false` when the claim was lost (lease expired and another
    /// worker took the row).
    pub async fn finish_outbox_sent(
        &self,
        tenant: &TenantId,
        outbox_id: &str,
        token: &str,
        provider_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_tenant(tenant).await?;
        let n = sqlx::query(
            "UPDATE outbox SET status = 'sent', provider_id = $4, sent_at = $5, last_error = NULL, \
             claim_token = NULL, lease_until = NULL, verify_before_send = 0 \
             WHERE tenant_id = $1 AND outbox_id = $2 AND claim_token = $3",
        )
        .bind(tenant.as_str().to_string())
        .bind(outbox_id.to_string())
        .bind(token.to_string())
        .bind(provider_id.to_string())
        .bind(format_ts(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Record a failed attempt: back to `pending` until `retry_at`, or `dead` when `None`.
    /// `verify` says whether the next attempt must first look the message up with the provider
    /// (the outcome of this one is unknown, or the look-up itself failed). `refund` gives the
    /// attempt back (it only waited for a rate-limited look-up; nothing was sent).
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_outbox_failed(
        &self,
        tenant: &TenantId,
        outbox_id: &str,
        token: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        verify: bool,
        refund: bool,
    ) -> StoreResult<bool> {
        let (status, next) = match retry_at {
            Some(t) => (STATUS_PENDING, Some(format_ts(t))),
            None => (STATUS_DEAD, None),
        };
        let mut tx = self.begin_tenant(tenant).await?;
        let n = sqlx::query(
            "UPDATE outbox SET status = $4, last_error = $5, \
             next_attempt_at = COALESCE($6, next_attempt_at), claim_token = NULL, lease_until = NULL, \
             verify_before_send = $7, attempts = attempts - $8 \
             WHERE tenant_id = $1 AND outbox_id = $2 AND claim_token = $3",
        )
        .bind(tenant.as_str().to_string())
        .bind(outbox_id.to_string())
        .bind(token.to_string())
        .bind(status)
        .bind(error.chars().take(1000).collect::<String>())
        .bind(next)
        .bind(i64::from(verify))
        .bind(i64::from(refund))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Rows in one status, oldest first (`skygeni alerts failed` lists `dead`).
    pub async fn outbox_by_status(
        &self,
        tenant: &TenantId,
        status: &str,
        limit: i64,
    ) -> StoreResult<Vec<OutboxRow>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM outbox WHERE tenant_id = $1 AND status = $2 \
             ORDER BY created_at, outbox_id LIMIT $3"
        )))
        .bind(tenant.as_str().to_string())
        .bind(status.to_string())
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Every row of the tenant (tests, `skygeni alerts`), oldest first.
    pub async fn outbox_rows(&self, tenant: &TenantId) -> StoreResult<Vec<OutboxRow>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM outbox WHERE tenant_id = $1 ORDER BY created_at, outbox_id"
        )))
        .bind(tenant.as_str().to_string())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Put dead rows (one, or all when `outbox_id` is `None`) back in the queue with fresh
    /// attempts. Returns how many.
    pub async fn retry_dead_outbox(
        &self,
        tenant: &TenantId,
        outbox_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut tx = self.begin_tenant(tenant).await?;
        let n = sqlx::query(
            "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $2 \
             WHERE tenant_id = $1 AND status = 'dead' AND ($3 IS NULL OR outbox_id = $3)",
        )
        .bind(tenant.as_str().to_string())
        .bind(format_ts(now))
        .bind(outbox_id.map(str::to_string))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// (status, rows) for the tenant: the /metrics gauges and `skygeni alerts`.
    pub async fn outbox_status_counts(&self, tenant: &TenantId) -> StoreResult<Vec<(String, i64)>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, COUNT(*) FROM outbox WHERE tenant_id = $1 GROUP BY status ORDER BY status",
        )
        .bind(tenant.as_str().to_string())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows)
    }
}
