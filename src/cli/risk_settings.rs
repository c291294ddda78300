//! `skygeni risk-settings`: show or set the tenant's risk-band edges and daily alert budget.
use super::JsonFlag;
use crate::domain::{RiskBands, RiskSettings, TenantId, parse_alerts_per_day};
use crate::service::risk_settings;
use crate::store::{AuditEntry, Store};

#[derive(Debug, clap::Args)]
pub struct RiskSettingsArgs {
    /// Upper edges of low, medium and high, e.g. 40,70,90 (above the last is critical).
    /// Default: the design's 25,50,75.
    #[arg(long, value_parser = RiskBands::parse)]
    pub bands: Option<RiskBands>,
    /// Critical alerts per recipient per day before the rest roll into the digest (default 5,
    /// at most 1000).
    #[arg(long, value_parser = parse_alerts_per_day)]
    pub alerts_per_day: Option<u32>,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn run(store: &Store, tenant: &TenantId, args: RiskSettingsArgs) -> anyhow::Result<i32> {
    store.require_tenant(tenant).await?;
    let current = risk_settings::current(store, tenant).await?;
    let settings = if args.bands.is_some() || args.alerts_per_day.is_some() {
        // Both parsers are the domain's checks, the same the API and the Slack form run.
        let new = RiskSettings {
            bands: args.bands.unwrap_or(current.bands),
            alerts_per_day: args.alerts_per_day.unwrap_or(current.alerts_per_day),
        };
        risk_settings::replace(store, None, tenant, new).await?;
        let detail =
            serde_json::json!({ "bands": new.bands, "alerts_per_day": new.alerts_per_day });
        let entry = AuditEntry {
            actor: "cli",
            action: "tenant.risk_settings",
            target: None,
            request_id: None,
            detail: Some(detail),
        };
        store.record_audit(tenant, entry).await?;
        new
    } else {
        current
    };
    let RiskSettings {
        bands,
        alerts_per_day: budget,
    } = settings;
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
