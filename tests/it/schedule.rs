//! The scheduler with a controllable clock: digests fire at 08:00 in each manager's zone,
//! once even with two scheduler instances (two connection pools) on the same database, and
//! a missed run is caught up once after a restart.
use crate::support::{TestDb, add_user, fakes_and_dispatcher, links, score, utc};
use chrono::Duration;
use skygeni::domain::{Deal, TenantId};
use skygeni::jobs::scheduler::{JobKind, Scheduler, SchedulerConfig, parse_cron};
use skygeni::notify::dispatcher::DispatchConfig;
use skygeni::notify::planner::AlertPolicy;
use skygeni::store::{NewUser, Store};

fn config() -> SchedulerConfig {
    SchedulerConfig {
        nightly: parse_cron("0 0 2 * * *", "nightly").unwrap(),
        catch_up: Duration::hours(12),
        ..SchedulerConfig::new(vec![JobKind::Digest])
    }
}

async fn team(store: &Store, tenant: &TenantId, mgr: &str, rep: &str, zone: &str, slack: &str) {
    for (id, role, manager) in [(mgr, "manager", None), (rep, "rep", Some(mgr))] {
        add_user(store, tenant, id, role, manager).await;
    }
    store
        .set_user_delivery(tenant, mgr, Some(slack), zone)
        .await
        .unwrap();
    store
        .set_user_delivery(tenant, rep, None, zone)
        .await
        .unwrap();
}

#[tokio::test]
async fn digests_fire_at_8am_in_each_managers_zone_once_across_two_schedulers() {
    let db = TestDb::new().await;
    let (store_a, store_b) = (db.store().await, db.store().await);
    let tenant = TenantId::default_tenant();
    team(
        &store_a,
        &tenant,
        "mgr_ny",
        "rep_ny",
        "America/New_York",
        "UNY",
    )
    .await;
    team(&store_a, &tenant, "mgr_in", "rep_in", "Asia/Kolkata", "UIN").await;
    let mut deals = Vec::new();
    for (id, rep, company) in [
        ("D_NY", "rep_ny", "Acme Corp"),
        ("D_IN", "rep_in", "Globex"),
    ] {
        let mut d = Deal::example(id);
        d.sales_rep_id = rep.into();
        d.company = Some(company.into());
        d.amount = 45_000.0;
        deals.push(d);
    }
    store_a
        .upsert_deals(&tenant, &deals, &mut |_| {})
        .await
        .unwrap();
    store_a
        .record_scores(
            &tenant,
            utc("2024-02-29T00:00:00Z"),
            &[score("D_NY", 70), score("D_IN", 72)],
            &AlertPolicy::default(),
            &mut |_| {},
        )
        .await
        .unwrap();

    let a = Scheduler::new(store_a.clone(), config(), links(), None).unwrap();
    let b = Scheduler::new(store_b.clone(), config(), links(), None).unwrap();
    let both = |t| {
        let (a, b) = (&a, &b);
        async move {
            let (x, y) = tokio::join!(a.run_once(t), b.run_once(t));
            let mut jobs: Vec<String> = x
                .unwrap()
                .into_iter()
                .chain(y.unwrap())
                .map(|r| {
                    assert!(r.ok, "{r:?}");
                    r.job
                })
                .collect();
            jobs.sort();
            jobs
        }
    };
    assert!(
        both(utc("2024-03-01T02:29:00Z")).await.is_empty(),
        "07:59 IST"
    );
    assert_eq!(
        both(utc("2024-03-01T02:30:00Z")).await,
        ["digest:mgr_in"],
        "08:00 IST"
    );
    assert!(both(utc("2024-03-01T02:31:00Z")).await.is_empty());
    assert!(
        both(utc("2024-03-01T12:59:00Z")).await.is_empty(),
        "07:59 EST"
    );
    assert_eq!(
        both(utc("2024-03-01T13:00:00Z")).await,
        ["digest:mgr_ny"],
        "08:00 EST"
    );
    assert!(both(utc("2024-03-01T13:05:00Z")).await.is_empty());

    let (slack, sendgrid, dispatcher) =
        fakes_and_dispatcher(&store_a, DispatchConfig::default(), &["UNY", "UIN"]).await;
    dispatcher
        .run_once(utc("2024-03-01T13:05:00Z"))
        .await
        .unwrap();
    let mails = sendgrid.sent();
    assert_eq!(mails.len(), 2, "one email per manager");
    assert_eq!(
        slack.count_ok("chat.postMessage"),
        2,
        "one Slack DM per manager"
    );
    let ny = mails
        .iter()
        .find(|m| m.to == ["mgr_ny@example.com"])
        .expect("NY digest");
    assert!(
        ny.subject.contains("Daily Pipeline Health Report"),
        "{}",
        ny.subject
    );
    let text = ny.text.as_deref().unwrap();
    assert!(
        text.contains("Acme Corp") && !text.contains("Globex"),
        "team deals only: {text}"
    );
    assert!(!text.contains("{{") && !ny.html.as_deref().unwrap().contains("{{"));
    // The charts travel inline: the HTML names them by content id, SendGrid gets the PNGs.
    let html = ny.html.as_deref().unwrap();
    assert!(
        html.contains("cid:risk-distribution") && html.contains("cid:rapv-vs-pipeline"),
        "{html}"
    );
    let attachments = ny.body["attachments"].as_array().expect("attachments");
    assert_eq!(attachments.len(), 2, "{attachments:?}");
    assert!(
        attachments
            .iter()
            .all(|a| a["disposition"] == "inline" && a["type"] == "image/png"),
        "{attachments:?}"
    );

    // Both schedulers down from 13:05 until the next day 16:00 UTC (11:00 in New York): the
    // NY digest of 13:00 is caught up once; Kolkata's 02:30 is beyond the 12 h window.
    assert_eq!(both(utc("2024-03-02T16:00:00Z")).await, ["digest:mgr_ny"]);
    assert!(
        both(utc("2024-03-02T17:00:00Z")).await.is_empty(),
        "not twice"
    );
    let runs = store_b.job_runs(&tenant, 10).await.unwrap();
    assert_eq!(runs.len(), 3, "{runs:?}");
    assert!(runs.iter().all(|r| r.status == "ok" && r.detail.is_some()));
    assert_eq!(runs[0].scheduled_for, "2024-03-02T13:00:00.000000Z");
}

#[tokio::test]
async fn the_nightly_job_scores_every_tenant_once_at_2am_tenant_time() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let tokyo = TenantId::parse("tokyo").unwrap();
    store
        .add_tenant(&tokyo, "Tokyo", "Asia/Tokyo")
        .await
        .unwrap();
    let mut d = Deal::example("T1");
    d.amount = 10_000.0;
    store.upsert_deals(&tokyo, &[d], &mut |_| {}).await.unwrap();
    let cfg = SchedulerConfig {
        jobs: vec![JobKind::NightlyScore],
        ..config()
    };
    let s = Scheduler::new(store.clone(), cfg, links(), None).unwrap();
    // 02:00 in Tokyo = 17:00 UTC the day before; the default tenant (UTC) runs at 02:00 UTC.
    let ran = s.run_once(utc("2024-02-29T17:00:00Z")).await.unwrap();
    assert_eq!(ran.len(), 1, "{ran:?}");
    assert_eq!(
        (ran[0].tenant.as_str(), ran[0].job.as_str()),
        ("tokyo", "nightly_score")
    );
    assert!(
        ran[0].ok && ran[0].detail.contains("scored 1 deals"),
        "{:?}",
        ran[0]
    );
    assert!(
        s.run_once(utc("2024-02-29T18:00:00Z"))
            .await
            .unwrap()
            .is_empty()
    );
    let ran = s.run_once(utc("2024-03-01T02:00:00Z")).await.unwrap();
    assert_eq!(ran.len(), 1);
    assert_eq!(ran[0].tenant, "default");
    assert_eq!(store.current_scores(&tokyo).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_weekly_summary_retention_and_calibration_run_on_schedule_and_reach_the_admin() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let tenant = TenantId::default_tenant();
    team(&store, &tenant, "mgr", "rep", "UTC", "UMGR").await;
    store
        .upsert_user(
            &tenant,
            &NewUser {
                user_id: "cro",
                email: Some("cro@example.com"),
                name: Some("Casey CRO"),
                role: "admin",
                manager_id: None,
            },
        )
        .await
        .unwrap();
    store
        .set_user_delivery(&tenant, "cro", Some("UCRO"), "UTC")
        .await
        .unwrap();
    let mut d = Deal::example("D1");
    d.sales_rep_id = "rep".into();
    d.company = Some("Acme Corp".into());
    store
        .upsert_deals(&tenant, &[d], &mut |_| {})
        .await
        .unwrap();
    store
        .record_scores(
            &tenant,
            utc("2024-03-01T00:00:00Z"),
            &[score("D1", 70)],
            &AlertPolicy::default(),
            &mut |_| {},
        )
        .await
        .unwrap();
    let cfg = SchedulerConfig::new(vec![
        JobKind::WeeklySummary,
        JobKind::Retention,
        JobKind::CalibrationCheck,
    ]);
    let s = Scheduler::new(store.clone(), cfg, links(), None).unwrap();
    // Monday 2024-03-04 09:00 UTC: the weekly summary, and the 03:30 / 05:00 runs caught up.
    let ran = s.run_once(utc("2024-03-04T09:00:00Z")).await.unwrap();
    let mut jobs: Vec<&str> = ran.iter().map(|r| r.job.as_str()).collect();
    jobs.sort();
    assert_eq!(
        jobs,
        ["calibration_check", "retention", "weekly_summary"],
        "{ran:?}"
    );
    assert!(ran.iter().all(|r| r.ok), "{ran:?}");
    assert!(
        s.run_once(utc("2024-03-04T09:30:00Z"))
            .await
            .unwrap()
            .is_empty()
    );

    let (slack, sendgrid, dispatcher) =
        fakes_and_dispatcher(&store, DispatchConfig::default(), &["UCRO", "UMGR"]).await;
    dispatcher
        .run_once(utc("2024-03-04T09:01:00Z"))
        .await
        .unwrap();
    let mails = sendgrid.sent();
    assert_eq!(mails.len(), 1, "only the admin gets the CRO summary");
    assert_eq!(mails[0].to, ["cro@example.com"]);
    let atts = mails[0].body["attachments"]
        .as_array()
        .expect("charts inline");
    assert_eq!(atts.len(), 3);
    assert!(atts.iter().all(|a| a["disposition"] == "inline"));
    let cid = atts[0]["content_id"].as_str().unwrap();
    assert!(
        mails[0]
            .html
            .as_deref()
            .unwrap()
            .contains(&format!("cid:{cid}"))
    );
    assert_eq!(slack.count_ok("chat.postMessage"), 1, "and a Slack DM");
}

/// A replica that claimed a run and died (kill -9) leaves its `job_runs` row `running`. Before
/// the lease this row blocked the run for good; now the next pass after the lease takes it
/// over (once, even with two schedulers racing), and the dead runner's late writes are ignored.
#[tokio::test]
async fn a_run_whose_replica_died_is_taken_over_once_after_its_lease() {
    let db = TestDb::new().await;
    let (store_a, store_b) = (db.store().await, db.store().await);
    let tenant = TenantId::default_tenant();
    let mut d = Deal::example("K1");
    d.amount = 20_000.0;
    store_a
        .upsert_deals(&tenant, &[d], &mut |_| {})
        .await
        .unwrap();
    let cfg = SchedulerConfig {
        jobs: vec![JobKind::NightlyScore],
        lease: Duration::seconds(60),
        ..config()
    };
    let a = Scheduler::new(store_a.clone(), cfg.clone(), links(), None).unwrap();
    let b = Scheduler::new(store_b.clone(), cfg, links(), None).unwrap();
    let due = utc("2024-03-01T02:00:00Z");
    // The dead replica's claim, made at 02:00 with a 60 s lease, never extended.
    assert!(
        store_a
            .claim_job_run(
                &tenant,
                "nightly_score",
                due,
                "dead",
                due,
                Duration::seconds(60)
            )
            .await
            .unwrap()
    );
    let both = |t| {
        let (a, b) = (&a, &b);
        async move {
            let (x, y) = tokio::join!(a.run_once(t), b.run_once(t));
            x.unwrap().into_iter().chain(y.unwrap()).collect::<Vec<_>>()
        }
    };
    assert!(
        both(utc("2024-03-01T02:00:59Z")).await.is_empty(),
        "the lease still holds"
    );
    let ran = both(utc("2024-03-01T02:01:00Z")).await;
    assert_eq!(ran.len(), 1, "taken over exactly once: {ran:?}");
    assert!(
        ran[0].ok && ran[0].detail.contains("scored 1 deals"),
        "{ran:?}"
    );
    let runs = store_b.job_runs(&tenant, 10).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!((runs[0].status.as_str(), runs[0].attempts), ("ok", 2));
    assert_ne!(runs[0].claimed_by.as_deref(), Some("dead"));
    // The dead replica wakes up (it was only paused): it can neither extend nor finish.
    let late = utc("2024-03-01T02:02:00Z");
    assert!(
        !store_a
            .extend_job_run(&tenant, "nightly_score", due, "dead", late)
            .await
            .unwrap()
    );
    assert!(
        !store_a
            .finish_job_run(
                &tenant,
                "nightly_score",
                due,
                "dead",
                "failed",
                "late",
                late
            )
            .await
            .unwrap()
    );
    let runs = store_b.job_runs(&tenant, 10).await.unwrap();
    assert_eq!(runs[0].status, "ok", "the survivor's result stands");
    // A finished run is never retaken, however old.
    assert!(both(utc("2024-03-01T09:00:00Z")).await.is_empty());
    assert_eq!(store_a.current_scores(&tenant).await.unwrap().len(), 1);
}
