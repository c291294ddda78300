//! What a Salesforce sync needs: its tuning ([`SyncConfig`]) and the handles to reach a
//! tenant's org ([`SyncContext`]: store, settings, HTTP client, token sealer).
use super::client::{ClientConfig, SfClient};
use super::oauth;
use crate::config::Settings;
use crate::crypto::SecretBox;
use crate::domain::TenantId;
use crate::store::{SfConnectionRow, Store};
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;

/// Tuning of a sync; [`SyncConfig::from_settings`] gives the production values.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    pub client: ClientConfig,
    /// Orgs with more Opportunities than this are pulled with Bulk API 2.0.
    pub bulk_threshold: u64,
    /// More changed scores than this are written back with one Bulk ingest job.
    pub writeback_bulk_threshold: usize,
    /// Re-read this much before the high-water mark (clock skew, long transactions).
    pub overlap: chrono::Duration,
    /// REQUEST_LIMIT_EXCEEDED defers the tenant this long.
    pub defer_for: chrono::Duration,
    /// Stopping before the daily limit defers the tenant this long.
    pub reserve_defer_for: chrono::Duration,
    pub bulk_poll: Duration,
    pub tasks_this_week: bool,
    /// A first load reads OpportunityHistory of open Opportunities changed within this window
    /// (closed deals are not scored, and older history does not move the signals).
    pub history_window: chrono::Duration,
}

impl SyncConfig {
    pub fn from_settings(s: &Settings) -> SyncConfig {
        SyncConfig {
            client: ClientConfig {
                api_version: s.salesforce_api_version.clone(),
                ..ClientConfig::default()
            },
            bulk_threshold: u64::from(s.salesforce_bulk_threshold),
            writeback_bulk_threshold: 2_000,
            overlap: chrono::Duration::minutes(5),
            defer_for: chrono::Duration::minutes(15),
            reserve_defer_for: chrono::Duration::hours(1),
            bulk_poll: Duration::from_secs(2),
            tasks_this_week: s.salesforce_tasks_this_week,
            history_window: chrono::Duration::days(730),
        }
    }
}

/// What a sync needs: the store, settings (client id/secret, login URL), an HTTP client and
/// the token sealer.
#[derive(Clone)]
pub struct SyncContext {
    pub store: Store,
    pub settings: Arc<Settings>,
    pub http: reqwest::Client,
    pub secrets: Arc<SecretBox>,
    pub config: SyncConfig,
}

impl SyncContext {
    pub fn new(store: Store, settings: Arc<Settings>, secrets: Arc<SecretBox>) -> SyncContext {
        SyncContext {
            config: SyncConfig::from_settings(&settings),
            store,
            settings,
            http: reqwest::Client::new(),
            secrets,
        }
    }

    pub fn client_for(
        &self,
        tenant: &TenantId,
        conn: &SfConnectionRow,
    ) -> anyhow::Result<SfClient> {
        let (creds, instance) =
            oauth::credentials_for(&self.settings, &self.secrets, tenant, conn)?;
        Ok(SfClient::new(
            self.http.clone(),
            self.config.client.clone(),
            creds,
            instance,
        ))
    }

    pub(super) async fn connection(&self, tenant: &TenantId) -> anyhow::Result<SfConnectionRow> {
        self.store.sf_connection(tenant).await?.with_context(|| {
            format!(
                "tenant {tenant} has no Salesforce connection: an admin must connect the org \
                 (GET /salesforce/connect, or `skygeni sync --jwt-username` for the JWT flow)"
            )
        })
    }
}
