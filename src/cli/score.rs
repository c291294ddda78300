//! `skygeni score`: batch-score the tenant's open deals in the database, or score a CSV file
//! to a CSV file with no database (`--csv IN --out OUT`).
use super::JsonFlag;
use super::map_args::MapArgs;
use crate::crm::ReadOptions;
use crate::domain::TenantId;
use crate::engine::PipelineRanks;
use crate::service::batch::score_open_deals;
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
    /// Score as of this date (deal ages, calendar features, data-quality rules); default today.
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// Column mapping for --csv and --train files (as for import).
    #[command(flatten)]
    pub map: MapArgs,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub fn is_file_mode(args: &ScoreArgs) -> bool {
    args.csv.is_some()
}

pub async fn run(store: &Store, tenant: &TenantId, args: ScoreArgs) -> anyhow::Result<i32> {
    store.require_tenant(tenant).await?;
    let as_of = args.as_of.unwrap_or_else(|| super::now().date_naive());
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
    let (summary, deals, scores, loaded) =
        score_open_deals(store, tenant, as_of, &mut tick).await?;
    let ranks = PipelineRanks::from_scores(&scores, loaded.scorer.stats().overall_win_rate);
    let skill_line = loaded.scorer.skill_line();
    // The five deals most at risk relative to this pipeline (highest P(lost) first).
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| {
        scores[a]
            .win_probability
            .total_cmp(&scores[b].win_probability)
    });
    order.truncate(5);
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
        let mut v = serde_json::to_value(&summary)?;
        v["skill_line"] = serde_json::json!(skill_line);
        v["top"] = order
            .iter()
            .map(|&i| {
                serde_json::json!({"deal_id": deals[i].deal_id, "risk_score": scores[i].risk_score,
                    "relative_risk": ranks.of(&scores[i])})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
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
        if let Some(line) = skill_line {
            println!("{line}.");
        }
        if !order.is_empty() {
            println!("Most at risk in this pipeline:");
        }
        for &i in &order {
            println!(
                "  {:<14} {}",
                deals[i].deal_id,
                super::render::score_with_relative(&scores[i], Some(&ranks.of(&scores[i])))
            );
        }
    }
    Ok(0)
}

/// File mode: `--csv IN --out OUT [--model FILE | --train HISTORY.csv]`, no database.
pub async fn run_file(args: ScoreArgs) -> anyhow::Result<i32> {
    let (Some(input), Some(output)) = (args.csv.clone(), args.out.clone()) else {
        anyhow::bail!("--csv IN and --out OUT go together");
    };
    let as_of = args.as_of.unwrap_or_else(|| super::now().date_naive());
    let (model, train) = (args.model.clone(), args.train.clone());
    let mapping = args.map.load()?;
    let summary = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let scorer =
            super::score_file::scorer_with(model.as_deref(), train.as_deref(), as_of, &mapping)?;
        let opts = ReadOptions::new(as_of, mapping);
        super::score_file::score_csv_file_with(&input, &output, &scorer, &opts)
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
