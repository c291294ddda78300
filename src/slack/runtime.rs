//! Process-wide Slack state hung on `AppState.slack`: the Web API client and one lock per
//! workspace so a rotated token is refreshed once.
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
}

impl SlackRuntime {
    pub fn new(settings: &Settings) -> SlackRuntime {
        SlackRuntime {
            api: SlackApi::new(&settings.slack_api_url),
            refresh_locks: Default::default(),
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
}
