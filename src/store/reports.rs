//! SQL for the reporting jobs: the retention purge, model-lifecycle records (retrain
//! evaluations, daily calibration checks), and what the weekly summary reads back about last
//! week's critical deals (snoozes, false alarms, recommended-action Tasks).
use super::{Store, StoreResult, format_ts};
use crate::domain::{ModelScope, TenantId};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;

/// Rows older than these are purged (see `jobs::retention` for the policy).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PurgeCutoffs {
    /// Closed deals whose close date is before this day.
    pub closed_deals_before: NaiveDate,
    pub scores_before: DateTime<Utc>,
    pub audit_before: DateTime<Utc>,
    pub idempotency_keys_before: DateTime<Utc>,
    /// Finished job runs and sent outbox rows.
    pub done_work_before: DateTime<Utc>,
}

/// Rows deleted per table by one purge.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PurgeCounts {
    pub deals: u64,
    pub risk_scores: u64,
    /// Snoozes, feedback and action Tasks of the purged deals.
    pub deal_children: u64,
    pub audit_log: u64,
    pub idempotency_keys: u64,
    pub job_runs: u64,
    pub outbox: u64,
}

impl PurgeCounts {
    pub fn total(&self) -> u64 {
        self.deals
            + self.risk_scores
            + self.deal_children
            + self.audit_log
            + self.idempotency_keys
            + self.job_runs
            + self.outbox
    }
}

/// One monthly-retrain decision.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelEvaluation {
    pub evaluated_at: String,
    pub version: String,
    pub baseline_version: Option<String>,
    /// `promoted` or `kept_in_staging`.
    pub decision: String,
    pub reason: String,
    pub metrics: serde_json::Value,
}

/// One day's calibration check of a tenant's production model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CalibrationCheck {
    pub checked_on: NaiveDate,
    pub checked_at: String,
    pub model_version: Option<String>,
    pub deals: i64,
    pub calibration_error: Option<f64>,
    pub breached: bool,
    pub rolled_back_from: Option<String>,
    pub rolled_back_to: Option<String>,
}

/// A closed deal with the last score it had before closing (what the model predicted).
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedPrediction {
    pub deal_id: String,
    pub lost: bool,
    pub win_probability: f64,
    pub model_version: String,
}

/// A recommended action pushed to Salesforce as a Task, with its last known status.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ActionTask {
    pub task_key: String,
    pub deal_id: String,
    pub subject: String,
    pub priority: Option<String>,
    pub status: String,
    pub created_at: String,
    pub completed_at: Option<String>,
}

/// A snooze or a false-alarm mark on a deal.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DealFeedbackRow {
    pub deal_id: String,
    pub user_id: String,
    /// `snooze` or the feedback kind (`false_alarm`, …).
    pub kind: String,
    pub reason: Option<String>,
    pub created_at: String,
}

impl Store {
    /// Delete every row older than its cutoff, in one tenant transaction. A deal's *current*
    /// score is never purged (an open deal must keep its score however old it is).
    pub async fn purge_old_rows(
        &self,
        tenant: &TenantId,
        c: &PurgeCutoffs,
    ) -> StoreResult<PurgeCounts> {
        let t = tenant.as_str().to_string();
        let deals_before = c.closed_deals_before.to_string();
        let mut tx = self.begin_tenant(tenant).await?;
        // Old closed deals: a deal without a close date counts from its last update.
        const OLD_DEALS: &str = "SELECT deal_id FROM deals WHERE tenant_id = $1 AND outcome IS NOT NULL \
             AND COALESCE(closed_date, substr(updated_at, 1, 10)) < $2";
        let mut counts = PurgeCounts::default();
        for table in ["snoozes", "feedback", "action_tasks"] {
            let sql =
                format!("DELETE FROM {table} WHERE tenant_id = $1 AND deal_id IN ({OLD_DEALS})");
            counts.deal_children += sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(t.clone())
                .bind(deals_before.clone())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        counts.risk_scores += sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM risk_scores WHERE tenant_id = $1 AND deal_id IN ({OLD_DEALS})"
        )))
        .bind(t.clone())
        .bind(deals_before.clone())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        counts.deals = sqlx::query(
            "DELETE FROM deals WHERE tenant_id = $1 AND outcome IS NOT NULL \
             AND COALESCE(closed_date, substr(updated_at, 1, 10)) < $2",
        )
        .bind(t.clone())
        .bind(deals_before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        counts.risk_scores += sqlx::query(
            "DELETE FROM risk_scores WHERE tenant_id = $1 AND scored_at < $2 \
             AND NOT EXISTS (SELECT 1 FROM deals d WHERE d.tenant_id = risk_scores.tenant_id \
                 AND d.deal_id = risk_scores.deal_id AND d.scored_at = risk_scores.scored_at)",
        )
        .bind(t.clone())
        .bind(format_ts(c.scores_before))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let simple: [(&str, &str, DateTime<Utc>); 4] = [
            (
                "audit_log",
                "DELETE FROM audit_log WHERE tenant_id = $1 AND at < $2",
                c.audit_before,
            ),
            (
                "idempotency_keys",
                "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND created_at < $2",
                c.idempotency_keys_before,
            ),
            (
                "job_runs",
                "DELETE FROM job_runs WHERE tenant_id = $1 AND finished_at IS NOT NULL AND finished_at < $2",
                c.done_work_before,
            ),
            (
                "outbox",
                "DELETE FROM outbox WHERE tenant_id = $1 AND status = 'sent' AND sent_at IS NOT NULL AND sent_at < $2",
                c.done_work_before,
            ),
        ];
        for (table, sql, before) in simple {
            let n = sqlx::query(sql)
                .bind(t.clone())
                .bind(format_ts(before))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            match table {
                "audit_log" => counts.audit_log = n,
                "idempotency_keys" => counts.idempotency_keys = n,
                "job_runs" => counts.job_runs = n,
                _ => counts.outbox = n,
            }
        }
        tx.commit().await?;
        Ok(counts)
    }

    pub async fn record_model_evaluation(
        &self,
        scope: &ModelScope,
        e: &ModelEvaluation,
    ) -> StoreResult<()> {
        let mut tx = self.begin_scope(scope.as_str()).await?;
        sqlx::query(
            "INSERT INTO model_evaluations (tenant_id, evaluated_at, version, baseline_version, decision, reason, metrics) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(scope.as_str().to_string())
        .bind(e.evaluated_at.clone())
        .bind(e.version.clone())
        .bind(e.baseline_version.clone())
        .bind(e.decision.clone())
        .bind(e.reason.clone())
        .bind(e.metrics.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Newest first.
    pub async fn model_evaluations(
        &self,
        scope: &ModelScope,
        limit: i64,
    ) -> StoreResult<Vec<ModelEvaluation>> {
        let mut tx = self.begin_scope(scope.as_str()).await?;
        let rows = sqlx::query(
            "SELECT evaluated_at, version, baseline_version, decision, reason, metrics \
             FROM model_evaluations WHERE tenant_id = $1 ORDER BY evaluated_at DESC LIMIT $2",
        )
        .bind(scope.as_str().to_string())
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                let metrics: String = r.try_get("metrics")?;
                Ok(ModelEvaluation {
                    evaluated_at: r.try_get("evaluated_at")?,
                    version: r.try_get("version")?,
                    baseline_version: r.try_get("baseline_version")?,
                    decision: r.try_get("decision")?,
                    reason: r.try_get("reason")?,
                    metrics: serde_json::from_str(&metrics).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect()
    }

    /// Insert or replace the check of `c.checked_on` (a rerun on the same day replaces it, but
    /// never erases the record of a rollback made earlier that day).
    pub async fn record_calibration_check(
        &self,
        tenant: &TenantId,
        c: &CalibrationCheck,
    ) -> StoreResult<()> {
        // sqlx's Any driver sends a NULL float to PostgreSQL in a format it rejects, so "no
        // verdict" is written as a literal NULL and the value, when there is one, bound last.
        let error_sql = if c.calibration_error.is_some() {
            "$9"
        } else {
            "NULL"
        };
        let sql = format!(
            "INSERT INTO calibration_checks (tenant_id, checked_on, checked_at, model_version, deals, \
                 breached, rolled_back_from, rolled_back_to, calibration_error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, {error_sql}) \
             ON CONFLICT (tenant_id, checked_on) DO UPDATE SET checked_at = excluded.checked_at, \
                 model_version = excluded.model_version, deals = excluded.deals, \
                 calibration_error = excluded.calibration_error, breached = excluded.breached, \
                 rolled_back_from = COALESCE(excluded.rolled_back_from, calibration_checks.rolled_back_from), \
                 rolled_back_to = COALESCE(excluded.rolled_back_to, calibration_checks.rolled_back_to)"
        );
        let mut tx = self.begin_tenant(tenant).await?;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str().to_string())
            .bind(c.checked_on.to_string())
            .bind(c.checked_at.clone())
            .bind(c.model_version.clone())
            .bind(c.deals)
            .bind(i64::from(c.breached))
            .bind(c.rolled_back_from.clone())
            .bind(c.rolled_back_to.clone());
        if let Some(e) = c.calibration_error {
            q = q.bind(e);
        }
        q.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Checks strictly before `before`, newest first.
    pub async fn calibration_checks(
        &self,
        tenant: &TenantId,
        before: NaiveDate,
        limit: i64,
    ) -> StoreResult<Vec<CalibrationCheck>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows = sqlx::query(
            "SELECT checked_on, checked_at, model_version, deals, calibration_error, breached, \
                    rolled_back_from, rolled_back_to \
             FROM calibration_checks WHERE tenant_id = $1 AND checked_on < $2 \
             ORDER BY checked_on DESC LIMIT $3",
        )
        .bind(tenant.as_str().to_string())
        .bind(before.to_string())
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                let on: String = r.try_get("checked_on")?;
                Ok(CalibrationCheck {
                    checked_on: on.parse().map_err(anyhow::Error::from)?,
                    checked_at: r.try_get("checked_at")?,
                    model_version: r.try_get("model_version")?,
                    deals: r.try_get("deals")?,
                    calibration_error: r.try_get("calibration_error")?,
                    breached: r.try_get::<i64, _>("breached")? != 0,
                    rolled_back_from: r.try_get("rolled_back_from")?,
                    rolled_back_to: r.try_get("rolled_back_to")?,
                })
            })
            .collect()
    }

    /// Deals closed in `(after, until]` with the last score stored on or before their close date.
    /// Deals never scored are left out (there was no prediction to check).
    pub async fn closed_predictions(
        &self,
        tenant: &TenantId,
        after: Option<NaiveDate>,
        until: NaiveDate,
    ) -> StoreResult<Vec<ClosedPrediction>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows = sqlx::query(
            "SELECT d.deal_id, d.outcome, rs.win_probability, rs.model_version \
             FROM deals d JOIN risk_scores rs ON rs.tenant_id = d.tenant_id AND rs.deal_id = d.deal_id \
             WHERE d.tenant_id = $1 AND d.outcome IS NOT NULL AND d.closed_date IS NOT NULL \
               AND d.closed_date > $2 AND d.closed_date <= $3 \
               AND rs.scored_at = (SELECT MAX(r2.scored_at) FROM risk_scores r2 \
                   WHERE r2.tenant_id = d.tenant_id AND r2.deal_id = d.deal_id \
                     AND r2.scored_at <= d.closed_date || 'T23:59:59.999999Z') \
             ORDER BY d.deal_id",
        )
        .bind(tenant.as_str().to_string())
        .bind(after.map_or_else(|| "0000-00-00".to_string(), |d| d.to_string()))
        .bind(until.to_string())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                let outcome: String = r.try_get("outcome")?;
                Ok(ClosedPrediction {
                    deal_id: r.try_get("deal_id")?,
                    lost: outcome == "Lost",
                    win_probability: r.try_get("win_probability")?,
                    model_version: r.try_get("model_version")?,
                })
            })
            .collect()
    }

    /// Record (or update, by external id) a recommended action pushed as a Salesforce Task.
    pub async fn upsert_action_task(&self, tenant: &TenantId, t: &ActionTask) -> StoreResult<()> {
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query(
            "INSERT INTO action_tasks (tenant_id, task_key, deal_id, subject, priority, status, created_at, completed_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (tenant_id, task_key) DO UPDATE SET subject = excluded.subject, \
                 priority = excluded.priority, status = excluded.status, \
                 completed_at = excluded.completed_at, updated_at = excluded.updated_at",
        )
        .bind(tenant.as_str().to_string())
        .bind(t.task_key.clone())
        .bind(t.deal_id.clone())
        .bind(t.subject.clone())
        .bind(t.priority.clone())
        .bind(t.status.clone())
        .bind(t.created_at.clone())
        .bind(t.completed_at.clone())
        .bind(format_ts(Utc::now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The action Tasks of `deal_ids`.
    pub async fn action_tasks_for(
        &self,
        tenant: &TenantId,
        deal_ids: &[String],
    ) -> StoreResult<Vec<ActionTask>> {
        if deal_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_tenant(tenant).await?;
        let mut out = Vec::new();
        for part in deal_ids.chunks(500) {
            let marks: Vec<String> = (0..part.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT task_key, deal_id, subject, priority, status, created_at, completed_at \
                 FROM action_tasks WHERE tenant_id = $1 AND deal_id IN ({}) ORDER BY deal_id, task_key",
                marks.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.as_str().to_string());
            for id in part {
                q = q.bind(id.clone());
            }
            for r in q.fetch_all(&mut *tx).await? {
                out.push(ActionTask {
                    task_key: r.try_get("task_key")?,
                    deal_id: r.try_get("deal_id")?,
                    subject: r.try_get("subject")?,
                    priority: r.try_get("priority")?,
                    status: r.try_get("status")?,
                    created_at: r.try_get("created_at")?,
                    completed_at: r.try_get("completed_at")?,
                });
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Snoozes and feedback (false alarms) created in `[from, to)`.
    pub async fn deal_feedback_between(
        &self,
        tenant: &TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<DealFeedbackRow>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows = sqlx::query(
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
        rows.iter()
            .map(|r| {
                Ok(DealFeedbackRow {
                    deal_id: r.try_get("deal_id")?,
                    user_id: r.try_get("user_id")?,
                    kind: r.try_get("kind")?,
                    reason: r.try_get("reason")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }
}
