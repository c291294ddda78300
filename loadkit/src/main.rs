//! `skygeni-loadkit`: the Rust half of the load and fault kit. The scenario scripts in
//! `loadkit/scenarios/` start PostgreSQL, the fakes and `skygeni serve` replicas, and call this
//! binary to generate traffic and watch the service. Traffic goes to loopback only and every
//! loop is bounded in count and time.
mod burst;
mod load;
mod nightly;
mod ready;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "skygeni-loadkit", about = "SkyGeni load and fault kit")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Steady-rate mixed traffic (API scoring, slash commands, interactions, webhooks).
    Load(Box<load::LoadArgs>),
    /// Seed an alert burst: tenants, users and deals, every deal crossing into critical.
    SeedBurst(burst::BurstArgs),
    /// Seed the nightly run: N fake orgs with M Opportunities each and N connected tenants.
    SeedNightly(nightly::NightlyArgs),
    /// Poll /readyz and report every status change (bounded by --for).
    WatchReady(ready::WatchArgs),
    /// Write a synthetic CRM export (seed columns; one deal in five open) to stdout.
    GenCsv {
        /// Number of deals.
        #[arg(long, default_value_t = 1_000)]
        rows: usize,
        /// Deal id prefix (different prefixes give disjoint ids).
        #[arg(long, default_value = "K")]
        prefix: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Load(a) => load::run(*a).await,
        Cmd::WatchReady(a) => ready::run(a).await,
        Cmd::SeedBurst(a) => burst::run(a).await,
        Cmd::SeedNightly(a) => nightly::run(a).await,
        Cmd::GenCsv { rows, prefix } => {
            anyhow::ensure!(rows <= 10_000_000, "--rows is capped at 10,000,000");
            print!("{}", skygeni::crm::synthetic::generated_csv(rows, &prefix));
            Ok(())
        }
    }
}
