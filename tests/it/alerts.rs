//! Critical alerts end to end with a controllable clock: score changes written through
//! `record_scores` become outbox rows in the same transaction, and the dispatcher delivers
//! them to the fake Slack Web API and the fake SendGrid (counted there).
use crate::support::TestDb;
use chrono::{DateTime, Duration, NaiveTime, Utc};
use skygeni::domain::{
    Channel, Deal, DealScore, FactorCode, Priority, Recommendation, RiskCategory, RiskFactor,
    TenantId,
};
use skygeni::notify::compose::Links;
use skygeni::notify::dispatcher::{DispatchConfig, Dispatcher};
use skygeni::notify::planner::AlertPolicy;
use skygeni::notify::sendgrid::SendGridClient;
use skygeni::notify::slack_dm::{BotTokens, SlackDmSender};
use skygeni::slack::SlackApi;
use skygeni::store::{AlertSettings, Store};
use skygeni_fakes::sendgrid::FakeSendGrid;
use skygeni_fakes::slack::SlackFake;
use skygeni_fakes::{FakeServer, Fault};
use std::sync::Arc;

const SLACK_TOKEN: &str = "xoxb-alerts";
const SENDGRID_KEY: &str = "SG.test-key";

pub fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A store with one rep (owner of deal D1 "Acme Corp", $45K) and their manager, the fakes,
/// and a dispatcher pointed at them.
pub struct Harness {
    pub _db: TestDb,
    pub store: Store,
    pub tenant: TenantId,
    pub slack: SlackFake,
    pub sendgrid: FakeSendGrid,
    pub dispatcher: Arc<Dispatcher>,
    /// The dispatcher's own clients, for playing a worker that dies mid-send.
    pub email_client: Arc<SendGridClient>,
    pub chat_client: Arc<SlackDmSender>,
    _servers: (FakeServer, FakeServer),
}

impl Harness {
    pub async fn new(rep_zone: &str, manager_zone: &str) -> Harness {
        Harness::with_config(rep_zone, manager_zone, DispatchConfig::default()).await
    }

    pub async fn with_config(rep_zone: &str, manager_zone: &str, cfg: DispatchConfig) -> Harness {
        let db = TestDb::new().await;
        let store = db.store().await;
        let tenant = TenantId::default_tenant();
        for (id, role, manager, zone, slack) in [
            ("mgr", "manager", None, manager_zone, "UMGR"),
            ("rep1", "rep", Some("mgr"), rep_zone, "UREP"),
        ] {
            crate::support::add_user(&store, &tenant, id, role, manager).await;
            store
                .set_user_delivery(&tenant, id, Some(slack), zone)
                .await
                .unwrap();
        }
        let mut deal = Deal::example("D1");
        deal.sales_rep_id = "rep1".into();
        deal.company = Some("Acme Corp".into());
        deal.amount = 45_000.0;
        store
            .upsert_deals(&tenant, &[deal], &mut |_| {})
            .await
            .unwrap();

        let (slack, sendgrid, servers, dispatcher) =
            fakes_and_dispatcher(&store, cfg, &["UREP", "UMGR"]).await;
        let (email_client, chat_client) = clients(&servers);
        Harness {
            _db: db,
            store,
            tenant,
            slack,
            sendgrid,
            dispatcher,
            email_client,
            chat_client,
            _servers: servers,
        }
    }

    /// Write a score for D1 at `at` through the one score-writing path.
    pub async fn score(&self, risk: u8, at: DateTime<Utc>) {
        self.store
            .record_scores(
                &self.tenant,
                at,
                &[score("D1", risk)],
                &AlertPolicy::default(),
                &mut |_| {},
            )
            .await
            .unwrap();
    }

    pub async fn dispatch(&self, at: DateTime<Utc>) -> skygeni::notify::dispatcher::DispatchReport {
        self.dispatcher.run_once(at).await.unwrap()
    }

    /// (Slack DMs delivered, emails accepted).
    pub fn sends(&self) -> (usize, usize) {
        (
            self.slack.count_ok("chat.postMessage"),
            self.sendgrid.sent().len(),
        )
    }

    pub fn emails_to(&self, who: &str) -> usize {
        let addr = format!("{who}@example.com");
        self.sendgrid
            .sent()
            .iter()
            .filter(|m| m.to.contains(&addr))
            .count()
    }

    pub fn dms_to(&self, slack_user: &str) -> usize {
        // DMs are posted to the user id itself.
        self.slack
            .calls_to("chat.postMessage")
            .iter()
            .filter(|c| c.body["channel"] == slack_user)
            .count()
    }

    pub async fn settings(&self, user: &str, f: impl FnOnce(&mut AlertSettings)) {
        let mut s = AlertSettings::default();
        f(&mut s);
        self.store
            .upsert_alert_settings(&self.tenant, user, &s)
            .await
            .unwrap();
    }
}

/// The fake Slack (knowing `slack_users`) and fake SendGrid, and a dispatcher using both.
pub async fn fakes_and_dispatcher(
    store: &Store,
    cfg: DispatchConfig,
    slack_users: &[&str],
) -> (
    SlackFake,
    FakeSendGrid,
    (FakeServer, FakeServer),
    Arc<Dispatcher>,
) {
    let slack = SlackFake::new(SLACK_TOKEN);
    for u in slack_users {
        slack.add_user(u, &format!("{u}@slack.example"), u);
    }
    let slack_server = slack.start(0).await.unwrap();
    let sendgrid = FakeSendGrid::new(SENDGRID_KEY);
    let sg_server = FakeServer::start(sendgrid.router(), 0).await.unwrap();
    let servers = (slack_server, sg_server);
    let (email, chat) = clients(&servers);
    let dispatcher = Dispatcher::new(store.clone(), Some(email), Some(chat), links(), cfg).unwrap();
    (slack, sendgrid, servers, dispatcher)
}

/// The real SendGrid and Slack DM clients pointed at the fakes (Slack, SendGrid).
fn clients(servers: &(FakeServer, FakeServer)) -> (Arc<SendGridClient>, Arc<SlackDmSender>) {
    let email = SendGridClient::new(
        &servers.1.url(),
        SENDGRID_KEY.to_string().into(),
        "bot@skygeni.example",
    )
    .unwrap();
    let chat = SlackDmSender::new(
        &SlackApi::new(&format!("{}/api", servers.0.url())),
        BotTokens::Static(SLACK_TOKEN.into()),
    );
    (Arc::new(email), Arc::new(chat))
}

pub fn links() -> Links {
    Links {
        salesforce_url: "https://acme.my.salesforce.com".into(),
        slack_app_id: Some("A123".into()),
        public_url: "https://skygeni.example".into(),
        unsubscribe: None,
    }
}

pub fn score(deal_id: &str, risk: u8) -> DealScore {
    DealScore {
        deal_id: deal_id.into(),
        risk_score: risk,
        risk_category: RiskCategory::from_score(risk),
        win_probability: 1.0 - f64::from(risk) / 100.0,
        confidence: 0.8,
        risk_factors: vec![RiskFactor {
            code: FactorCode::LeadSource,
            impact: -0.3,
            impact_pp: -2.1,
            description: "Partner leads win 2.1 pp less than Inbound here".into(),
            rule_based: false,
        }],
        recommendations: vec![Recommendation {
            rule: "exec_sponsor".into(),
            priority: Priority::Immediate,
            action: "Bring in an executive sponsor within 24 hours".into(),
            rationale: "Critical risk".into(),
        }],
        similar_deals: vec![],
        model_version: "logistic-test".into(),
        degraded: false,
    }
}

#[tokio::test]
async fn a_68_to_78_crossing_sends_one_slack_dm_and_one_email_to_owner_and_manager() {
    let h = Harness::new("UTC", "UTC").await;
    let t0 = utc("2024-03-01T12:00:00Z");
    h.score(68, t0).await;
    assert_eq!(
        h.dispatch(t0).await.claimed,
        0,
        "high risk goes to the digest only"
    );
    let t1 = t0 + Duration::hours(1);
    h.score(78, t1).await;
    let r = h.dispatch(t1).await;
    assert_eq!((r.claimed, r.sent), (4, 4), "{r:?}");
    assert_eq!(h.sends(), (2, 2));
    assert_eq!((h.dms_to("UREP"), h.dms_to("UMGR")), (1, 1));
    assert_eq!((h.emails_to("rep1"), h.emails_to("mgr")), (1, 1));

    let mail = &h.sendgrid.sent()[0];
    assert_eq!(mail.subject, "URGENT: High-risk deal - Acme Corp ($45K)");
    // Handlebars escapes `=` and `&` in the HTML part; browsers decode them in href values.
    let html = mail
        .html
        .as_deref()
        .unwrap()
        .replace("&#x3D;", "=")
        .replace("&amp;", "&");
    for part in [mail.text.as_deref().unwrap(), html.as_str()] {
        assert!(!part.contains("{{"), "unrendered placeholder: {part}");
        assert!(part.contains("https://acme.my.salesforce.com/lightning/r/Opportunity/D1/view"));
        assert!(
            part.contains("https://slack.com/app_redirect?app=A123"),
            "Slack link"
        );
        assert!(part.contains("tab=home"), "settings / unsubscribe link");
        assert!(part.contains("$45,000") && part.contains("78/100"));
    }
    let dm = &h.slack.calls_to("chat.postMessage")[0];
    assert!(
        dm.body["text"].as_str().unwrap().contains("Acme Corp"),
        "{}",
        dm.body
    );

    // Back down and up again within 24 h, then a rescoring at the same level: nothing new.
    h.score(60, t1 + Duration::hours(2)).await;
    h.score(80, t1 + Duration::hours(3)).await;
    h.score(80, t1 + Duration::hours(4)).await;
    let r = h.dispatch(t1 + Duration::hours(4)).await;
    assert_eq!(r.claimed, 0, "second crossing within 24 h is throttled");
    assert_eq!(h.sends(), (2, 2));
    assert_eq!(
        h.store.critical_alerts(&h.tenant).await.unwrap().len(),
        2,
        "one alert row per recipient"
    );

    // A crossing a day later alerts again.
    h.score(60, t1 + Duration::hours(25)).await;
    h.score(79, t1 + Duration::hours(26)).await;
    h.dispatch(t1 + Duration::hours(26)).await;
    assert_eq!(h.sends(), (4, 4));
}

#[tokio::test]
async fn snooze_and_false_alarm_suppress_critical_alerts() {
    let h = Harness::new("UTC", "UTC").await;
    let t0 = utc("2024-03-01T12:00:00Z");
    h.score(60, t0).await;
    h.store
        .snooze_deal(&h.tenant, "D1", "rep1", t0 + Duration::days(3), t0)
        .await
        .unwrap();
    h.score(80, t0 + Duration::hours(1)).await;
    h.dispatch(t0 + Duration::hours(1)).await;
    assert_eq!(h.sends(), (0, 0), "snoozed");

    // Snooze over; marked a false alarm at 80: 85 stays quiet, 90 (margin 10) alerts.
    let t = t0 + Duration::days(4);
    h.store
        .record_false_alarm(&h.tenant, "D1", "rep1", Some("customer signed LOI"), 80, t)
        .await
        .unwrap();
    h.score(60, t).await;
    h.score(85, t + Duration::hours(1)).await;
    h.dispatch(t + Duration::hours(1)).await;
    assert_eq!(h.sends(), (0, 0), "false alarm, not risen by the margin");
    h.score(60, t + Duration::hours(2)).await;
    h.score(90, t + Duration::hours(3)).await;
    h.dispatch(t + Duration::hours(3)).await;
    assert_eq!(h.sends(), (2, 2), "risen by the margin: alerts again");
}

#[tokio::test]
async fn quiet_hours_hold_alerts_until_8am_local_in_new_york_and_kolkata() {
    let h = Harness::new("America/New_York", "Asia/Kolkata").await;
    // 03:00 UTC = 22:00 in New York (quiet) and 08:30 in Kolkata (awake).
    let t = utc("2024-03-01T03:00:00Z");
    h.score(60, t - Duration::hours(1)).await;
    h.score(80, t).await;
    h.dispatch(t).await;
    assert_eq!(
        (h.dms_to("UMGR"), h.emails_to("mgr")),
        (1, 1),
        "Kolkata now"
    );
    assert_eq!(
        (h.dms_to("UREP"), h.emails_to("rep1")),
        (0, 0),
        "New York held"
    );
    h.dispatch(utc("2024-03-01T12:59:00Z")).await;
    assert_eq!(h.emails_to("rep1"), 0, "07:59 in New York: still quiet");
    h.dispatch(utc("2024-03-01T13:00:00Z")).await;
    assert_eq!((h.dms_to("UREP"), h.emails_to("rep1")), (1, 1), "08:00 EST");

    // And the other way round: 20:00 UTC = 01:30 in Kolkata → released 08:00 IST (02:30 UTC).
    let h = Harness::new("America/New_York", "Asia/Kolkata").await;
    let t = utc("2024-03-01T20:00:00Z");
    h.score(60, t - Duration::hours(1)).await;
    h.score(80, t).await;
    h.dispatch(t).await;
    assert_eq!(
        (h.emails_to("rep1"), h.emails_to("mgr")),
        (1, 0),
        "15:00 NY, 01:30 IST"
    );
    h.dispatch(utc("2024-03-02T02:29:00Z")).await;
    assert_eq!(h.emails_to("mgr"), 0);
    h.dispatch(utc("2024-03-02T02:30:00Z")).await;
    assert_eq!((h.dms_to("UMGR"), h.emails_to("mgr")), (1, 1), "08:00 IST");
}

#[tokio::test]
async fn a_crash_between_claim_and_send_leads_to_exactly_one_send_after_restart() {
    let h = Harness::new("UTC", "UTC").await;
    let t = utc("2024-03-01T12:00:00Z");
    h.score(60, t - Duration::hours(1)).await;
    h.score(80, t).await;
    // A worker claims every row and dies before sending.
    let claimed = h
        .store
        .claim_outbox(
            &h.tenant,
            t,
            Duration::minutes(2),
            100,
            "worker-that-crashed",
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 4);
    let r = h.dispatch(t + Duration::minutes(1)).await;
    assert_eq!(r.claimed, 0, "the lease still holds");
    let r = h.dispatch(t + Duration::minutes(3)).await;
    assert_eq!((r.claimed, r.sent), (4, 4), "{r:?}");
    h.dispatch(t + Duration::minutes(30)).await;
    assert_eq!(h.sends(), (2, 2), "exactly one send per row");
    // The crashed worker's late result cannot overwrite the row.
    let late = h
        .store
        .finish_outbox_sent(
            &h.tenant,
            &claimed[0].outbox_id,
            "worker-that-crashed",
            "x",
            t,
        )
        .await
        .unwrap();
    assert!(!late);
    let rows = h.store.outbox_rows(&h.tenant).await.unwrap();
    assert!(
        rows.iter()
            .all(|r| r.status == "sent" && r.provider_id.is_some()),
        "{rows:?}"
    );
}

/// A worker that claimed the rows, handed every message to Slack and SendGrid (through the
/// real clients, so with the DM metadata and `custom_args` key) and was killed before it could
/// mark them sent. Returns the provider ids the providers gave.
async fn send_then_die(h: &Harness, at: DateTime<Utc>) -> Vec<String> {
    use skygeni::notify::compose::{chat_for, email_for};
    use skygeni::notify::email::EmailRenderer;
    use skygeni::notify::outbox::Payload;
    use skygeni::notify::senders::{ChatSender, EmailSender};
    let claimed = h
        .store
        .claim_outbox(&h.tenant, at, Duration::minutes(2), 100, "killed-worker")
        .await
        .unwrap();
    assert_eq!(claimed.len(), 4);
    let renderer = EmailRenderer::new().unwrap();
    let mut ids = Vec::new();
    for row in &claimed {
        let payload = Payload::parse(&row.payload).unwrap();
        let id = if row.channel == "email" {
            let mail = email_for(
                &row.kind,
                &payload,
                &row.idempotency_key,
                &renderer,
                &links(),
            )
            .unwrap();
            h.email_client.send_email(&mail).await.unwrap()
        } else {
            let chat =
                chat_for(h.tenant.as_str(), &payload, &row.idempotency_key, &links()).unwrap();
            h.chat_client.send_dm(&chat).await.unwrap()
        };
        ids.push(id);
    }
    ids
}

#[tokio::test]
async fn a_worker_killed_after_the_providers_accepted_does_not_cause_a_second_send() {
    let h = Harness::new("UTC", "UTC").await;
    let t = utc("2024-03-01T12:00:00Z");
    h.score(60, t - Duration::hours(1)).await;
    h.score(80, t).await;
    let delivered = send_then_die(&h, t).await;
    assert_eq!(h.sends(), (2, 2), "the dead worker's sends arrived");

    // SendGrid's Email Activity API is rate limited (6/min): while it answers 429 the email
    // rows cannot be checked, so they wait (and stay marked for checking) instead of resending.
    h.sendgrid.set_activity_limit(0);
    let r = h.dispatch(t + Duration::minutes(3)).await;
    assert_eq!((r.claimed, r.sent, r.retried), (4, 2, 2), "{r:?}");
    let rows = h.store.outbox_rows(&h.tenant).await.unwrap();
    let waiting: Vec<_> = rows.iter().filter(|r| r.status == "pending").collect();
    assert_eq!(waiting.len(), 2, "{rows:?}");
    assert!(
        waiting
            .iter()
            .all(|r| r.channel == "email" && r.verify_before_send),
        "{waiting:?}"
    );
    assert!(
        waiting.iter().all(|r| r.attempts == 1),
        "waiting for a rate-limited look-up uses up no attempt: {waiting:?}"
    );

    h.sendgrid.set_activity_limit(6);
    let r = h.dispatch(t + Duration::hours(2)).await;
    assert_eq!((r.claimed, r.sent), (2, 2), "{r:?}");
    assert_eq!(h.sends(), (2, 2), "nothing was sent twice");
    assert_eq!(
        h.slack.count_ok("conversations.history"),
        2,
        "each DM looked up once"
    );
    let rows = h.store.outbox_rows(&h.tenant).await.unwrap();
    assert!(
        rows.iter()
            .all(|r| r.status == "sent" && !r.verify_before_send),
        "{rows:?}"
    );
    let mut recorded: Vec<String> = rows.iter().filter_map(|r| r.provider_id.clone()).collect();
    let mut delivered = delivered;
    recorded.sort();
    delivered.sort();
    assert_eq!(
        recorded, delivered,
        "the rows carry the ids of the messages that arrived"
    );
}

#[tokio::test]
async fn sendgrid_429_and_5xx_are_retried_and_exhausted_rows_are_dead_lettered() {
    let cfg = DispatchConfig {
        max_attempts: 3,
        ..DispatchConfig::default()
    };
    let h = Harness::with_config("UTC", "UTC", cfg).await;
    for u in ["rep1", "mgr"] {
        h.settings(u, |s| s.channels = vec![Channel::Email]).await;
    }
    let t = utc("2024-03-01T12:00:00Z");
    h.sendgrid.faults.next(
        1,
        Fault::RateLimited {
            retry_after_secs: 600,
        },
    );
    h.sendgrid.faults.next(1, Fault::ServerError(503));
    h.score(60, t - Duration::hours(1)).await;
    h.score(80, t).await;
    let r = h.dispatch(t).await;
    assert_eq!((r.claimed, r.retried, r.sent), (2, 2, 0), "{r:?}");
    let rows = h.store.outbox_rows(&h.tenant).await.unwrap();
    let limited = rows
        .iter()
        .find(|r| r.last_error.as_deref().unwrap_or("").contains("429"))
        .expect("one row saw the 429");
    assert!(
        utc(&limited.next_attempt_at) >= t + Duration::seconds(600),
        "Retry-After honoured: {}",
        limited.next_attempt_at
    );
    let r = h.dispatch(t + Duration::minutes(5)).await;
    assert_eq!(r.sent, 1, "the 503 row retried after its backoff: {r:?}");
    let r = h.dispatch(t + Duration::minutes(11)).await;
    assert_eq!(r.sent, 1, "the 429 row after Retry-After: {r:?}");
    assert_eq!(h.sends(), (0, 2));

    // An outage longer than max_attempts: dead letter, listed, retried by hand.
    h.sendgrid.faults.always(Fault::ServerError(500));
    let t2 = t + Duration::days(2);
    h.score(60, t2 - Duration::hours(1)).await;
    h.score(80, t2).await;
    for hours in [0, 2, 4, 8] {
        h.dispatch(t2 + Duration::hours(hours)).await;
    }
    let dead = h
        .store
        .outbox_by_status(&h.tenant, "dead", 100)
        .await
        .unwrap();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(dead.iter().all(|d| d.attempts == 3));
    h.sendgrid.faults.clear();
    let n = h
        .store
        .retry_dead_outbox(&h.tenant, None, t2 + Duration::hours(9))
        .await
        .unwrap();
    assert_eq!(n, 2);
    h.dispatch(t2 + Duration::hours(9)).await;
    assert_eq!(h.sends(), (0, 4));
}

#[tokio::test]
async fn a_slack_outage_falls_back_to_email() {
    let h = Harness::new("UTC", "UTC").await;
    for u in ["rep1", "mgr"] {
        h.settings(u, |s| s.channels = vec![Channel::Slack]).await;
    }
    h.slack.faults().always(Fault::ServerError(503));
    let t = utc("2024-03-01T12:00:00Z");
    h.score(60, t - Duration::hours(1)).await;
    h.score(80, t).await;
    h.dispatch(t).await;
    assert_eq!(h.sends(), (0, 0), "first Slack failure: retry Slack first");
    let r = h.dispatch(t + Duration::hours(1)).await;
    assert_eq!(r.fallbacks, 2, "{r:?}");
    h.dispatch(t + Duration::hours(1)).await;
    assert_eq!(h.sends(), (0, 2), "email went out while Slack is down");
    assert_eq!((h.emails_to("rep1"), h.emails_to("mgr")), (1, 1));
    // Slack recovers: the DM still arrives, the email is not sent twice.
    h.slack.faults().clear();
    h.dispatch(t + Duration::hours(3)).await;
    h.dispatch(t + Duration::hours(6)).await;
    assert_eq!(h.sends(), (2, 2));
}

#[tokio::test]
async fn the_fake_sendgrid_refuses_a_bad_key_and_the_row_is_dead_at_once() {
    let db = TestDb::new().await;
    let sendgrid = FakeSendGrid::new(SENDGRID_KEY);
    let server = FakeServer::start(sendgrid.router(), 0).await.unwrap();
    let client =
        SendGridClient::new(&server.url(), "SG.wrong".to_string().into(), "bot@x.com").unwrap();
    let email = skygeni::notify::senders::OutgoingEmail {
        to_email: "a@b.com".into(),
        to_name: None,
        subject: "s".into(),
        text: "t".into(),
        html: "<p>h</p>".into(),
        idempotency_key: "k".into(),
        category: "test".into(),
        inline: vec![],
        headers: vec![],
    };
    use skygeni::notify::senders::{EmailSender, SendError};
    let err = client.send_email(&email).await.unwrap_err();
    assert!(
        matches!(err, SendError::Permanent(ref m) if m.contains("401")),
        "{err:?}"
    );
    assert_eq!((sendgrid.calls(), sendgrid.sent().len()), (1, 0));
    drop(db);
}

#[tokio::test]
async fn shutdown_lets_the_dispatcher_finish_the_sends_in_flight() {
    let h = Harness::new("UTC", "UTC").await;
    // Never quiet, so the alert is due whatever the wall-clock time of the test run.
    for u in ["rep1", "mgr"] {
        h.settings(u, |s| {
            s.channels = vec![Channel::Email];
            s.quiet_start = NaiveTime::MIN;
            s.quiet_end = NaiveTime::MIN;
        })
        .await;
    }
    let now = Utc::now();
    h.score(60, now - Duration::hours(1)).await;
    h.score(80, now).await;
    h.sendgrid
        .faults
        .latency(std::time::Duration::from_millis(300));
    let (stop, rx) = tokio::sync::watch::channel(false);
    let run = tokio::spawn(h.dispatcher.clone().run(rx));
    // Stop as soon as the first send is on the wire.
    while h.sendgrid.calls() == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    stop.send(true).unwrap();
    run.await.unwrap();
    assert_eq!(h.sends(), (0, 2), "both sends completed");
    let rows = h.store.outbox_rows(&h.tenant).await.unwrap();
    assert!(rows.iter().all(|r| r.status == "sent"), "{rows:?}");
}
