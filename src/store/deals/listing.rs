//! What the REST API reads about deals: the high-risk listing with its per-category totals,
//! and one deal with the viewer's RBAC rows in one tenant transaction.
use super::{DealRecord, select_deals};
use crate::domain::{Deal, TenantId};
use crate::store::sql::placeholders;
use crate::store::users::{DIRECT_REPORTS, USER_BY_ID};
use crate::store::{Store, StoreResult, UserRow};

/// Which deals a caller may see: everything, or deals owned by one of `rep_ids` (by
/// `sales_rep_id`) or `emails` (by `owner_email`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DealScope {
    All,
    Owners {
        rep_ids: Vec<String>,
        emails: Vec<String>,
    },
}

impl DealScope {
    pub fn allows(&self, deal: &Deal) -> bool {
        match self {
            DealScope::All => true,
            DealScope::Owners { rep_ids, emails } => {
                rep_ids.contains(&deal.sales_rep_id)
                    || deal
                        .owner_email
                        .as_ref()
                        .is_some_and(|e| emails.iter().any(|x| x.eq_ignore_ascii_case(e)))
            }
        }
    }

    /// ` AND (…)` restricting `deals` to the scope, with its bind values (numbered from `first`).
    fn sql(&self, first: usize) -> (String, Vec<String>) {
        match self {
            DealScope::All => (String::new(), Vec::new()),
            DealScope::Owners { rep_ids, emails } => {
                let mut binds = Vec::new();
                let mut parts = Vec::new();
                for (vals, col, lower) in [
                    (rep_ids, "sales_rep_id", false),
                    (emails, "LOWER(owner_email)", true),
                ] {
                    if vals.is_empty() {
                        continue;
                    }
                    let marks = placeholders(first + binds.len(), vals.len());
                    parts.push(format!("{col} IN ({marks})"));
                    binds.extend(
                        vals.iter()
                            .map(|v| if lower { v.to_lowercase() } else { v.clone() }),
                    );
                }
                if parts.is_empty() {
                    (" AND 1 = 0".into(), binds)
                } else {
                    (format!(" AND ({})", parts.join(" OR ")), binds)
                }
            }
        }
    }
}

/// Sort keys of the high-risk listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HighRiskSort {
    RiskScore,
    Amount,
    Age,
}

#[derive(Debug, Clone)]
pub struct HighRiskQuery {
    pub categories: Vec<String>,
    pub sort: HighRiskSort,
    pub descending: bool,
    pub limit: i64,
    pub offset: i64,
}

/// One open deal with its current score.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct ScoredDealRow {
    pub deal_id: String,
    pub company: Option<String>,
    pub deal_name: Option<String>,
    pub sales_rep_id: String,
    pub owner_email: Option<String>,
    pub industry: String,
    pub region: String,
    pub product_type: String,
    pub lead_source: String,
    pub deal_stage: String,
    pub amount: f64,
    pub created_date: String,
    pub risk_score: i64,
    pub risk_category: String,
    pub win_probability: f64,
    pub model_version: Option<String>,
    pub scored_at: Option<String>,
    pub last_activity_date: Option<String>,
    /// The rep's name from `users`, when the rep is a known user.
    pub rep_name: Option<String>,
}

/// A page of the listing plus totals over every matching deal.
#[derive(Debug, Clone)]
pub struct HighRiskPage {
    pub rows: Vec<ScoredDealRow>,
    pub total: i64,
    /// (category, deals, amount, sum of risk scores) per category over every open scored deal
    /// in scope (not only the listed categories); `total` counts the listed ones.
    pub by_category: Vec<(String, i64, f64, f64)>,
}

impl Store {
    /// A deal (if the tenant has it) together with the viewer's user row and, when `team`,
    /// the viewer's direct reports — in ONE tenant transaction, so scoring a stored deal
    /// through the API costs one round of BEGIN/set_config/COMMIT instead of three.
    pub async fn deal_with_viewer(
        &self,
        tenant: &TenantId,
        deal_id: &str,
        viewer: &str,
        team: bool,
    ) -> StoreResult<(Option<Deal>, Option<UserRow>, Vec<UserRow>)> {
        let mut tx = self.begin_tenant(tenant).await?;
        let deal: Option<DealRecord> =
            sqlx::query_as(sqlx::AssertSqlSafe(select_deals(" AND deal_id = $2")))
                .bind(tenant.as_str().to_string())
                .bind(deal_id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        let me: Option<UserRow> = sqlx::query_as(USER_BY_ID)
            .bind(tenant.as_str().to_string())
            .bind(viewer.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let reports: Vec<UserRow> = if team {
            sqlx::query_as(DIRECT_REPORTS)
                .bind(tenant.as_str().to_string())
                .bind(viewer.to_string())
                .fetch_all(&mut *tx)
                .await?
        } else {
            Vec::new()
        };
        tx.commit().await?;
        Ok((deal.map(Deal::from), me, reports))
    }

    /// Open, scored deals in `scope` whose current category is one of `q.categories`.
    pub async fn high_risk_deals(
        &self,
        tenant: &TenantId,
        scope: &DealScope,
        q: &HighRiskQuery,
    ) -> StoreResult<HighRiskPage> {
        // (WHERE clause, binds) for open scored deals in `scope` in one of `categories`.
        let filter_for = |categories: &[String]| {
            let mut binds: Vec<String> = vec![tenant.as_str().to_string()];
            let cats = placeholders(2, categories.len());
            binds.extend(categories.iter().cloned());
            let (scope_sql, scope_binds) = scope.sql(binds.len() + 1);
            binds.extend(scope_binds);
            let filter = format!(
                "FROM deals WHERE tenant_id = $1 AND outcome IS NULL AND current_risk_score IS NOT NULL \
                 AND current_risk_category IN ({cats}){scope_sql}"
            );
            (filter, binds)
        };
        let (filter, binds) = filter_for(&q.categories);
        // The summary covers every category, whatever the listing's filter.
        let all: Vec<String> = ["low", "medium", "high", "critical"]
            .map(String::from)
            .to_vec();
        let (all_filter, all_binds) = filter_for(&all);
        let key = match q.sort {
            HighRiskSort::RiskScore => "current_risk_score",
            HighRiskSort::Amount => "amount",
            // Older deals have earlier creation dates: age descending = created_date ascending.
            HighRiskSort::Age => "created_date",
        };
        let ascending = match q.sort {
            HighRiskSort::Age => q.descending,
            _ => !q.descending,
        };
        let dir = if ascending { "ASC" } else { "DESC" };
        let page_sql = format!(
            "SELECT deal_id, company, deal_name, sales_rep_id, owner_email, industry, region, product_type, \
             lead_source, deal_stage, amount, created_date, current_risk_score AS risk_score, \
             current_risk_category AS risk_category, current_win_probability AS win_probability, \
             current_model_version AS model_version, scored_at, last_activity_date, \
             (SELECT u.name FROM users u WHERE u.tenant_id = deals.tenant_id \
              AND u.user_id = deals.sales_rep_id) AS rep_name {filter} \
             ORDER BY {key} {dir}, deal_id LIMIT {} OFFSET {}",
            q.limit.max(0),
            q.offset.max(0)
        );
        let summary_sql = format!(
            "SELECT current_risk_category, COUNT(*), SUM(amount), \
             CAST(SUM(current_risk_score) AS DOUBLE PRECISION) {all_filter} GROUP BY current_risk_category"
        );
        let mut tx = self.begin_tenant(tenant).await?;
        let mut page = sqlx::query_as::<_, ScoredDealRow>(sqlx::AssertSqlSafe(page_sql));
        for b in &binds {
            page = page.bind(b.clone());
        }
        let rows = page.fetch_all(&mut *tx).await?;
        let mut summary =
            sqlx::query_as::<_, (String, i64, f64, f64)>(sqlx::AssertSqlSafe(summary_sql));
        for b in &all_binds {
            summary = summary.bind(b.clone());
        }
        let by_category = summary.fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let total = by_category
            .iter()
            .filter(|c| q.categories.contains(&c.0))
            .map(|c| c.1)
            .sum();
        Ok(HighRiskPage {
            rows,
            total,
            by_category,
        })
    }
}
