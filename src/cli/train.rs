//! `skygeni train`: train the tenant's (or the global) model and register it.
use super::JsonFlag;
use crate::domain::{ModelScope, TenantId};
use crate::engine::TrainConfig;
use crate::service::models::{closed_before, train_and_register};
use crate::store::{AuditEntry, Store};
use chrono::NaiveDate;

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Train the global model on every tenant's closed deals instead of one tenant's.
    #[arg(long)]
    pub global: bool,
    /// Use only deals closed before this date (default: today).
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// Register as staging only; leave production as it is.
    #[arg(long)]
    pub staging: bool,
    /// Minimum closed deals for a model (with --min-won won and --min-lost lost).
    #[arg(long, default_value_t = 200)]
    pub min_deals: usize,
    #[arg(long, default_value_t = 50)]
    pub min_won: usize,
    #[arg(long, default_value_t = 50)]
    pub min_lost: usize,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn run(store: &Store, tenant: &TenantId, args: TrainArgs) -> anyhow::Result<i32> {
    let as_of = args.as_of.unwrap_or_else(|| super::now().date_naive());
    let (scope, deals) = if args.global {
        let mut all = Vec::new();
        for t in store.list_tenants().await? {
            let id = TenantId::parse(&t.tenant_id).map_err(anyhow::Error::msg)?;
            all.extend(store.load_deals(&id).await?);
        }
        (ModelScope::Global, all)
    } else {
        store.require_tenant(tenant).await?;
        (
            ModelScope::Tenant(tenant.clone()),
            store.load_deals(tenant).await?,
        )
    };
    let history = closed_before(&deals, as_of);
    let cfg = TrainConfig {
        min_deals: args.min_deals,
        min_won: args.min_won,
        min_lost: args.min_lost,
        ..TrainConfig::default()
    };
    let report = train_and_register(store, &scope, &history, &cfg, args.staging).await?;
    let detail = serde_json::json!({"scope": scope.as_str(), "trained": report.trained, "reason": report.reason,
        "version": report.model.as_ref().map(|m| m.version.clone())});
    store
        .record_audit(
            tenant,
            AuditEntry {
                actor: "cli",
                action: "model.train",
                target: Some(scope.as_str()),
                request_id: None,
                detail: Some(detail),
            },
        )
        .await?;
    if args.json.json {
        let model = report.model.as_ref();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "scope": scope.as_str(), "trained": report.trained, "reason": report.reason,
                "closed_deals": report.closed_deals, "won": report.won, "lost": report.lost,
                "version": model.map(|m| &m.version), "kind": model.map(|m| m.kind.as_str()),
                "metrics": model.map(|m| &m.metrics),
                "registered_as": if !report.trained { vec![] } else if args.staging { vec!["staging"] } else { vec!["staging", "production"] },
            }))?
        );
    } else {
        println!(
            "Training data: {} closed deals before {as_of} ({} won, {} lost)",
            report.closed_deals, report.won, report.lost
        );
        println!("{}", report.reason);
        match &report.model {
            Some(m) => {
                print!("{}", super::render::model_card(m));
                println!(
                    "Registered {} as {}",
                    m.version,
                    if args.staging {
                        "staging"
                    } else {
                        "staging and production"
                    }
                );
            }
            None => println!(
                "No model trained for {}: scores use the {} (see `skygeni model list`).",
                scope.as_str(),
                if args.global {
                    "segment win rates"
                } else {
                    "global model when there is one, else segment win rates"
                }
            ),
        }
    }
    Ok(0)
}
