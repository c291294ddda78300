//! What the API says next to an absolute score (issue 16): where the deal stands in the
//! tenant's open pipeline (`relative_risk`) and the model's low-skill note.
use super::error::ApiResult;
use crate::domain::{RelativeRisk, RiskBands, TenantId};
use crate::engine::PipelineRanks;
use crate::http::AppState;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// How long a tenant's ranks and band edges are reused. Scores change in batches (nightly,
/// webhooks) and bands by an admin's CLI; reading every open deal's stored score on each
/// request instead made `POST /v1/deals/score` scan the whole pipeline (60k rows on a
/// 100k-deal tenant) per call. A percentile up to this old is still the deal's standing.
pub const STANDING_TTL: Duration = Duration::from_secs(30);

/// Per-tenant ranks of the open pipeline and the tenant's band edges, kept [`STANDING_TTL`].
#[derive(Default)]
pub struct StandingCache {
    entries: Mutex<HashMap<String, Cached>>,
}

#[derive(Clone)]
struct Cached {
    at: Instant,
    overall_win_rate: f64,
    ranks: Arc<PipelineRanks>,
    bands: Option<RiskBands>,
}

/// The tenant's open pipeline as last scored (the stored current scores), against the tenant's
/// usual loss rate, and its band edges; both from the cache when fresh.
pub async fn pipeline_standing(
    st: &AppState,
    tenant: &TenantId,
    overall_win_rate: f64,
) -> ApiResult<(Arc<PipelineRanks>, Option<RiskBands>)> {
    let key = tenant.as_str();
    if let Some(c) = st
        .standing
        .entries
        .lock()
        .ok()
        .and_then(|m| m.get(key).cloned())
        && c.at.elapsed() < STANDING_TTL
        && c.overall_win_rate == overall_win_rate
    {
        return Ok((c.ranks, c.bands));
    }
    let open = st.store.current_scores(tenant).await?;
    let ranks = Arc::new(PipelineRanks::new(
        open.iter().map(|s| 1.0 - s.win_probability),
        overall_win_rate,
    ));
    let bands = st.store.risk_bands(tenant).await?;
    if let Ok(mut m) = st.standing.entries.lock() {
        m.insert(
            key.to_string(),
            Cached {
                at: Instant::now(),
                overall_win_rate,
                ranks: ranks.clone(),
                bands,
            },
        );
    }
    Ok((ranks, bands))
}
