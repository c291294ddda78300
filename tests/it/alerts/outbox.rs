//! The outbox dispatcher: exactly one send per row across crashes and killed workers, SendGrid
//! 429/5xx retried and dead-lettered, email when Slack is down, in-flight sends finished on
//! shutdown.
use crate::support::{AlertHarness, TestDb, links, start_sendgrid, utc};
use chrono::{DateTime, Duration, NaiveTime, Utc};
use skygeni::domain::Channel;
use skygeni::notify::dispatcher::DispatchConfig;
use skygeni::notify::sendgrid::SendGridClient;
use skygeni_fakes::Fault;

#[tokio::test]
async fn a_crash_between_claim_and_send_leads_to_exactly_one_send_after_restart() {
    let h = AlertHarness::new("UTC", "UTC").await;
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
async fn send_then_die(h: &AlertHarness, at: DateTime<Utc>) -> Vec<String> {
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
    let h = AlertHarness::new("UTC", "UTC").await;
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
    let h = AlertHarness::with_config("UTC", "UTC", cfg).await;
    for u in ["rep1", "mgr"] {
        h.alert_settings(u, |s| s.channels = vec![Channel::Email])
            .await;
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
    let h = AlertHarness::new("UTC", "UTC").await;
    for u in ["rep1", "mgr"] {
        h.alert_settings(u, |s| s.channels = vec![Channel::Slack])
            .await;
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
    let sendgrid = start_sendgrid().await;
    let client =
        SendGridClient::new(&sendgrid.url(), "SG.wrong".to_string().into(), "bot@x.com").unwrap();
    let email = crate::support::bare_email("test");
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
    let h = AlertHarness::new("UTC", "UTC").await;
    // Never quiet, so the alert is due whatever the wall-clock time of the test run.
    for u in ["rep1", "mgr"] {
        h.alert_settings(u, |s| {
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
