//! Process-wide Slack state hung on `AppState.slack`: the Web API client, the Slack-user →
//! SkyGeni-user cache, and one lock per workspace so a rotated token is refreshed once.
use super::api::SlackApi;
use super::error::SlackError;
use crate::config::Settings;
use crate::slack::handlers::identity::{CachedViewer, Viewer};
use std::collections::HashMap;
use std::sync::Arc;

/// Shared by every handler and job; cheap to reach through `state.slack`.
pub struct SlackRuntime {
    /// Web API client pointed at `SLACK_API_URL`.
    pub api: SlackApi,
    /// team id → refresh lock: the first caller refreshes, the others wait and reuse its token.
    refresh_locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// (tenant, Slack user id) → resolved user, with when it was resolved.
    identities: std::sync::Mutex<HashMap<(String, String), CachedViewer>>,
    /// team id → bound tenant (or none), with when it was read: spares a database read per
    /// Slack request. Installs and deactivations clear their entry.
    teams: std::sync::Mutex<HashMap<String, (std::time::Instant, Option<crate::domain::TenantId>)>>,
    /// Single-workspace mode: the team `SLACK_BOT_TOKEN` belongs to (`auth.test`, asked once).
    single_team: tokio::sync::OnceCell<String>,
    /// Set when Slack says `SLACK_BOT_TOKEN` was revoked or the app uninstalled: the token is
    /// not used again by this process (a restart with a new token clears it).
    single_revoked: std::sync::atomic::AtomicBool,
    /// Recently seen Events API `event_id`s (Slack retries deliveries; each is handled once),
    /// oldest first for eviction.
    seen_events: std::sync::Mutex<(
        std::collections::HashSet<String>,
        std::collections::VecDeque<String>,
    )>,
}

/// How many event ids are remembered for de-duplication (Slack retries within ~5 minutes).
pub const SEEN_EVENTS: usize = 10_000;

/// How long a team → tenant binding is reused before it is read again.
pub const TEAM_TTL: std::time::Duration = std::time::Duration::from_secs(60);

impl SlackRuntime {
    pub fn new(settings: &Settings) -> SlackRuntime {
        SlackRuntime {
            api: SlackApi::new(&settings.slack_api_url),
            refresh_locks: Default::default(),
            identities: Default::default(),
            teams: Default::default(),
            single_team: Default::default(),
            single_revoked: Default::default(),
            seen_events: Default::default(),
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
    ) -> std::sync::MutexGuard<'_, HashMap<(String, String), CachedViewer>> {
        self.identities
            .lock()
            .expect("identity cache is never poisoned: no panics while held")
    }

    pub(crate) fn remember(&self, key: (String, String), viewer: Viewer) {
        self.identities()
            .insert(key, (std::time::Instant::now(), viewer));
    }

    /// Drops a cached identity (after `/deal-risk link` or an admin re-mapping).
    pub fn forget_identity(&self, tenant: &str, slack_user_id: &str) {
        self.identities()
            .remove(&(tenant.to_string(), slack_user_id.to_string()));
    }

    fn teams(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        HashMap<String, (std::time::Instant, Option<crate::domain::TenantId>)>,
    > {
        self.teams
            .lock()
            .expect("team cache is never poisoned: no panics while held")
    }

    /// The cached binding of `team_id`: `Some(binding)` when read within [`TEAM_TTL`].
    pub(crate) fn cached_team(&self, team_id: &str) -> Option<Option<crate::domain::TenantId>> {
        self.teams()
            .get(team_id)
            .filter(|(at, _)| at.elapsed() < TEAM_TTL)
            .map(|(_, t)| t.clone())
    }

    pub(crate) fn remember_team(&self, team_id: &str, tenant: Option<crate::domain::TenantId>) {
        self.teams()
            .insert(team_id.to_string(), (std::time::Instant::now(), tenant));
    }

    /// The workspace of the single-workspace bot token, from `auth.test` on first use. Only
    /// that workspace may fall back to the default tenant: a request correctly signed with the
    /// app's secret but from any other workspace must not see the default tenant's deals.
    pub async fn single_team(&self, bot_token: &str) -> Result<&str, SlackError> {
        self.single_team
            .get_or_try_init(|| self.api.auth_test(bot_token))
            .await
            .map(String::as_str)
    }

    /// Stops using `SLACK_BOT_TOKEN` (tokens_revoked / app_uninstalled for its workspace).
    pub fn revoke_single(&self) {
        self.single_revoked
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn single_revoked(&self) -> bool {
        self.single_revoked
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// `true` the first time `event_id` is seen, `false` for a redelivery.
    pub fn first_sight(&self, event_id: &str) -> bool {
        let mut g = self
            .seen_events
            .lock()
            .expect("event id set is never poisoned: no panics while held");
        let (set, order) = &mut *g;
        if !set.insert(event_id.to_string()) {
            return false;
        }
        order.push_back(event_id.to_string());
        if order.len() > SEEN_EVENTS
            && let Some(old) = order.pop_front()
        {
            set.remove(&old);
        }
        true
    }

    /// Drops a cached team binding (after an install or a deactivation).
    pub fn forget_team(&self, team_id: &str) {
        self.teams().remove(team_id);
    }
}
