//! Risk-score history (`risk_scores`) and each deal's current score, written in bulk after a
//! batch run; critical crossings are checked in the same transaction (`store::alerts`).
use crate::domain::{AlertPlanner, DealScore, RiskCategory, RiskFactor, TenantId};
use crate::store::sql::{Flag, values_sql};
use crate::store::{Backend, Store, StoreResult, format_ts};
use chrono::{DateTime, Utc};

/// A score as stored: enough for metrics, trends and lists, without recommendations.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredScore {
    pub deal_id: String,
    pub scored_at: String,
    pub risk_score: u8,
    pub risk_category: RiskCategory,
    pub win_probability: f64,
    pub confidence: f64,
    pub model_version: String,
    pub degraded: bool,
    pub risk_factors: Vec<RiskFactor>,
}

impl StoredScore {
    /// As a `DealScore` (no recommendations or similar deals), for the engine's metrics.
    pub fn to_deal_score(&self) -> DealScore {
        DealScore {
            deal_id: self.deal_id.clone(),
            risk_score: self.risk_score,
            risk_category: self.risk_category,
            win_probability: self.win_probability,
            confidence: self.confidence,
            risk_factors: self.risk_factors.clone(),
            recommendations: Vec::new(),
            similar_deals: Vec::new(),
            model_version: self.model_version.clone(),
            degraded: self.degraded,
        }
    }
}

/// A `risk_scores` row as stored: the category by name, the factors as JSON text.
#[derive(sqlx::FromRow)]
struct ScoreRecord {
    deal_id: String,
    scored_at: String,
    risk_score: i64,
    risk_category: String,
    win_probability: f64,
    confidence: f64,
    model_version: String,
    #[sqlx(try_from = "Flag")]
    degraded: bool,
    factors: String,
}

impl From<ScoreRecord> for StoredScore {
    fn from(r: ScoreRecord) -> StoredScore {
        let score = r.risk_score.clamp(0, 100) as u8;
        StoredScore {
            deal_id: r.deal_id,
            scored_at: r.scored_at,
            risk_score: score,
            // The category as stored: a tenant's own band edges decided it when it was scored.
            risk_category: RiskCategory::ALL
                .into_iter()
                .find(|c| c.as_str() == r.risk_category)
                .unwrap_or_else(|| RiskCategory::from_score(score)),
            win_probability: r.win_probability,
            confidence: r.confidence,
            model_version: r.model_version,
            degraded: r.degraded,
            // Factors are an explanation, not a figure: an unreadable list shows none.
            risk_factors: serde_json::from_str(&r.factors).unwrap_or_default(),
        }
    }
}

const SCORE_COLUMNS: &str = "tenant_id, deal_id, scored_at, risk_score, risk_category, win_probability, \
                             confidence, model_version, degraded, factors";

/// Batches at least this large update current scores with a hash join on PostgreSQL (below
/// it, a webhook's handful of deals, the planner's index lookups are cheaper).
const HASH_JOIN_FROM: usize = 100;

impl Store {
    /// Append one batch to `risk_scores` and make it each deal's current score, in one
    /// transaction. `progress` gets the number of rows written so far. Critical crossings
    /// (previous current score vs this one) become `alerts` + `outbox` rows in the same
    /// transaction: `planner` (the caller's alert policy) decides which, with `scored_at` as
    /// its clock.
    pub async fn record_scores(
        &self,
        tenant: &TenantId,
        scored_at: DateTime<Utc>,
        scores: &[DealScore],
        planner: &dyn AlertPlanner,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> StoreResult<()> {
        let ts = format_ts(scored_at);
        let mut tx = self.begin_tenant(tenant).await?;
        let mut done = 0u64;
        // Same reasoning as the deal upsert: SQLite binds get slow in wide statements.
        for part in self.insert_batches(scores, 500) {
            let sql = format!(
                "INSERT INTO risk_scores ({SCORE_COLUMNS}) VALUES {} ON CONFLICT DO NOTHING",
                values_sql(self.backend(), part.len(), 10)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for s in part {
                q = q
                    .bind(tenant.as_str().to_string())
                    .bind(s.deal_id.clone())
                    .bind(ts.clone())
                    .bind(i64::from(s.risk_score))
                    .bind(s.risk_category.as_str().to_string())
                    .bind(s.win_probability)
                    .bind(s.confidence)
                    .bind(s.model_version.clone())
                    .bind(i64::from(s.degraded))
                    .bind(serde_json::to_string(&s.risk_factors).map_err(anyhow::Error::from)?);
            }
            q.execute(&mut *tx).await?;
            done += part.len() as u64;
            progress(done);
        }
        // Before the UPDATE: the crossing is judged against the deals' previous current score.
        crate::store::alerts::enqueue_critical_alerts(
            self, &mut tx, tenant, scored_at, scores, planner,
        )
        .await?;
        // One set-based statement instead of 100k single-row updates.
        if self.backend == Backend::Postgres && scores.len() >= HASH_JOIN_FROM {
            // Just after a big first load the planner's statistics still say `deals` and
            // `risk_scores` are tiny, and it picks a nested loop that rescans the whole batch
            // (via risk_scores_time) for every deal of the tenant: 100k deals × 60k scores stalled
            // a nightly run for 14+ minutes. A hash join does the same update in ~0.4 s whatever
            // the statistics say. SET LOCAL ends with this transaction.
            sqlx::query("SET LOCAL enable_nestloop = off")
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "UPDATE deals SET current_risk_score = rs.risk_score, current_risk_category = rs.risk_category, \
             current_win_probability = rs.win_probability, current_model_version = rs.model_version, \
             scored_at = rs.scored_at \
             FROM risk_scores AS rs \
             WHERE rs.tenant_id = deals.tenant_id AND rs.deal_id = deals.deal_id \
               AND rs.scored_at = $2 AND deals.tenant_id = $1",
        )
        .bind(tenant.as_str().to_string())
        .bind(ts)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The scores as they stood at `cutoff` (for 7-day trends and the weekly summary): each
    /// deal's newest score in `(since, cutoff]`. Per deal, not "the newest batch": a webhook
    /// that rescored three deals after the nightly run is a batch of three, and taking it as
    /// the snapshot made the weekly "closing the loop" forget every other deal.
    pub async fn scores_at_or_before(
        &self,
        tenant: &TenantId,
        cutoff: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<StoredScore>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows: Vec<ScoreRecord> = sqlx::query_as(
            "SELECT rs.deal_id, rs.scored_at, rs.risk_score, rs.risk_category, rs.win_probability, \
                    rs.confidence, rs.model_version, rs.degraded, rs.factors \
             FROM risk_scores rs JOIN ( \
                 SELECT deal_id, MAX(scored_at) AS at FROM risk_scores \
                 WHERE tenant_id = $1 AND scored_at <= $2 AND scored_at > $3 GROUP BY deal_id \
             ) newest ON rs.deal_id = newest.deal_id AND rs.scored_at = newest.at \
             WHERE rs.tenant_id = $1 ORDER BY rs.deal_id",
        )
        .bind(tenant.as_str().to_string())
        .bind(format_ts(cutoff))
        .bind(format_ts(since))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(StoredScore::from).collect())
    }

    /// Every deal's latest score (open deals only), highest risk first.
    pub async fn current_scores(&self, tenant: &TenantId) -> StoreResult<Vec<StoredScore>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows: Vec<ScoreRecord> = sqlx::query_as(
            "SELECT rs.deal_id, rs.scored_at, rs.risk_score, rs.risk_category, rs.win_probability, \
                    rs.confidence, rs.model_version, rs.degraded, rs.factors \
             FROM deals d JOIN risk_scores rs \
               ON rs.tenant_id = d.tenant_id AND rs.deal_id = d.deal_id AND rs.scored_at = d.scored_at \
             WHERE d.tenant_id = $1 AND d.outcome IS NULL \
             ORDER BY rs.risk_score DESC, d.amount DESC, d.deal_id",
        )
        .bind(tenant.as_str().to_string())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(StoredScore::from).collect())
    }
}
