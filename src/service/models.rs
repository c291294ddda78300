//! Which model scores a tenant: tenant production → global production → segment rates
//! (`degraded`). Scoring never stops because a model is missing or corrupt.
use crate::domain::{Deal, ModelScope, TenantId};
use crate::engine::{Model, Scorer, SegmentStats, SimilarIndex, TrainConfig, TrainReport, train};
use crate::store::{NewModel, Store};
use anyhow::Context;
use chrono::NaiveDate;

/// Segments with fewer closed deals than this use the overall win rate.
pub const MIN_SEGMENT_DEALS: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelSource {
    Tenant,
    Global,
    /// No usable model: segment win rates only.
    Degraded,
}

/// A ready scorer for one tenant plus what every surface must say about it.
pub struct LoadedScorer {
    pub scorer: Scorer,
    pub source: ModelSource,
    /// Why the tenant's own model is not in use (empty when it is).
    pub note: String,
    pub similar: SimilarIndex,
}

/// Load the tenant's scorer. `history` is the tenant's deals (closed ones feed the fallback
/// segment rates and the similar-deal index).
pub async fn load_scorer(
    store: &Store,
    tenant: &TenantId,
    history: &[Deal],
) -> anyhow::Result<LoadedScorer> {
    let closed: Vec<Deal> = history
        .iter()
        .filter(|d| d.outcome.is_some())
        .cloned()
        .collect();
    let stats = SegmentStats::from_closed(&closed, MIN_SEGMENT_DEALS);
    let similar = SimilarIndex::build(&closed);
    let mut notes = Vec::new();
    for (scope, source) in [
        (ModelScope::Tenant(tenant.clone()), ModelSource::Tenant),
        (ModelScope::Global, ModelSource::Global),
    ] {
        match production_model(store, &scope).await {
            Ok(Some(model)) => {
                set_degraded_gauge(tenant, false);
                let note = notes.join("; ");
                return Ok(LoadedScorer {
                    scorer: Scorer::new(Some(model), stats),
                    source,
                    note,
                    similar,
                });
            }
            Ok(None) => notes.push(format!("no {} production model", label(&scope))),
            Err(e) => {
                tracing::warn!(scope = scope.as_str(), error = %format!("{e:#}"), "model unusable, falling back");
                notes.push(format!("{} model unusable ({e:#})", label(&scope)));
            }
        }
    }
    notes.push("scoring with segment win rates (degraded)".into());
    set_degraded_gauge(tenant, true);
    Ok(LoadedScorer {
        scorer: Scorer::new(None, stats),
        source: ModelSource::Degraded,
        note: notes.join("; "),
        similar,
    })
}

/// `skygeni_model_degraded{tenant}`: 1 while the tenant's last scorer load fell back to
/// segment rates, 0 once a model loads again. Every load (API, Slack, batch, /readyz) passes
/// here, so the gauge follows the registry without a separate probe.
fn set_degraded_gauge(tenant: &TenantId, degraded: bool) {
    metrics::gauge!("skygeni_model_degraded", "tenant" => tenant.to_string()).set(if degraded {
        1.0
    } else {
        0.0
    });
}

fn label(scope: &ModelScope) -> &'static str {
    match scope {
        ModelScope::Tenant(_) => "tenant",
        ModelScope::Global => "global",
    }
}

async fn production_model(store: &Store, scope: &ModelScope) -> anyhow::Result<Option<Model>> {
    let Some(version) = store.model_alias(scope, "production").await? else {
        return Ok(None);
    };
    let json = store
        .load_model_json(scope, &version)
        .await
        .with_context(|| format!("production alias points at missing version {version}"))?;
    let model =
        Model::from_json(&json).with_context(|| format!("version {version} does not load"))?;
    Ok(Some(model))
}

/// Deals closed strictly before `as_of`: what a model trained "as of" that day may see.
pub fn closed_before(deals: &[Deal], as_of: NaiveDate) -> Vec<Deal> {
    deals
        .iter()
        .filter(|d| d.outcome.is_some() && d.closed_date.is_none_or(|c| c < as_of))
        .cloned()
        .collect()
}

/// Train on `deals` and, when a model came out, register it under `scope` as staging and
/// (unless `staging_only`) production. Returns the engine's report with the stored version.
pub async fn train_and_register(
    store: &Store,
    scope: &ModelScope,
    deals: &[Deal],
    cfg: &TrainConfig,
    staging_only: bool,
) -> anyhow::Result<TrainReport> {
    let deals = deals.to_vec();
    let cfg = cfg.clone();
    // Training is CPU-bound (cross-validation over thousands of snapshots).
    let mut report = tokio::task::spawn_blocking(move || train(&deals, &cfg)).await?;
    if let Some(model) = report.model.as_mut() {
        // Registry versions are unique: the engine's name plus the registration time.
        model.version = format!(
            "{}-{}",
            model.version,
            store.now().format("%Y%m%dT%H%M%S%3f")
        );
        let new = NewModel {
            version: &model.version,
            kind: model.kind.as_str(),
            training_from: Some(model.training_window.from.to_string()),
            training_to: Some(model.training_window.to.to_string()),
            metrics_json: serde_json::to_string(&model.metrics)?,
            artifact_json: model.to_json()?,
        };
        store.save_model(scope, &new).await?;
        store
            .set_model_alias(scope, "staging", &model.version, "trained")
            .await?;
        if !staging_only {
            store
                .set_model_alias(scope, "production", &model.version, "trained")
                .await?;
        }
    }
    Ok(report)
}
