//! What people say about a deal from its alert: one snooze in force per deal, one false-alarm
//! row per deal and score, and both read back for the weekly summary.
use crate::domain::TenantId;
use crate::store::{Store, StoreResult, format_ts};
use chrono::{DateTime, Utc};

/// The snooze in force on a deal after a snooze click.
#[derive(Debug, Clone, PartialEq)]
pub struct SnoozeRow {
    pub user_id: String,
    pub until: String,
    /// False when an unexpired snooze already existed (double click, second user).
    pub created: bool,
}

/// A snooze or a false-alarm mark on a deal.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct DealFeedbackRow {
    pub deal_id: String,
    pub user_id: String,
    /// `snooze` or the feedback kind (`false_alarm`, …).
    pub kind: String,
    pub reason: Option<String>,
    pub created_at: String,
}

/// The feedback row id of a false alarm on `deal_id` at `risk_score`: the same deal at the same
/// score is one false alarm however often (or by however many people) it is clicked.
pub fn false_alarm_id(deal_id: &str, risk_score: i64) -> String {
    format!("false_alarm:{deal_id}:{risk_score}")
}

impl Store {
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

    /// Snoozes and feedback (false alarms) created in `[from, to)`.
    pub async fn deal_feedback_between(
        &self,
        tenant: &TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<DealFeedbackRow>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows = sqlx::query_as(
            "SELECT deal_id, user_id, 'snooze' AS kind, until AS reason, created_at FROM snoozes \
               WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3 \
             UNION ALL \
             SELECT deal_id, user_id, kind, reason, created_at FROM feedback \
               WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3 \
             ORDER BY created_at, deal_id",
        )
        .bind(tenant.as_str().to_string())
        .bind(format_ts(from))
        .bind(format_ts(to))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows)
    }
}
