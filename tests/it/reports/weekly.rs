//! The weekly CRO summary on the bundled seed dataset (as of 2024-03-01): the same figures as
//! `skygeni metrics`, last week's changes and critical deals followed up, rendered email and
//! Slack parts, PNG charts, and the signed `/charts/{file}` route.
use super::score;
use crate::email::loop_rows;
use crate::support::{TestDb, logistic_only, seed_csv};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use skygeni::app::Application;
use skygeni::config::Settings;
use skygeni::crm::parse_csv_bytes;
use skygeni::domain::{Deal, ModelScope, Outcome, TenantId};
use skygeni::engine::DEFAULT_SAVE_RATE;
use skygeni::notify::chart_link::signed_url;
use skygeni::notify::charts::{Chart, HEIGHT, SCALE, WIDTH};
use skygeni::notify::email_lint::lint;
use skygeni::notify::planner::AlertPolicy;
use skygeni::notify::weekly::{WeeklyLinks, render_email, slack_blocks};
use skygeni::service::batch::score_open_deals;
use skygeni::service::metrics::pipeline_view;
use skygeni::service::models::{closed_before, train_and_register};
use skygeni::service::weekly::weekly_summary;
use skygeni::store::{ActionTask, Store};

fn as_of() -> NaiveDate {
    "2024-03-01".parse().unwrap()
}

/// PNG signature and the IHDR width × height.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

/// The seed as the CRM looked on 2024-03-01, trained and scored like the demo.
async fn seed_tenant(store: &Store, tenant: &TenantId) -> Vec<Deal> {
    let bytes = std::fs::read(seed_csv()).unwrap();
    let parsed = parse_csv_bytes(&bytes, Utc::now().date_naive()).unwrap();
    let view: Vec<Deal> = parsed
        .deals
        .iter()
        .filter_map(|d| d.as_seen_on(as_of()))
        .collect();
    store
        .upsert_deals(tenant, &view, &mut |_| {})
        .await
        .unwrap();
    train_and_register(
        store,
        &ModelScope::Tenant(tenant.clone()),
        &closed_before(&view, as_of()),
        &logistic_only(),
        false,
    )
    .await
    .unwrap();
    view
}

#[tokio::test]
async fn the_weekly_summary_on_the_seed_matches_skygeni_metrics_and_closes_the_loop() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let tenant = TenantId::parse("acme").unwrap();
    store
        .add_tenant(&tenant, "Acme <Sales> & Co", "UTC")
        .await
        .unwrap();
    let view = seed_tenant(&store, &tenant).await;
    let open: Vec<&Deal> = view.iter().filter(|d| d.is_open()).collect();
    // Last week's batch: five deals critical (90), the rest at 30; today's real batch follows.
    let week_ago = as_of().and_hms_opt(2, 0, 0).unwrap().and_utc() - Duration::days(7);
    let last_week: Vec<_> = open
        .iter()
        .enumerate()
        .map(|(i, d)| score(&d.deal_id, if i < 5 { 90 } else { 30 }, "old"))
        .collect();
    store
        .record_scores(
            &tenant,
            week_ago,
            &last_week,
            &AlertPolicy::default(),
            &mut |_| {},
        )
        .await
        .unwrap();
    score_open_deals(&store, &tenant, as_of(), &mut |_, _| {})
        .await
        .unwrap();
    // Follow-up on last week's critical deals: Tasks, a snooze, a false alarm, one won.
    let crit: Vec<String> = open[..5].iter().map(|d| d.deal_id.clone()).collect();
    for (key, deal, status) in [
        ("t1", &crit[0], "Completed"),
        ("t2", &crit[0], "Not Started"),
        ("t3", &crit[1], "Completed"),
    ] {
        store
            .upsert_action_task(
                &tenant,
                &ActionTask {
                    task_key: key.into(),
                    deal_id: deal.clone(),
                    subject: "Agree a mutual close plan".into(),
                    priority: Some("High".into()),
                    status: status.into(),
                    created_at: "2024-02-23T09:00:00.000000Z".into(),
                    completed_at: None,
                },
            )
            .await
            .unwrap();
    }
    let sql: &'static str = Box::leak(
        format!(
            "INSERT INTO snoozes (tenant_id, deal_id, user_id, until, created_at) VALUES ('acme', '{}', 'u1', '2024-03-05T00:00:00.000000Z', '2024-02-27T10:00:00.000000Z')",
            crit[2]
        )
        .into_boxed_str(),
    );
    store
        .unscoped_execute_for_tests(&tenant, sql)
        .await
        .unwrap();
    let sql: &'static str = Box::leak(
        format!(
            "INSERT INTO feedback (tenant_id, feedback_id, deal_id, user_id, kind, reason, created_at) VALUES ('acme', 'f1', '{}', 'u1', 'false_alarm', 'champion confirmed budget', '2024-02-28T10:00:00.000000Z')",
            crit[3]
        )
        .into_boxed_str(),
    );
    store
        .unscoped_execute_for_tests(&tenant, sql)
        .await
        .unwrap();
    let mut won = open[4].clone();
    won.outcome = Some(Outcome::Won);
    won.closed_date = Some(as_of() - Duration::days(1));
    won.sales_cycle_days = Some((as_of() - Duration::days(1) - won.created_date).num_days());
    store
        .upsert_deals(&tenant, &[won], &mut |_| {})
        .await
        .unwrap();

    let now: DateTime<Utc> = as_of().and_hms_opt(9, 0, 0).unwrap().and_utc();
    let s = weekly_summary(&store, &tenant, now).await.unwrap();

    // Same figures as `skygeni metrics` (the binary, on the same database).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_skygeni"))
        .args([
            "metrics",
            "--json",
            "--as-of",
            "2024-03-01",
            "--tenant",
            "acme",
        ])
        .env("SKYGENI_DATABASE_URL", &db.url)
        .env_remove("SKYGENI_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mine = serde_json::to_value(&s.metrics).unwrap();
    for key in [
        "open_deals",
        "pipeline_value",
        "rapv",
        "optimism_gap",
        "rem",
        "win_rate",
        "risk_distribution",
        "recovery",
    ] {
        assert_eq!(mine[key], cli[key], "{key} differs from skygeni metrics");
    }
    let pv = pipeline_view(&store, &tenant, as_of(), DEFAULT_SAVE_RATE)
        .await
        .unwrap();
    assert_eq!(
        s.metrics.open_deals,
        open.len() - 1,
        "the won deal left the pipeline"
    );
    assert_eq!(
        s.at_risk_deals,
        pv.scores
            .iter()
            .filter(|x| x.risk_category.is_at_risk())
            .count()
    );
    assert!(s.top_issues.iter().all(|i| i.deals <= s.at_risk_deals) && !s.top_issues.is_empty());

    // Win-rate trend: every deal that closed in the 12 weeks, counted once.
    let first = s.win_rate_trend[0].week_start;
    let closed_in_range = view
        .iter()
        // The weeks end the day before as_of (the summary covers [as_of - 7, as_of)).
        .filter(|d| d.closed_date.is_some_and(|c| c >= first && c < as_of()))
        .count()
        + 1; // the deal won this week
    let counted: usize = s.win_rate_trend.iter().map(|w| w.won + w.lost).sum();
    assert_eq!(s.win_rate_trend.len(), 12);
    assert_eq!(counted, closed_in_range);

    // What changed: the seed's scores sit in 26..=75, so the five 90s moved down and the 30s up.
    assert!(
        s.changes
            .compared_with
            .as_deref()
            .unwrap()
            .starts_with("2024-02-23")
    );
    assert_eq!(
        s.changes.moved_down_count, 4,
        "four of the five are still open"
    );
    assert_eq!(s.changes.became_critical_count, 0);
    assert!(s.changes.moved_up_count > 100);

    let l = &s.closing_the_loop;
    assert_eq!(l.critical_last_week, 5);
    assert_eq!((l.actions_done, l.actions_total), (2, 3));
    assert_eq!((l.snoozed, l.false_alarms), (1, 1));
    assert_eq!((l.won, l.lost, l.still_open, l.improved), (1, 0, 4, 4));

    // Email: every part rendered, escaped in HTML, money formatted, charts inline.
    let links = WeeklyLinks {
        deal_url: &|id| format!("https://acme.my.salesforce.com/lightning/r/Opportunity/{id}/view"),
        slack_url: "https://slack.com/app_redirect?app=A1".into(),
        settings_url: "https://bot.example.com/settings".into(),
        unsubscribe_url: Some("https://bot.example.com/unsubscribe/tok".into()),
        image_prefix: None,
    };
    let email = render_email(&s, &links).unwrap();
    for part in [&email.html, &email.text] {
        assert!(
            !part.contains("{{") && !part.contains("}}"),
            "unrendered placeholder:\n{part}"
        );
        for want in [
            skygeni::notify::email::money(s.metrics.rapv),
            skygeni::notify::email::money(s.metrics.pipeline_value),
            "2 of 3 Salesforce Tasks completed".into(),
            "1 snoozed, 1 marked false alarm".into(),
            "Assumes 20%".into(),
            "https://bot.example.com/settings".into(),
        ] {
            assert!(part.contains(&want), "missing {want:?} in:\n{part}");
        }
    }
    assert!(email.html.contains("Acme &lt;Sales&gt; &amp; Co") && !email.html.contains("<Sales>"));
    assert_eq!(lint(&email.html), Vec::<String>::new(), "client-proof HTML");
    // "Did last week's advice work?": a table with headers and a row per followed deal.
    assert_eq!(loop_rows(&email.html), 5, "{}", email.html);
    assert!(
        email
            .text
            .contains("Did Last Week's Advice Work? 5 deals were critical a week ago")
    );
    // The heading's week is the trend's last week (the seven days before as_of).
    assert_eq!(s.week_start, s.win_rate_trend.last().unwrap().week_start);
    assert!(
        email.html.contains("week of Feb 23 – Feb 29, 2024"),
        "heading"
    );
    assert!(s.metrics.as_of == as_of() && email.text.contains("% this week ("));
    assert!(
        email
            .html
            .contains("href=\"https://bot.example.com/unsubscribe/tok\"")
    );
    assert!(
        email.text.contains("Acme <Sales> & Co"),
        "plain text is not escaped"
    );
    assert!(email.subject.contains("$19M pipeline"), "{}", email.subject);
    assert_eq!(email.inline_images.len(), 3);
    for img in &email.inline_images {
        assert!(email.html.contains(&format!("cid:{}", img.content_id)));
        assert_eq!(png_size(&img.bytes), (WIDTH * SCALE, HEIGHT * SCALE));
        assert_eq!(img.mime_type, "image/png");
        assert!(
            img.base64().starts_with("iVBORw0KGgo"),
            "base64 of the PNG signature"
        );
    }

    // Slack: image blocks from the signed URLs, a View deal button per critical deal.
    let urls: Vec<(Chart, String)> = Chart::ALL
        .into_iter()
        .map(|c| {
            (
                c,
                signed_url(
                    "https://bot.example.com",
                    b"k",
                    &tenant,
                    c,
                    now + Duration::days(7),
                ),
            )
        })
        .collect();
    let msg = slack_blocks(&s, &urls);
    let blocks = msg["blocks"].as_array().unwrap();
    let images: Vec<&str> = blocks
        .iter()
        .filter(|b| b["type"] == "image")
        .map(|b| b["image_url"].as_str().unwrap())
        .collect();
    assert_eq!(
        images,
        urls.iter().map(|(_, u)| u.as_str()).collect::<Vec<_>>()
    );
    assert!(blocks.len() <= 50, "Slack allows 50 blocks");
    assert!(msg["text"].as_str().unwrap().contains("risk-adjusted"));
    // Without an https public URL Slack cannot fetch images: a text line instead, no image.
    for (url, ok) in [
        ("https://bot.example.com", true),
        ("http://bot.example.com", false),
        ("https://localhost:8080", false),
        ("https://127.0.0.1", false),
    ] {
        assert_eq!(skygeni::notify::weekly::slack_can_fetch(url), ok, "{url}");
    }
    let plain = slack_blocks(&s, &[]);
    let text = plain.to_string();
    assert!(!text.contains("\"image\""), "{text}");
    assert!(text.contains("Charts: see the email"), "{text}");
}

#[tokio::test]
async fn signed_chart_urls_serve_pngs_and_refuse_tampered_or_expired_links() {
    let db = TestDb::new().await;
    let settings = Settings::from_vars([
        ("SKYGENI_DATABASE_URL", db.url.as_str()),
        ("SKYGENI_BIND", "127.0.0.1:0"),
        ("SKYGENI_CHART_URL_SECRET", "chart-secret"),
    ])
    .unwrap();
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until(std::future::pending()));
    let tenant = TenantId::default_tenant();
    let client = reqwest::Client::new();
    let later = Utc::now() + Duration::hours(1);
    for chart in Chart::ALL {
        let url = signed_url(&base, b"chart-secret", &tenant, chart, later);
        let r = client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        assert_eq!(r.headers()["content-type"], "image/png");
        assert_eq!(
            png_size(&r.bytes().await.unwrap()),
            (WIDTH * SCALE, HEIGHT * SCALE)
        );
    }
    let good = signed_url(
        &base,
        b"chart-secret",
        &tenant,
        Chart::RiskDistribution,
        later,
    );
    let forged = signed_url(&base, b"guess", &tenant, Chart::RiskDistribution, later);
    let swapped = good.replace("risk-distribution", "win-rate-trend");
    let expired = signed_url(
        &base,
        b"chart-secret",
        &tenant,
        Chart::RiskDistribution,
        Utc::now() - Duration::seconds(1),
    );
    for (url, status) in [
        (forged, 403),
        (swapped, 403),
        (format!("{base}/charts/default.png"), 403),
        (expired, 410),
    ] {
        let r = client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), status, "{url}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains("chart link"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn the_demo_writes_the_weekly_summary_and_its_three_charts() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_skygeni"))
        .arg("demo")
        .current_dir(dir.path())
        .env_remove("SKYGENI_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("9. Weekly CRO summary"), "{stdout}");
    let demo = dir.path().join("demo-out");
    for chart in Chart::ALL {
        let png = std::fs::read(demo.join(format!("{}.png", chart.as_str()))).unwrap();
        assert_eq!(
            png_size(&png),
            (WIDTH * SCALE, HEIGHT * SCALE),
            "{}",
            chart.as_str()
        );
    }
    let html = std::fs::read_to_string(demo.join("weekly.html")).unwrap();
    let text = std::fs::read_to_string(demo.join("weekly.txt")).unwrap();
    for part in [&html, &text] {
        assert!(!part.contains("{{"), "unrendered template: {part}");
        assert!(
            part.contains("$18,896,782") && part.contains("Top Issues"),
            "{part}"
        );
    }
    // The preview page shows the PNGs beside it (a sent email uses cid: references).
    assert!(html.contains("src=\"win-rate-trend.png\""), "{html}");
    // The demo replays the week before, so the loop follows last week's top high-risk deals
    // (no deal in this dataset is critical) and its table has rows.
    assert_eq!(loop_rows(&html), 5, "{html}");
    assert!(
        text.contains("No deal was critical a week ago; the 5 highest-risk deals then"),
        "{text}"
    );
    for (file, wants) in [
        (
            "weekly.html",
            &["Weekly Pipeline Summary", "What Changed This Week"][..],
        ),
        (
            "digest.html",
            &[
                "Daily Pipeline Health Report",
                "Deals Needing Attention (Top 5)",
                "Trends This Week",
                "Lead source win-rate gap:",
                "src=\"digest-risk-distribution.png\"",
            ][..],
        ),
        (
            "alert.html",
            &[
                "RISK DEAL ALERT",
                "<strong>Risk Score:</strong>",
                ">View Deal</a>",
                ">Snooze Alert</a>",
                ">Mark False Alarm</a>",
            ][..],
        ),
    ] {
        let page = std::fs::read_to_string(demo.join(file)).unwrap();
        assert_eq!(lint(&page), Vec::<String>::new(), "{file}");
        for w in wants {
            assert!(page.contains(w), "{file}: missing {w:?}");
        }
        // Every image the page shows is a file the demo wrote.
        for src in page
            .split("<img src=\"")
            .skip(1)
            .map(|s| &s[..s.find('"').unwrap()])
        {
            assert!(demo.join(src).is_file(), "{file}: {src} not written");
        }
    }
    let slack: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(demo.join("weekly.json")).unwrap()).unwrap();
    let images = slack["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "image")
        .count();
    assert_eq!(images, 3);
}
