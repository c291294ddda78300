//! `skygeni model list | promote VERSION | rollback`: the model registry.
use super::JsonFlag;
use crate::domain::{ModelScope, TenantId};
use crate::store::{AuditEntry, Store, StoreError};
use clap::Subcommand;

#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    /// Act on the global model instead of the tenant's.
    #[arg(long, global = true)]
    pub global: bool,
    #[command(subcommand)]
    pub action: ModelCommand,
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// List stored versions, newest first, with their aliases and metrics.
    List {
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Make VERSION the production model (the previous one stays for rollback).
    Promote {
        #[arg(value_name = "VERSION")]
        model_version: String,
    },
    /// Put the previous production version back.
    Rollback,
    /// Write a model's JSON (default: production) to a file, e.g. for `score --csv --model`.
    Export {
        /// Version to export; default the production model.
        #[arg(long = "model-version", value_name = "VERSION")]
        model_version: Option<String>,
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

pub async fn run(store: &Store, tenant: &TenantId, args: ModelArgs) -> anyhow::Result<i32> {
    store.require_tenant(tenant).await?;
    let scope = if args.global {
        ModelScope::Global
    } else {
        ModelScope::Tenant(tenant.clone())
    };
    let audit = |action: &'static str, detail: serde_json::Value| AuditEntry {
        actor: "cli",
        action,
        target: None,
        request_id: None,
        detail: Some(detail),
    };
    match args.action {
        ModelCommand::List { json } => {
            let models = store.list_models(&scope).await?;
            let lifecycle = crate::service::lifecycle::history(store, tenant, &scope).await?;
            if json.json {
                // Kept an array of versions (as before); the lifecycle rides along per version.
                let mut v = serde_json::to_value(&models)?;
                super::model_lifecycle::annotate(&mut v, &lifecycle);
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else if models.is_empty() {
                println!(
                    "No models for {}. Train one with `skygeni train{}`.",
                    scope.as_str(),
                    if args.global { " --global" } else { "" }
                );
            } else {
                println!(
                    "{:<48} {:<20} {:<22} {:>9} {:>7}  window",
                    "version", "aliases", "created", "CV loss", "ECE"
                );
                for m in models {
                    let oof = &m.metrics["out_of_fold"];
                    let cv = m.metrics["candidates"].as_array().and_then(|c| {
                        c.iter()
                            .find(|x| x["name"] == m.metrics["chosen"])
                            .and_then(|x| x["cv_log_loss"].as_f64())
                    });
                    println!(
                        "{:<48} {:<20} {:<22} {:>9} {:>7}  {} … {}",
                        m.version,
                        m.aliases.join(","),
                        &m.created_at[..19.min(m.created_at.len())],
                        cv.map_or("-".into(), |v| format!("{v:.4}")),
                        oof["ece"]
                            .as_f64()
                            .map_or("-".into(), |v| format!("{v:.4}")),
                        m.training_from.unwrap_or_default(),
                        m.training_to.unwrap_or_default()
                    );
                }
                print!("{}", super::model_lifecycle::text(&lifecycle));
            }
        }
        ModelCommand::Promote {
            model_version: version,
        } => match store
            .set_model_alias(&scope, "production", &version, "promoted by cli")
            .await
        {
            Ok(()) => {
                store
                    .record_audit(
                        tenant,
                        audit(
                            "model.promote",
                            serde_json::json!({"scope": scope.as_str(), "version": version}),
                        ),
                    )
                    .await?;
                println!(
                    "{version} is now the production model for {}",
                    scope.as_str()
                );
            }
            Err(StoreError::NotFound) => anyhow::bail!(
                "no model version {version:?} for {}; see `skygeni model list`",
                scope.as_str()
            ),
            Err(e) => return Err(e.into()),
        },
        ModelCommand::Export { model_version, out } => {
            let version = match model_version {
                Some(v) => v,
                None => store
                    .model_alias(&scope, "production")
                    .await?
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "{} has no production model; train one first",
                            scope.as_str()
                        )
                    })?,
            };
            let json = match store.load_model_json(&scope, &version).await {
                Ok(j) => j,
                Err(StoreError::NotFound) => {
                    anyhow::bail!("no model version {version:?} for {}", scope.as_str())
                }
                Err(e) => return Err(e.into()),
            };
            std::fs::write(&out, json)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
            println!("Wrote {version} to {}", out.display());
        }
        ModelCommand::Rollback => {
            match store.rollback_production(&scope).await {
                Ok((from, to)) => {
                    store.record_audit(tenant, audit("model.rollback", serde_json::json!({"scope": scope.as_str(), "from": from, "to": to}))).await?;
                    println!("Rolled back {}: production {from} → {to}", scope.as_str());
                }
                Err(StoreError::Conflict(msg)) => anyhow::bail!("cannot roll back: {msg}"),
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(0)
}
