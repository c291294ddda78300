//! `cargo bench --bench import`: parse, check and load 100,000 generated deals into a fresh
//! SQLite file (and PostgreSQL when SKYGENI_BENCH_DATABASE_URL names an admin URL).
//! One timed run each — an import is seconds long, so criterion's repetitions add nothing.
use skygeni::crm::{parse_csv_bytes, synthetic::generated_csv};
use skygeni::domain::TenantId;
use skygeni::store::Store;
use std::time::Instant;

mod common;

const ROWS: usize = 100_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let csv = generated_csv(ROWS, "B");
    let as_of = chrono::NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
    let dir = tempfile::tempdir()?;
    let targets = common::bench_targets(dir.path(), "skygeni_bench_import").await?;
    for (name, url) in targets {
        let store = Store::connect(&url).await?;
        let tenant = TenantId::default_tenant();
        let t0 = Instant::now();
        let parsed = parse_csv_bytes(csv.as_bytes(), as_of)?;
        let parse = t0.elapsed();
        let counts = store
            .upsert_deals(&tenant, &parsed.deals, &mut |_| {})
            .await?;
        let total = t0.elapsed();
        assert_eq!(counts.new as usize, ROWS);
        let t1 = Instant::now();
        let again = store
            .upsert_deals(&tenant, &parsed.deals, &mut |_| {})
            .await?;
        assert_eq!(again.unchanged as usize, ROWS);
        println!(
            "import/{name}: {ROWS} rows in {:.2} s (parse+check {:.2} s) = {:.0} rows/s; re-import of unchanged rows {:.2} s",
            total.as_secs_f64(),
            parse.as_secs_f64(),
            ROWS as f64 / total.as_secs_f64(),
            t1.elapsed().as_secs_f64()
        );
        store.close().await;
    }
    Ok(())
}
