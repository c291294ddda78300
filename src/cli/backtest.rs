//! `skygeni backtest --csv FILE --as-of DATE`: replay history and compare the model with the
//! segment-rate baseline on what really happened.
use super::JsonFlag;
use super::map_args::MapArgs;
use crate::crm::validate::DateRules;
use crate::crm::{ReadOptions, read_csv_file_with};
use crate::engine::{TrainConfig, backtest};
use chrono::NaiveDate;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    /// Historical deals with outcomes (seed schema, a recognised CRM export, or --map).
    #[arg(long, value_parser = super::existing_file)]
    pub csv: PathBuf,
    #[command(flatten)]
    pub map: MapArgs,
    /// The date to replay: train on deals closed before it, score deals open on it.
    #[arg(long)]
    pub as_of: NaiveDate,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn run(args: BacktestArgs) -> anyhow::Result<i32> {
    // The age rule is checked against the replay date (a 2016-2017 export replays 2017), and
    // deals created after it are still valid history (they are simply not open on it).
    let today = super::now().date_naive();
    let opts = ReadOptions::new(DateRules::replay(args.as_of, today), args.map.load()?);
    let path = args.csv.clone();
    let parsed = tokio::task::spawn_blocking(move || read_csv_file_with(&path, &opts))
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
