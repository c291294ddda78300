//! `skygeni import --csv FILE`: check a CRM export, load the good rows atomically, report.
use super::{JsonFlag, existing_file};
use crate::crm::read_csv_file;
use crate::domain::TenantId;
use crate::store::{AuditEntry, Store};
use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::time::Instant;

/// Imports bigger than this get a progress bar.
const PROGRESS_MIN_ROWS: usize = 5_000;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// CSV file with the seed columns (deal_id, created_date, deal_stage, deal_amount required).
    #[arg(long, value_parser = existing_file)]
    pub csv: PathBuf,
    /// Date the data-quality rules are checked against (YYYY-MM-DD); default today.
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// Check the file and print the report without writing anything.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn run(store: &Store, tenant: &TenantId, args: ImportArgs) -> anyhow::Result<i32> {
    store.require_tenant(tenant).await?;
    let started = Instant::now();
    let as_of = args
        .as_of
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    let path = args.csv.clone();
    // Parsing is CPU work: keep it off the async executor.
    let parsed = tokio::task::spawn_blocking(move || read_csv_file(&path, as_of))
        .await?
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.csv.display()))?;

    let counts = if args.dry_run {
        None
    } else {
        let bar = progress_bar(parsed.deals.len(), args.json.json);
        let mut tick = |n: u64| bar.set_position(n);
        let counts = store.upsert_deals(tenant, &parsed.deals, &mut tick).await?;
        bar.finish_and_clear();
        Some(counts)
    };
    let elapsed = started.elapsed();
    let file = args.csv.display().to_string();
    if let Some(c) = counts {
        let detail =
            serde_json::json!({ "file": file, "counts": c, "rejected": parsed.report.rejected });
        let entry = AuditEntry {
            actor: "cli",
            action: "deals.import",
            target: Some(&file),
            request_id: None,
            detail: Some(detail),
        };
        store.record_audit(tenant, entry).await?;
    }

    if args.json.json {
        let out = serde_json::json!({
            "tenant": tenant.as_str(),
            "file": file,
            "dry_run": args.dry_run,
            "report": parsed.report,
            "counts": counts,
            "elapsed_ms": elapsed.as_millis() as u64,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", parsed.report.render_text());
        match counts {
            Some(c) => println!(
                "Imported into tenant {tenant}: {} new, {} changed, {} unchanged ({:.2} s, {:.0} rows/s)",
                c.new,
                c.changed,
                c.unchanged,
                elapsed.as_secs_f64(),
                parsed.report.rows_read as f64 / elapsed.as_secs_f64().max(1e-9)
            ),
            None => println!("Dry run: nothing written."),
        }
    }
    Ok(0)
}

fn progress_bar(rows: usize, quiet: bool) -> ProgressBar {
    if quiet || rows < PROGRESS_MIN_ROWS {
        return ProgressBar::hidden();
    }
    // indicatif hides itself when stderr is not a terminal, so logs and CI stay clean.
    let bar = ProgressBar::new(rows as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} importing [{bar:40}] {pos}/{len} rows ({per_sec})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
