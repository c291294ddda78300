//! `cargo bench --bench slack_commands`: `/deal-risk <deal id>` over real HTTP on loopback —
//! POST /slack/commands signed like Slack, 50 concurrent requests, against a server with a
//! trained model and SKYGENI_BENCH_DEALS (default 100,000) deals. The caller is a rep mapped
//! to a Slack user; each answer is the full deal card (live score, factors, actions, similar
//! won deals), checked in every response.
//!
//! PostgreSQL when SKYGENI_BENCH_DATABASE_URL names an admin URL (the target the issue sets);
//! SQLite too unless SKYGENI_BENCH_SKIP_SQLITE=1. The fake Slack Web API stands in for Slack
//! (a mapped user needs no Slack call on this path). Load generator: in-process reqwest on the
//! same 2 cores as the server.
use reqwest::Client;
use skygeni::app::Application;
use skygeni::config::Settings;
use skygeni::crm::{parse_csv_bytes, synthetic::generated_csv};
use skygeni::domain::{ModelScope, TenantId};
use skygeni::engine::TrainConfig;
use skygeni::service::models::train_and_register;
use skygeni::slack::signature::sign;
use skygeni::store::{NewUser, Store};
use skygeni_fakes::slack::SlackFake;
use std::sync::Arc;
use std::time::{Duration, Instant};

const REQUESTS: usize = 20_000;
const MAX_RUN: Duration = Duration::from_secs(10);
const CONCURRENCY: usize = 50;
const SIGNING_SECRET: &str = "bench-signing-secret";
const BOT_TOKEN: &str = "xoxb-bench";
const REP: &str = "rep_1";
const SLACK_USER: &str = "UBENCHREP";

mod common;
#[path = "common/http_load.rs"]
mod http_load;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let targets = common::bench_targets(dir.path(), "skygeni_bench_slack").await?;
    let n_deals: usize = std::env::var("SKYGENI_BENCH_DEALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let fake = SlackFake::new(BOT_TOKEN);
    let fake_server = fake.start(0).await?;
    for (name, url) in targets {
        bench(name, &url, n_deals, &format!("{}/api", fake_server.url())).await?;
    }
    Ok(())
}

async fn bench(name: &str, url: &str, n_deals: usize, slack_api: &str) -> anyhow::Result<()> {
    let as_of = chrono::NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
    let store = Store::connect(url).await?;
    let tenant = TenantId::default_tenant();
    let t0 = Instant::now();
    let deals = parse_csv_bytes(generated_csv(n_deals, "B").as_bytes(), as_of)?.deals;
    store.upsert_deals(&tenant, &deals, &mut |_| {}).await?;
    let loaded = t0.elapsed();
    train_and_register(
        &store,
        &ModelScope::Tenant(tenant.clone()),
        &deals,
        &TrainConfig::default(),
        false,
    )
    .await?;
    store
        .upsert_user(
            &tenant,
            &NewUser {
                user_id: REP,
                email: Some("rep1@bench.test"),
                name: Some("Bench Rep"),
                role: "rep",
                manager_id: None,
            },
        )
        .await?;
    store.set_slack_user_id(&tenant, REP, SLACK_USER).await?;
    let own_open: Vec<String> = deals
        .iter()
        .filter(|d| d.sales_rep_id == REP && d.is_open())
        .map(|d| d.deal_id.clone())
        .collect();
    anyhow::ensure!(!own_open.is_empty(), "no open deals for {REP}");
    let settings = Settings::from_vars([
        ("SKYGENI_DATABASE_URL", url),
        ("SKYGENI_BIND", "127.0.0.1:0"),
        ("SLACK_SIGNING_SECRET", SIGNING_SECRET),
        ("SLACK_BOT_TOKEN", BOT_TOKEN),
        ("SLACK_API_URL", slack_api),
    ])?;
    let app = Application::build(settings).await?;
    let state = app.state().clone();
    let endpoint = format!("http://127.0.0.1:{}/slack/commands", app.port());
    tokio::spawn(app.run_until(std::future::pending()));
    println!(
        "== {name}: POST /slack/commands `/deal-risk <deal id>`, {n_deals} deals loaded in {:.1} s, {} open deals of {REP}",
        loaded.as_secs_f64(),
        own_open.len()
    );
    // Bodies and signatures made up front (one timestamp: a run is far inside Slack's 5 minutes),
    // so the client spends its CPU on sending.
    let ts = chrono::Utc::now().timestamp();
    let signed: Arc<Vec<(String, String)>> = Arc::new(
        own_open
            .iter()
            .take(500)
            .map(|id| {
                let body = serde_urlencoded::to_string([
                    ("team_id", "T0FAKE"),
                    ("channel_id", "CBENCH"),
                    ("user_id", SLACK_USER),
                    ("command", "/deal-risk"),
                    ("text", id.as_str()),
                    ("response_url", "http://127.0.0.1:9/response/bench"),
                    ("trigger_id", "1.2.bench"),
                ])
                .expect("form encodes");
                let sig = sign(SIGNING_SECRET.as_bytes(), ts, body.as_bytes());
                (body, sig)
            })
            .collect(),
    );
    let client = Client::new();
    // Warm-up: scorer cache, identity cache, pooled connections.
    run(&client, &endpoint, ts, signed.clone(), 500, 8).await?;
    let started = Instant::now();
    let lat = run(&client, &endpoint, ts, signed, REQUESTS, CONCURRENCY).await?;
    let wall = started.elapsed();
    state.flush_audit().await;
    println!(
        "  concurrency {CONCURRENCY}: {}",
        http_load::summary(lat, wall)
    );
    Ok(())
}

/// Sends up to `n` requests (stopping after `MAX_RUN`) from `concurrency` workers; returns the
/// latencies. Every answer must be a 200 deal card.
async fn run(
    client: &Client,
    endpoint: &str,
    ts: i64,
    signed: Arc<Vec<(String, String)>>,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<Duration>> {
    let (client, endpoint) = (client.clone(), endpoint.to_string());
    http_load::drive(n, concurrency, MAX_RUN, move |i| {
        let (client, endpoint) = (client.clone(), endpoint.clone());
        let (body, sig) = signed[i % signed.len()].clone();
        async move {
            let r = client
                .post(&endpoint)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("X-Slack-Request-Timestamp", ts.to_string())
                .header("X-Slack-Signature", sig)
                .body(body)
                .send()
                .await?;
            let status = r.status();
            let text = r.text().await?;
            anyhow::ensure!(
                status.is_success() && text.contains("/100"),
                "not a deal card: {status} {text}"
            );
            Ok(())
        }
    })
    .await
}
