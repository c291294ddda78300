//! Where a deal stands in its tenant's open pipeline (issue 16's relative risk) and the
//! tenant's band edges, shared by every surface that shows a score next to its standing.
//!
//! Ranking a deal needs the P(lost) of every open deal of the tenant: on a 100k-deal tenant
//! that is ~60k stored scores (or, before the first batch run, ~60k live scores). Doing it per
//! request made `/deal-risk` miss Slack's 3 s window at 50 concurrent users and cost the API
//! most of its throughput, so the result is kept per tenant for [`STANDING_TTL`] and computed
//! once per expiry however many requests arrive together.
use crate::domain::{RiskBands, TenantId};
use crate::engine::{PipelineRanks, Scorer};
use crate::store::Store;
use chrono::NaiveDate;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a tenant's ranks and band edges are reused. Scores change in batches (nightly,
/// webhooks) and bands by an admin; a percentile up to this old is still the deal's standing.
pub const STANDING_TTL: Duration = Duration::from_secs(30);

/// A tenant's open pipeline ranks and its band edges (`None`: the design's bands).
#[derive(Clone)]
pub struct Standing {
    pub ranks: Arc<PipelineRanks>,
    pub bands: Option<RiskBands>,
}

#[derive(Clone)]
struct Cached {
    at: Instant,
    overall_win_rate: f64,
    standing: Standing,
}

/// One tenant's entry: the last standing computed, and a lock held by whoever recomputes it.
#[derive(Default)]
struct Slot {
    value: Mutex<Option<Cached>>,
    refresh: tokio::sync::Mutex<()>,
}

/// Per-tenant [`Standing`], kept [`STANDING_TTL`]. A tenant's first request computes it (and
/// concurrent first requests wait for that one); after expiry one request recomputes it while
/// the others keep answering with the previous standing, so nobody stalls every 30 s.
#[derive(Default)]
pub struct StandingCache {
    slots: Mutex<HashMap<TenantId, Arc<Slot>>>,
}

impl StandingCache {
    /// The tenant's standing against its usual loss rate (`scorer`'s overall win rate): from
    /// the stored current scores of its open deals, or, when none were stored yet, from
    /// `scorer` applied to its open deals as of `as_of`.
    pub async fn get(
        &self,
        store: &Store,
        tenant: &TenantId,
        scorer: &Scorer,
        as_of: NaiveDate,
    ) -> anyhow::Result<Standing> {
        let overall_win_rate = scorer.stats().overall_win_rate;
        let slot = self
            .slots
            .lock()
            .expect("standing cache lock")
            .entry(tenant.clone())
            .or_default()
            .clone();
        // A standing for another model (another overall win rate) is not served even stale.
        let cached = slot
            .value
            .lock()
            .expect("standing slot lock")
            .clone()
            .filter(|c| c.overall_win_rate == overall_win_rate);
        let _refreshing = match cached {
            Some(c) if c.at.elapsed() < STANDING_TTL => return Ok(c.standing),
            Some(c) => match slot.refresh.try_lock() {
                Ok(guard) => guard,
                // Someone is recomputing it: the previous standing is still the deal's place.
                Err(_) => return Ok(c.standing),
            },
            None => {
                let guard = slot.refresh.lock().await;
                let filled = slot.value.lock().expect("standing slot lock").clone();
                if let Some(c) = filled.filter(|c| {
                    c.overall_win_rate == overall_win_rate && c.at.elapsed() < STANDING_TTL
                }) {
                    return Ok(c.standing);
                }
                guard
            }
        };
        let standing = compute(store, tenant, scorer, overall_win_rate, as_of).await?;
        *slot.value.lock().expect("standing slot lock") = Some(Cached {
            at: Instant::now(),
            overall_win_rate,
            standing: standing.clone(),
        });
        Ok(standing)
    }

    /// Forgets a tenant's standing (after its bands change), so the next request reads anew.
    pub fn invalidate(&self, tenant: &TenantId) {
        self.slots
            .lock()
            .expect("standing cache lock")
            .remove(tenant);
    }
}

async fn compute(
    store: &Store,
    tenant: &TenantId,
    scorer: &Scorer,
    overall_win_rate: f64,
    as_of: NaiveDate,
) -> anyhow::Result<Standing> {
    let stored = store.current_scores(tenant).await?;
    let p_lost: Vec<f64> = if stored.is_empty() {
        // Only P(lost) is needed: the allocation-free core score, no sentences. Written as
        // `1 − win_probability`, exactly as a shown score is placed, so a deal ties with itself.
        store
            .load_open_deals(tenant)
            .await?
            .iter()
            .map(|d| 1.0 - (1.0 - scorer.score_core(d, as_of).p_lost))
            .collect()
    } else {
        stored.iter().map(|s| 1.0 - s.win_probability).collect()
    };
    Ok(Standing {
        ranks: Arc::new(PipelineRanks::new(p_lost, overall_win_rate)),
        bands: store.risk_bands(tenant).await?,
    })
}
