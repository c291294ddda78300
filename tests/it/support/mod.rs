//! The integration tests' one harness. [`TestApp`] is the application served over real HTTP
//! on 127.0.0.1:0 with its own fresh database ([`TestDb`]: SQLite or PostgreSQL, as
//! `scripts/test` picks); [`AppBuilder`] adds what a test needs: settings, the fake Slack,
//! Salesforce org and SendGrid (crate `skygeni-fakes`) wired into those settings, the outbox
//! dispatcher. Helpers cover what tests set up again and again: tokens per role, signed Slack
//! requests, generated and seed deals, users, a small trained model.
//!
//! Three subjects need fixtures of their own on top, each a thin wrapper that derefs to its
//! [`TestApp`]: [`SlackApp`] (the Acme workspace), [`AlertHarness`] (a rep, a manager and a
//! deal to alert on) and [`Org`] (a connected org of Opportunities).
mod alerts;
mod app;
mod data;
mod db;
mod fakes;
mod salesforce;
mod slack;
mod slack_app;

pub use alerts::AlertHarness;
pub use app::{JWT_SECRET, TestApp, read};
pub use data::{
    HEADER, add_user, generated_deals, generated_rows, logistic_only, score, seed_csv, t,
    train_small_model, utc,
};
pub use db::TestDb;
pub use fakes::{SLACK_BOT_TOKEN, bare_email, fakes_and_dispatcher, links, start_sendgrid};
pub use salesforce::{
    Org, connect, json_body, jwt_key_path, now, org, salesforce_app, signed, skygeni_sync,
    sync_context,
};
pub use slack::{SIGNING_SECRET, TEAM, block_actions, view_submission};
pub use slack_app::{SlackApp, tenant};

/// The Prometheus text a running app serves on `/metrics` (`base` = `http://127.0.0.1:PORT`).
pub async fn metrics_text(client: &reqwest::Client, base: &str) -> String {
    client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
