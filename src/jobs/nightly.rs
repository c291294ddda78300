//! The nightly score job: the CRM step first (through [`NightlyHooks`], so the scheduler
//! knows no CRM), then scoring the stored deals unless the sync already scored them, then
//! refreshing what shows scores.
use super::claim::Done;
use super::scheduler::Scheduler;
use crate::domain::TenantId;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::future::Future;
use std::pin::Pin;

/// What a hook returns (boxed: the scheduler holds its hooks as a trait object).
pub type HookFuture<'a, T = ()> = Pin<Box<dyn Future<Output = anyhow::Result<T>> + Send + 'a>>;

/// What the CRM step of a nightly run did.
#[derive(Debug, Clone, PartialEq)]
pub enum CrmSync {
    /// No CRM connected: the nightly scores the deals it has.
    NotConnected,
    /// Pulled, scored every open deal and wrote the changes back: nothing left to score.
    Synced(String),
    /// No sync tonight (CRM unavailable after retries, API limit, schema halt). The run is
    /// flagged, the deals already stored are still scored, and the next night catches up
    /// from the stored high-water mark.
    Skipped(String),
}

/// Work around the nightly score that other parts of the product own.
pub trait NightlyHooks: Send + Sync {
    /// Before scoring: pull changes from the CRM, score and write back (the sync pipeline,
    /// `crm::salesforce::sync_tenant` for tenants with a Salesforce connection).
    fn sync_crm<'a>(&'a self, tenant: &'a TenantId, now: DateTime<Utc>) -> HookFuture<'a, CrmSync>;
    /// After scoring: refresh what shows scores (Slack App Home `publish_home`).
    fn after_score<'a>(&'a self, tenant: &'a TenantId) -> HookFuture<'a>;
}

impl Scheduler {
    pub(super) async fn nightly(
        &self,
        tenant: &TenantId,
        tz: Tz,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Done> {
        let crm = match &self.hooks {
            Some(h) => h.sync_crm(tenant, now).await?,
            None => CrmSync::NotConnected,
        };
        let done = match crm {
            // The sync scored every open deal (and wrote the changes back); scoring again
            // would only add a second, identical history row per deal.
            CrmSync::Synced(detail) => Done::from(detail),
            CrmSync::NotConnected | CrmSync::Skipped(_) => {
                let as_of = now.with_timezone(&tz).date_naive();
                let (summary, ..) = crate::service::batch::score_open_deals(
                    &self.store,
                    tenant,
                    as_of,
                    &mut |_, _| {},
                )
                .await?;
                let scored = format!(
                    "scored {} deals with {} in {:.1} s",
                    summary.deals_scored,
                    summary.model_version,
                    summary.score_secs + summary.write_secs
                );
                match crm {
                    CrmSync::Skipped(why) => Done {
                        status: "flagged",
                        detail: format!("{why}; {scored} already stored (no CRM changes tonight)"),
                    },
                    _ => Done::from(scored),
                }
            }
        };
        if let Some(h) = &self.hooks {
            h.after_score(tenant).await?;
        }
        Ok(done)
    }
}
