//! `skygeni import --csv FILE`: check a CRM export, load the good rows atomically, report.
//!
//! The header is read with `--map`/`--mapping` if given (and that mapping is remembered for
//! the tenant under the header's key), else with the mapping remembered for this export, else
//! with a detected CRM preset and the seed spellings. Owners named in the file become users.
use super::map_args::MapArgs;
use super::{JsonFlag, existing_file};
use crate::crm::mapping::header_key;
use crate::crm::{ColumnMapping, ReadOptions, parse_csv_with, read_header};
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
    /// CSV export: seed columns (deal_id, created_date, deal_stage, deal_amount required), a
    /// Salesforce opportunity report, a HubSpot or Pipedrive deals export, or any file with --map.
    #[arg(long, value_parser = existing_file)]
    pub csv: PathBuf,
    #[command(flatten)]
    pub map: MapArgs,
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
    let as_of = args.as_of.unwrap_or_else(|| super::now().date_naive());
    let file_err = |e: &dyn std::fmt::Display| anyhow::anyhow!("{}: {e}", args.csv.display());
    let bytes = tokio::fs::read(&args.csv).await.map_err(|e| file_err(&e))?;
    let key = header_key(&read_header(&bytes).map_err(|e| file_err(&e))?);
    let explicit = args.map.load()?;
    let (mapping, source) = if !explicit.is_empty() {
        (explicit, MappingSource::Given)
    } else {
        match store.import_mapping(tenant, &key).await? {
            Some(json) => (serde_json::from_str(&json)?, MappingSource::Remembered),
            None => (ColumnMapping::default(), MappingSource::Detected),
        }
    };
    let opts = ReadOptions::new(as_of, mapping);
    // Parsing is CPU work: keep it off the async executor.
    let parsed = tokio::task::spawn_blocking(move || parse_csv_with(&bytes, &opts))
        .await?
        .map_err(|e| file_err(&e))?;

    let mut owners_created = 0;
    let counts = if args.dry_run {
        None
    } else {
        let bar = progress_bar(parsed.deals.len(), args.json.json);
        let mut tick = |n: u64| bar.set_position(n);
        let counts = store.upsert_deals(tenant, &parsed.deals, &mut tick).await?;
        bar.finish_and_clear();
        owners_created = store.upsert_deal_owners(tenant, &parsed.owners).await?;
        if source == MappingSource::Given {
            let json = serde_json::to_string(&parsed.mapping)?;
            store.save_import_mapping(tenant, &key, &json).await?;
        }
        Some(counts)
    };
    let elapsed = started.elapsed();
    let file = args.csv.display().to_string();
    if let Some(c) = counts {
        let detail = serde_json::json!({
            "file": file, "counts": c, "rejected": parsed.report.rejected,
            "preset": parsed.preset, "mapping": source.as_str(), "owners_created": owners_created,
        });
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
            "preset": parsed.preset,
            "mapping_source": source.as_str(),
            "mapping": parsed.mapping,
            "owners": parsed.owners.len(),
            "owners_created": owners_created,
            "elapsed_ms": elapsed.as_millis() as u64,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        if let Some(p) = parsed.preset {
            println!("Recognised export: {p}");
        }
        match source {
            MappingSource::Given if !args.dry_run => {
                println!("Column mapping saved: the next import of this export needs no --map.")
            }
            MappingSource::Remembered => {
                println!(
                    "Using the column mapping saved at this tenant's last import of this export."
                )
            }
            _ => {}
        }
        print!("{}", parsed.report.render_text());
        if owners_created > 0 {
            println!("Owners added as users: {owners_created}");
        }
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

/// Where the column mapping of a run came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MappingSource {
    /// `--map` / `--mapping` (saved for the tenant after a real import).
    Given,
    /// Saved at an earlier import of an export with the same header.
    Remembered,
    /// None: a detected preset and the seed spellings.
    Detected,
}

impl MappingSource {
    fn as_str(self) -> &'static str {
        match self {
            MappingSource::Given => "given",
            MappingSource::Remembered => "remembered",
            MappingSource::Detected => "detected",
        }
    }
}
