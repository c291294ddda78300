//! Per-tenant scorers kept in memory, so on-demand scoring (API, Slack) does no model query
//! per request. A tenant's scorer is loaded on first use (tenant → global → degraded, see
//! `models::load_scorer`), reused for `ttl`, and reloaded on demand with `invalidate` (after
//! training, a promotion or a rollback).
use super::models::{LoadedScorer, load_scorer};
use crate::domain::TenantId;
use crate::store::Store;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

pub struct ScorerCache {
    ttl: Duration,
    entries: RwLock<HashMap<TenantId, (Instant, Arc<LoadedScorer>)>>,
    /// Serialises loads so a burst of first requests loads a tenant's scorer once.
    loading: tokio::sync::Mutex<()>,
}

impl ScorerCache {
    pub fn new(ttl: Duration) -> ScorerCache {
        ScorerCache {
            ttl,
            entries: RwLock::new(HashMap::new()),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    fn fresh(&self, tenant: &TenantId) -> Option<Arc<LoadedScorer>> {
        let map = self.entries.read().expect("scorer cache lock");
        map.get(tenant)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, s)| s.clone())
    }

    /// The tenant's scorer, loading it when missing or older than the TTL.
    pub async fn get(&self, store: &Store, tenant: &TenantId) -> anyhow::Result<Arc<LoadedScorer>> {
        if let Some(s) = self.fresh(tenant) {
            return Ok(s);
        }
        let _guard = self.loading.lock().await;
        if let Some(s) = self.fresh(tenant) {
            return Ok(s);
        }
        let history = store.load_deals(tenant).await?;
        let loaded = Arc::new(load_scorer(store, tenant, &history).await?);
        self.entries
            .write()
            .expect("scorer cache lock")
            .insert(tenant.clone(), (Instant::now(), loaded.clone()));
        Ok(loaded)
    }

    /// Forget the tenant's scorer; the next `get` loads it again.
    pub fn invalidate(&self, tenant: &TenantId) {
        self.entries
            .write()
            .expect("scorer cache lock")
            .remove(tenant);
    }

    /// (tenant, model source, version) of every cached scorer, for /readyz.
    pub fn summary(&self) -> Vec<(String, super::models::ModelSource, String)> {
        let map = self.entries.read().expect("scorer cache lock");
        let mut v: Vec<_> = map
            .iter()
            .map(|(t, (_, s))| (t.to_string(), s.source, s.scorer.version().to_string()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}
