//! POST /v1/deals/score and GET /v1/deals/high-risk.
use super::audit;
use super::auth::{Caller, Role, deal_scope, scope_from};
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery};
use crate::domain::{Deal, DealScore, RiskCategory};
use crate::http::AppState;
use crate::jobs::models::ModelSource;
use crate::store::{HighRiskQuery, HighRiskSort, ScoredDealRow};
use axum::extract::State;
use axum::{Extension, Json};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// A deal's fields to score as sent, or just `deal_id` to score the stored deal.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreRequest {
    pub deal_id: String,
    /// Scoring date (default: today, UTC).
    pub as_of: Option<NaiveDate>,
    pub created_date: Option<NaiveDate>,
    /// Expected close date.
    pub closed_date: Option<NaiveDate>,
    pub sales_rep_id: Option<String>,
    pub industry: Option<String>,
    pub region: Option<String>,
    pub product_type: Option<String>,
    pub lead_source: Option<String>,
    pub deal_stage: Option<String>,
    pub amount: Option<f64>,
    pub company: Option<String>,
    pub deal_name: Option<String>,
    pub owner_email: Option<String>,
    pub last_activity_date: Option<NaiveDate>,
    pub stage_entered_date: Option<NaiveDate>,
    pub close_date_pushes: Option<u32>,
    pub amount_cut_pct: Option<f64>,
}

impl ScoreRequest {
    fn is_reference(&self) -> bool {
        self.created_date.is_none()
            && self.closed_date.is_none()
            && self.sales_rep_id.is_none()
            && self.industry.is_none()
            && self.region.is_none()
            && self.product_type.is_none()
            && self.lead_source.is_none()
            && self.deal_stage.is_none()
            && self.amount.is_none()
            && self.company.is_none()
            && self.deal_name.is_none()
            && self.owner_email.is_none()
            && self.last_activity_date.is_none()
            && self.stage_entered_date.is_none()
            && self.close_date_pushes.is_none()
            && self.amount_cut_pct.is_none()
    }

    /// The deal as sent; every missing required field is named.
    fn into_deal(self, caller: &Caller) -> ApiResult<Deal> {
        let mut missing = Vec::new();
        macro_rules! need {
            ($f:ident) => {
                match self.$f {
                    Some(v) => Some(v),
                    None => {
                        missing.push(stringify!($f));
                        None
                    }
                }
            };
        }
        let created_date = need!(created_date);
        let industry = need!(industry);
        let region = need!(region);
        let lead_source = need!(lead_source);
        let deal_stage = need!(deal_stage);
        let amount = need!(amount);
        if !missing.is_empty() {
            return Err(ApiError::Validation {
                status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                message: format!(
                    "missing field(s) {}: send all deal fields, or only deal_id to score a stored deal",
                    missing.join(", ")
                ),
                details: Some(serde_json::json!({"field": missing[0], "missing": missing})),
            });
        }
        let amount = amount.expect("checked");
        if !amount.is_finite() || amount < 0.0 {
            return Err(ApiError::invalid_field(
                "amount",
                "amount must be a non-negative number",
            ));
        }
        if self
            .amount_cut_pct
            .is_some_and(|p| !(0.0..=1.0).contains(&p))
        {
            return Err(ApiError::invalid_field(
                "amount_cut_pct",
                "amount_cut_pct must be between 0 and 1",
            ));
        }
        Ok(Deal {
            deal_id: self.deal_id,
            created_date: created_date.expect("checked"),
            closed_date: self.closed_date,
            sales_rep_id: self.sales_rep_id.unwrap_or_else(|| caller.sub.clone()),
            industry: industry.expect("checked"),
            region: region.expect("checked"),
            product_type: self.product_type.unwrap_or_else(|| "Core".into()),
            lead_source: lead_source.expect("checked"),
            deal_stage: deal_stage.expect("checked"),
            amount,
            sales_cycle_days: None,
            outcome: None,
            company: self.company,
            deal_name: self.deal_name,
            owner_email: self.owner_email,
            last_activity_date: self.last_activity_date,
            stage_entered_date: self.stage_entered_date,
            close_date_pushes: self.close_date_pushes,
            amount_cut_pct: self.amount_cut_pct,
        })
    }
}

#[derive(Debug, Serialize)]
pub struct ScoreResponse {
    #[serde(flatten)]
    pub score: DealScore,
    pub as_of: NaiveDate,
    pub scored_at: String,
    pub model_source: ModelSource,
    /// "stored" (deal read from the database) or "request" (deal sent in the body).
    pub deal_source: &'static str,
}

pub async fn score(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<ScoreRequest>,
) -> ApiResult<Json<ScoreResponse>> {
    if req.deal_id.trim().is_empty() || req.deal_id.len() > 128 {
        return Err(ApiError::invalid_field(
            "deal_id",
            "deal_id must be 1-128 characters",
        ));
    }
    let as_of = req.as_of.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let (deal, deal_source) = if req.is_reference() {
        (
            stored_open_deal(&st, &caller, &req.deal_id, as_of).await?,
            "stored",
        )
    } else {
        (req.into_deal(&caller)?, "request")
    };
    if deal.created_date > as_of {
        return Err(ApiError::invalid_field(
            "created_date",
            format!("created_date {} is after as_of {as_of}", deal.created_date),
        ));
    }
    let loaded = st.scorers.get(&st.store, &caller.tenant).await?;
    let started = Instant::now();
    let mut score = loaded.scorer.score(&deal, as_of);
    loaded.similar.fill(&deal, as_of, &mut score);
    metrics::histogram!("skygeni_score_duration_seconds", "path" => "api")
        .record(started.elapsed().as_secs_f64());
    audit(
        &st,
        &caller,
        "deal.score",
        Some(&deal.deal_id),
        Some(serde_json::json!({"deal_source": deal_source, "risk_score": score.risk_score})),
    )
    .await?;
    Ok(Json(ScoreResponse {
        score,
        as_of,
        scored_at: crate::store::format_ts(chrono::Utc::now()),
        model_source: loaded.source,
        deal_source,
    }))
}

/// The stored deal as it was open on `as_of`, if the caller may see it. A deal that does not
/// exist in the caller's tenant (including another tenant's) and one the caller may not see
/// get the same 404, and the attempt is audited.
async fn stored_open_deal(
    st: &AppState,
    caller: &Caller,
    deal_id: &str,
    as_of: NaiveDate,
) -> ApiResult<Deal> {
    let not_found = || ApiError::NotFound(format!("deal {deal_id} not found"));
    let team = caller.role == Role::Manager;
    let (deal, me, reports) = st
        .store
        .deal_with_viewer(&caller.tenant, deal_id, &caller.sub, team)
        .await?;
    let Some(deal) = deal else {
        audit(st, caller, "deal.not_found", Some(deal_id), None).await?;
        return Err(not_found());
    };
    if !scope_from(caller, me, reports).allows(&deal) {
        audit(
            st,
            caller,
            "deal.access_denied",
            Some(deal_id),
            Some(serde_json::json!({"role": caller.role})),
        )
        .await?;
        return Err(not_found());
    }
    match deal.as_seen_on(as_of) {
        None => Err(ApiError::invalid_field(
            "as_of",
            format!("deal {deal_id} was created after {as_of}"),
        )),
        Some(d) if !d.is_open() => Err(ApiError::invalid_field(
            "deal_id",
            format!("deal {deal_id} was already closed on {as_of}; only open deals are scored"),
        )),
        Some(d) => Ok(d),
    }
}

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

#[derive(Debug, Serialize)]
pub struct HighRiskDeal {
    #[serde(flatten)]
    pub deal: ScoredDealRow,
    pub age_days: i64,
}

pub async fn high_risk(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(p): ApiQuery<HighRiskParams>,
) -> ApiResult<Json<serde_json::Value>> {
    let q = parse_high_risk(p)?;
    let scope = deal_scope(&st.store, &caller).await?;
    let page = st.store.high_risk_deals(&caller.tenant, &scope, &q).await?;
    let today = chrono::Utc::now().date_naive();
    let deals: Vec<HighRiskDeal> = page
        .rows
        .into_iter()
        .map(|d| {
            let age_days = NaiveDate::parse_from_str(&d.created_date, "%Y-%m-%d")
                .map(|c| (today - c).num_days().max(0))
                .unwrap_or(0);
            HighRiskDeal { deal: d, age_days }
        })
        .collect();
    let mut by_category = serde_json::Map::new();
    for (cat, n, amount) in &page.by_category {
        by_category.insert(
            cat.clone(),
            serde_json::json!({"deals": n, "amount": amount}),
        );
    }
    let total_amount: f64 = page.by_category.iter().map(|c| c.2).sum();
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
        "pagination": {"limit": q.limit, "offset": q.offset, "total": page.total},
        "summary": {
            "categories": q.categories,
            "total_deals": page.total,
            "total_amount": total_amount,
            "by_category": by_category,
        },
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
    if offset < 0 {
        return Err(ApiError::invalid_field(
            "offset",
            "offset must not be negative",
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
    for c in p
        .risk_category
        .as_deref()
        .unwrap_or("high,critical")
        .split(',')
    {
        let c = c.trim();
        match RiskCategory::ALL.iter().find(|k| k.as_str() == c) {
            Some(k) if !categories.contains(&k.as_str().to_string()) => {
                categories.push(k.as_str().to_string())
            }
            Some(_) => {}
            None => {
                return Err(ApiError::invalid_field(
                    "risk_category",
                    format!("risk_category must be low, medium, high or critical (got {c:?})"),
                ));
            }
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
