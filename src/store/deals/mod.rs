//! Deals: reading them (all, open, by id, by name for `/deal-risk`) and removing the ones
//! Salesforce deleted. Beside it: the bulk upsert (`upsert`), scores (`scores`), the API's
//! listing (`listing`), snoozes and false alarms (`feedback`) and recommended-action Tasks
//! (`actions`).
mod actions;
mod feedback;
mod listing;
mod scores;
mod upsert;

pub use actions::ActionTask;
pub use feedback::{DealFeedbackRow, SnoozeRow, false_alarm_id};
pub use listing::{DealScope, HighRiskPage, HighRiskQuery, HighRiskSort, ScoredDealRow};
pub use scores::StoredScore;
pub use upsert::{DealUpsert, ImportCounts, row_hash};

use super::sql::{IsoDate, OptIsoDate};
use super::{Store, StoreResult};
use crate::domain::{Deal, Outcome, TenantId};
use chrono::NaiveDate;

/// The `deals` columns a [`Deal`] is made of, in the upsert's bind order (row_hash and
/// timestamps follow).
pub(super) const DEAL_COLUMNS: [&str; 19] = [
    "deal_id",
    "created_date",
    "closed_date",
    "sales_rep_id",
    "industry",
    "region",
    "product_type",
    "lead_source",
    "deal_stage",
    "amount",
    "sales_cycle_days",
    "outcome",
    "company",
    "deal_name",
    "owner_email",
    "last_activity_date",
    "stage_entered_date",
    "close_date_pushes",
    "amount_cut_pct",
];

/// A `deals` row as stored ([`DEAL_COLUMNS`]); dates are ISO text, the outcome its name.
#[derive(sqlx::FromRow)]
pub(super) struct DealRecord {
    deal_id: String,
    #[sqlx(try_from = "IsoDate")]
    created_date: NaiveDate,
    #[sqlx(try_from = "OptIsoDate")]
    closed_date: Option<NaiveDate>,
    sales_rep_id: String,
    industry: String,
    region: String,
    product_type: String,
    lead_source: String,
    deal_stage: String,
    amount: f64,
    sales_cycle_days: Option<i64>,
    outcome: Option<String>,
    company: Option<String>,
    deal_name: Option<String>,
    owner_email: Option<String>,
    #[sqlx(try_from = "OptIsoDate")]
    last_activity_date: Option<NaiveDate>,
    #[sqlx(try_from = "OptIsoDate")]
    stage_entered_date: Option<NaiveDate>,
    close_date_pushes: Option<i64>,
    amount_cut_pct: Option<f64>,
}

impl DealRecord {
    /// Still open (no outcome recorded).
    pub(super) fn is_open(&self) -> bool {
        self.outcome.is_none()
    }
}

impl From<DealRecord> for Deal {
    fn from(r: DealRecord) -> Deal {
        Deal {
            deal_id: r.deal_id,
            created_date: r.created_date,
            closed_date: r.closed_date,
            sales_rep_id: r.sales_rep_id,
            industry: r.industry,
            region: r.region,
            product_type: r.product_type,
            lead_source: r.lead_source,
            deal_stage: r.deal_stage,
            amount: r.amount,
            sales_cycle_days: r.sales_cycle_days,
            outcome: r.outcome.as_deref().and_then(Outcome::parse),
            company: r.company,
            deal_name: r.deal_name,
            owner_email: r.owner_email,
            last_activity_date: r.last_activity_date,
            stage_entered_date: r.stage_entered_date,
            close_date_pushes: r
                .close_date_pushes
                .map(|n| n.clamp(0, u32::MAX as i64) as u32),
            amount_cut_pct: r.amount_cut_pct,
        }
    }
}

/// `SELECT <deal columns> FROM deals WHERE tenant_id = $1{rest}`.
pub(super) fn select_deals(rest: &str) -> String {
    format!(
        "SELECT {} FROM deals WHERE tenant_id = $1{rest}",
        DEAL_COLUMNS.join(", ")
    )
}

impl Store {
    /// Every deal of the tenant, open and closed, ordered by id.
    pub async fn load_deals(&self, tenant: &TenantId) -> StoreResult<Vec<Deal>> {
        self.load_deals_where(tenant, "").await
    }

    /// Open deals only (no outcome yet).
    pub async fn load_open_deals(&self, tenant: &TenantId) -> StoreResult<Vec<Deal>> {
        self.load_deals_where(tenant, " AND outcome IS NULL").await
    }

    async fn load_deals_where(
        &self,
        tenant: &TenantId,
        filter: &'static str,
    ) -> StoreResult<Vec<Deal>> {
        let sql = select_deals(&format!("{filter} ORDER BY deal_id"));
        let mut tx = self.begin_tenant(tenant).await?;
        let rows: Vec<DealRecord> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str().to_string())
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(Deal::from).collect())
    }

    /// Open deals among `ids` (the webhook rescored only those).
    pub async fn load_deals_by_id(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> StoreResult<Vec<Deal>> {
        let wanted: std::collections::HashSet<&String> = ids.iter().collect();
        Ok(self
            .load_deals(tenant)
            .await?
            .into_iter()
            .filter(|d| wanted.contains(&d.deal_id))
            .collect())
    }

    pub async fn count_deals(&self, tenant: &TenantId) -> StoreResult<i64> {
        let mut tx = self.begin_tenant(tenant).await?;
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM deals WHERE tenant_id = $1")
            .bind(tenant.as_str().to_string())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// One deal by id (open or not).
    pub async fn deal_by_id(&self, tenant: &TenantId, deal_id: &str) -> StoreResult<Option<Deal>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let row: Option<DealRecord> =
            sqlx::query_as(sqlx::AssertSqlSafe(select_deals(" AND deal_id = $2")))
                .bind(tenant.as_str().to_string())
                .bind(deal_id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(row.map(Deal::from))
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
        let mut tx = self.begin_tenant(tenant).await?;
        // An id is the common case from buttons and pasted links: one primary-key read, and
        // the name scan only when it finds nothing.
        // No `outcome IS NULL` here: with it PostgreSQL prefers the partial open-deals index
        // and filters every open deal of the tenant (17 ms at 100k deals, measured) instead of
        // the primary key; openness is checked on the one row instead.
        let exact: Option<DealRecord> =
            sqlx::query_as(sqlx::AssertSqlSafe(select_deals(" AND deal_id = $2")))
                .bind(tenant.as_str().to_string())
                .bind(query.trim().to_string())
                .fetch_optional(&mut *tx)
                .await?;
        let rows = match exact.filter(DealRecord::is_open) {
            Some(row) => vec![row],
            None => {
                sqlx::query_as(sqlx::AssertSqlSafe(select_deals(
                    " AND outcome IS NULL AND \
                     (LOWER(company) LIKE $2 ESCAPE '\\' OR LOWER(deal_name) LIKE $2 ESCAPE '\\' \
                      OR LOWER(deal_id) LIKE $2 ESCAPE '\\') ORDER BY deal_id LIMIT $3",
                )))
                .bind(tenant.as_str().to_string())
                .bind(like)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?
            }
        };
        tx.commit().await?;
        Ok(rows.into_iter().map(Deal::from).collect())
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
