//! `skygeni score`: batch-score the tenant's open deals in the database, or score a CSV file
//! to a CSV file with no database (`--csv IN --out OUT`).
use super::JsonFlag;
use crate::domain::TenantId;
use crate::jobs::batch::score_open_deals;
use crate::store::{AuditEntry, Store};
use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    /// Score this CSV export instead of the database (needs --out).
    #[arg(long, requires = "out", value_parser = super::existing_file)]
    pub csv: Option<PathBuf>,
    /// Where to write the scored CSV (with --csv).
    #[arg(long, requires = "csv")]
    pub out: Option<PathBuf>,
    /// Model JSON to score with (with --csv).
    #[arg(long, requires = "csv", conflicts_with = "train", value_parser = super::existing_file)]
    pub model: Option<PathBuf>,
    /// History CSV to train on first (with --csv).
    #[arg(long, requires = "csv", value_parser = super::existing_file)]
    pub train: Option<PathBuf>,
    /// Score as of this date (deal ages and calendar features); default today.
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub fn is_file_mode(args: &ScoreArgs) -> bool {
    args.csv.is_some()
}

pub async fn run(store: &Store, tenant: &TenantId, args: ScoreArgs) -> anyhow::Result<i32> {
    store.require_tenant(tenant).await?;
    let as_of = args
        .as_of
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    let bar = if args.json.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} scoring [{bar:40}] {pos}/{len} ({per_sec})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    let mut tick = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let (summary, ..) = score_open_deals(store, tenant, as_of, &mut tick).await?;
    bar.finish_and_clear();
    let detail = serde_json::to_value(&summary)?;
    store
        .record_audit(
            tenant,
            AuditEntry {
                actor: "cli",
                action: "deals.score",
                target: None,
                request_id: None,
                detail: Some(detail),
            },
        )
        .await?;
    if args.json.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "Scored {} open deals of tenant {tenant} as of {as_of} with {} ({:?}) in {:.2} s scoring + {:.2} s writing = {:.0} deals/s",
            summary.deals_scored,
            summary.model_version,
            summary.model_source,
            summary.score_secs,
            summary.write_secs,
            summary.deals_per_sec
        );
        if !summary.note.is_empty() {
            println!("Note: {}", summary.note);
        }
    }
    Ok(0)
}

/// File mode: `--csv IN --out OUT [--model FILE | --train HISTORY.csv]`, no database.
pub async fn run_file(args: ScoreArgs) -> anyhow::Result<i32> {
    let (Some(input), Some(output)) = (args.csv.clone(), args.out.clone()) else {
        anyhow::bail!("--csv IN and --out OUT go together");
    };
    let as_of = args
        .as_of
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    let (model, train) = (args.model.clone(), args.train.clone());
    let summary = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let scorer = super::score_file::scorer_for(model.as_deref(), train.as_deref(), as_of)?;
        super::score_file::score_csv_file(&input, &output, &scorer, as_of)
    })
    .await??;
    if args.json.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        if summary.rejected > 0 {
            print!("{}", summary.rejections.render_text());
        }
        println!(
            "Scored {} of {} rows as of {as_of} with {}{} → {} ({} already closed and skipped, {} rejected; {:.3} s, {:.0} deals/s)",
            summary.scored,
            summary.rows_read,
            summary.model_version,
            if summary.degraded {
                " (DEGRADED: segment rates, no model)"
            } else {
                ""
            },
            args.out
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            summary.skipped_closed,
            summary.rejected,
            summary.elapsed.as_secs_f64(),
            summary.deals_per_sec
        );
    }
    Ok(0)
}
