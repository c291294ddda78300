//! The command-line interface: clap definitions and one thin function per subcommand.
mod alerts;
mod audit;
mod backtest;
mod demo;
mod import;
mod map_args;
mod metrics;
mod model;
mod model_lifecycle;
mod render;
mod risk_settings;
mod rotate_key;
mod score;
pub mod score_file;
mod serve;
mod sync;
mod tenant;
mod top;
mod train;
mod users;

use crate::config::Settings;
use crate::domain::TenantId;
use crate::domain::{Clock, SystemClock};
use crate::store::Store;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// The command line's "now". A command is a short-lived process run by a person or cron, so
/// its clock is the system's; every subcommand reads time here, not from `Utc::now()`.
fn now() -> chrono::DateTime<chrono::Utc> {
    SystemClock.now()
}

/// SkyGeni — scores open B2B deals for risk of loss, explains why, recommends what to do.
#[derive(Debug, Parser)]
#[command(name = "skygeni", version, about, propagate_version = true)]
pub struct Cli {
    /// Tenant to act on.
    #[arg(long, global = true, default_value = "default", value_parser = TenantId::parse)]
    pub tenant: TenantId,
    /// Database URL (overrides SKYGENI_DATABASE_URL; default sqlite://skygeni.db).
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole product on the bundled seed data (fresh SQLite database in demo-out/).
    Demo(demo::DemoArgs),
    /// Apply pending database migrations (they also run automatically on start).
    Migrate,
    /// Import deals from a CSV export (seed schema, Salesforce/HubSpot/Pipedrive exports, or --map).
    Import(import::ImportArgs),
    /// Train the tenant's model (or the global one) and register it.
    Train(train::TrainArgs),
    /// Score open deals (database), or a CSV file to a CSV file (--csv IN --out OUT).
    Score(score::ScoreArgs),
    /// The open deals most at risk, ranked by relative risk in the tenant's own pipeline.
    Top(top::TopArgs),
    /// Pipeline metrics: value, RAPV, optimism gap, REM, risk distribution, trends.
    Metrics(metrics::MetricsArgs),
    /// Replay history at a date and compare the model with the segment-rate baseline.
    Backtest(backtest::BacktestArgs),
    /// Model registry: list, promote, rollback.
    Model(model::ModelArgs),
    /// Show or set the tenant's risk-band edges and daily alert budget per recipient.
    RiskSettings(risk_settings::RiskSettingsArgs),
    /// Run the HTTP service (REST API, probes, metrics) on SKYGENI_BIND.
    Serve(serve::ServeArgs),
    /// Print a JWT for the REST API (needs SKYGENI_JWT_SECRET).
    Token(serve::TokenArgs),
    /// Show the audit log: who did what, when, with which request id.
    Audit(audit::AuditArgs),
    /// Sync the tenant's Salesforce org now: pull, score, write back, create Tasks.
    Sync(sync::SyncArgs),
    /// Alert delivery: failed messages (dead letters), retry, queue sizes.
    Alerts {
        #[command(subcommand)]
        action: alerts::AlertsCommand,
    },
    /// Scheduled job runs (nightly score, digests…), newest first, with status.
    Jobs(alerts::JobsArgs),
    /// Re-seal stored Slack/Salesforce tokens under the current SKYGENI_ENCRYPTION_KEY
    /// (after a rotation; the old key in SKYGENI_ENCRYPTION_KEY_PREVIOUS).
    RotateKey,
    /// SkyGeni users without Salesforce: add, import from CSV, list, unlink from Slack.
    Users {
        #[command(subcommand)]
        action: users::UsersCommand,
    },
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        action: tenant::TenantCommand,
    },
}

/// Run the parsed command. Returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    let mut settings = Settings::load()?;
    if let Some(url) = &cli.database_url {
        settings.database_url = url.clone();
    }
    match cli.command {
        Command::Migrate => {
            let backend = crate::store::Backend::from_url(&settings.database_url)?;
            let n = crate::store::migrate_url(&settings.database_url, backend).await?;
            println!(
                "{n} migration(s) applied to {}",
                crate::store::redact_url(&settings.database_url)
            );
            Ok(0)
        }
        Command::Import(args) => {
            let store = Store::connect(&settings.database_url).await?;
            import::run(&store, &cli.tenant, args).await
        }
        Command::Demo(args) => demo::run(args).await,
        Command::Backtest(args) => backtest::run(args).await,
        Command::Score(args) if score::is_file_mode(&args) => score::run_file(args).await,
        Command::Train(args) => {
            train::run(
                &Store::connect(&settings.database_url).await?,
                &cli.tenant,
                args,
            )
            .await
        }
        Command::Score(args) => {
            score::run(
                &Store::connect(&settings.database_url).await?,
                &cli.tenant,
                args,
            )
            .await
        }
        Command::RiskSettings(args) => {
            risk_settings::run(
                &Store::connect(&settings.database_url).await?,
                &cli.tenant,
                args,
            )
            .await
        }
        Command::Top(args) => {
            top::run(
                &Store::connect(&settings.database_url).await?,
                &cli.tenant,
                args,
            )
            .await
        }
        Command::Metrics(args) => {
            metrics::run(
                &Store::connect(&settings.database_url).await?,
                &cli.tenant,
                args,
            )
            .await
        }
        Command::Model(args) => {
            model::run(
                &Store::connect(&settings.database_url).await?,
                &cli.tenant,
                args,
            )
            .await
        }
        Command::Audit(args) => {
            audit::run(
                &Store::connect(&settings.database_url).await?,
                &cli.tenant,
                args,
            )
            .await
        }
        Command::Alerts { action } => {
            alerts::run(
                &Store::connect(&settings.database_url).await?,
                &cli.tenant,
                action,
            )
            .await
        }
        Command::Jobs(args) => {
            alerts::jobs(
                &Store::connect(&settings.database_url).await?,
                &cli.tenant,
                args,
            )
            .await
        }
        Command::Serve(args) => serve::serve(settings, args).await,
        Command::Token(args) => serve::token(&settings, &cli.tenant, args),
        Command::Sync(args) => sync::run(settings, &cli.tenant, args).await,
        Command::RotateKey => rotate_key::run(&settings).await,
        Command::Users { action } => {
            let store = Store::connect(&settings.database_url).await?;
            users::run(&store, &cli.tenant, action).await
        }
        Command::Tenant { action } => {
            let store = Store::connect(&settings.database_url).await?;
            tenant::run(&store, action).await
        }
    }
}

/// Shared `--json` flag.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct JsonFlag {
    /// Print machine-readable JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// A path argument that must exist, with a friendly message when it doesn't.
pub fn existing_file(s: &str) -> Result<PathBuf, String> {
    let p = PathBuf::from(s);
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!("no such file: {s}"))
    }
}
