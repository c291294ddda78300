//! Batch scoring of a tenant's open deals: chunks of 1,000, bulk writes of history and
//! current scores.
use super::models::{LoadedScorer, ModelSource, load_scorer};
use crate::domain::{Deal, DealScore, TenantId};
use crate::engine::PipelineRanks;
use crate::notify::outbox::AlertContext;
use crate::notify::planner::AlertPolicy;
use crate::store::Store;
use chrono::NaiveDate;
use std::time::{Duration, Instant};

pub const CHUNK: usize = 1_000;

/// What a batch run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BatchSummary {
    pub tenant: String,
    pub as_of: NaiveDate,
    pub deals_scored: usize,
    pub model_version: String,
    pub model_source: ModelSource,
    pub note: String,
    pub degraded: bool,
    pub score_secs: f64,
    pub write_secs: f64,
    pub deals_per_sec: f64,
}

/// Score every open deal of the tenant as of `as_of` and store the results.
/// `progress(done, total)` is called after each chunk and during the write.
pub async fn score_open_deals(
    store: &Store,
    tenant: &TenantId,
    as_of: NaiveDate,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> anyhow::Result<(BatchSummary, Vec<Deal>, Vec<DealScore>, LoadedScorer)> {
    let started = Instant::now();
    let history = store.load_deals(tenant).await?;
    let loaded = load_scorer(store, tenant, &history).await?;
    let open: Vec<Deal> = history.into_iter().filter(|d| d.is_open()).collect();
    let bands = store.risk_bands(tenant).await?;
    let total = open.len() as u64 * 2;
    let mut scores = Vec::with_capacity(open.len());
    for chunk in open.chunks(CHUNK) {
        let mut part = loaded.scorer.score_batch(chunk, as_of);
        for (deal, s) in chunk.iter().zip(part.iter_mut()) {
            loaded.similar.fill(deal, as_of, s);
            // The tenant's own band edges, when it set them (the design's otherwise).
            if let Some(b) = &bands {
                s.risk_category = b.category(s.risk_score);
            }
        }
        scores.extend(part);
        progress(scores.len() as u64, total);
    }
    let score_time = started.elapsed();
    let t = Instant::now();
    let n = open.len() as u64;
    // The whole open pipeline was scored: each alert can say where its deal stands in it.
    let ranks = PipelineRanks::from_scores(&scores, loaded.scorer.stats().overall_win_rate);
    let context = AlertContext {
        relative: scores
            .iter()
            .map(|s| (s.deal_id.clone(), ranks.of(s)))
            .collect(),
        skill_line: loaded.scorer.skill_line().map(str::to_string),
    };
    store
        .record_scores(
            tenant,
            store.now(),
            &scores,
            &AlertPolicy::new(context),
            &mut |w| progress(n + w, total),
        )
        .await?;
    let write_time = t.elapsed();
    let summary = BatchSummary {
        tenant: tenant.to_string(),
        as_of,
        deals_scored: scores.len(),
        model_version: loaded.scorer.version().to_string(),
        model_source: loaded.source,
        note: loaded.note.clone(),
        degraded: loaded.source == ModelSource::Degraded,
        score_secs: score_time.as_secs_f64(),
        write_secs: write_time.as_secs_f64(),
        deals_per_sec: scores.len() as f64
            / (score_time + write_time)
                .max(Duration::from_micros(1))
                .as_secs_f64(),
    };
    Ok((summary, open, scores, loaded))
}

/// Score only `deal_ids` (those still open) as of `as_of` and store the results through
/// `record_scores`, like the batch run: the webhook's path for a few changed deals. Also
/// returns the tenant's overall win rate (for relative risk).
pub async fn score_deals(
    store: &Store,
    tenant: &TenantId,
    deal_ids: &[String],
    as_of: NaiveDate,
) -> anyhow::Result<(Vec<Deal>, Vec<DealScore>, f64)> {
    let history = store.load_deals(tenant).await?;
    let loaded = load_scorer(store, tenant, &history).await?;
    let wanted: std::collections::HashSet<&str> = deal_ids.iter().map(String::as_str).collect();
    let open: Vec<Deal> = history
        .into_iter()
        .filter(|d| d.is_open() && wanted.contains(d.deal_id.as_str()))
        .collect();
    let mut scores = loaded.scorer.score_batch(&open, as_of);
    for (deal, s) in open.iter().zip(scores.iter_mut()) {
        loaded.similar.fill(deal, as_of, s);
    }
    if !scores.is_empty() {
        // Only a few deals were scored, so no pipeline standing; the skill line still applies.
        let context = AlertContext {
            relative: Default::default(),
            skill_line: loaded.scorer.skill_line().map(str::to_string),
        };
        store
            .record_scores(
                tenant,
                store.now(),
                &scores,
                &AlertPolicy::new(context),
                &mut |_| {},
            )
            .await?;
    }
    Ok((open, scores, loaded.scorer.stats().overall_win_rate))
}
