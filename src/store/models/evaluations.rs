//! What the model lifecycle records and reads: monthly-retrain decisions, daily calibration
//! checks, and the predictions closed deals can be checked against.
use crate::domain::{ModelScope, TenantId};
use crate::store::sql::{Flag, IsoDate};
use crate::store::{Store, StoreResult};
use chrono::NaiveDate;

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
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct CalibrationCheck {
    #[sqlx(try_from = "IsoDate")]
    pub checked_on: NaiveDate,
    pub checked_at: String,
    pub model_version: Option<String>,
    pub deals: i64,
    pub calibration_error: Option<f64>,
    #[sqlx(try_from = "Flag")]
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

/// A `model_evaluations` row as stored: the metrics as JSON text.
#[derive(sqlx::FromRow)]
struct EvaluationRecord {
    evaluated_at: String,
    version: String,
    baseline_version: Option<String>,
    decision: String,
    reason: String,
    metrics: String,
}

impl From<EvaluationRecord> for ModelEvaluation {
    fn from(r: EvaluationRecord) -> ModelEvaluation {
        ModelEvaluation {
            evaluated_at: r.evaluated_at,
            version: r.version,
            baseline_version: r.baseline_version,
            decision: r.decision,
            reason: r.reason,
            // Metrics are for reading: an unreadable blob shows as null, not an error.
            metrics: serde_json::from_str(&r.metrics).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// A closed deal with its last score before closing, as the join returns it.
#[derive(sqlx::FromRow)]
struct ClosedRecord {
    deal_id: String,
    outcome: String,
    win_probability: f64,
    model_version: String,
}

impl Store {
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
        let rows: Vec<EvaluationRecord> = sqlx::query_as(
            "SELECT evaluated_at, version, baseline_version, decision, reason, metrics \
             FROM model_evaluations WHERE tenant_id = $1 ORDER BY evaluated_at DESC LIMIT $2",
        )
        .bind(scope.as_str().to_string())
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(ModelEvaluation::from).collect())
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
        let rows = sqlx::query_as(
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
        Ok(rows)
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
        let rows: Vec<ClosedRecord> = sqlx::query_as(
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
        Ok(rows
            .into_iter()
            .map(|r| ClosedPrediction {
                deal_id: r.deal_id,
                lost: r.outcome == "Lost",
                win_probability: r.win_probability,
                model_version: r.model_version,
            })
            .collect())
    }
}
