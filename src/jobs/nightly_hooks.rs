//! The nightly job's hooks in a running service: pull the tenant's Salesforce changes before
//! scoring (tenants without a connection skip it), and refresh every linked user's Slack App
//! Home after scoring so the pipeline view shows the new scores.
use super::scheduler::{HookFuture, NightlyHooks};
use crate::crm::salesforce::sync::{SyncContext, sync_tenant};
use crate::domain::TenantId;
use crate::http::AppState;
use std::sync::Arc;

pub struct LiveHooks {
    state: AppState,
    /// `None` without SKYGENI_ENCRYPTION_KEY: no Salesforce connection can exist then.
    sync: Option<SyncContext>,
}

impl LiveHooks {
    pub fn new(state: AppState) -> LiveHooks {
        let sync = state
            .secrets
            .clone()
            .map(|secrets| SyncContext::new(state.store.clone(), state.settings.clone(), secrets));
        LiveHooks { state, sync }
    }

    pub fn shared(state: AppState) -> Arc<dyn NightlyHooks> {
        Arc::new(LiveHooks::new(state))
    }
}

impl NightlyHooks for LiveHooks {
    fn sync_crm<'a>(&'a self, tenant: &'a TenantId) -> HookFuture<'a> {
        Box::pin(async move {
            let Some(ctx) = &self.sync else {
                return Ok(());
            };
            if self.state.store.sf_connection(tenant).await?.is_none() {
                return Ok(());
            }
            let now = chrono::Utc::now();
            let report = sync_tenant(ctx, tenant, now, &mut |_, _, _| {}).await?;
            if report.status == "ok" {
                // "Sync missing > 24 h" alerts on this (docs/OPERATIONS.md).
                metrics::gauge!("skygeni_salesforce_last_sync_timestamp_seconds", "tenant" => tenant.to_string())
                    .set(now.timestamp() as f64);
            }
            tracing::info!(
                tenant = %tenant, status = %report.status, pulled = report.pulled,
                written_back = report.written_back, api_calls = report.api_calls,
                "nightly Salesforce sync"
            );
            Ok(())
        })
    }

    fn after_score<'a>(&'a self, tenant: &'a TenantId) -> HookFuture<'a> {
        Box::pin(async move {
            let users = self.state.store.slack_linked_users(tenant).await?;
            let mut published = 0usize;
            for user in &users {
                // One user's failure (left the workspace, Slack hiccup) must not stop the rest.
                match crate::slack::app_home::publish_home(&self.state, tenant, user).await {
                    Ok(true) => published += 1,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(tenant = %tenant, user, error = %format!("{e:#}"), "App Home refresh failed")
                    }
                }
            }
            tracing::info!(tenant = %tenant, published, linked = users.len(), "App Home refreshed");
            Ok(())
        })
    }
}
