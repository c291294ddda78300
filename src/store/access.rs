//! What the REST API needs from storage: users and teams (RBAC), single-deal lookup, the
//! high-risk listing, alert settings, idempotency keys and migration status. Every query runs
//! in a tenant-scoped transaction, so on PostgreSQL row-level security backs the WHERE clauses.
use super::{Backend, PG_MIGRATOR, SQLITE_MIGRATOR, Store, StoreResult, format_ts};
use crate::domain::{AlertSettings, Deal, TenantId};
use sqlx::Row;

/// A user as RBAC needs it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UserRow {
    pub user_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub role: String,
    pub manager_id: Option<String>,
    pub time_zone: String,
}

/// A new or updated user.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub user_id: &'a str,
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
    pub role: &'a str,
    pub manager_id: Option<&'a str>,
}

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
                let mut n = first;
                let mut list = |vals: &[String], col: &str, lower: bool| {
                    if vals.is_empty() {
                        return;
                    }
                    let ph: Vec<String> = vals
                        .iter()
                        .map(|v| {
                            binds.push(if lower { v.to_lowercase() } else { v.clone() });
                            n += 1;
                            format!("${}", n - 1)
                        })
                        .collect();
                    parts.push(format!("{col} IN ({})", ph.join(", ")));
                };
                list(rep_ids, "sales_rep_id", false);
                list(emails, "LOWER(owner_email)", true);
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
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
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

/// A stored idempotency record.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    pub request_hash: String,
    /// `None` while the first request is still being processed.
    pub response: Option<(u16, String)>,
}

/// The user row the API needs for scoping, by id.
const USER_BY_ID: &str = "SELECT user_id, email, name, role, manager_id, time_zone FROM users \
                          WHERE tenant_id = $1 AND user_id = $2";
/// Users whose manager is `$2`.
const DIRECT_REPORTS: &str = "SELECT user_id, email, name, role, manager_id, time_zone FROM users \
                              WHERE tenant_id = $1 AND manager_id = $2 ORDER BY user_id";

impl Store {
    pub async fn upsert_user(&self, tenant: &TenantId, u: &NewUser<'_>) -> StoreResult<()> {
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query(
            "INSERT INTO users (tenant_id, user_id, email, name, role, manager_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, user_id) DO UPDATE SET \
             email = excluded.email, name = excluded.name, role = excluded.role, manager_id = excluded.manager_id",
        )
        .bind(tenant.as_str().to_string())
        .bind(u.user_id.to_string())
        .bind(u.email.map(str::to_string))
        .bind(u.name.map(str::to_string))
        .bind(u.role.to_string())
        .bind(u.manager_id.map(str::to_string))
        .bind(format_ts(chrono::Utc::now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn get_user(&self, tenant: &TenantId, user_id: &str) -> StoreResult<Option<UserRow>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let row = sqlx::query(USER_BY_ID)
            .bind(tenant.as_str().to_string())
            .bind(user_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        row.map(|r| user_from_row(&r)).transpose()
    }

    /// Users whose `manager_id` is `manager` (direct reports).
    pub async fn team_of(&self, tenant: &TenantId, manager: &str) -> StoreResult<Vec<UserRow>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows = sqlx::query(DIRECT_REPORTS)
            .bind(tenant.as_str().to_string())
            .bind(manager.to_string())
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.iter().map(user_from_row).collect()
    }

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
        let sql = format!(
            "SELECT {} FROM deals WHERE tenant_id = $1 AND deal_id = $2",
            super::deals::DEAL_COLUMNS.join(", ")
        );
        let mut tx = self.begin_tenant(tenant).await?;
        let deal = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str().to_string())
            .bind(deal_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let me = sqlx::query(USER_BY_ID)
            .bind(tenant.as_str().to_string())
            .bind(viewer.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let reports = if team {
            sqlx::query(DIRECT_REPORTS)
                .bind(tenant.as_str().to_string())
                .bind(viewer.to_string())
                .fetch_all(&mut *tx)
                .await?
        } else {
            Vec::new()
        };
        tx.commit().await?;
        Ok((
            deal.map(|r| super::deals::deal_from_row(&r)).transpose()?,
            me.map(|r| user_from_row(&r)).transpose()?,
            reports
                .iter()
                .map(user_from_row)
                .collect::<StoreResult<Vec<_>>>()?,
        ))
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
            let cats: Vec<String> = categories
                .iter()
                .map(|c| {
                    binds.push(c.clone());
                    format!("${}", binds.len())
                })
                .collect();
            let (scope_sql, scope_binds) = scope.sql(binds.len() + 1);
            binds.extend(scope_binds);
            let filter = format!(
                "FROM deals WHERE tenant_id = $1 AND outcome IS NULL AND current_risk_score IS NOT NULL \
                 AND current_risk_category IN ({}){scope_sql}",
                cats.join(", ")
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
             lead_source, deal_stage, amount, created_date, current_risk_score, current_risk_category, \
             current_win_probability, current_model_version, scored_at, last_activity_date, \
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
        let mut page = sqlx::query(sqlx::AssertSqlSafe(page_sql));
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
        let rows = rows
            .iter()
            .map(|r| -> Result<ScoredDealRow, sqlx::Error> {
                Ok(ScoredDealRow {
                    deal_id: r.try_get("deal_id")?,
                    company: r.try_get("company")?,
                    deal_name: r.try_get("deal_name")?,
                    sales_rep_id: r.try_get("sales_rep_id")?,
                    owner_email: r.try_get("owner_email")?,
                    industry: r.try_get("industry")?,
                    region: r.try_get("region")?,
                    product_type: r.try_get("product_type")?,
                    lead_source: r.try_get("lead_source")?,
                    deal_stage: r.try_get("deal_stage")?,
                    amount: r.try_get("amount")?,
                    created_date: r.try_get("created_date")?,
                    risk_score: r.try_get("current_risk_score")?,
                    risk_category: r.try_get("current_risk_category")?,
                    win_probability: r.try_get("current_win_probability")?,
                    model_version: r.try_get("current_model_version")?,
                    scored_at: r.try_get("scored_at")?,
                    last_activity_date: r.try_get("last_activity_date")?,
                    rep_name: r.try_get("rep_name")?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
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

    pub async fn upsert_alert_settings(
        &self,
        tenant: &TenantId,
        user_id: &str,
        s: &AlertSettings,
    ) -> StoreResult<()> {
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query(
            "INSERT INTO alert_settings (tenant_id, user_id, critical_enabled, channels, threshold, \
             digest_time, time_zone, quiet_start, quiet_end, max_deals, updated_at, \
             digest_enabled, digest_min_risk_score, quiet_enabled) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (tenant_id, user_id) DO UPDATE SET critical_enabled = excluded.critical_enabled, \
             channels = excluded.channels, threshold = excluded.threshold, digest_time = excluded.digest_time, \
             time_zone = excluded.time_zone, quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end, \
             max_deals = excluded.max_deals, updated_at = excluded.updated_at, \
             digest_enabled = excluded.digest_enabled, \
             digest_min_risk_score = excluded.digest_min_risk_score, \
             quiet_enabled = excluded.quiet_enabled",
        )
        .bind(tenant.as_str().to_string())
        .bind(user_id.to_string())
        .bind(i64::from(s.critical_enabled))
        .bind(serde_json::to_string(&s.channels).map_err(anyhow::Error::from)?)
        .bind(s.threshold)
        .bind(s.digest_time.clone())
        .bind(s.time_zone.clone())
        .bind(s.quiet_start.clone())
        .bind(s.quiet_end.clone())
        .bind(s.max_deals)
        .bind(format_ts(chrono::Utc::now()))
        .bind(i64::from(s.digest_enabled))
        .bind(s.digest_min_risk_score)
        .bind(i64::from(s.quiet_enabled))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn get_alert_settings(
        &self,
        tenant: &TenantId,
        user_id: &str,
    ) -> StoreResult<Option<AlertSettings>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let row = sqlx::query(
            "SELECT critical_enabled, channels, threshold, digest_time, time_zone, quiet_start, quiet_end, \
             max_deals, digest_enabled, digest_min_risk_score, quiet_enabled \
             FROM alert_settings WHERE tenant_id = $1 AND user_id = $2",
        )
        .bind(tenant.as_str().to_string())
        .bind(user_id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        let Some(r) = row else { return Ok(None) };
        let channels: String = r.try_get("channels")?;
        Ok(Some(AlertSettings {
            critical_enabled: r.try_get::<i64, _>("critical_enabled")? != 0,
            channels: serde_json::from_str(&channels).unwrap_or_default(),
            threshold: r.try_get("threshold")?,
            digest_time: r.try_get("digest_time")?,
            time_zone: r.try_get("time_zone")?,
            quiet_start: r.try_get("quiet_start")?,
            quiet_end: r.try_get("quiet_end")?,
            max_deals: r.try_get("max_deals")?,
            digest_enabled: r.try_get::<i64, _>("digest_enabled")? != 0,
            digest_min_risk_score: r.try_get("digest_min_risk_score")?,
            quiet_enabled: r.try_get::<i64, _>("quiet_enabled")? != 0,
        }))
    }

    /// Claim `key` for a request with `request_hash` at `now`. `Ok(None)`: claimed, go ahead.
    /// `Ok(Some(record))`: the key was used before (compare hashes, replay the response).
    /// A claim without a response that is older than `ttl` (its request died without
    /// releasing it) is taken over.
    pub async fn claim_idempotency_key(
        &self,
        tenant: &TenantId,
        key: &str,
        request_hash: &str,
        now: chrono::DateTime<chrono::Utc>,
        ttl: chrono::Duration,
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

    /// (applied, known to this binary): readiness wants every migration applied.
    pub async fn migration_status(&self) -> StoreResult<(usize, usize)> {
        let known = match self.backend {
            Backend::Sqlite => SQLITE_MIGRATOR.iter().count(),
            Backend::Postgres => PG_MIGRATOR.iter().count(),
        };
        // _sqlx_migrations is owned by the migrating role and has no RLS; the app role may
        // not be granted it, in which case readiness reports the error.
        let (applied,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await?;
        Ok((applied as usize, known))
    }

    /// A trivial round trip: is the database reachable?
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

pub(super) fn user_from_row(r: &sqlx::any::AnyRow) -> StoreResult<UserRow> {
    Ok(UserRow {
        user_id: r.try_get("user_id")?,
        email: r.try_get("email")?,
        name: r.try_get("name")?,
        role: r.try_get("role")?,
        manager_id: r.try_get("manager_id")?,
        time_zone: r.try_get("time_zone")?,
    })
}
