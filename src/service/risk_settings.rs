//! A tenant's risk settings (band edges, daily alert budget) as every edge reads and changes
//! them: the stored row or the defaults, and a change that applies at once — the standing
//! cache forgets the tenant, so the next card or API score uses the new edges.
use super::standing::StandingCache;
use crate::domain::{RiskBands, RiskSettings, TenantId, check_alerts_per_day};
use crate::store::{RiskSettingsRow, Store};

/// The tenant's settings; the defaults (design's bands, five alerts) when it set none.
pub async fn current(store: &Store, tenant: &TenantId) -> anyhow::Result<RiskSettings> {
    let Some(row) = store.risk_settings(tenant).await? else {
        return Ok(RiskSettings::default());
    };
    // The table's CHECKs keep rows valid; a row that still is not falls back to the defaults
    // field by field rather than failing every surface that shows a score.
    let bands =
        RiskBands::from_edges(row.low_max, row.medium_max, row.high_max).unwrap_or_default();
    let alerts_per_day =
        check_alerts_per_day(row.alerts_per_day).unwrap_or(RiskSettings::default().alerts_per_day);
    Ok(RiskSettings {
        bands,
        alerts_per_day,
    })
}

/// Stores `new` (already checked: it is a [`RiskSettings`]) and drops the tenant's cached
/// standing in this process. `standing` is `None` for the CLI, which has no cache (a running
/// service picks the change up within `STANDING_TTL`).
pub async fn replace(
    store: &Store,
    standing: Option<&StandingCache>,
    tenant: &TenantId,
    new: RiskSettings,
) -> anyhow::Result<()> {
    let row = RiskSettingsRow {
        low_max: i64::from(new.bands.low_max),
        medium_max: i64::from(new.bands.medium_max),
        high_max: i64::from(new.bands.high_max),
        alerts_per_day: i64::from(new.alerts_per_day),
    };
    store.set_risk_settings(tenant, row).await?;
    if let Some(cache) = standing {
        cache.invalidate(tenant);
    }
    Ok(())
}
