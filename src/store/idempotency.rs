//! Idempotency keys of the REST API: the first request with a key claims it, a repeat
//! replays the stored response; a claim whose request died is taken over after a while.
use super::{Store, StoreResult, format_ts};
use crate::domain::TenantId;
use chrono::{DateTime, Duration, Utc};

/// A stored idempotency record.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    pub request_hash: String,
    /// `None` while the first request is still being processed.
    pub response: Option<(u16, String)>,
}

impl Store {
    /// Claim `key` for a request with `request_hash` at `now`. `Ok(None)`: claimed, go ahead.
    /// `Ok(Some(record))`: the key was used before (compare hashes, replay the response).
    /// A claim without a response that is older than `ttl` (its request died without
    /// releasing it) is taken over.
    pub async fn claim_idempotency_key(
        &self,
        tenant: &TenantId,
        key: &str,
        request_hash: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND idem_key = $2 \
             AND response_status IS NULL AND created_at < $3",
        )
        .bind(tenant.as_str().to_string())
        .bind(key.to_string())
        .bind(format_ts(now - ttl))
        .execute(&mut *tx)
        .await?;
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (tenant_id, idem_key, request_hash, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, idem_key) DO NOTHING",
        )
        .bind(tenant.as_str().to_string())
        .bind(key.to_string())
        .bind(request_hash.to_string())
        .bind(format_ts(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let existing = if inserted == 0 {
            let (hash, status, body): (String, Option<i64>, Option<String>) = sqlx::query_as(
                "SELECT request_hash, response_status, response_body FROM idempotency_keys \
                 WHERE tenant_id = $1 AND idem_key = $2",
            )
            .bind(tenant.as_str().to_string())
            .bind(key.to_string())
            .fetch_one(&mut *tx)
            .await?;
            Some(IdempotencyRecord {
                request_hash: hash,
                response: status.zip(body).map(|(s, b)| (s as u16, b)),
            })
        } else {
            None
        };
        tx.commit().await?;
        Ok(existing)
    }

    /// Store the response of a claimed key, or (`None`) release the claim so a retry can run.
    pub async fn finish_idempotency_key(
        &self,
        tenant: &TenantId,
        key: &str,
        response: Option<(u16, &str)>,
    ) -> StoreResult<()> {
        let mut tx = self.begin_tenant(tenant).await?;
        match response {
            Some((status, body)) => {
                sqlx::query(
                    "UPDATE idempotency_keys SET response_status = $3, response_body = $4 \
                     WHERE tenant_id = $1 AND idem_key = $2",
                )
                .bind(tenant.as_str().to_string())
                .bind(key.to_string())
                .bind(i64::from(status))
                .bind(body.to_string())
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM idempotency_keys WHERE tenant_id = $1 AND idem_key = $2")
                    .bind(tenant.as_str().to_string())
                    .bind(key.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
