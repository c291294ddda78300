//! Issue 17 on both backends: the one-click unsubscribe link (signed, no login; GET shows a
//! page, POST unsubscribes; forged, tampered, expired and other-tenant tokens refused), the
//! List-Unsubscribe headers on digests through the real SendGrid client into the fake (which
//! refuses what SendGrid refuses), CRM markup escaped in the sent digest, and email switched
//! off (serve and /readyz) while the sender is still the unverifiable default.
use crate::support::{TestDb, add_user, fakes_and_dispatcher, links, score, utc};
use chrono::{Duration, Utc};
use skygeni::app::Application;
use skygeni::config::Settings;
use skygeni::domain::{Deal, TenantId};
use skygeni::jobs::scheduler::{JobKind, Scheduler, SchedulerConfig, parse_cron};
use skygeni::notify::compose::Links;
use skygeni::notify::dispatcher::DispatchConfig;
use skygeni::notify::planner::AlertPolicy;
use skygeni::notify::unsubscribe::{List, UnsubscribeSigner};

/// Rows (headers excluded) of the "Did Last Week's Advice Work?" table, checking its headers.
pub fn loop_rows(html: &str) -> usize {
    let section = html
        .split("Did Last Week's Advice Work?")
        .nth(1)
        .and_then(|s| s.split("Model Health").next())
        .expect("the closing-the-loop section");
    let Some(table) = section
        .split_once("<table")
        .and_then(|(_, t)| t.split("</table>").next())
    else {
        return 0;
    };
    for h in [
        ">Deal</th>",
        ">Outcome</th>",
        ">Risk then → now</th>",
        ">Follow-up</th>",
    ] {
        assert!(table.contains(h), "header {h} missing:\n{table}");
    }
    table.matches("<tr>").count().saturating_sub(1)
}

#[tokio::test]
async fn one_click_unsubscribe_works_without_login_and_refuses_forged_or_foreign_tokens() {
    let db = TestDb::new().await;
    let settings = Settings::from_vars([
        ("SKYGENI_DATABASE_URL", db.url.as_str()),
        ("SKYGENI_BIND", "127.0.0.1:0"),
        ("SKYGENI_CHART_URL_SECRET", "unsubscribe-test-secret"),
    ])
    .unwrap();
    let app = Application::build(settings.clone()).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let store = app.state().store.clone();
    tokio::spawn(app.run_until(std::future::pending()));
    let (acme, globex) = (
        TenantId::parse("acme").unwrap(),
        TenantId::parse("globex").unwrap(),
    );
    for t in [&acme, &globex] {
        store.add_tenant(t, t.as_str(), "UTC").await.unwrap();
        add_user(&store, t, "u1", "manager", None).await;
    }
    let signer = UnsubscribeSigner::from_settings(&settings).unwrap();
    let now = Utc::now();
    let token = signer.token(&acme, "u1", List::Digest, now + Duration::days(1));
    let url = format!("{base}/unsubscribe/{token}");
    let http = reqwest::Client::new();
    let left = |t: TenantId, list: List| {
        let store = store.clone();
        async move { store.email_unsubscribed(&t, list.as_str()).await.unwrap() }
    };

    // GET (what a link scanner or a click does): a confirm page, nothing changes.
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(r.headers()["cache-control"], "no-store");
    let page = r.text().await.unwrap();
    assert!(
        page.contains("<form method=\"post\">") && page.contains("daily Pipeline Health Report"),
        "{page}"
    );
    assert!(
        left(acme.clone(), List::Digest).await.is_empty(),
        "GET must not unsubscribe"
    );

    // Forged, tampered, expired: refused before anything is written.
    let (payload, sig) = token.split_once('.').unwrap();
    let forged = UnsubscribeSigner::new(b"guess".to_vec(), &base, "x@y.com").token(
        &acme,
        "u1",
        List::Digest,
        now + Duration::days(1),
    );
    let expired = signer.token(&acme, "u1", List::Digest, now - Duration::seconds(1));
    for (bad, status, why) in [
        (forged, 403, "signed with another key"),
        (format!("{payload}A.{sig}"), 403, "payload changed"),
        (format!("{payload}.{}", &sig[2..]), 403, "signature cut"),
        ("not-a-token".to_string(), 403, "junk"),
        (expired, 410, "expired"),
    ] {
        for method in [reqwest::Method::GET, reqwest::Method::POST] {
            let r = http
                .request(method.clone(), format!("{base}/unsubscribe/{bad}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), status, "{why} ({method})");
        }
    }
    assert!(left(acme.clone(), List::Digest).await.is_empty());

    // The RFC 8058 one-click POST, as a mail provider sends it, with no cookie or login.
    for _ in 0..2 {
        let r = http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "idempotent");
        assert!(r.text().await.unwrap().contains("You are unsubscribed"));
    }
    assert_eq!(left(acme.clone(), List::Digest).await, ["u1"]);
    assert!(
        left(acme.clone(), List::Weekly).await.is_empty(),
        "only the list the token names"
    );
    assert!(
        left(globex.clone(), List::Digest).await.is_empty(),
        "acme's token does nothing to globex's u1"
    );

    // A valid token for a user the tenant does not have: refused, nothing written.
    let ghost = signer.token(&globex, "ghost", List::Weekly, now + Duration::days(1));
    let r = http
        .post(format!("{base}/unsubscribe/{ghost}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(left(globex, List::Weekly).await.is_empty());
}

fn digest_config() -> SchedulerConfig {
    SchedulerConfig {
        nightly: parse_cron("0 0 2 * * *", "nightly").unwrap(),
        catch_up: Duration::hours(12),
        ..SchedulerConfig::new(vec![JobKind::Digest])
    }
}

#[tokio::test]
async fn digests_carry_list_unsubscribe_headers_escape_crm_markup_and_stop_after_unsubscribe() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let tenant = TenantId::default_tenant();
    add_user(&store, &tenant, "mgr", "manager", None).await;
    add_user(&store, &tenant, "rep", "rep", Some("mgr")).await;
    let hostile = [
        ("D1", "<script>alert(1)</script> Corp"),
        ("D2", "<a href=\"https://evil.example/x\">Click</a> & Co"),
        ("D3", "{{settings_url}} \"Quoted\" Inc"),
    ];
    let deals: Vec<Deal> = hostile
        .iter()
        .map(|(id, company)| {
            let mut d = Deal::example(id);
            d.sales_rep_id = "rep".into();
            d.company = Some((*company).into());
            d.amount = 45_000.0;
            d
        })
        .collect();
    store
        .upsert_deals(&tenant, &deals, &mut |_| {})
        .await
        .unwrap();
    // High, not critical: no alert emails besides the digest.
    let scores: Vec<_> = ["D1", "D2", "D3"].iter().map(|id| score(id, 70)).collect();
    store
        .record_scores(
            &tenant,
            utc("2024-02-29T02:00:00Z"),
            &scores,
            &AlertPolicy::default(),
            &mut |_| {},
        )
        .await
        .unwrap();
    let signer = UnsubscribeSigner::new(
        b"k".to_vec(),
        "https://bot.example.com",
        "deals@acme.example",
    );
    let with_unsubscribe = Links {
        unsubscribe: Some(signer.clone()),
        ..links()
    };
    let scheduler = Scheduler::new(store.clone(), digest_config(), with_unsubscribe, None).unwrap();
    let ran = scheduler
        .run_once(utc("2024-03-01T08:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        ran.iter().map(|r| r.job.as_str()).collect::<Vec<_>>(),
        ["digest:mgr"]
    );

    let (_slack, sendgrid, dispatcher) =
        fakes_and_dispatcher(&store, DispatchConfig::default(), &[]).await;
    dispatcher
        .run_once(utc("2024-03-01T08:01:00Z"))
        .await
        .unwrap();
    let sent = sendgrid.sent();
    assert_eq!(
        sent.len(),
        1,
        "the fake accepted the digest (headers not reserved)"
    );
    let mail = &sent[0];
    let headers = &mail.body["headers"];
    let list_unsubscribe = headers["List-Unsubscribe"].as_str().unwrap();
    assert_eq!(
        headers["List-Unsubscribe-Post"],
        "List-Unsubscribe=One-Click"
    );
    assert!(
        list_unsubscribe.starts_with("<mailto:deals@acme.example?subject=unsubscribe%20"),
        "{list_unsubscribe}"
    );
    let https = list_unsubscribe
        .split(", ")
        .nth(1)
        .and_then(|u| u.strip_prefix("<https://bot.example.com/unsubscribe/"))
        .and_then(|u| u.strip_suffix('>'))
        .expect("an https one-click link");
    let grant = signer.verify(https, utc("2024-03-02T00:00:00Z")).unwrap();
    assert_eq!(
        (grant.tenant, grant.user_id.as_str(), grant.list),
        (tenant.clone(), "mgr", List::Digest)
    );
    let html = mail.html.as_deref().unwrap();
    assert!(
        html.contains(&format!("https://bot.example.com/unsubscribe/{https}")),
        "the footer links the same page"
    );
    // CRM text stays text: escaped in HTML, verbatim in plain text, never a template.
    for raw in ["<script>", "<a href=\"https://evil.example/x\">"] {
        assert!(!html.contains(raw), "{raw} reached the HTML");
    }
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; Corp"),
        "{html}"
    );
    assert!(
        html.contains(
            "&lt;a href&#x3D;&quot;https://evil.example/x&quot;&gt;Click&lt;/a&gt; &amp; Co"
        ),
        "{html}"
    );
    assert!(
        html.contains("{{settings_url}} &quot;Quoted&quot; Inc"),
        "not re-rendered"
    );
    let text = mail.text.as_deref().unwrap();
    // Issue 16: relative risk per listed deal; no trained model here, so the low-skill line.
    for part in [html, text] {
        assert!(part.contains("Relative risk: riskier than "), "{part}");
        assert!(part.contains(skygeni::engine::LOW_SKILL_LINE), "{part}");
    }
    assert!(text.contains("<script>alert(1)</script> Corp"), "{text}");
    assert!(
        mail.subject
            .starts_with("Daily Pipeline Health Report 2024-03-01"),
        "{}",
        mail.subject
    );

    // After the one-click unsubscribe the next day's digest has no email.
    assert!(
        store
            .unsubscribe_email(&tenant, "mgr", "digest", utc("2024-03-01T09:00:00Z"))
            .await
            .unwrap()
    );
    let ran = scheduler
        .run_once(utc("2024-03-02T08:00:00Z"))
        .await
        .unwrap();
    assert_eq!(ran.len(), 1, "{ran:?}");
    dispatcher
        .run_once(utc("2024-03-02T08:01:00Z"))
        .await
        .unwrap();
    assert_eq!(sendgrid.sent().len(), 1, "no second digest email");
}

#[tokio::test]
async fn the_fake_sendgrid_refuses_an_unverified_sender_like_sendgrid() {
    use skygeni::notify::senders::{EmailSender, OutgoingEmail, SendError};
    use skygeni::notify::sendgrid::SendGridClient;
    use skygeni_fakes::sendgrid::FakeSendGrid;
    use skygeni_fakes::server::FakeServer;
    let sendgrid = FakeSendGrid::new("SG.k");
    sendgrid.verify_senders(&["@acme.com"]);
    let server = FakeServer::start(sendgrid.router(), 0).await.unwrap();
    let email = crate::support::bare_email("digest");
    for (from, ok) in [
        ("deals@acme.com", true),
        ("skygeni@localhost", false),
        ("x@globex.com", false),
    ] {
        let client = SendGridClient::new(&server.url(), "SG.k".to_string().into(), from).unwrap();
        let r = client.send_email(&email).await;
        match (ok, r) {
            (true, Ok(_)) => {}
            (false, Err(SendError::Permanent(m))) => {
                assert!(
                    m.contains("403") && m.contains("verified Sender Identity"),
                    "{m}"
                )
            }
            (_, other) => panic!("{from}: {other:?}"),
        }
    }
    // A header SendGrid reserves is a 400, not a silent override of From.
    let client =
        SendGridClient::new(&server.url(), "SG.k".to_string().into(), "deals@acme.com").unwrap();
    let spoof = OutgoingEmail {
        headers: vec![("From".into(), "ceo@acme.com".into())],
        ..email
    };
    let err = client.send_email(&spoof).await.unwrap_err();
    assert!(
        matches!(&err, SendError::Permanent(m) if m.contains("400") && m.contains("reserved")),
        "{err:?}"
    );
}

#[tokio::test]
async fn readyz_says_email_is_off_while_the_sender_is_the_default_and_serve_says_why() {
    let db = TestDb::new().await;
    for (from, enabled) in [(None, false), (Some("deals@acme.com"), true)] {
        let mut vars = vec![
            ("SKYGENI_DATABASE_URL", db.url.as_str()),
            ("SKYGENI_BIND", "127.0.0.1:0"),
            ("SENDGRID_API_KEY", "SG.real-looking"),
        ];
        if let Some(f) = from {
            vars.push(("SKYGENI_EMAIL_FROM", f));
        }
        let app = Application::build(Settings::from_vars(vars).unwrap())
            .await
            .unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until(std::future::pending()));
        let body: serde_json::Value = reqwest::get(format!("{base}/readyz"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body["email"]["enabled"], enabled, "{body}");
        if !enabled {
            let why = body["email"]["reason"].as_str().unwrap();
            assert!(
                why.contains("SKYGENI_EMAIL_FROM") && why.contains("skygeni@localhost"),
                "{why}"
            );
        }
    }

    // `serve` with a SendGrid key and the default sender: says so and runs without email.
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_skygeni"))
        .args(["serve", "--bind", "127.0.0.1:0", "--no-scheduler"])
        .env(
            "SKYGENI_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("s.db").display()),
        )
        .env("SENDGRID_API_KEY", "SG.real-looking")
        .env_remove("SKYGENI_EMAIL_FROM")
        .env_remove("SKYGENI_CONFIG")
        .current_dir(dir.path())
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let found = loop {
        match rx.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(line) if line.starts_with("email is OFF") => break Some(line),
            Ok(line) => seen.push(line),
            Err(_) => break None,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let line = found.unwrap_or_else(|| panic!("no 'email is OFF' line; stderr: {seen:?}"));
    assert!(
        line.contains("SKYGENI_EMAIL_FROM is still the default skygeni@localhost"),
        "{line}"
    );
}

#[tokio::test]
async fn a_webhook_rescoring_a_few_deals_does_not_hide_last_weeks_critical_deals() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let tenant = TenantId::default_tenant();
    let deals: Vec<Deal> = ["D1", "D2", "D3"]
        .iter()
        .map(|id| {
            let mut d = Deal::example(id);
            d.company = Some(format!("{id} Corp"));
            d
        })
        .collect();
    store
        .upsert_deals(&tenant, &deals, &mut |_| {})
        .await
        .unwrap();
    let now = utc("2024-03-04T09:00:00Z");
    let all = |risk| {
        ["D1", "D2", "D3"]
            .iter()
            .map(|id| score(id, risk))
            .collect::<Vec<_>>()
    };
    // Nightly eight days ago: all three critical. A webhook a week ago rescored D1 alone.
    for (at, scores) in [
        ("2024-02-25T02:00:00Z", all(90)),
        ("2024-02-26T08:00:00Z", vec![score("D1", 60)]),
        ("2024-03-04T02:00:00Z", all(60)),
    ] {
        store
            .record_scores(
                &tenant,
                utc(at),
                &scores,
                &AlertPolicy::default(),
                &mut |_| {},
            )
            .await
            .unwrap();
    }
    let s = skygeni::service::weekly::weekly_summary(&store, &tenant, now)
        .await
        .unwrap();
    let l = &s.closing_the_loop;
    assert_eq!(
        (l.basis.as_str(), l.critical_last_week),
        ("critical", 2),
        "D2 and D3 were still critical"
    );
    let ids: Vec<&str> = l.deals.iter().map(|d| d.deal.deal_id.as_str()).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&"D2") && ids.contains(&"D3"), "{ids:?}");
    assert_eq!(l.improved, 2, "both no longer critical");
    let email = skygeni::notify::weekly::render_email(
        &s,
        &skygeni::notify::weekly::WeeklyLinks {
            deal_url: &|id| format!("https://sf.example.com/{id}"),
            slack_url: "https://slack.com/app".into(),
            settings_url: "https://slack.com/app".into(),
            unsubscribe_url: None,
            image_prefix: None,
        },
    )
    .unwrap();
    assert_eq!(loop_rows(&email.html), 2);
}
