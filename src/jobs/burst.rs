//! A synthetic alert burst, as the alert-burst benchmark and the load kit's `seed-burst` both
//! build it: tenants with one manager and 10 reps (email + Slack id each), open deals spread
//! over the reps, and a critical score (82) per deal that `Store::record_scores` turns into
//! alerts and outbox rows. One definition so the benchmark measures what the kit replays.
//!
//! Each burst tenant sets the largest daily alert budget (`MAX_ALERTS_PER_DAY`): a burst
//! measures the delivery of every crossing, and the default budget of five per recipient
//! (issue 16) would send most of them to the digest instead (the alert-burst bench then
//! counted 11,000 of its 40,000 deliveries and failed).
use crate::domain::{
    Deal, DealScore, FactorCode, MAX_ALERTS_PER_DAY, Priority, Recommendation, RiskCategory,
    RiskFactor, RiskSettings, TenantId,
};
use crate::store::{NewUser, Store};

/// Reps per burst tenant (plus one manager).
pub const REPS: usize = 10;

/// Id of the `d`-th deal of a burst tenant.
pub fn deal_id(d: usize) -> String {
    format!("D{d:05}")
}

/// One burst user: what a fake Slack must know to answer `users.info` / DMs.
#[derive(Debug, Clone)]
pub struct BurstUser {
    pub user_id: String,
    pub email: String,
    pub slack_user_id: String,
}

/// A critical score (82) for `deal_id` with one factor and one immediate action.
pub fn critical_score(deal_id: &str, model_version: &str) -> DealScore {
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
        model_version: model_version.into(),
        degraded: false,
    }
}

/// Create burst tenant number `t` (`tenant`), its manager and reps (`{email_domain}` emails,
/// time zone `zone`) and `deals` open deals. Returns the users.
pub async fn seed_tenant(
    store: &Store,
    tenant: &TenantId,
    t: usize,
    deals: usize,
    email_domain: &str,
    zone: &str,
) -> anyhow::Result<Vec<BurstUser>> {
    store
        .add_tenant(tenant, &format!("Burst tenant {t}"), "UTC")
        .await?;
    let settings = RiskSettings {
        alerts_per_day: MAX_ALERTS_PER_DAY,
        ..RiskSettings::default()
    };
    crate::service::risk_settings::replace(store, None, tenant, settings).await?;
    let mgr = format!("t{t}_mgr");
    let mut users = vec![(mgr.clone(), "manager", None)];
    users.extend((0..REPS).map(|r| (format!("t{t}_rep{r}"), "rep", Some(mgr.clone()))));
    let mut out = Vec::with_capacity(users.len());
    for (id, role, manager) in &users {
        let email = format!("{id}@{email_domain}");
        store
            .upsert_user(
                tenant,
                &NewUser {
                    user_id: id,
                    email: Some(&email),
                    name: Some(id),
                    role,
                    manager_id: manager.as_deref(),
                },
            )
            .await?;
        let slack_user_id = format!("U{}", id.to_uppercase());
        store
            .set_user_delivery(tenant, id, Some(&slack_user_id), zone)
            .await?;
        out.push(BurstUser {
            user_id: id.clone(),
            email,
            slack_user_id,
        });
    }
    let batch: Vec<Deal> = (0..deals)
        .map(|d| {
            let mut deal = Deal::example(&deal_id(d));
            deal.sales_rep_id = format!("t{t}_rep{}", d % REPS);
            deal.company = Some(format!("Company {t}-{d}"));
            deal.amount = 10_000.0 + d as f64 * 1_000.0;
            deal
        })
        .collect();
    store.upsert_deals(tenant, &batch, &mut |_| {}).await?;
    Ok(out)
}

/// The burst's scores for one tenant: every deal critical.
pub fn critical_scores(deals: usize, model_version: &str) -> Vec<DealScore> {
    (0..deals)
        .map(|d| critical_score(&deal_id(d), model_version))
        .collect()
}
