//! `cargo bench --bench api`: POST /v1/deals/score with the deal in the body, over real HTTP
//! on loopback, against a server with a trained production model. SQLite always; PostgreSQL
//! too when SKYGENI_BENCH_DATABASE_URL names an admin URL. Prints throughput and latency
//! percentiles per backend and concurrency. Each request includes the audit-log write.
use reqwest::Client;
use secrecy::SecretString;
use skygeni::api::auth::{Role, issue_token};
use skygeni::config::Settings;
use skygeni::crm::{parse_csv_bytes, synthetic::generated_csv};
use skygeni::domain::{ModelScope, TenantId};
use skygeni::engine::TrainConfig;
use skygeni::http::Application;
use skygeni::jobs::models::train_and_register;
use skygeni::store::Store;
use sqlx::Connection;
use std::time::{Duration, Instant};

const REQUESTS: usize = 4_000;
const SECRET: &str = "bench-secret";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut targets = vec![(
        "sqlite",
        format!("sqlite://{}", dir.path().join("bench.db").display()),
    )];
    if let Ok(admin) = std::env::var("SKYGENI_BENCH_DATABASE_URL") {
        sqlx::any::install_default_drivers();
        let mut c = sqlx::AnyConnection::connect(&admin).await?;
        sqlx::raw_sql("DROP DATABASE IF EXISTS skygeni_bench_api")
            .execute(&mut c)
            .await?;
        sqlx::raw_sql("CREATE DATABASE skygeni_bench_api")
            .execute(&mut c)
            .await?;
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        targets.push(("postgres", format!("{base}/skygeni_bench_api")));
    }
    for (name, url) in targets {
        bench(name, &url).await?;
    }
    Ok(())
}

async fn bench(name: &str, url: &str) -> anyhow::Result<()> {
    let as_of = chrono::NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
    let store = Store::connect(url).await?;
    let tenant = TenantId::default_tenant();
    let deals = parse_csv_bytes(generated_csv(5_000, "B").as_bytes(), as_of)?.deals;
    store.upsert_deals(&tenant, &deals, &mut |_| {}).await?;
    let report = train_and_register(
        &store,
        &ModelScope::Tenant(tenant.clone()),
        &deals,
        &TrainConfig::default(),
        false,
    )
    .await?;
    let version = report.model.map(|m| m.version).unwrap_or_default();
    let settings = Settings::from_vars([
        ("SKYGENI_DATABASE_URL", url),
        ("SKYGENI_BIND", "127.0.0.1:0"),
        ("SKYGENI_JWT_SECRET", SECRET),
        ("SKYGENI_RATE_LIMIT_USER_PER_MIN", "100000000"),
        ("SKYGENI_RATE_LIMIT_TENANT_PER_MIN", "100000000"),
    ])?;
    let app = Application::build(settings).await?;
    let endpoint = format!("http://127.0.0.1:{}/v1/deals/score", app.port());
    tokio::spawn(app.run_until(std::future::pending()));
    let token = issue_token(
        &SecretString::from(SECRET),
        &tenant,
        Role::Rep,
        "rep_1",
        3600,
    )?;
    let client = Client::new();
    println!("== {name}: POST /v1/deals/score, deal in the body, model {version}");
    // Warm-up: loads the tenant's scorer into the cache and opens pooled connections.
    run(&client, &endpoint, &token, 200, 4).await?;
    for concurrency in [1, 8, 32] {
        let started = Instant::now();
        let mut lat = run(&client, &endpoint, &token, REQUESTS, concurrency).await?;
        let wall = started.elapsed();
        lat.sort();
        let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
        println!(
            "  concurrency {concurrency:>2}: {:>7.0} req/s   p50 {:>6.2} ms   p95 {:>6.2} ms   p99 {:>6.2} ms   ({REQUESTS} requests)",
            REQUESTS as f64 / wall.as_secs_f64(),
            ms(pct(0.50)),
            ms(pct(0.95)),
            ms(pct(0.99)),
        );
    }
    store.close().await;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `n` requests from `concurrency` workers; returns every request's latency.
async fn run(
    client: &Client,
    endpoint: &str,
    token: &str,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let (client, endpoint, token) = (client.clone(), endpoint.to_string(), token.to_string());
        let share = n / concurrency + usize::from(w < n % concurrency);
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(share);
            for i in 0..share {
                let body = serde_json::json!({
                    "deal_id": format!("BENCH-{w}-{i}"), "created_date": "2024-02-01",
                    "amount": 10_000.0 + (i % 90) as f64 * 1_000.0, "industry": "SaaS",
                    "region": "Europe", "product_type": "Pro", "lead_source": "Partner",
                    "deal_stage": "Proposal", "as_of": "2024-06-01"
                });
                let t = Instant::now();
                let r = client
                    .post(&endpoint)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await?;
                anyhow::ensure!(r.status().is_success(), "status {}", r.status());
                r.bytes().await?;
                lat.push(t.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Vec::with_capacity(n);
    for w in workers {
        all.extend(w.await??);
    }
    Ok(all)
}
