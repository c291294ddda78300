//! Slack edge. Today: Block Kit messages the bot sends (critical alert, digest). The routes,
//! slash commands and interactivity arrive with the Slack issue.
pub mod blocks;
