//! The Slack bot over real HTTP: requests signed like Slack's against the real app, with the fake
//! Slack Web API (`SLACK_API_URL`) recording every call. Each test runs on SQLite or PostgreSQL.
mod app_home;
mod commands;
mod delivery;
mod escape;
mod events;
mod hostile;
mod install;
mod interactions;
mod link;
mod signing;
mod standing;

use crate::support::{SLACK_BOT_TOKEN, SlackApp, tenant};
use chrono::Utc;

/// Posts an alert as the alert dispatcher would and returns its ts.
pub async fn post_alert(app: &SlackApp, deal_id: &str) -> String {
    let deal = app.deal(deal_id).await;
    let score = skygeni::slack::handlers::scoring::score_deals(
        &app.state,
        &tenant(),
        std::slice::from_ref(&deal),
        Utc::now().date_naive(),
    )
    .await
    .unwrap()
    .remove(0);
    let msg = skygeni::slack::blocks::alert::alert_message(&deal, &score, None);
    let posted = app
        .state
        .slack
        .api
        .post_message(SLACK_BOT_TOKEN, "D0DM", &msg)
        .await
        .unwrap();
    posted.ts
}
