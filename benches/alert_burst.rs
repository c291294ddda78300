//! Alert burst: 10,000 critical crossings across 100 tenants (100 deals each, owner + manager,
//! Slack + email each → 40,000 deliveries) written through `record_scores`, then drained by
//! one dispatcher against the local fake Slack Web API and fake SendGrid. Reports the enqueue
//! time, the drain time and throughput, and checks the fakes saw every delivery exactly once.
//!
//! `cargo bench --bench alert_burst` (SQLite; PostgreSQL too with SKYGENI_BENCH_DATABASE_URL).
//! Env: BURST_TENANTS (100), BURST_DEALS (100 per tenant), BURST_CONCURRENCY (64).
mod common;

use skygeni::domain::TenantId;
use skygeni::jobs::burst;
use skygeni::notify::compose::Links;
use skygeni::notify::dispatcher::{DispatchConfig, Dispatcher};
use skygeni::notify::planner::AlertPolicy;
use skygeni::notify::sendgrid::SendGridClient;
use skygeni::notify::slack_dm::{BotTokens, SlackDmSender};
use skygeni::slack::SlackApi;
use skygeni::store::Store;
use skygeni_fakes::FakeServer;
use skygeni_fakes::sendgrid::FakeSendGrid;
use skygeni_fakes::slack::SlackFake;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn setup(
    store: &Store,
    tenants: usize,
    deals: usize,
    slack: &SlackFake,
) -> anyhow::Result<()> {
    for t in 0..tenants {
        let tenant = TenantId::parse(&format!("t{t:03}")).map_err(anyhow::Error::msg)?;
        for u in burst::seed_tenant(store, &tenant, t, deals, "bench.example", "UTC").await? {
            slack.add_user(&u.slack_user_id, &u.email, &u.user_id);
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let tenants = env("BURST_TENANTS", 100);
    let deals = env("BURST_DEALS", 100);
    let concurrency = env("BURST_CONCURRENCY", 64);
    let dir = tempfile::tempdir()?;
    for (backend, url) in common::bench_targets(dir.path(), "skygeni_bench_burst").await? {
        let store = Store::connect(&url).await?;
        let slack = SlackFake::new("xoxb-bench");
        let slack_server = slack.start(0).await?;
        let sendgrid = FakeSendGrid::new("SG.bench");
        let sg_server = FakeServer::start(sendgrid.router(), 0).await?;
        setup(&store, tenants, deals, &slack).await?;

        // The burst: every deal of every tenant crosses into critical in one scoring run.
        // Midday UTC, outside every recipient's quiet hours (they would hold the alerts).
        let now = chrono::DateTime::parse_from_rfc3339("2024-03-01T12:00:00Z")?.to_utc();
        let t0 = Instant::now();
        for t in 0..tenants {
            let tenant = TenantId::parse(&format!("t{t:03}")).map_err(anyhow::Error::msg)?;
            let scores = burst::critical_scores(deals, "bench");
            store
                .record_scores(&tenant, now, &scores, &AlertPolicy::default(), &mut |_| {})
                .await?;
        }
        let enqueue = t0.elapsed();

        let email = SendGridClient::new(
            &sg_server.url(),
            "SG.bench".to_string().into(),
            "bot@bench.example",
        )?;
        let chat = SlackDmSender::new(
            &SlackApi::new(&format!("{}/api", slack_server.url())),
            BotTokens::Static("xoxb-bench".into()),
        );
        let links = Links {
            salesforce_url: "https://bench.my.salesforce.com".into(),
            slack_app_id: None,
            public_url: "http://127.0.0.1".into(),
            unsubscribe: None,
        };
        let cfg = DispatchConfig {
            concurrency,
            batch: 200,
            ..DispatchConfig::default()
        };
        let d = Dispatcher::new(
            store.clone(),
            Some(Arc::new(email)),
            Some(Arc::new(chat)),
            links,
            cfg,
        )?;
        let t1 = Instant::now();
        let mut sent = 0;
        loop {
            let r = d.run_once(now).await?;
            sent += r.sent;
            if r.claimed == 0 {
                break;
            }
        }
        let drain = t1.elapsed();

        let crossings = tenants * deals;
        let mails = sendgrid.sent();
        let keys: HashSet<String> = mails
            .iter()
            .map(|m| {
                m.custom_args["skygeni_key"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        let dms = slack.count_ok("chat.postMessage");
        let dm_calls = slack.count("chat.postMessage");
        println!(
            "alert_burst[{backend}]: {crossings} crossings in {tenants} tenants -> enqueue {:.2} s; \
             drain {sent} deliveries in {:.2} s ({:.0}/s, concurrency {concurrency}); \
             fakes: {} emails ({} distinct keys), {dms} Slack DMs ({dm_calls} postMessage calls)",
            enqueue.as_secs_f64(),
            drain.as_secs_f64(),
            sent as f64 / drain.as_secs_f64().max(1e-9),
            mails.len(),
            keys.len(),
        );
        let expected = crossings * 2; // owner + manager, per channel
        anyhow::ensure!(
            mails.len() == expected && keys.len() == expected,
            "email duplicates or losses"
        );
        anyhow::ensure!(
            dms == expected && dm_calls == expected,
            "Slack duplicates or losses"
        );
        anyhow::ensure!(drain.as_secs_f64() < 30.0, "drain took longer than 30 s");
        store.close().await;
    }
    Ok(())
}
