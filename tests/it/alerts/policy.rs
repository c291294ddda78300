//! Who gets a critical alert and when: one per crossing per day to owner and manager, none while
//! snoozed or marked a false alarm, held through quiet hours in each recipient's zone.
use crate::support::{AlertHarness, utc};
use chrono::Duration;

#[tokio::test]
async fn a_68_to_78_crossing_sends_one_slack_dm_and_one_email_to_owner_and_manager() {
    let h = AlertHarness::new("UTC", "UTC").await;
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
    let h = AlertHarness::new("UTC", "UTC").await;
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
    let h = AlertHarness::new("America/New_York", "Asia/Kolkata").await;
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
    let h = AlertHarness::new("America/New_York", "Asia/Kolkata").await;
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
