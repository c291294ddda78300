//! When Salesforce fails or says stop: expired sessions and revoked grants, timeouts, request
//! limits and the daily API budget, a night-long outage, and `skygeni sync` during a deferral.
use crate::support::{now, org, skygeni_sync};
use chrono::TimeZone;
use serde_json::json;
use skygeni::crm::salesforce::SyncContext;
use skygeni::crm::salesforce::client::SfError;
use skygeni::domain::TenantId;
use skygeni_fakes::Fault;
use std::sync::Arc;

#[tokio::test]
async fn an_expired_session_is_refreshed_once_then_a_revoked_grant_asks_to_reconnect() {
    let o = org(3).await;
    let conn = o.store.sf_connection(&o.tenant).await.unwrap().unwrap();
    let client = o.ctx.client_for(&o.tenant, &conn).unwrap();
    assert_eq!(
        client
            .count("SELECT COUNT() FROM Opportunity")
            .await
            .unwrap(),
        3
    );
    o.fake.expire_access_tokens();
    assert_eq!(
        client
            .count("SELECT COUNT() FROM Opportunity")
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        o.fake.count("POST", "/services/oauth2/token"),
        2,
        "initial token + one refresh"
    );
    o.fake.expire_access_tokens();
    o.fake.revoke_refresh_tokens();
    let err = client
        .count("SELECT COUNT() FROM Opportunity")
        .await
        .unwrap_err();
    assert!(matches!(err, SfError::Reconnect(_)), "{err:?}");
    assert!(err.to_string().contains("reconnect Salesforce"), "{err}");
}

#[tokio::test]
async fn timeouts_are_retried_three_times_then_reported() {
    let o = org(3).await;
    let conn = o.store.sf_connection(&o.tenant).await.unwrap().unwrap();
    let client = o.ctx.client_for(&o.tenant, &conn).unwrap();
    client
        .count("SELECT COUNT() FROM Opportunity")
        .await
        .unwrap();
    o.fake.faults.next(2, Fault::Drop);
    assert_eq!(
        client
            .count("SELECT COUNT() FROM Opportunity")
            .await
            .unwrap(),
        3
    );
    o.fake.faults.next(4, Fault::Drop);
    let err = client
        .count("SELECT COUNT() FROM Opportunity")
        .await
        .unwrap_err();
    assert!(
        matches!(err, SfError::Unavailable { attempts: 4, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn request_limit_exceeded_defers_the_tenant_for_fifteen_minutes() {
    let o = org(4).await;
    o.fake.set_limit_exceeded(true);
    let r = o.sync().await;
    assert_eq!(r.status, "deferred");
    assert_eq!(
        r.deferred_until,
        Some(now() + chrono::Duration::minutes(15))
    );
    o.fake.set_limit_exceeded(false);
    o.fake.clear_calls();
    let r = o.sync_at(now() + chrono::Duration::minutes(5)).await;
    assert_eq!(r.status, "deferred");
    assert!(o.fake.calls().is_empty(), "no call while deferred");
    let r = o.sync_at(now() + chrono::Duration::minutes(16)).await;
    assert_eq!(r.status, "ok");
    assert_eq!(r.pulled, 4);
}

#[tokio::test]
async fn the_sync_stops_before_the_orgs_daily_api_limit() {
    let o = org(4).await;
    o.fake.set_api_usage(99_990, 100_000);
    let r = o.sync().await;
    assert_eq!(r.status, "limit_reserve", "{r:?}");
    assert!(r.deferred_until.is_some());
    assert!(
        o.fake.api_used() < 100_000,
        "the last calls are left for the org's own users"
    );
}

/// The nightly's hooks in a test: the real nightly Salesforce step on the test's context.
struct SyncHooks(SyncContext);

impl skygeni::jobs::scheduler::NightlyHooks for SyncHooks {
    fn sync_crm<'a>(
        &'a self,
        tenant: &'a TenantId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> skygeni::jobs::scheduler::HookFuture<'a, skygeni::jobs::scheduler::CrmSync> {
        Box::pin(skygeni::jobs::nightly_hooks::nightly_sync(
            &self.0, tenant, now,
        ))
    }

    fn after_score<'a>(&'a self, _: &'a TenantId) -> skygeni::jobs::scheduler::HookFuture<'a> {
        Box::pin(async { Ok(()) })
    }
}

/// Salesforce down for a whole night: the scheduler's nightly retries the calls, then defers
/// the sync and flags the run (job_runs status `flagged`, sync_state `unavailable` with the
/// reason), still scores the deals it has, and keeps the high-water mark, so the next night
/// (Salesforce healthy) pulls every change made meanwhile and writes the new scores back.
#[tokio::test]
async fn salesforce_down_for_a_night_defers_flags_scores_and_the_next_night_catches_up() {
    use skygeni::jobs::scheduler::{JobKind, Scheduler, SchedulerConfig};
    let o = org(30).await;
    let hooks: Arc<dyn skygeni::jobs::scheduler::NightlyHooks> = Arc::new(SyncHooks(o.ctx.clone()));
    let cfg = SchedulerConfig::new(vec![JobKind::NightlyScore]);
    let s = Scheduler::new(o.store.clone(), cfg, crate::support::links(), Some(hooks)).unwrap();
    let night = |d: u32| chrono::Utc.with_ymd_and_hms(2026, 11, d, 2, 0, 0).unwrap();

    // Night 0, healthy: the first load.
    let ran = s.run_once(night(27)).await.unwrap();
    assert_eq!(ran.len(), 1, "{ran:?}");
    assert_eq!(ran[0].status, "ok", "{ran:?}");
    assert!(
        ran[0].detail.contains("salesforce ok: pulled 30"),
        "{ran:?}"
    );
    let hwm = o.store.sync_state(&o.tenant, "salesforce").await.unwrap();
    let before: std::collections::HashMap<String, String> = o
        .store
        .current_scores(&o.tenant)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.deal_id, s.scored_at))
        .collect();
    assert!(!before.is_empty());

    // During the day users change two open deals and add one; then Salesforce goes down
    // (503 on every call, the token endpoint included) for the whole of night 1.
    let open = o.open_ids();
    for id in &open[..2] {
        let mut f = serde_json::Map::new();
        f.insert("Amount".into(), json!(1_234.0));
        o.fake.edit("Opportunity", id, f);
    }
    let mut new = o.fake.record("Opportunity", &open[2]).unwrap();
    new.insert("Id".into(), json!("006NEWDURINGOUTAGE"));
    new.insert("Name".into(), json!("Added during the outage"));
    o.fake.put("Opportunity", new);
    o.fake.clear_calls();
    o.fake.faults.always(Fault::ServerError(503));
    let ran = s.run_once(night(28)).await.unwrap();
    assert_eq!(ran.len(), 1, "{ran:?}");
    assert_eq!(ran[0].status, "flagged", "{ran:?}");
    assert!(ran[0].ok, "flagged is not failed: {ran:?}");
    assert!(
        ran[0]
            .detail
            .contains("FLAGGED salesforce sync unavailable")
            && ran[0].detail.contains("503")
            && ran[0]
                .detail
                .contains(&format!("scored {} deals", before.len())),
        "{ran:?}"
    );
    // Retried (1 + 3 retries of the first call), then given up for the night.
    assert_eq!(o.fake.calls().len(), 4, "{:?}", o.fake.calls());
    let st = o.store.sync_state(&o.tenant, "salesforce").await.unwrap();
    assert_eq!(st.status, "unavailable", "{st:?}");
    assert!(st.deferred_until.is_some() && st.detail.as_deref().unwrap_or("").contains("503"));
    assert_eq!(
        st.high_water_mark, hwm.high_water_mark,
        "the mark stays put"
    );
    let runs = o.store.job_runs(&o.tenant, 5).await.unwrap();
    assert_eq!(runs[0].status, "flagged", "visible in `skygeni jobs`");
    // The stored deals were still scored tonight.
    let during = o.store.current_scores(&o.tenant).await.unwrap();
    assert_eq!(during.len(), before.len());
    assert!(during.iter().all(|s| s.scored_at > before[&s.deal_id]));
    let amount = async |id: &str| o.stored_deal(id).await.map(|d| d.amount);
    assert_ne!(amount(&open[0]).await, Some(1_234.0), "not synced yet");

    // Night 2, Salesforce healthy again: every change made meanwhile arrives.
    o.fake.faults.clear();
    let ran = s.run_once(night(29)).await.unwrap();
    assert_eq!(ran[0].status, "ok", "{ran:?}");
    assert!(!ran[0].detail.contains("FLAGGED"), "{ran:?}");
    assert_eq!(amount(&open[0]).await, Some(1_234.0));
    assert_eq!(amount(&open[1]).await, Some(1_234.0));
    assert!(amount("006NEWDURINGOUTAGE").await.is_some(), "the new deal");
    assert_eq!(
        o.store.count_deals(&o.tenant).await.unwrap(),
        31,
        "nothing lost"
    );
    let st = o.store.sync_state(&o.tenant, "salesforce").await.unwrap();
    assert_eq!((st.status.as_str(), st.deferred_until), ("ok", None));
    // The new deal's score reached Salesforce.
    let rec = o.fake.record("Opportunity", "006NEWDURINGOUTAGE").unwrap();
    assert!(
        rec.get("Risk_Score__c").is_some_and(|v| v.is_number()),
        "{rec:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skygeni_sync_during_a_deferral_says_until_when_and_why_and_force_overrides_it() {
    let o = org(5).await;
    o.fake.set_limit_exceeded(true);
    let deferred = o.sync_at(chrono::Utc::now()).await;
    assert_eq!(deferred.status, "deferred");
    o.fake.set_limit_exceeded(false);
    let out = skygeni_sync(&o, vec!["sync"], false).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    // To the minute: the stored deferral keeps less precision than the in-memory one.
    let until = deferred
        .deferred_until
        .unwrap()
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    assert!(
        text.contains(&format!("not run: deferred until {until}"))
            && text.contains("REQUEST_LIMIT_EXCEEDED")
            && text.contains("--force"),
        "{text}"
    );
    let out = skygeni_sync(&o, vec!["sync", "--force"], false).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("ok (forced during a deferral)"), "{text}");
    assert!(text.contains("5 pulled"), "{text}");
}
