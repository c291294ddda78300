//! `seed-burst`: an alert burst written the way the nightly scoring writes it. Creates N
//! tenants (`burst000`…), each with one manager and 10 reps (email + Slack id each), M open
//! deals per tenant, and records a critical score (82) for every deal through
//! `Store::record_scores`, so every deal crosses into critical: the store writes one alert and
//! one outbox row per recipient (owner + manager) and channel. Same set-up as
//! `benches/alert_burst.rs`. Users get a fixed-offset zone where it is midday now, so quiet
//! hours never hold the burst back. Prints one JSON line with the counts.
use chrono::Timelike;
use clap::Args;
use skygeni::domain::{
    Deal, DealScore, FactorCode, Priority, Recommendation, RiskCategory, RiskFactor, TenantId,
};
use skygeni::store::{NewUser, Store};

const REPS: usize = 10;

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
}

fn critical(deal_id: &str) -> DealScore {
    DealScore {
        deal_id: deal_id.into(),
        risk_score: 82,
        risk_category: RiskCategory::Critical,
        win_probability: 0.18,
        confidence: 0.8,
        risk_factors: vec![RiskFactor {
            code: FactorCode::DealAge,
            impact: -0.4,
            impact_pp: -3.0,
            description: "Open 140 days; deals like this close in 60".into(),
            rule_based: false,
        }],
        recommendations: vec![Recommendation {
            rule: "exec_sponsor".into(),
            priority: Priority::Immediate,
            action: "Bring in an executive sponsor within 24 hours".into(),
            rationale: "Critical risk".into(),
        }],
        similar_deals: vec![],
        model_version: "loadkit".into(),
        degraded: false,
    }
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
    let store = Store::connect(&a.database_url).await?;
    let now = chrono::Utc::now();
    let zone = midday_zone(now);
    for t in 0..a.tenants {
        let tenant = TenantId::parse(&format!("burst{t:03}")).map_err(anyhow::Error::msg)?;
        store
            .add_tenant(&tenant, &format!("Burst tenant {t}"), "UTC")
            .await?;
        let mgr = format!("t{t}_mgr");
        let mut users = vec![(mgr.clone(), "manager", None)];
        users.extend((0..REPS).map(|r| (format!("t{t}_rep{r}"), "rep", Some(mgr.clone()))));
        for (id, role, manager) in &users {
            let email = format!("{id}@loadkit.example");
            store
                .upsert_user(
                    &tenant,
                    &NewUser {
                        user_id: id,
                        email: Some(&email),
                        name: Some(id),
                        role,
                        manager_id: manager.as_deref(),
                    },
                )
                .await?;
            let slack_id = format!("U{}", id.to_uppercase());
            store
                .set_user_delivery(&tenant, id, Some(&slack_id), &zone)
                .await?;
        }
        let batch: Vec<Deal> = (0..a.deals)
            .map(|d| {
                let mut deal = Deal::example(&format!("D{d:05}"));
                deal.sales_rep_id = format!("t{t}_rep{}", d % REPS);
                deal.company = Some(format!("Company {t}-{d}"));
                deal.amount = 10_000.0 + d as f64 * 1_000.0;
                deal
            })
            .collect();
        store.upsert_deals(&tenant, &batch, &mut |_| {}).await?;
        let scores: Vec<DealScore> = (0..a.deals)
            .map(|d| critical(&format!("D{d:05}")))
            .collect();
        store
            .record_scores(&tenant, now, &scores, &mut |_| {})
            .await?;
    }
    println!(
        "{}",
        serde_json::json!({"tenants": a.tenants, "deals_per_tenant": a.deals,
            "crossings": a.tenants * a.deals, "zone": zone})
    );
    store.close().await;
    Ok(())
}
