//! GET /v1/deals/high-risk: the caller's visible open deals in the requested risk categories,
//! in the design's shape (`deals[]`, `pagination`, `summary`) plus extra detail per deal.
use super::audit;
use super::extract::ApiQuery;
use crate::app::AppState;
use crate::auth::{Caller, deal_scope};
use crate::domain::RiskCategory;
use crate::engine::PipelineRanks;
use crate::http_error::{ApiError, ApiResult};
use crate::store::{HighRiskQuery, HighRiskSort, ScoredDealRow};
use axum::extract::State;
use axum::{Extension, Json};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HighRiskParams {
    /// One category or a comma-separated list (default `high,critical`).
    pub risk_category: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub sort_by: Option<String>,
    pub order: Option<String>,
}

/// Deepest page offset: far beyond any tenant's open deals, and no overflow in `has_more`.
pub const MAX_OFFSET: i64 = 1_000_000;

/// One listed deal: the design's fields first, then ours.
#[derive(Debug, Serialize)]
pub struct HighRiskDeal {
    pub deal_id: String,
    /// The account name; the deal name, else the deal id, when the CRM gave none.
    pub company: String,
    pub amount: f64,
    pub risk_score: i64,
    pub risk_category: String,
    /// The rep's name from the users table, else their id.
    pub rep_name: String,
    pub rep_id: String,
    pub days_in_pipeline: i64,
    pub current_stage: String,
    /// The last recorded activity (midnight UTC of its date), else the creation date.
    pub last_activity: String,
    pub deal_name: Option<String>,
    pub owner_email: Option<String>,
    pub industry: String,
    pub region: String,
    pub product_type: String,
    pub lead_source: String,
    pub created_date: String,
    pub win_probability: f64,
    pub model_version: Option<String>,
    pub scored_at: Option<String>,
    /// Where the deal stands in the tenant's open pipeline (issue 16).
    pub relative_risk: super::standing::RelativeRiskOut,
}

impl HighRiskDeal {
    fn new(d: ScoredDealRow, today: NaiveDate, ranks: &PipelineRanks) -> HighRiskDeal {
        let relative_risk = ranks.relative(1.0 - d.win_probability).into();
        let days_in_pipeline = NaiveDate::parse_from_str(&d.created_date, "%Y-%m-%d")
            .map(|c| (today - c).num_days().max(0))
            .unwrap_or(0);
        let last = d
            .last_activity_date
            .clone()
            .unwrap_or_else(|| d.created_date.clone());
        HighRiskDeal {
            company: d
                .company
                .clone()
                .or_else(|| d.deal_name.clone())
                .unwrap_or_else(|| d.deal_id.clone()),
            rep_name: d.rep_name.unwrap_or_else(|| d.sales_rep_id.clone()),
            rep_id: d.sales_rep_id,
            days_in_pipeline,
            current_stage: d.deal_stage,
            last_activity: format!("{last}T00:00:00Z"),
            deal_id: d.deal_id,
            amount: d.amount,
            risk_score: d.risk_score,
            risk_category: d.risk_category,
            deal_name: d.deal_name,
            owner_email: d.owner_email,
            industry: d.industry,
            region: d.region,
            product_type: d.product_type,
            lead_source: d.lead_source,
            created_date: d.created_date,
            win_probability: d.win_probability,
            model_version: d.model_version,
            scored_at: d.scored_at,
            relative_risk,
        }
    }
}

pub async fn high_risk(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(p): ApiQuery<HighRiskParams>,
) -> ApiResult<Json<serde_json::Value>> {
    let q = parse_high_risk(p)?;
    let scope = deal_scope(&st.store, &caller).await?;
    let page = st.store.high_risk_deals(&caller.tenant, &scope, &q).await?;
    let today = st.clock.now().date_naive();
    let returned = page.rows.len() as i64;
    let loaded = st.scorers.get(&st.store, &caller.tenant).await?;
    // Ranked in the tenant's whole open pipeline, not only the caller's scope.
    let ranks = st
        .standing
        .get(&st.store, &caller.tenant, &loaded.scorer, today)
        .await?
        .ranks;
    let deals: Vec<HighRiskDeal> = page
        .rows
        .into_iter()
        .map(|d| HighRiskDeal::new(d, today, &ranks))
        .collect();
    // The design's summary describes the at-risk pipeline (high + critical) in the caller's
    // scope, whatever the listing's filter; the listing's own count is pagination.total_count.
    let mut by_category = serde_json::Map::new();
    let mut amount_by_category = serde_json::Map::new();
    let (mut at_risk_deals, mut at_risk_amount, mut at_risk_score_sum) = (0i64, 0.0, 0.0);
    for c in [RiskCategory::Critical, RiskCategory::High] {
        let (n, amount, score_sum) = page
            .by_category
            .iter()
            .find(|row| row.0 == c.as_str())
            .map_or((0, 0.0, 0.0), |row| (row.1, row.2, row.3));
        by_category.insert(c.as_str().into(), n.into());
        amount_by_category.insert(c.as_str().into(), amount.into());
        at_risk_deals += n;
        at_risk_amount += amount;
        at_risk_score_sum += score_sum;
    }
    let average = if at_risk_deals > 0 {
        (at_risk_score_sum / at_risk_deals as f64 * 10.0).round() / 10.0
    } else {
        0.0
    };
    audit(
        &st,
        &caller,
        "deals.list_high_risk",
        None,
        Some(serde_json::json!({"returned": deals.len(), "total": page.total})),
    )
    .await?;
    Ok(Json(serde_json::json!({
        "deals": deals,
        "pagination": {
            "total_count": page.total,
            "limit": q.limit,
            "offset": q.offset,
            "has_more": q.offset.saturating_add(returned) < page.total,
        },
        "summary": {
            "total_at_risk_revenue": at_risk_amount,
            "at_risk_deals": at_risk_deals,
            "average_risk_score": average,
            "deals_by_category": by_category,
            "amount_by_category": amount_by_category,
            "categories": q.categories,
        },
        "model_skill_note": loaded.scorer.skill_line(),
    })))
}

fn parse_high_risk(p: HighRiskParams) -> ApiResult<HighRiskQuery> {
    let limit = p.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            "limit must be between 1 and 200",
        ));
    }
    let offset = p.offset.unwrap_or(0);
    if !(0..=MAX_OFFSET).contains(&offset) {
        return Err(ApiError::invalid_field(
            "offset",
            "offset must be between 0 and 1,000,000",
        ));
    }
    let sort = match p.sort_by.as_deref().unwrap_or("risk_score") {
        "risk_score" => HighRiskSort::RiskScore,
        "amount" => HighRiskSort::Amount,
        "age" => HighRiskSort::Age,
        other => {
            return Err(ApiError::invalid_field(
                "sort_by",
                format!("sort_by must be risk_score, amount or age (got {other:?})"),
            ));
        }
    };
    let descending = match p.order.as_deref().unwrap_or("desc") {
        "desc" => true,
        "asc" => false,
        other => {
            return Err(ApiError::invalid_field(
                "order",
                format!("order must be asc or desc (got {other:?})"),
            ));
        }
    };
    let mut categories = Vec::new();
    // "both" is the design's word for high and critical, alone or in a list.
    let wanted = p.risk_category.as_deref().unwrap_or("both");
    for c in wanted.split(',') {
        let named: &[RiskCategory] = match c {
            "both" => &[RiskCategory::High, RiskCategory::Critical],
            "low" => &[RiskCategory::Low],
            "medium" => &[RiskCategory::Medium],
            "high" => &[RiskCategory::High],
            "critical" => &[RiskCategory::Critical],
            _ => &[],
        };
        for k in named {
            if !categories.contains(&k.as_str().to_string()) {
                categories.push(k.as_str().to_string());
            }
        }
        if named.is_empty() {
            return Err(ApiError::invalid_field(
                "risk_category",
                format!(
                    "risk_category must be low, medium, high, critical, both, or a comma-separated list (got {c:?})"
                ),
            ));
        }
    }
    Ok(HighRiskQuery {
        categories,
        sort,
        descending,
        limit,
        offset,
    })
}
