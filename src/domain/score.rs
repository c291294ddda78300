//! What a score looks like to every consumer (Slack, Salesforce, API, CLI): risk score, category,
//! per-deal factors, recommendations and similar won deals.
use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// Risk bands on the 0–100 risk score: low 0–25, medium 26–50, high 51–75, critical 76–100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskCategory {
    Low,
    Medium,
    High,
    Critical,
}

impl RiskCategory {
    pub const ALL: [RiskCategory; 4] = [Self::Low, Self::Medium, Self::High, Self::Critical];

    pub fn from_score(score: u8) -> RiskCategory {
        match score {
            0..=25 => Self::Low,
            26..=50 => Self::Medium,
            51..=75 => Self::High,
            _ => Self::Critical,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// Attachment colour for Slack messages (red, orange, yellow, green).
    pub fn slack_color(self) -> &'static str {
        match self {
            Self::Critical => "#E01E5A",
            Self::High => "#F2952F",
            Self::Medium => "#ECB22E",
            Self::Low => "#2EB67D",
        }
    }

    /// High and critical deals are the ones we alert on and count as "at risk".
    pub fn is_at_risk(self) -> bool {
        matches!(self, Self::High | Self::Critical)
    }
}

/// What a risk factor is about. Stable codes: Slack buttons, Salesforce fields and the
/// recommendation rules key on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactorCode {
    Industry,
    ProductType,
    LeadSource,
    Region,
    DealSize,
    DealAge,
    Timing,
    Inactivity,
    StageStall,
    CloseDatePushes,
    AmountCut,
}

impl FactorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Industry => "industry",
            Self::ProductType => "product_type",
            Self::LeadSource => "lead_source",
            Self::Region => "region",
            Self::DealSize => "deal_size",
            Self::DealAge => "deal_age",
            Self::Timing => "timing",
            Self::Inactivity => "inactivity",
            Self::StageStall => "stage_stall",
            Self::CloseDatePushes => "close_date_pushes",
            Self::AmountCut => "amount_cut",
        }
    }
}

/// One reason this deal scores the way it does.
///
/// `impact` is the factor's additive contribution to the calibrated **log-odds of losing**
/// (positive = raises risk); base + all contributions = the model's log-odds output.
/// `impact_pp` is the same effect in percentage points of **win probability**:
/// `100 × (P(win) − P(win with this contribution removed))`, so a risk-raising factor has a
/// negative `impact_pp` ("costs 4.2 pp of win probability").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskFactor {
    pub code: FactorCode,
    pub impact: f64,
    pub impact_pp: f64,
    pub description: String,
    /// True when the factor was added by a rule (activity warning) rather than ranked from the
    /// model's contributions; its impact is then the model's contribution when the model knows
    /// the signal, else 0.
    pub rule_based: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Immediate,
    ThisWeek,
    Ongoing,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Immediate => "immediate",
            Self::ThisWeek => "this_week",
            Self::Ongoing => "ongoing",
        }
    }
}

/// An action for the rep. Texts are mostly static rule templates, hence `Cow`: no allocation
/// per deal unless a rule names the deal's own segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// The rule that produced it (stable; Salesforce Task external ids use it).
    pub rule: Cow<'static, str>,
    pub priority: Priority,
    pub action: Cow<'static, str>,
    pub rationale: Cow<'static, str>,
}

/// A won deal from history that looked like this one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimilarDeal {
    pub deal_id: String,
    /// The won deal's account name when the CRM gave one.
    #[serde(default)]
    pub company: Option<String>,
    pub industry: String,
    pub lead_source: String,
    pub amount: f64,
    pub sales_cycle_days: Option<i64>,
    /// 0..=1; 1 = same amount and shares every risk factor.
    pub similarity: f64,
}

/// The engine's verdict on one deal at one date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DealScore {
    pub deal_id: String,
    /// round(100 × P(lost)).
    pub risk_score: u8,
    pub risk_category: RiskCategory,
    pub win_probability: f64,
    /// 0..=1, see `engine::scorer` for its meaning.
    pub confidence: f64,
    /// Always exactly three, most risk-raising first.
    pub risk_factors: Vec<RiskFactor>,
    /// At least one.
    pub recommendations: Vec<Recommendation>,
    /// Filled by the caller via `engine::SimilarIndex` (empty until then).
    pub similar_deals: Vec<SimilarDeal>,
    pub model_version: String,
    /// True when no model could be used and the score came from segment win rates alone.
    pub degraded: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_boundaries_are_25_50_75() {
        let cases = [
            (0, RiskCategory::Low),
            (25, RiskCategory::Low),
            (26, RiskCategory::Medium),
            (50, RiskCategory::Medium),
            (51, RiskCategory::High),
            (75, RiskCategory::High),
            (76, RiskCategory::Critical),
            (100, RiskCategory::Critical),
        ];
        for (score, want) in cases {
            assert_eq!(RiskCategory::from_score(score), want, "score {score}");
        }
    }

    #[test]
    fn categories_have_distinct_slack_colours_and_names() {
        let colours: std::collections::HashSet<_> =
            RiskCategory::ALL.iter().map(|c| c.slack_color()).collect();
        assert_eq!(colours.len(), 4);
        assert_eq!(
            RiskCategory::Critical.slack_color(),
            "#E01E5A",
            "critical is red"
        );
        assert_eq!(RiskCategory::High.as_str(), "high");
    }
}
