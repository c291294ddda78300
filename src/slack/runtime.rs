//! Process-wide Slack state hung on `AppState.slack`: the Web API client, the Slack-user →
//! SkyGeni-user cache, and one lock per workspace so a rotated token is refreshed once.
use super::delivery::SlackApi;
use crate::config::Settings;
use std::collections::HashMap;
use std::sync::Arc;

/// Shared by every handler and job; cheap to reach through `state.slack`.
pub struct SlackRuntime {
    /// Web API client pointed at `SLACK_API_URL`.
    pub api: SlackApi,
    /// team id → refresh lock: the first caller refreshes, the others wait and reuse its token.
    refresh_locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// (tenant, Slack user id) → resolved user, with when it was resolved.
    identities: std::sync::Mutex<HashMap<(String, String), super::identity::CachedViewer>>,
}

impl SlackRuntime {
    pub fn new(settings: &Settings) -> SlackRuntime {
        SlackRuntime {
            api: SlackApi::new(&settings.slack_api_url),
            refresh_locks: Default::default(),
            identities: Default::default(),
        }
    }

    /// The refresh lock of one workspace.
    pub fn refresh_lock(&self, team_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.refresh_locks
            .lock()
            .expect("refresh-lock map is never poisoned: no panics while held")
            .entry(team_id.to_string())
            .or_default()
            .clone()
    }

    /// The identity cache (held briefly; never across an await).
    pub(crate) fn identities(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(String, String), super::identity::CachedViewer>> {
        self.identities
            .lock()
            .expect("identity cache is never poisoned: no panics while held")
    }

    pub(crate) fn remember(&self, key: (String, String), viewer: super::identity::Viewer) {
        self.identities()
            .insert(key, (std::time::Instant::now(), viewer));
    }

    /// Drops a cached identity (after `/deal-risk link` or an admin re-mapping).
    pub fn forget_identity(&self, tenant: &str, slack_user_id: &str) {
        self.identities()
            .remove(&(tenant.to_string(), slack_user_id.to_string()));
    }
}
