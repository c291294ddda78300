//! `skygeni audit`: who did what to the tenant's data, newest first.
use super::JsonFlag;
use crate::domain::TenantId;
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// How many entries to show (newest first).
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    /// Only entries whose action starts with this (e.g. `deal.` or `model.promote`).
    #[arg(long)]
    pub action: Option<String>,
    /// Only entries by this actor (a user id, `cli`, …).
    #[arg(long)]
    pub actor: Option<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn run(store: &Store, tenant: &TenantId, args: AuditArgs) -> anyhow::Result<i32> {
    store.require_tenant(tenant).await?;
    if args.limit < 1 {
        anyhow::bail!("--limit must be at least 1");
    }
    // Filters apply to a generous window of recent rows: the audit log is read by people
    // looking at what just happened, not by reports.
    let rows: Vec<_> = store
        .list_audit(tenant, args.limit.saturating_mul(20).min(100_000))
        .await?
        .into_iter()
        .filter(|r| {
            args.action
                .as_deref()
                .is_none_or(|a| r.action.starts_with(a))
        })
        .filter(|r| args.actor.as_deref().is_none_or(|a| r.actor == a))
        .take(args.limit as usize)
        .collect();
    if args.json.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if rows.is_empty() {
        println!("No audit entries for tenant {tenant} match.");
    } else {
        for r in rows {
            println!(
                "{}  {:<16} {:<22} {:<24} {}{}",
                &r.at[..19.min(r.at.len())],
                r.actor,
                r.action,
                r.target.unwrap_or_default(),
                r.request_id
                    .map(|id| format!("req={id} "))
                    .unwrap_or_default(),
                r.detail.unwrap_or_default()
            );
        }
    }
    Ok(0)
}
