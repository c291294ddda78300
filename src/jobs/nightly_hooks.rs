//! The nightly job's hooks in a running service: pull the tenant's Salesforce changes before
//! scoring (tenants without a connection skip it), and refresh every linked user's Slack App
//! Home after scoring so the pipeline view shows the new scores. A sync that cannot run (org
//! unavailable after the client's retries, API limit, schema halt, any other failure) flags
//! the tenant and the nightly still scores the deals already stored.
use super::scheduler::{CrmSync, HookFuture, NightlyHooks};
use crate::app::AppState;
use crate::crm::salesforce::{SyncContext, sync_tenant};
use crate::domain::TenantId;
use chrono::{DateTime, Utc};
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
    fn sync_crm<'a>(&'a self, tenant: &'a TenantId, now: DateTime<Utc>) -> HookFuture<'a, CrmSync> {
        Box::pin(async move {
            let Some(ctx) = &self.sync else {
                return Ok(CrmSync::NotConnected);
            };
            nightly_sync(ctx, tenant, now).await
        })
    }

    fn after_score<'a>(&'a self, tenant: &'a TenantId) -> HookFuture<'a> {
        Box::pin(async move {
            let users = self.state.store.slack_linked_users(tenant).await?;
            let mut published = 0usize;
            for user in &users {
                // One user's failure (left the workspace, Slack hiccup) must not stop the rest.
                match crate::slack::handlers::app_home::publish_home(&self.state, tenant, user)
                    .await
                {
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

/// The nightly's Salesforce step for one tenant (also used by tests with their own context).
/// Metrics: `skygeni_salesforce_sync_flagged{tenant}` is 1 while the tenant's last nightly
/// sync did not complete, `skygeni_salesforce_syncs_total{status}` counts outcomes.
pub async fn nightly_sync(
    ctx: &SyncContext,
    tenant: &TenantId,
    now: DateTime<Utc>,
) -> anyhow::Result<CrmSync> {
    if ctx.store.sf_connection(tenant).await?.is_none() {
        return Ok(CrmSync::NotConnected);
    }
    let result = sync_tenant(ctx, tenant, now, &mut |_, _, _| {}).await;
    let (status, outcome) = match result {
        Ok(r) if r.status.starts_with("ok") => {
            // "Sync missing > 24 h" alerts on this (docs/OPERATIONS.md).
            metrics::gauge!("skygeni_salesforce_last_sync_timestamp_seconds", "tenant" => tenant.to_string())
                .set(now.timestamp() as f64);
            let detail = format!(
                "salesforce {}: pulled {}, scored {}, wrote back {}, {} Tasks, {} API calls",
                r.status, r.pulled, r.scored, r.written_back, r.tasks_created, r.api_calls
            );
            (r.status.clone(), CrmSync::Synced(detail))
        }
        Ok(r) => {
            let detail = format!(
                "FLAGGED salesforce sync {}{}: {}",
                r.status,
                r.deferred_until
                    .map(|t| format!(" (deferred until {})", crate::store::format_ts(t)))
                    .unwrap_or_default(),
                r.detail
                    .as_deref()
                    .or(r.schema_halt.as_deref())
                    .unwrap_or("-")
            );
            (r.status.clone(), CrmSync::Skipped(detail))
        }
        Err(e) => (
            "failed".to_string(),
            CrmSync::Skipped(format!("FLAGGED salesforce sync failed: {e:#}")),
        ),
    };
    let flagged = matches!(outcome, CrmSync::Skipped(_));
    metrics::gauge!("skygeni_salesforce_sync_flagged", "tenant" => tenant.to_string())
        .set(if flagged { 1.0 } else { 0.0 });
    metrics::counter!("skygeni_salesforce_syncs_total", "status" => status.clone()).increment(1);
    if flagged {
        tracing::warn!(tenant = %tenant, status, "nightly Salesforce sync flagged; scoring stored deals");
    }
    Ok(outcome)
}
