//! Full Salesforce sync of 100,000 Opportunities from the fake org (Bulk API 2.0 query of
//! Opportunities and history, validation, upsert, scoring of the open deals, Bulk ingest
//! write-back, Tasks), then an incremental rerun. Target: the full sync in < 60 s, with far
//! fewer API calls than records. Run: `cargo bench --bench salesforce_sync` (release).
use skygeni::config::Settings;
use skygeni::crm::salesforce::{SyncContext, sync_tenant};
use skygeni::crypto::SecretBox;
use skygeni::domain::TenantId;
use skygeni::store::{SfConnectionRow, Store};
use skygeni_fakes::salesforce::{CLIENT_ID, CLIENT_SECRET, FakeSalesforce, ORG_ID};
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEY: &str = "0000000000000000000000000000000000000000000000000000000000000001";

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("SF_BENCH_OPPORTUNITIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(n))
}

async fn run(n: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = std::env::var("SF_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let store = Store::connect(&url).await?;
    let fake = FakeSalesforce::new();
    let server = fake.start(0).await?;
    let t = Instant::now();
    fake.seed_opportunities(n, 200, 7);
    println!(
        "fake org seeded with {n} Opportunities in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let secrets = Arc::new(SecretBox::new(Some(KEY), None)?);
    let tenant = TenantId::default_tenant();
    store
        .save_sf_connection(
            &tenant,
            &SfConnectionRow {
                org_id: ORG_ID.into(),
                auth_flow: "web_server".into(),
                instance_url_sealed: secrets.seal(tenant.as_str(), &server.url()),
                refresh_token_sealed: Some(
                    secrets.seal(tenant.as_str(), &fake.issue_refresh_token()),
                ),
                jwt_username: None,
                field_mapping: "{}".into(),
            },
        )
        .await?;
    let settings = Settings::from_vars([
        ("SALESFORCE_LOGIN_URL", server.url().as_str()),
        ("SALESFORCE_CLIENT_ID", CLIENT_ID),
        ("SALESFORCE_CLIENT_SECRET", CLIENT_SECRET),
        ("SKYGENI_ENCRYPTION_KEY", KEY),
    ])?;
    let mut ctx = SyncContext::new(store.clone(), Arc::new(settings), secrets);
    ctx.config.bulk_poll = Duration::from_millis(200);
    let now = chrono::Utc::now();
    for label in ["full sync", "incremental rerun"] {
        fake.clear_calls();
        let t = Instant::now();
        let r = sync_tenant(&ctx, &tenant, now, &mut |_, _, _| {}).await?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{label}: {secs:.1}s  status={} pulled={} upserted={} rejected={} scored={} written_back={} (bulk ingest: {}) \
             tasks_created={} tasks_skipped={}  Salesforce API calls={} (fake saw {} requests incl. token)",
            r.status,
            r.pulled,
            r.upserted,
            r.rejected,
            r.scored,
            r.written_back,
            r.used_bulk_ingest,
            r.tasks_created,
            r.tasks_skipped,
            r.api_calls,
            fake.calls().len()
        );
        if label == "full sync" {
            println!(
                "target < 60 s for {n} Opportunities: {}",
                if secs < 60.0 { "met" } else { "NOT met" }
            );
        }
    }
    Ok(())
}
