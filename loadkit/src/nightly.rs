//! `seed-nightly`: the set-up of the nightly-run scenarios. Creates N orgs with M generated
//! Opportunities each in the multi-org fake Salesforce (`/_control/orgs`, deterministic per
//! org), then N tenants `n0000`… in the database, each connected to its own org the way the
//! OAuth callback would leave it: instance URL and refresh token sealed with
//! `SKYGENI_ENCRYPTION_KEY`, org id routed to the tenant. Prints one JSON line with counts.
use clap::Args;
use skygeni::crypto::SecretBox;
use skygeni::domain::TenantId;
use skygeni::store::{SfConnectionRow, Store};
use skygeni_fakes::salesforce::orgs::refresh_token;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct NightlyArgs {
    /// Database (the replicas' SKYGENI_DATABASE_URL).
    #[arg(long, env = "SKYGENI_DATABASE_URL")]
    database_url: String,
    /// Same key as the replicas, so they can open the sealed tokens.
    #[arg(long, env = "SKYGENI_ENCRYPTION_KEY", hide_env_values = true)]
    encryption_key: String,
    /// Base URL of the multi-org fake (`salesforce_orgs_url` of skygeni-fakes).
    #[arg(long)]
    orgs_url: String,
    #[arg(long, default_value_t = 10)]
    tenants: usize,
    /// Opportunities per org (about 60 % open).
    #[arg(long, default_value_t = 1_000)]
    deals: usize,
    /// Owners the Opportunities are spread over (plus one manager) per org.
    #[arg(long, default_value_t = 20)]
    owners: usize,
    /// IANA zone of every tenant (the nightly cron is evaluated in it).
    #[arg(long, default_value = "UTC")]
    time_zone: String,
}

pub fn tenant_id(k: usize) -> String {
    format!("n{k:04}")
}

pub async fn run(a: NightlyArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.tenants <= 5_000, "--tenants is capped at 5,000");
    anyhow::ensure!(
        a.tenants.saturating_mul(a.deals) <= 2_000_000,
        "--tenants × --deals is capped at 2,000,000"
    );
    let t0 = Instant::now();
    let http = reqwest::Client::new();
    let created: serde_json::Value = http
        .post(format!("{}/_control/orgs", a.orgs_url))
        .json(&serde_json::json!({"orgs": a.tenants, "opportunities": a.deals, "owners": a.owners}))
        .timeout(Duration::from_secs(900))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let orgs_secs = t0.elapsed().as_secs_f64();
    let secrets = SecretBox::new(Some(&a.encryption_key), None)?;
    let store = Store::connect(&a.database_url).await?;
    let t1 = Instant::now();
    for k in 0..a.tenants {
        let tenant = TenantId::parse(&tenant_id(k)).map_err(anyhow::Error::msg)?;
        store
            .add_tenant(&tenant, &format!("Nightly tenant {k}"), &a.time_zone)
            .await?;
        let instance = format!("{}/org/{k}", a.orgs_url);
        store
            .save_sf_connection(
                &tenant,
                &SfConnectionRow {
                    org_id: format!("00DLOADKIT{k:08}"),
                    auth_flow: "web_server".into(),
                    instance_url_sealed: secrets.seal(tenant.as_str(), &instance),
                    refresh_token_sealed: Some(secrets.seal(tenant.as_str(), &refresh_token(k))),
                    jwt_username: None,
                    field_mapping: "{}".into(),
                },
            )
            .await?;
    }
    println!(
        "{}",
        serde_json::json!({"tenants": a.tenants, "opportunities_per_org": a.deals,
            "orgs_in_fake": created["orgs"], "orgs_secs": orgs_secs,
            "tenants_secs": t1.elapsed().as_secs_f64()})
    );
    store.close().await;
    Ok(())
}
