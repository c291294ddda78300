//! Live scores for the Slack surfaces: deals scored with the tenant's scorer (as the REST API
//! does), in the tenant's risk bands, with where each stands in the tenant's open pipeline.
use crate::app::AppState;
use crate::domain::{Deal, DealScore, TenantId};
use crate::engine::DEFAULT_SAVE_RATE;
use crate::service::metrics::{PipelineView, pipeline_view_of};
use crate::slack::blocks::card;
use crate::store::DealScope;
use chrono::NaiveDate;

/// Scores `deals` live with the tenant's scorer (as the REST API does), similar deals included,
/// each in the tenant's own risk bands when it set them (read with its cached standing, so a
/// band change applies as soon as the cache forgets the tenant).
pub async fn score_deals(
    state: &AppState,
    tenant: &TenantId,
    deals: &[Deal],
    as_of: NaiveDate,
) -> anyhow::Result<Vec<DealScore>> {
    let loaded = state.scorers.get(&state.store, tenant).await?;
    let bands = state
        .standing
        .get(&state.store, tenant, &loaded.scorer, as_of)
        .await?
        .bands;
    Ok(deals
        .iter()
        .map(|d| {
            let mut s = loaded.scorer.score(d, as_of);
            loaded.similar.fill(d, as_of, &mut s);
            if let Some(b) = &bands {
                s.risk_category = b.category(s.risk_score);
            }
            s
        })
        .collect())
}

/// One deal scored live and where it stands: what every card (lookup, details, share, the
/// card redrawn after a click) shows.
pub async fn score_with_standing(
    state: &AppState,
    tenant: &TenantId,
    deal: &Deal,
    as_of: NaiveDate,
) -> anyhow::Result<(DealScore, card::Standing)> {
    let score = score_deals(state, tenant, std::slice::from_ref(deal), as_of)
        .await?
        .remove(0);
    let standing = standing_of(state, tenant, &score, as_of).await?;
    Ok((score, standing))
}

/// Where one score stands in the tenant's whole open pipeline ("your open deals" is the
/// tenant's, not the viewer's scope, so a rep sees the same percentile as the manager) and the
/// model's low-skill line.
pub async fn standing_of(
    state: &AppState,
    tenant: &TenantId,
    score: &DealScore,
    as_of: NaiveDate,
) -> anyhow::Result<card::Standing> {
    let loaded = state.scorers.get(&state.store, tenant).await?;
    let standing = state
        .standing
        .get(&state.store, tenant, &loaded.scorer, as_of)
        .await?;
    Ok(card::Standing {
        relative: Some(standing.ranks.of(score)),
        skill_line: loaded.scorer.skill_line().map(str::to_string),
        budget_note: None,
    })
}

/// The caller's open deals with metrics, riskiest first.
pub async fn scoped_view(
    state: &AppState,
    tenant: &TenantId,
    scope: &DealScope,
    as_of: NaiveDate,
) -> anyhow::Result<PipelineView> {
    let loaded = state.scorers.get(&state.store, tenant).await?;
    let open: Vec<Deal> = state
        .store
        .load_open_deals(tenant)
        .await?
        .into_iter()
        .filter(|d| scope.allows(d))
        .collect();
    pipeline_view_of(
        &state.store,
        tenant,
        &loaded,
        open,
        as_of,
        DEFAULT_SAVE_RATE,
    )
    .await
}
