//! `skygeni top`: the tenant's open deals ranked by relative risk (their place in the tenant's
//! own pipeline), each with its absolute score, and the low-skill line when it applies.
use super::JsonFlag;
use crate::domain::TenantId;
use crate::engine::{DEFAULT_SAVE_RATE, PipelineRanks};
use crate::service::metrics::pipeline_view_of;
use crate::service::models::load_scorer;
use crate::store::Store;
use chrono::NaiveDate;

#[derive(Debug, clap::Args)]
pub struct TopArgs {
    /// How many deals to list.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    /// Rank as of this date (deals without a stored score are scored then); default today.
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn run(store: &Store, tenant: &TenantId, args: TopArgs) -> anyhow::Result<i32> {
    store.require_tenant(tenant).await?;
    let as_of = args.as_of.unwrap_or_else(|| super::now().date_naive());
    let history = store.load_deals(tenant).await?;
    let loaded = load_scorer(store, tenant, &history).await?;
    let open = history.into_iter().filter(|d| d.is_open()).collect();
    let pv = pipeline_view_of(store, tenant, &loaded, open, as_of, DEFAULT_SAVE_RATE).await?;
    let ranks = PipelineRanks::from_scores(&pv.scores, loaded.scorer.stats().overall_win_rate);
    let skill_line = loaded.scorer.skill_line();
    // Highest P(lost) first is highest relative risk first: the percentile is monotone in
    // P(lost) within one tenant.
    let top: Vec<_> = crate::engine::rank_order(&pv.scores)
        .into_iter()
        .take(args.limit)
        .map(|i| (&pv.deals[i], &pv.scores[i]))
        .collect();
    if args.json.json {
        let rows: Vec<serde_json::Value> = top
            .iter()
            .map(|(d, s)| {
                serde_json::json!({
                    "deal_id": d.deal_id, "deal_name": d.deal_name, "company": d.company,
                    "risk_score": s.risk_score, "risk_category": s.risk_category.as_str(),
                    "relative_risk": ranks.of(s), "relative_risk_text": ranks.of(s).sentence(),
                })
            })
            .collect();
        let out = serde_json::json!({
            "tenant": tenant.as_str(), "as_of": as_of, "open_deals": pv.deals.len(),
            "skill_line": skill_line, "deals": rows,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(0);
    }
    println!(
        "Top {} of {} open deals of tenant {tenant} by relative risk (as of {as_of}):",
        top.len(),
        pv.deals.len()
    );
    if let Some(line) = skill_line {
        println!("{line}.");
    }
    let pairs: Vec<_> = top.iter().map(|(d, s)| (*d, *s)).collect();
    print!(
        "{}",
        super::render::attention_list(&pairs, as_of, Some(&ranks))
    );
    Ok(0)
}
