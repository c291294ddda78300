//! `skygeni backtest --csv FILE --as-of DATE`: replay history and compare the model with the
//! segment-rate baseline on what really happened.
use super::JsonFlag;
use crate::crm::read_csv_file;
use crate::engine::{TrainConfig, backtest};
use chrono::NaiveDate;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    /// Historical deals with outcomes (seed CSV schema).
    #[arg(long, value_parser = super::existing_file)]
    pub csv: PathBuf,
    /// The date to replay: train on deals closed before it, score deals open on it.
    #[arg(long)]
    pub as_of: NaiveDate,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn run(args: BacktestArgs) -> anyhow::Result<i32> {
    // Quality rules are checked against today: deals created after the replay date are still
    // valid history (they are simply not open on it).
    let today = chrono::Utc::now().date_naive();
    let path = args.csv.clone();
    let parsed = tokio::task::spawn_blocking(move || read_csv_file(&path, today))
        .await?
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.csv.display()))?;
    let as_of = args.as_of;
    let deals = parsed.deals;
    let report =
        tokio::task::spawn_blocking(move || backtest(&deals, as_of, &TrainConfig::default()))
            .await?;
    if args.json.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "report": report, "data_quality": {"rows_read": parsed.report.rows_read, "accepted": parsed.report.accepted, "rejected": parsed.report.rejected}
            }))?
        );
    } else {
        if parsed.report.rejected > 0 {
            print!("{}", parsed.report.render_text());
        }
        print!("{}", super::render::backtest_text(&report));
    }
    Ok(0)
}
