//! POST /v1/deals/score: the design's request body (`deal_amount`, `sales_cycle_days`, …) or
//! just `deal_id` for a stored deal, answered in the design's shape plus our extra detail.
use super::audit;
use super::extract::ApiJson;
use super::valid;
use crate::app::AppState;
use crate::auth::{Caller, Role, scope_from};
use crate::domain::deal::{MAX_AGE_YEARS, plausible_amount, plausible_created};
use crate::domain::{Deal, DealScore, FactorCode, Priority, RiskCategory, RiskFactor};
use crate::http_error::{ApiError, ApiResult};
use crate::service::models::ModelSource;
use axum::extract::State;
use axum::{Extension, Json};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Longest sales cycle we accept (ten years): older deals fail the created-date bound anyway.
pub const MAX_CYCLE_DAYS: i64 = 3650;

/// A deal's fields to score as sent, or just `deal_id` to score the stored deal.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreRequest {
    pub deal_id: String,
    /// Scoring date (default: `created_date + sales_cycle_days` when both are sent, else today).
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
    pub deal_amount: Option<f64>,
    /// Days the deal has been open so far (the design's field).
    pub sales_cycle_days: Option<i64>,
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
            && self.deal_amount.is_none()
            && self.sales_cycle_days.is_none()
            && self.company.is_none()
            && self.deal_name.is_none()
            && self.owner_email.is_none()
            && self.last_activity_date.is_none()
            && self.stage_entered_date.is_none()
            && self.close_date_pushes.is_none()
            && self.amount_cut_pct.is_none()
    }

    /// Every string field is checked the same way (no control characters, 1-200 chars).
    fn check_text(&self) -> ApiResult<()> {
        valid::id("deal_id", &self.deal_id)?;
        if let Some(v) = &self.sales_rep_id {
            valid::id("sales_rep_id", v)?;
        }
        for (field, v) in [
            ("industry", &self.industry),
            ("region", &self.region),
            ("product_type", &self.product_type),
            ("lead_source", &self.lead_source),
            ("deal_stage", &self.deal_stage),
            ("company", &self.company),
            ("deal_name", &self.deal_name),
            ("owner_email", &self.owner_email),
        ] {
            if let Some(v) = v {
                valid::text(field, v)?;
            }
        }
        Ok(())
    }

    /// The scoring date: `as_of`, else created + cycle, else today. When both are sent they
    /// must agree, so the deal's age is never ambiguous.
    fn scoring_date(&self, today: NaiveDate) -> ApiResult<NaiveDate> {
        if let Some(n) = self.sales_cycle_days
            && !(0..=MAX_CYCLE_DAYS).contains(&n)
        {
            return Err(ApiError::invalid_field(
                "sales_cycle_days",
                format!("sales_cycle_days must be between 0 and {MAX_CYCLE_DAYS}"),
            ));
        }
        let implied = self
            .created_date
            .zip(self.sales_cycle_days)
            .and_then(|(c, n)| c.checked_add_days(chrono::Days::new(n as u64)));
        let as_of = match (self.as_of, implied) {
            (Some(a), Some(i)) if a != i => {
                return Err(ApiError::invalid_field(
                    "sales_cycle_days",
                    format!(
                        "sales_cycle_days says the deal is scored on {i}, as_of says {a}; send one or make them agree"
                    ),
                ));
            }
            (Some(a), _) => a,
            (None, Some(i)) => i,
            (None, None) => today,
        };
        valid::as_of(as_of)?;
        Ok(as_of)
    }

    /// The deal as sent; every missing required field is named.
    fn into_deal(self, caller: &Caller, as_of: NaiveDate) -> ApiResult<Deal> {
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
        let amount = need!(deal_amount);
        let (
            Some(created_date),
            Some(industry),
            Some(region),
            Some(lead_source),
            Some(deal_stage),
            Some(amount),
        ) = (
            created_date,
            industry,
            region,
            lead_source,
            deal_stage,
            amount,
        )
        else {
            return Err(ApiError::Validation {
                status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                message: format!(
                    "Missing required field: {}: send all deal fields, or only deal_id to score a stored deal",
                    missing.join(", ")
                ),
                details: Some(serde_json::json!({
                    "field": missing[0], "constraint": "required", "missing": missing
                })),
            });
        };
        if !plausible_amount(amount) {
            return Err(ApiError::invalid_field(
                "deal_amount",
                "deal_amount must be greater than 0 and less than 10,000,000 (as for imports)",
            ));
        }
        if !plausible_created(created_date, as_of) {
            return Err(ApiError::invalid_field(
                "created_date",
                format!(
                    "created_date {created_date} must be on or before {as_of} and at most {MAX_AGE_YEARS} years before it"
                ),
            ));
        }
        for (field, d) in [
            ("last_activity_date", self.last_activity_date),
            ("stage_entered_date", self.stage_entered_date),
        ] {
            if let Some(d) = d {
                valid::date_between(field, d, created_date, as_of)?;
            }
        }
        if let Some(d) = self.closed_date {
            let latest = as_of
                .checked_add_months(chrono::Months::new(12 * MAX_AGE_YEARS as u32))
                .unwrap_or(NaiveDate::MAX);
            valid::date_between("closed_date", d, created_date, latest)?;
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
        if self.close_date_pushes.is_some_and(|n| n > 1000) {
            return Err(ApiError::invalid_field(
                "close_date_pushes",
                "close_date_pushes must be at most 1000",
            ));
        }
        Ok(Deal {
            deal_id: self.deal_id,
            created_date,
            closed_date: self.closed_date,
            sales_rep_id: self.sales_rep_id.unwrap_or_else(|| caller.sub.clone()),
            industry,
            region,
            product_type: self.product_type.unwrap_or_else(|| "Core".into()),
            lead_source,
            deal_stage,
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

/// One risk factor: the design's `{factor, impact, description}` plus our stable code, the
/// effect in percentage points of win probability, and whether a rule added it.
#[derive(Debug, Serialize)]
pub struct FactorOut {
    pub factor: String,
    /// Contribution to the log-odds of losing (positive raises risk).
    pub impact: f64,
    pub description: String,
    pub code: FactorCode,
    pub impact_pp: f64,
    pub rule_based: bool,
}

#[derive(Debug, Serialize)]
pub struct RecommendationOut {
    pub priority: Priority,
    pub action: String,
    pub rationale: String,
    pub rule: String,
}

#[derive(Debug, Serialize)]
pub struct SimilarOut {
    pub deal_id: String,
    /// The won deal's company, or its deal id when the CRM gave no company.
    pub company: String,
    pub outcome: &'static str,
    /// What the history records about how it closed (we do not track sales actions).
    pub action_taken: String,
    pub similarity_score: f64,
    pub industry: String,
    pub lead_source: String,
    pub amount: f64,
    pub sales_cycle_days: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct ScoreResponse {
    pub deal_id: String,
    pub risk_score: u8,
    pub risk_category: RiskCategory,
    pub win_probability: f64,
    pub confidence: f64,
    pub risk_factors: Vec<FactorOut>,
    pub recommendations: Vec<RecommendationOut>,
    pub similar_deals: Vec<SimilarOut>,
    pub scored_at: String,
    pub model_version: String,
    pub degraded: bool,
    pub as_of: NaiveDate,
    pub model_source: ModelSource,
    /// "stored" (deal read from the database) or "request" (deal sent in the body).
    pub deal_source: &'static str,
    /// Where the deal stands in the tenant's open pipeline (issue 16).
    pub relative_risk: super::standing::RelativeRiskOut,
    /// The low-skill line when the model's measured skill is low; null when skill is fine.
    pub model_skill_note: Option<&'static str>,
}

/// The short name of a factor as the design writes them ("Partner lead source").
pub fn factor_label(f: &RiskFactor, deal: &Deal) -> String {
    match f.code {
        FactorCode::Industry => format!("{} industry", deal.industry),
        FactorCode::ProductType => format!("{} product", deal.product_type),
        FactorCode::LeadSource => format!("{} lead source", deal.lead_source),
        FactorCode::Region => format!("{} region", deal.region),
        FactorCode::DealSize => "Deal size".into(),
        FactorCode::DealAge => "Long sales cycle".into(),
        FactorCode::Timing => "Quarter timing".into(),
        FactorCode::Inactivity => "No recent activity".into(),
        FactorCode::StageStall => "Stalled in stage".into(),
        FactorCode::CloseDatePushes => "Close date pushed".into(),
        FactorCode::AmountCut => "Amount reduced".into(),
    }
}

/// Zero stays zero: JSON has no use for `-0.0`.
fn plain(x: f64) -> f64 {
    if x == 0.0 { 0.0 } else { x }
}

impl ScoreResponse {
    fn new(
        score: DealScore,
        deal: &Deal,
        as_of: NaiveDate,
        source: ModelSource,
        deal_source: &'static str,
        standing: (super::standing::RelativeRiskOut, Option<&'static str>),
        scored_at: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        ScoreResponse {
            relative_risk: standing.0,
            model_skill_note: standing.1,
            risk_factors: score
                .risk_factors
                .iter()
                .map(|f| FactorOut {
                    factor: factor_label(f, deal),
                    impact: plain(f.impact),
                    description: f.description.clone(),
                    code: f.code,
                    impact_pp: plain(f.impact_pp),
                    rule_based: f.rule_based,
                })
                .collect(),
            recommendations: score
                .recommendations
                .into_iter()
                .map(|r| RecommendationOut {
                    priority: r.priority,
                    action: r.action.into_owned(),
                    rationale: r.rationale.into_owned(),
                    rule: r.rule.into_owned(),
                })
                .collect(),
            similar_deals: score
                .similar_deals
                .into_iter()
                .map(|s| SimilarOut {
                    company: s.company.unwrap_or_else(|| s.deal_id.clone()),
                    outcome: "won",
                    action_taken: match s.sales_cycle_days {
                        Some(n) => format!("Closed won after {n} days"),
                        None => "Closed won".into(),
                    },
                    similarity_score: s.similarity,
                    deal_id: s.deal_id,
                    industry: s.industry,
                    lead_source: s.lead_source,
                    amount: s.amount,
                    sales_cycle_days: s.sales_cycle_days,
                })
                .collect(),
            deal_id: score.deal_id,
            risk_score: score.risk_score,
            risk_category: score.risk_category,
            win_probability: plain(score.win_probability),
            confidence: plain(score.confidence),
            scored_at: crate::store::format_ts(scored_at),
            model_version: score.model_version,
            degraded: score.degraded,
            as_of,
            model_source: source,
            deal_source,
        }
    }
}

pub async fn score(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<ScoreRequest>,
) -> ApiResult<Json<ScoreResponse>> {
    req.check_text()?;
    let now = st.clock.now();
    let as_of = req.scoring_date(now.date_naive())?;
    let (deal, deal_source) = if req.is_reference() {
        (
            stored_open_deal(&st, &caller, &req.deal_id, as_of).await?,
            "stored",
        )
    } else {
        (req.into_deal(&caller, as_of)?, "request")
    };
    let loaded = st.scorers.get(&st.store, &caller.tenant).await?;
    let started = Instant::now();
    let mut score = loaded.scorer.score(&deal, as_of);
    loaded.similar.fill(&deal, as_of, &mut score);
    let crate::service::standing::Standing { ranks, bands } = st
        .standing
        .get(&st.store, &caller.tenant, &loaded.scorer, as_of)
        .await?;
    // The tenant's own band edges, when it set them (the design's otherwise), as the batch run.
    if let Some(b) = bands {
        score.risk_category = b.category(score.risk_score);
    }
    let standing = (ranks.of(&score).into(), loaded.scorer.skill_line());
    // Registered once, not looked up in the recorder per request.
    static SCORE_SECONDS: std::sync::OnceLock<metrics::Histogram> = std::sync::OnceLock::new();
    SCORE_SECONDS
        .get_or_init(|| metrics::histogram!("skygeni_score_duration_seconds", "path" => "api"))
        .record(started.elapsed().as_secs_f64());
    audit(
        &st,
        &caller,
        "deal.score",
        Some(&deal.deal_id),
        Some(serde_json::json!({"deal_source": deal_source, "risk_score": score.risk_score})),
    )
    .await?;
    Ok(Json(ScoreResponse::new(
        score,
        &deal,
        as_of,
        loaded.source,
        deal_source,
        standing,
        now,
    )))
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
