//! `cargo bench --bench api`: POST /v1/deals/score over real HTTP on loopback, against a
//! server with a trained production model and SKYGENI_BENCH_DEALS (default 100,000) deals in
//! the store. Two scenarios, each at concurrency 32 and 64:
//!
//! * `body`    — the deal's fields in the request body (a rep's token);
//! * `deal_id` — only `deal_id`: the rep's own open deal is read from the store.
//!
//! SQLite always (unless SKYGENI_BENCH_SKIP_SQLITE=1); PostgreSQL too when
//! SKYGENI_BENCH_DATABASE_URL names an admin URL. The load generator is an in-process reqwest
//! client (it shares the 2 cores with the server); with SKYGENI_BENCH_WRK=1 and `wrk` on the
//! PATH the same scenarios also run through wrk (one thread, Lua scripts written to a temp
//! dir), which costs far less CPU per request. Every request's audit entry is queued for the
//! batched audit writer, and the bench flushes it before moving on.
use reqwest::Client;
use secrecy::SecretString;
use skygeni::app::Application;
use skygeni::auth::{Role, issue_token};
use skygeni::config::Settings;
use skygeni::crm::{parse_csv_bytes, synthetic::generated_csv};
use skygeni::domain::{ModelScope, TenantId};
use skygeni::engine::TrainConfig;
use skygeni::service::models::train_and_register;
use skygeni::store::Store;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most requests per run; a run also stops after `MAX_RUN`.
const REQUESTS: usize = 30_000;
const MAX_RUN: Duration = Duration::from_secs(10);
const SECRET: &str = "bench-secret";
const REP: &str = "rep_1";

/// Makes the i-th request body of a scenario.
type MakeBody = Arc<dyn Fn(usize) -> serde_json::Value + Send + Sync>;

mod common;
#[path = "common/http_load.rs"]
mod http_load;
#[path = "common/wrk.rs"]
mod wrk;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let targets = common::bench_targets(dir.path(), "skygeni_bench_api").await?;
    let n_deals: usize = std::env::var("SKYGENI_BENCH_DEALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    for (name, url) in targets {
        bench(name, &url, n_deals, dir.path()).await?;
    }
    Ok(())
}

async fn bench(name: &str, url: &str, n_deals: usize, dir: &std::path::Path) -> anyhow::Result<()> {
    let as_of = chrono::NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
    let store = Store::connect(url).await?;
    let tenant = TenantId::default_tenant();
    let t0 = Instant::now();
    let deals = parse_csv_bytes(generated_csv(n_deals, "B").as_bytes(), as_of)?.deals;
    store.upsert_deals(&tenant, &deals, &mut |_| {}).await?;
    let loaded = t0.elapsed();
    let report = train_and_register(
        &store,
        &ModelScope::Tenant(tenant.clone()),
        &deals,
        &TrainConfig::default(),
        false,
    )
    .await?;
    let version = report.model.map(|m| m.version).unwrap_or_default();
    // The rep's own deals that are open on `as_of`: what a rep scores by id.
    let own_open: Vec<String> = deals
        .iter()
        .filter(|d| d.sales_rep_id == REP && d.as_seen_on(as_of).is_some_and(|d| d.is_open()))
        .map(|d| d.deal_id.clone())
        .collect();
    anyhow::ensure!(!own_open.is_empty(), "no open deals for {REP}");
    let settings = Settings::from_vars([
        ("SKYGENI_DATABASE_URL", url),
        ("SKYGENI_BIND", "127.0.0.1:0"),
        ("SKYGENI_JWT_SECRET", SECRET),
        ("SKYGENI_RATE_LIMIT_USER_PER_MIN", "100000000"),
        ("SKYGENI_RATE_LIMIT_TENANT_PER_MIN", "100000000"),
    ])?;
    let app = Application::build(settings).await?;
    let state = app.state().clone();
    let endpoint = format!("http://127.0.0.1:{}/v1/deals/score", app.port());
    tokio::spawn(app.run_until(std::future::pending()));
    let token = issue_token(&SecretString::from(SECRET), &tenant, Role::Rep, REP, 3600)?;
    let client = Client::new();
    println!(
        "== {name}: POST /v1/deals/score, {n_deals} deals loaded in {:.1} s, model {version}, {} open deals of {REP}",
        loaded.as_secs_f64(),
        own_open.len()
    );
    let bodies: [(&str, MakeBody); 2] = [
        ("body", Arc::new(body_deal)),
        ("deal_id", {
            let ids = Arc::new(own_open.clone());
            Arc::new(
                move |i| serde_json::json!({"deal_id": ids[i % ids.len()], "as_of": "2024-06-01"}),
            )
        }),
    ];
    for (scenario, make) in &bodies {
        // Warm-up: loads the tenant's scorer into the cache and opens pooled connections.
        run(&client, &endpoint, &token, make.clone(), 500, 8).await?;
        for concurrency in [32, 64] {
            let started = Instant::now();
            let lat = run(
                &client,
                &endpoint,
                &token,
                make.clone(),
                REQUESTS,
                concurrency,
            )
            .await?;
            let wall = started.elapsed();
            state.flush_audit().await;
            println!(
                "  reqwest {scenario:<7} concurrency {concurrency:>2}: {}",
                http_load::summary(lat, wall)
            );
        }
    }
    if std::env::var("SKYGENI_BENCH_WRK").as_deref() == Ok("1") {
        for (scenario, script) in [
            ("body", wrk_body_script(&token)),
            ("deal_id", wrk_id_script(&token, &own_open)),
        ] {
            let path = dir.join(format!("{name}-{scenario}.lua"));
            std::fs::write(&path, script)?;
            for concurrency in [32, 64] {
                let (path, endpoint) = (path.clone(), endpoint.clone());
                let out = tokio::task::spawn_blocking(move || {
                    std::process::Command::new("wrk")
                        .args(["-t1", &format!("-c{concurrency}"), "-d10s", "-s"])
                        .arg(&path)
                        .arg(&endpoint)
                        .output()
                })
                .await??;
                state.flush_audit().await;
                let text = String::from_utf8_lossy(&out.stdout);
                let line = text
                    .lines()
                    .find(|l| l.starts_with("RESULT"))
                    .unwrap_or("no RESULT line (is wrk installed?)");
                println!(
                    "  wrk     {scenario:<7} concurrency {concurrency:>2}: {}",
                    line.trim_start_matches("RESULT ")
                );
            }
        }
    }
    store.close().await;
    Ok(())
}

fn body_deal(i: usize) -> serde_json::Value {
    serde_json::json!({
        "deal_id": format!("BENCH-{i}"), "created_date": "2024-02-01",
        "deal_amount": 10_000.0 + (i % 90) as f64 * 1_000.0, "industry": "SaaS",
        "region": "Europe", "product_type": "Pro", "lead_source": "Partner",
        "deal_stage": "Proposal", "as_of": "2024-06-01"
    })
}

fn wrk_body_script(token: &str) -> String {
    wrk::post_script(token, &body_deal(7))
}

fn wrk_id_script(token: &str, ids: &[String]) -> String {
    let list: Vec<String> = ids.iter().map(|i| format!("\"{i}\"")).collect();
    format!(
        "local ids = {{{}}}\nlocal i = 0\n\
         local headers = {{[\"Content-Type\"] = \"application/json\", [\"Authorization\"] = \"Bearer {token}\"}}\n\
         request = function()\n  i = i % #ids + 1\n  \
         return wrk.format(\"POST\", nil, headers, '{{\"deal_id\":\"' .. ids[i] .. '\",\"as_of\":\"2024-06-01\"}}')\nend\n{}",
        list.join(","),
        wrk::WRK_DONE
    )
}

/// Up to `n` requests (and at most `MAX_RUN`) from `concurrency` workers; returns every
/// request's latency. Every answer must be 2xx.
async fn run(
    client: &Client,
    endpoint: &str,
    token: &str,
    make: MakeBody,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<Duration>> {
    let (client, endpoint, token) = (client.clone(), endpoint.to_string(), token.to_string());
    http_load::drive(n, concurrency, MAX_RUN, move |i| {
        let (client, endpoint, token, body) =
            (client.clone(), endpoint.clone(), token.clone(), make(i));
        async move {
            let r = client
                .post(&endpoint)
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await?;
            let status = r.status();
            let text = r.bytes().await?;
            anyhow::ensure!(
                status.is_success(),
                "status {status}: {}",
                String::from_utf8_lossy(&text)
            );
            Ok(())
        }
    })
    .await
}
