//! Pipeline metrics for a tenant from stored scores (the `skygeni metrics` and
//! GET /v1/pipeline/metrics numbers), with 7-day trends from score history.
use super::models::{LoadedScorer, load_scorer};
use crate::domain::{Deal, DealScore, TenantId};
use crate::engine::{PipelineMetrics, pipeline_metrics};
use crate::store::Store;
use chrono::NaiveDate;
use std::collections::HashMap;

/// Metrics plus the open deals and scores they were computed from (highest risk first).
pub struct PipelineView {
    pub metrics: PipelineMetrics,
    pub deals: Vec<Deal>,
    pub scores: Vec<DealScore>,
    /// Open deals that had no stored score and were scored in memory for this view.
    pub scored_in_memory: usize,
    /// The scorer's low-skill line, for surfaces that show these scores (`None`: skill is fine).
    pub skill_line: Option<&'static str>,
}

pub async fn pipeline_view(
    store: &Store,
    tenant: &TenantId,
    as_of: NaiveDate,
    save_rate: f64,
) -> anyhow::Result<PipelineView> {
    let history = store.load_deals(tenant).await?;
    let loaded = load_scorer(store, tenant, &history).await?;
    let open: Vec<Deal> = history.into_iter().filter(|d| d.is_open()).collect();
    pipeline_view_of(store, tenant, &loaded, open, as_of, save_rate).await
}

/// The view over `open` (a subset of the tenant's open deals, e.g. one team's) with an
/// already-loaded scorer: what the API uses, so a request does no model query.
pub async fn pipeline_view_of(
    store: &Store,
    tenant: &TenantId,
    loaded: &LoadedScorer,
    open: Vec<Deal>,
    as_of: NaiveDate,
    save_rate: f64,
) -> anyhow::Result<PipelineView> {
    let mut stored: HashMap<String, DealScore> = store
        .current_scores(tenant)
        .await?
        .into_iter()
        .map(|s| (s.deal_id.clone(), s.to_deal_score()))
        .collect();
    let deals = open;
    let mut scored_in_memory = 0;
    let mut pairs: Vec<(Deal, DealScore)> = deals
        .into_iter()
        .map(|d| {
            let s = stored.remove(&d.deal_id).unwrap_or_else(|| {
                scored_in_memory += 1;
                loaded.scorer.score(&d, as_of)
            });
            (d, s)
        })
        .collect();
    pairs.sort_by(|a, b| {
        b.1.risk_score
            .cmp(&a.1.risk_score)
            .then(b.0.amount.total_cmp(&a.0.amount))
            .then(a.0.deal_id.cmp(&b.0.deal_id))
    });
    let (deals, scores): (Vec<Deal>, Vec<DealScore>) = pairs.into_iter().unzip();
    // A week before the view's day (or before now, for today's view): a replay as of an
    // earlier date compares with the scores of the week before *that* date.
    let end_of_day = (as_of + chrono::Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    let week_ago = end_of_day.min(store.now()) - chrono::Duration::days(7);
    let in_view: std::collections::HashSet<&str> =
        deals.iter().map(|d| d.deal_id.as_str()).collect();
    let previous: Vec<DealScore> = store
        .scores_at_or_before(tenant, week_ago, week_ago - super::weekly::SNAPSHOT_WINDOW)
        .await?
        .iter()
        .filter(|s| in_view.contains(s.deal_id.as_str()))
        .map(|s| s.to_deal_score())
        .collect();
    let prev = (!previous.is_empty()).then_some(previous.as_slice());
    let metrics = pipeline_metrics(
        &deals,
        &scores,
        loaded.scorer.stats(),
        as_of,
        prev,
        save_rate,
    );
    Ok(PipelineView {
        metrics,
        deals,
        scores,
        scored_in_memory,
        skill_line: loaded.scorer.skill_line(),
    })
}
