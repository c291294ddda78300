//! `skygeni sync`: run a Salesforce sync for the tenant now (progress bar, counts, data-quality
//! report); `--jwt-username` first connects the org with the JWT bearer flow,
//! `--field-mapping` sets which fields hold industry, region and product.
use crate::config::Settings;
use crate::crm::salesforce::{SyncContext, oauth, sync_tenant_with};
use crate::crypto::SecretBox;
use crate::domain::TenantId;
use crate::store::Store;
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use secrecy::ExposeSecret;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Connect the org first with the JWT bearer flow as this (integration) user.
    #[arg(long)]
    pub jwt_username: Option<String>,
    /// Per-tenant field mapping as JSON, e.g. '{"region":"Region__c","product":"Product__c"}'.
    #[arg(long)]
    pub field_mapping: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Sync even while an earlier sync's deferral (API limit, outage) lasts.
    #[arg(long)]
    pub force: bool,
}

pub async fn run(settings: Settings, tenant: &TenantId, args: SyncArgs) -> anyhow::Result<i32> {
    let store = Store::connect(&settings.database_url).await?;
    store.require_tenant(tenant).await?;
    let key = settings
        .encryption_key
        .as_ref()
        .context("SKYGENI_ENCRYPTION_KEY is not set: Salesforce tokens are stored encrypted")?;
    let secrets = Arc::new(SecretBox::new(
        Some(key.expose_secret()),
        settings
            .encryption_key_previous
            .as_ref()
            .map(|k| k.expose_secret()),
    )?);
    let ctx = SyncContext::new(store.clone(), Arc::new(settings), secrets);
    if let Some(user) = &args.jwt_username {
        let org = oauth::connect_jwt(&ctx.settings, &store, &ctx.secrets, &ctx.http, tenant, user)
            .await?;
        eprintln!("Connected org {org} for tenant {tenant} (JWT bearer as {user})");
    }
    if let Some(json) = &args.field_mapping {
        crate::crm::salesforce::pull::FieldMapping::parse(json)?;
        store
            .set_sf_field_mapping(tenant, json)
            .await
            .context("connect Salesforce before setting a field mapping")?;
    }
    let bar = ProgressBar::new(1);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let report = sync_tenant_with(
        &ctx,
        tenant,
        super::now(),
        args.force,
        &mut |stage, done, total| {
            bar.set_message(stage.to_string());
            bar.set_length(total.max(1));
            bar.set_position(done);
        },
    )
    .await?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        if report.status == "deferred" && report.pulled == 0 && report.api_calls == 0 {
            // Nothing ran: say so, until when, why, and how to override.
            println!(
                "Salesforce sync for {tenant} not run: deferred until {} because {}",
                report
                    .deferred_until
                    .map(|u| u.to_rfc3339())
                    .unwrap_or_else(|| "later".into()),
                report.detail.as_deref().unwrap_or("of an earlier failure"),
            );
            println!("  run `skygeni sync --force` to sync now anyway");
            return Ok(2);
        }
        println!(
            "Salesforce sync for {tenant}: {}{}",
            report.status,
            if report.forced {
                " (forced during a deferral)"
            } else {
                ""
            }
        );
        if let Some(until) = report.deferred_until {
            println!("  deferred until {until}");
        }
        if let Some(why) = &report.detail {
            println!("  reason: {why}");
        }
        if let Some(why) = &report.schema_halt {
            println!("  HALTED: {why}");
        }
        if report.volume_drop {
            println!("  WARNING: the org has over 20 % fewer Opportunities than at the last sync");
        }
        println!(
            "  {} load{}: {} Opportunities in the org, {} pulled, {} new/changed, {} unchanged, {} deleted, {} rejected, {} users",
            if report.full_load {
                "full"
            } else {
                "incremental"
            },
            if report.used_bulk_query {
                " (Bulk API 2.0)"
            } else {
                ""
            },
            report.org_count,
            report.pulled,
            report.upserted,
            report.unchanged,
            report.deleted,
            report.rejected,
            report.users
        );
        println!(
            "  scored {}; written back {} ({} unchanged, {} to retry, {} refused, {} deleted in Salesforce){}",
            report.scored,
            report.written_back,
            report.writeback_unchanged,
            report.writeback_failed,
            report.writeback_rejected,
            report.writeback_skipped,
            if report.used_bulk_ingest {
                " via Bulk API 2.0"
            } else {
                ""
            }
        );
        println!(
            "  Tasks: {} created, {} already in the org, {} already created, {} failed; {} Salesforce API calls",
            report.tasks_created,
            report.tasks_matched,
            report.tasks_skipped,
            report.tasks_failed,
            report.api_calls
        );
        for e in report.record_errors.iter().filter(|e| e.permanent) {
            println!(
                "  REFUSED {} {}: {}: {}",
                e.object, e.record_id, e.status_code, e.message
            );
        }
        if !report.writeback_refused.is_empty() {
            println!(
                "  {} Opportunities refuse SkyGeni's risk fields until fixed in Salesforce (see the data-quality report)",
                report.writeback_refused.len()
            );
        }
        if report.quality.rows_read > 0 {
            print!("{}", report.quality.render_text());
        }
    }
    Ok(match report.status.as_str() {
        "ok" | "ok_volume_drop" => 0,
        _ => 2,
    })
}
