//! `skygeni alerts failed|retry|queue` (the outbox: dead letters, manual retry, queue sizes)
//! and `skygeni jobs` (scheduled runs, newest first).
use super::JsonFlag;
use crate::domain::TenantId;
use crate::store::Store;

#[derive(Debug, clap::Subcommand)]
pub enum AlertsCommand {
    /// Messages that exhausted their attempts (dead letters), with the last error.
    Failed {
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Put dead letters back in the queue: one (--id) or all (--all).
    Retry {
        #[arg(long, conflicts_with = "all")]
        id: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// Outbox rows per status (pending, sending, sent, dead).
    Queue {
        #[command(flatten)]
        json: JsonFlag,
    },
}

pub async fn run(store: &Store, tenant: &TenantId, cmd: AlertsCommand) -> anyhow::Result<i32> {
    store.require_tenant(tenant).await?;
    let now = super::now();
    match cmd {
        AlertsCommand::Failed { limit, json } => {
            if limit < 1 {
                anyhow::bail!("--limit must be at least 1");
            }
            let rows = store.outbox_by_status(tenant, "dead", limit).await?;
            if json.json {
                // The payload holds addresses and deal data; show it only in the JSON form.
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if rows.is_empty() {
                println!("No failed deliveries for tenant {tenant}.");
            } else {
                for r in rows {
                    println!(
                        "{}  {:<15} {:<6} to {:<16} attempts {}  {}",
                        r.outbox_id,
                        r.kind,
                        r.channel,
                        r.recipient,
                        r.attempts,
                        r.last_error.unwrap_or_default()
                    );
                }
                println!("Retry with: skygeni alerts retry --id ID  (or --all)");
            }
            Ok(0)
        }
        AlertsCommand::Retry { id, all } => {
            if id.is_none() && !all {
                anyhow::bail!("say which: --id OUTBOX_ID or --all");
            }
            let n = store.retry_dead_outbox(tenant, id.as_deref(), now).await?;
            if n == 0 && id.is_some() {
                anyhow::bail!("no dead letter with that id in tenant {tenant}");
            }
            println!("{n} message(s) queued again; a running dispatcher sends them now.");
            Ok(0)
        }
        AlertsCommand::Queue { json } => {
            let counts = store.outbox_status_counts(tenant).await?;
            if json.json {
                let map: serde_json::Map<String, serde_json::Value> =
                    counts.into_iter().map(|(s, n)| (s, n.into())).collect();
                println!("{}", serde_json::to_string_pretty(&map)?);
            } else if counts.is_empty() {
                println!("The outbox of tenant {tenant} is empty.");
            } else {
                for (s, n) in counts {
                    println!("{s:<8} {n}");
                }
            }
            Ok(0)
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct JobsArgs {
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn jobs(store: &Store, tenant: &TenantId, args: JobsArgs) -> anyhow::Result<i32> {
    store.require_tenant(tenant).await?;
    if args.limit < 1 {
        anyhow::bail!("--limit must be at least 1");
    }
    let runs = store.job_runs(tenant, args.limit).await?;
    if args.json.json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
    } else if runs.is_empty() {
        println!("No scheduled runs yet for tenant {tenant} (`skygeni serve` runs the scheduler).");
    } else {
        for r in runs {
            // A run taken over from a replica that died says so.
            let retaken = if r.attempts > 1 {
                format!(" (attempt {})", r.attempts)
            } else {
                String::new()
            };
            println!(
                "{}  {:<24} {:<8} {}{retaken}",
                &r.scheduled_for[..19.min(r.scheduled_for.len())],
                r.job,
                r.status,
                r.detail.unwrap_or_default()
            );
        }
    }
    Ok(0)
}
