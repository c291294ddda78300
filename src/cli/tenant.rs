//! `skygeni tenant add|list`.
use super::JsonFlag;
use crate::domain::TenantId;
use crate::store::{AuditEntry, Store, StoreError};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Add a tenant (an organisation with its own deals, users and models).
    Add {
        /// Tenant id: lowercase letters, digits, '-' or '_'.
        #[arg(value_parser = TenantId::parse)]
        id: TenantId,
        /// Display name (defaults to the id).
        #[arg(long)]
        name: Option<String>,
        /// IANA time zone for the tenant's nightly jobs, e.g. Europe/Berlin.
        #[arg(long, default_value = "UTC")]
        time_zone: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// List tenants.
    List {
        #[command(flatten)]
        json: JsonFlag,
    },
}

pub async fn run(store: &Store, cmd: TenantCommand) -> anyhow::Result<i32> {
    match cmd {
        TenantCommand::Add {
            id,
            name,
            time_zone,
            json,
        } => {
            if time_zone.parse::<chrono_tz::Tz>().is_err() {
                anyhow::bail!(
                    "unknown time zone {time_zone:?}: use an IANA name such as Europe/Berlin"
                );
            }
            let name = name.unwrap_or_else(|| id.to_string());
            match store.add_tenant(&id, &name, &time_zone).await {
                Ok(t) => {
                    let detail = serde_json::json!({ "name": name, "time_zone": time_zone });
                    let entry = AuditEntry {
                        actor: "cli",
                        action: "tenant.add",
                        target: Some(id.as_str()),
                        request_id: None,
                        detail: Some(detail),
                    };
                    store.record_audit(&id, entry).await?;
                    if json.json {
                        println!("{}", serde_json::to_string_pretty(&t)?);
                    } else {
                        println!("tenant {} added ({}, {})", t.tenant_id, t.name, t.time_zone);
                    }
                    Ok(0)
                }
                Err(StoreError::Conflict(_)) => anyhow::bail!("tenant {id} already exists"),
                Err(e) => Err(e.into()),
            }
        }
        TenantCommand::List { json } => {
            let tenants = store.list_tenants().await?;
            if json.json {
                println!("{}", serde_json::to_string_pretty(&tenants)?);
            } else {
                for t in tenants {
                    println!("{:<24} {:<32} {}", t.tenant_id, t.name, t.time_zone);
                }
            }
            Ok(0)
        }
    }
}
