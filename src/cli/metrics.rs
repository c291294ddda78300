//! `skygeni metrics`: pipeline value, RAPV, optimism gap, REM, risk distribution, trends.
use super::JsonFlag;
use crate::domain::TenantId;
use crate::engine::DEFAULT_SAVE_RATE;
use crate::service::metrics::pipeline_view;
use crate::store::Store;
use chrono::NaiveDate;

#[derive(Debug, clap::Args)]
pub struct MetricsArgs {
    /// Compute deal ages as of this date; default today.
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// Assumed share of at-risk revenue a team saves by acting (potential recovery).
    #[arg(long, default_value_t = DEFAULT_SAVE_RATE, value_parser = parse_rate)]
    pub save_rate: f64,
    #[command(flatten)]
    pub json: JsonFlag,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a rate between 0 and 1")),
    }
}

pub async fn run(store: &Store, tenant: &TenantId, args: MetricsArgs) -> anyhow::Result<i32> {
    store.require_tenant(tenant).await?;
    let as_of = args.as_of.unwrap_or_else(|| super::now().date_naive());
    let view = pipeline_view(store, tenant, as_of, args.save_rate).await?;
    if args.json.json {
        println!("{}", serde_json::to_string_pretty(&view.metrics)?);
    } else {
        print!("{}", super::render::metrics_text(&view.metrics));
        if view.scored_in_memory > 0 {
            println!(
                "Note: {} open deals had no stored score and were scored for this view; run `skygeni score` to store them.",
                view.scored_in_memory
            );
        }
    }
    Ok(0)
}
