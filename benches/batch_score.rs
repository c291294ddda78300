//! `cargo bench --bench batch_score`: `skygeni score` against the database for 100,000 open
//! deals (read, score with factors, recommendations and similar deals, write history and
//! current scores) on SQLite, and on PostgreSQL when SKYGENI_BENCH_DATABASE_URL names an
//! admin URL. One timed run per backend after a warm-up-free setup; prints the phases.
use skygeni::crm::{parse_csv_bytes, synthetic::generated_open_csv};
use skygeni::domain::{ModelScope, TenantId};
use skygeni::engine::TrainConfig;
use skygeni::service::{batch::score_open_deals, models::train_and_register};
use skygeni::store::Store;
use std::time::Instant;

mod common;

const OPEN: usize = 100_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let as_of = chrono::NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
    let seed = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/data/skygeni_sales_data.csv"
    ))?;
    let history = parse_csv_bytes(&seed, as_of)?.deals;
    let open = parse_csv_bytes(generated_open_csv(OPEN, "O").as_bytes(), as_of)?.deals;
    let dir = tempfile::tempdir()?;
    let targets = common::bench_targets(dir.path(), "skygeni_bench_score").await?;
    for (name, url) in targets {
        let store = Store::connect(&url).await?;
        let tenant = TenantId::default_tenant();
        store.upsert_deals(&tenant, &history, &mut |_| {}).await?;
        store.upsert_deals(&tenant, &open, &mut |_| {}).await?;
        let report = train_and_register(
            &store,
            &ModelScope::Tenant(tenant.clone()),
            &history,
            &TrainConfig::default(),
            false,
        )
        .await?;
        assert!(report.trained, "{}", report.reason);
        let t = Instant::now();
        let (summary, ..) = score_open_deals(&store, &tenant, as_of, &mut |_, _| {}).await?;
        let total = t.elapsed().as_secs_f64();
        assert_eq!(summary.deals_scored, OPEN);
        println!(
            "batch_score/{name}: {OPEN} open deals in {total:.2} s end to end (read+load model {:.2} s incl. scoring {:.2} s, write {:.2} s) = {:.0} deals/s",
            total - summary.write_secs,
            summary.score_secs,
            summary.write_secs,
            OPEN as f64 / total
        );
        store.close().await;
    }
    Ok(())
}
