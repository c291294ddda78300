//! `skygeni risk-settings`: show or set the tenant's risk-band edges and daily alert budget.
use super::JsonFlag;
use crate::domain::{RiskBands, TenantId};
use crate::notify::policy::DEFAULT_DAILY_ALERT_BUDGET;
use crate::store::{AuditEntry, RiskSettingsRow, Store};

#[derive(Debug, clap::Args)]
pub struct RiskSettingsArgs {
    /// Upper edges of low, medium and high, e.g. 40,70,90 (above the last is critical).
    /// Default: the design's 25,50,75.
    #[arg(long, value_parser = RiskBands::parse)]
    pub bands: Option<RiskBands>,
    /// Critical alerts per recipient per day before the rest roll into the digest (default 5).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub alerts_per_day: Option<u32>,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn run(store: &Store, tenant: &TenantId, args: RiskSettingsArgs) -> anyhow::Result<i32> {
    store.require_tenant(tenant).await?;
    let current = store.risk_settings(tenant).await?;
    let bands = store.risk_bands(tenant).await?.unwrap_or_default();
    let budget = current.map_or(DEFAULT_DAILY_ALERT_BUDGET, |r| r.alerts_per_day as u32);
    let (bands, budget) = if args.bands.is_some() || args.alerts_per_day.is_some() {
        let bands = args.bands.unwrap_or(bands);
        let budget = args.alerts_per_day.unwrap_or(budget);
        let row = RiskSettingsRow {
            low_max: i64::from(bands.low_max),
            medium_max: i64::from(bands.medium_max),
            high_max: i64::from(bands.high_max),
            alerts_per_day: i64::from(budget),
        };
        store.set_risk_settings(tenant, row).await?;
        let detail = serde_json::json!({ "bands": bands, "alerts_per_day": budget });
        let entry = AuditEntry {
            actor: "cli",
            action: "tenant.risk_settings",
            target: None,
            request_id: None,
            detail: Some(detail),
        };
        store.record_audit(tenant, entry).await?;
        (bands, budget)
    } else {
        (bands, budget)
    };
    if args.json.json {
        let out = serde_json::json!({"tenant": tenant.as_str(), "bands": bands, "alerts_per_day": budget});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "Tenant {tenant}: low 0–{}, medium {}–{}, high {}–{}, critical {}–100; at most {budget} \
             critical alert(s) per recipient per day (the rest roll into the digest)",
            bands.low_max,
            bands.low_max + 1,
            bands.medium_max,
            bands.medium_max + 1,
            bands.high_max,
            bands.high_max + 1
        );
    }
    Ok(0)
}
