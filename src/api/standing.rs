//! What the API says next to an absolute score (issue 16): where the deal stands in the
//! tenant's open pipeline (`relative_risk`) and the model's low-skill note. The ranks come
//! from [`crate::service::standing`], shared with Slack.
use crate::domain::RelativeRisk;
use serde::Serialize;

/// `relative_risk` in responses: the numbers and the sentence every other surface shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelativeRiskOut {
    /// Share of the tenant's open deals (%) with a lower P(lost); ties count half.
    pub percentile: f64,
    /// P(lost) minus the tenant's usual loss rate, in percentage points (negative: below).
    pub pp_above_typical: f64,
    pub sentence: String,
}

impl From<RelativeRisk> for RelativeRiskOut {
    fn from(r: RelativeRisk) -> Self {
        let tenth = |x: f64| {
            let v = (x * 10.0).round() / 10.0;
            if v == 0.0 { 0.0 } else { v }
        };
        RelativeRiskOut {
            percentile: tenth(r.percentile),
            pp_above_typical: tenth(r.pp_vs_typical),
            sentence: r.sentence(),
        }
    }
}
