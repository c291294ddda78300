//! `seed-burst`: an alert burst written the way the nightly scoring writes it. Creates N
//! tenants (`burst000`…), each with one manager and 10 reps (email + Slack id each), M open
//! deals per tenant, and records a critical score (82) for every deal through
//! `Store::record_scores`, so every deal crosses into critical: the store writes one alert and
//! one outbox row per recipient (owner + manager) and channel. Same set-up as
//! `benches/alert_burst.rs` (both use `skygeni::jobs::burst`). Users get a fixed-offset zone where it is midday now, so quiet
//! hours never hold the burst back. Prints one JSON line with the counts.
use chrono::Timelike;
use clap::Args;
use skygeni::domain::{Channel, TenantId};
use skygeni::jobs::burst;
use skygeni::notify::planner::AlertPolicy;
use skygeni::store::{AlertSettings, Store};

#[derive(Args)]
pub struct BurstArgs {
    /// Database (the replicas' SKYGENI_DATABASE_URL).
    #[arg(long, env = "SKYGENI_DATABASE_URL")]
    database_url: String,
    #[arg(long, default_value_t = 20)]
    tenants: usize,
    /// Deals per tenant (each crosses into critical).
    #[arg(long, default_value_t = 100)]
    deals: usize,
    /// The first K reps of each tenant take alerts in Slack only (no email), so a Slack outage
    /// must reach them through the email fallback.
    #[arg(long, default_value_t = 0)]
    slack_only_reps: usize,
}

/// `Etc/GMT-N` is UTC+N: the zone whose local hour is 12 right now.
fn midday_zone(now: chrono::DateTime<chrono::Utc>) -> String {
    let mut offset = 12 - now.hour() as i32;
    if offset > 14 {
        offset -= 24;
    }
    if offset < -12 {
        offset += 24;
    }
    match offset {
        0 => "Etc/GMT".into(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

pub async fn run(a: BurstArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.tenants <= 1_000, "--tenants is capped at 1,000");
    anyhow::ensure!(a.deals <= 100_000, "--deals is capped at 100,000");
    anyhow::ensure!(
        a.slack_only_reps <= burst::REPS,
        "--slack-only-reps is at most {}",
        burst::REPS
    );
    let store = Store::connect(&a.database_url).await?;
    let now = chrono::Utc::now();
    let zone = midday_zone(now);
    for t in 0..a.tenants {
        let tenant = TenantId::parse(&format!("burst{t:03}")).map_err(anyhow::Error::msg)?;
        burst::seed_tenant(&store, &tenant, t, a.deals, "loadkit.example", &zone).await?;
        let slack_only = AlertSettings {
            channels: vec![Channel::Slack],
            time_zone: AlertSettings::parse_time_zone(&zone)?,
            ..AlertSettings::default()
        };
        for r in 0..a.slack_only_reps {
            store
                .upsert_alert_settings(&tenant, &format!("t{t}_rep{r}"), &slack_only)
                .await?;
        }
        let scores = burst::critical_scores(a.deals, "loadkit");
        store
            .record_scores(&tenant, now, &scores, &AlertPolicy::default(), &mut |_| {})
            .await?;
    }
    println!(
        "{}",
        serde_json::json!({"tenants": a.tenants, "deals_per_tenant": a.deals,
            "crossings": a.tenants * a.deals, "slack_only_reps": a.slack_only_reps, "zone": zone})
    );
    store.close().await;
    Ok(())
}
