//! Slack edge, grouped by job: [`client`] talks to Slack's Web API (the HTTP client, which
//! token to use, the process-wide Slack state), [`blocks`] builds every Block Kit message,
//! modal and Home view, and [`handlers`] answers what Slack sends (the routes, `/deal-risk`,
//! buttons and modal submissions, events, the OAuth install). [`signature`] checks that a
//! request comes from Slack. The ids and paths both sides share are defined here.
pub mod blocks;
pub mod client;
pub mod handlers;
pub mod signature;

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod manifest_tests;

/// Request paths Slack calls; app_manifest/manifest.yaml must point at the same ones (tested).
pub const COMMANDS_PATH: &str = "/slack/commands";
pub const INTERACTIONS_PATH: &str = "/slack/interactions";
pub const EVENTS_PATH: &str = "/slack/events";
pub const INSTALL_PATH: &str = "/slack/install";
pub const OAUTH_CALLBACK_PATH: &str = "/slack/oauth/callback";
/// The Web API client and the runtime, named by the alert dispatcher, the app state and tests.
pub use client::{Posted, RetryPolicy, SlackApi, SlackError, SlackRuntime};

pub const SLASH_COMMAND: &str = "/deal-risk";

/// Bot scopes the code needs: `commands` (slash command), `chat:write` (alerts, digests),
/// `im:write` (open the DM), `im:history` (before re-sending an alert whose first attempt may
/// have arrived, look for it in the DM by its metadata), `users:read` + `users:read.email` (map Slack users to CRM owners by
/// email). No `links:*`: the bot does not unfurl links.
pub const BOT_SCOPES: &[&str] = &[
    "commands",
    "chat:write",
    "im:write",
    "im:history",
    "users:read",
    "users:read.email",
];

/// `action_id`s on buttons; the interactivity handler dispatches on these.
pub mod actions {
    pub const VIEW_DEAL: &str = "deal_view";
    pub const SNOOZE: &str = "deal_snooze";
    pub const FALSE_ALARM: &str = "deal_false_alarm";
    pub const SHARE: &str = "deal_share";
    /// A row of the pick list shown when several deals match a query.
    pub const PICK_DEAL: &str = "deal_pick";
    pub const OPEN_SETTINGS: &str = "open_settings";
    pub const REFRESH_HOME: &str = "home_refresh";
}

/// Modal `callback_id`s; `view_submission` payloads are dispatched on these.
pub mod callbacks {
    pub const SNOOZE: &str = "snooze_modal";
    pub const FALSE_ALARM: &str = "false_alarm_modal";
    pub const SETTINGS: &str = "settings_modal";
}
