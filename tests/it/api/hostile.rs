//! The API as a hostile user tries it: empty and short secrets, stale or role-crossing
//! Idempotency-Keys, forged JWT claims, slow and unsigned connections, out-of-range input,
//! tenant ids on unauthenticated probes, and spreadsheet formulas in `score --csv` output.
use super::{assert_error, inline_deal};
use crate::support::{TestApp, read, t};
use reqwest::StatusCode;
use serde_json::json;
use skygeni::auth::Role;
use skygeni::domain::TenantId;
use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn serve_refuses_short_secrets_and_an_empty_one_in_the_file_is_no_key_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("skygeni.toml");
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    let run = |args: &[&str], file: &str, env: &[(&str, &str)]| {
        std::fs::write(&toml, file).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_skygeni"));
        cmd.args(args)
            .env("SKYGENI_CONFIG", &toml)
            .env("SKYGENI_DATABASE_URL", &db)
            .env("SKYGENI_BIND", "127.0.0.1:0");
        for var in [
            "SKYGENI_JWT_SECRET",
            "SLACK_SIGNING_SECRET",
            "SALESFORCE_WEBHOOK_SECRET",
            "SLACK_BOT_TOKEN",
            "SLACK_CLIENT_ID",
        ] {
            cmd.env_remove(var);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    // `jwt_secret = ""` must not become the HMAC key "": the token command says it is unset.
    let out = run(
        &["token", "--sub", "x", "--role", "admin"],
        "jwt_secret = \"\"\n",
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SKYGENI_JWT_SECRET is not set"));
    for (file, env, named) in [
        (
            "jwt_secret = \"short\"\n",
            vec![],
            "SKYGENI_JWT_SECRET is 5 bytes",
        ),
        (
            "",
            vec![("SLACK_SIGNING_SECRET", "0123456789abcdef0123456789abcde")],
            "SLACK_SIGNING_SECRET is 31 bytes",
        ),
        (
            "salesforce_webhook_secret = \"tiny\"\n",
            vec![],
            "SALESFORCE_WEBHOOK_SECRET is 4 bytes",
        ),
        (
            "slack_signing_secret = \"\"\n",
            vec![("SLACK_BOT_TOKEN", "xoxb-1")],
            "SLACK_SIGNING_SECRET is not set",
        ),
    ] {
        let out = run(&["serve", "--no-scheduler", "--no-dispatcher"], file, &env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{file} {env:?} started");
        assert!(
            err.contains("refusing to start") && err.contains(named),
            "{named}: {err}"
        );
    }
}

#[tokio::test]
async fn forged_claims_are_unauthorized_and_an_unknown_tenant_writes_nothing() {
    let app = TestApp::spawn_with(&[("SKYGENI_JWT_MAX_LIFETIME_SECS", "3600")]).await;
    let now = chrono::Utc::now().timestamp();
    let base = json!({"sub": "u1", "tenant_id": "default", "role": "admin", "exp": now + 600});
    let (s, _, _) = app
        .get("/v1/pipeline/metrics", &app.sign_claims(&base))
        .await;
    assert_eq!(s, StatusCode::OK, "the unforged token works");
    for (claim, value) in [
        ("nbf", json!(now + 600)),
        ("exp", json!(now + 7200)),
        ("sub", json!("")),
        ("tenant_id", json!("nosuchtenant")),
    ] {
        let mut c = base.clone();
        c[claim] = value.clone();
        let (s, body, _) = app
            .post(
                "/v1/alerts/configure",
                &app.sign_claims(&c),
                &json!({"critical_deals": {"threshold": 90}}),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{claim}={value}: {body}");
        assert_error(&body, "unauthorized");
    }
    assert!(
        app.store
            .get_alert_settings(&t("nosuchtenant"), "u1")
            .await
            .unwrap()
            .is_none(),
        "no row for a tenant that does not exist"
    );
    app.state.flush_audit().await;
    assert!(
        app.store
            .list_audit(&t("nosuchtenant"), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn idempotency_claims_expire_and_never_cross_a_role_change() {
    let app = TestApp::spawn().await;
    let body = json!({"critical_deals": {"threshold": 66}});
    let bytes = serde_json::to_vec(&body).unwrap();
    let post = |tok: String, key: &'static str| {
        app.client
            .post(format!("{}/v1/alerts/configure", app.base))
            .bearer_auth(tok)
            .header("idempotency-key", key)
            .header("content-type", "application/json")
            .body(bytes.clone())
            .send()
    };
    // A claim left behind two minutes ago by a request that died: taken over, not a 409.
    let hash =
        skygeni::api::guard::request_hash("POST", "/v1/alerts/configure", "u7", "rep", &bytes);
    app.store
        .claim_idempotency_key(
            &TenantId::default_tenant(),
            "dead-key",
            &hash,
            chrono::Utc::now() - chrono::Duration::minutes(2),
            chrono::Duration::seconds(60),
        )
        .await
        .unwrap();
    let rep = app.token("default", Role::Rep, "u7");
    let (s, b, _) = read(post(rep.clone(), "dead-key").await.unwrap()).await;
    assert_eq!(s, StatusCode::OK, "an expired claim is taken over: {b}");
    // Same user, same body, same key, but now an admin: a different request, not a replay.
    let admin = app.token("default", Role::Admin, "u7");
    let (s, b, h) = read(post(admin, "dead-key").await.unwrap()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(b["details"]["field"], "Idempotency-Key");
    assert!(!h.contains_key("idempotent-replayed"));
    let (s, _, h) = read(post(rep, "dead-key").await.unwrap()).await;
    assert_eq!(
        (s, h.contains_key("idempotent-replayed")),
        (StatusCode::OK, true)
    );
}

/// What the server sends on `stream` until its status line is complete, it closes the
/// connection (`true`), or `wait` passes.
fn drain(stream: &mut std::net::TcpStream, wait: Duration) -> (String, bool) {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return (String::from_utf8_lossy(&buf).into_owned(), true),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.windows(2).any(|w| w == b"\r\n") {
                    return (String::from_utf8_lossy(&buf).into_owned(), false);
                }
            }
            Err(_) => return (String::from_utf8_lossy(&buf).into_owned(), false),
        }
    }
}

#[tokio::test]
async fn slow_headers_slow_bodies_and_surplus_connections_are_cut_off() {
    let app = TestApp::spawn_with(&[
        ("SKYGENI_HEADER_TIMEOUT_SECS", "1"),
        ("SKYGENI_BODY_TIMEOUT_SECS", "1"),
        ("SKYGENI_MAX_CONNECTIONS", "3"),
    ])
    .await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let tok = app.token("default", Role::Admin, "a");
    let (addr2, tok2) = (addr.clone(), tok.clone());
    tokio::task::spawn_blocking(move || {
        // Headers never finished: closed after the header timeout.
        let started = Instant::now();
        let mut slow = std::net::TcpStream::connect(&addr2).unwrap();
        slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        let (text, closed) = drain(&mut slow, Duration::from_secs(5));
        assert!(
            closed || text.starts_with("HTTP/1.1 408"),
            "a connection with unfinished headers is closed: {text:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );

        // A body that never completes: answered (or closed) after the body timeout.
        let started = Instant::now();
        let mut trickle = std::net::TcpStream::connect(&addr2).unwrap();
        write!(
            trickle,
            "POST /v1/alerts/configure HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok2}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"critical"
        )
        .unwrap();
        let (text, closed) = drain(&mut trickle, Duration::from_secs(5));
        assert!(
            closed || text.starts_with("HTTP/1.1 4"),
            "the stalled body ended the request: {text:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
    })
    .await
    .unwrap();

    // Three idle connections fill the limit; a fourth waits until one of them is cut off.
    let idle: Vec<std::net::TcpStream> = (0..3)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let r = app
        .client
        .get(format!("{}/healthz", app.base))
        .timeout(Duration::from_secs(6))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "the fourth connection waited for a free slot: {:?}",
        started.elapsed()
    );
    drop(idle);
}

#[tokio::test]
async fn unsigned_or_stale_slack_and_webhook_posts_are_refused_before_the_body_is_read() {
    let app = TestApp::spawn_with(&[
        ("SLACK_SIGNING_SECRET", "0123456789abcdef0123456789abcdef"),
        (
            "SALESFORCE_WEBHOOK_SECRET",
            "0123456789abcdef0123456789abcdef",
        ),
    ])
    .await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let now = chrono::Utc::now().timestamp();
    let fresh = format!("X-Slack-Signature: v0=00\r\nX-Slack-Request-Timestamp: {now}\r\n");
    let stale = format!(
        "X-Slack-Signature: v0=00\r\nX-Slack-Request-Timestamp: {}\r\n",
        now - 3600
    );
    // (path, headers, announced body size, status): the body is announced, never sent.
    let cases = [
        ("/slack/commands", String::new(), 200_000, "401"),
        ("/slack/events", stale, 200_000, "401"),
        ("/slack/interactions", fresh, 921_600, "413"),
        ("/webhooks/salesforce", String::new(), 200_000, "401"),
    ];
    tokio::task::spawn_blocking(move || {
        for (path, headers, length, status) in cases {
            // Announce a body and send none of it: an answer now means it was not awaited.
            let started = Instant::now();
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            write!(
                s,
                "POST {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Type: application/x-www-form-urlencoded\r\n\
                 Content-Length: {length}\r\n\r\n"
            )
            .unwrap();
            let (text, _) = drain(&mut s, Duration::from_secs(2));
            assert!(
                text.starts_with(&format!("HTTP/1.1 {status}")),
                "{path}: {text:?}"
            );
            assert!(started.elapsed() < Duration::from_secs(2), "{path}");
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn amounts_dates_and_offsets_outside_the_importers_bounds_are_validation_errors() {
    let app = TestApp::spawn().await;
    let tok = app.token("default", Role::Admin, "a");
    for (field, value, named) in [
        ("deal_amount", json!(10_000_001.0), "deal_amount"),
        ("deal_amount", json!(0), "deal_amount"),
        ("deal_amount", json!(-5), "deal_amount"),
        ("created_date", json!("1900-01-01"), "created_date"),
        ("created_date", json!("2024-07-01"), "created_date"),
        ("as_of", json!("9999-12-31"), "as_of"),
        (
            "last_activity_date",
            json!("2199-01-01"),
            "last_activity_date",
        ),
        ("sales_cycle_days", json!(-1), "sales_cycle_days"),
        ("deal_id", json!(""), "deal_id"),
        ("deal_id", json!("D\u{0}1"), "deal_id"),
        ("company", json!("Acme\u{7}"), "company"),
    ] {
        let mut body = inline_deal();
        body[field] = value.clone();
        let (s, b, _) = app.post("/v1/deals/score", &tok, &body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{field}={value}: {b}");
        assert_error(&b, "validation_error");
        assert_eq!(b["details"]["field"], named, "{field}={value}: {b}");
    }
    let (s, b, _) = app
        .post("/v1/deals/score", &tok, &json!({"deal_id": "D\u{0}"}))
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a NUL in a stored-deal id: {b}"
    );
    for query in [
        "offset=9223372036854775807",
        "limit=0",
        "risk_category=high,",
        "as_of=0001-01-01",
    ] {
        let path = if query.starts_with("as_of") {
            format!("/v1/pipeline/metrics?{query}")
        } else {
            format!("/v1/deals/high-risk?{query}")
        };
        let (s, b, _) = app.get(&path, &tok).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {b}");
    }
    // The design's own request: created 2026-01-15 and 28 days in the pipeline.
    let mut body = inline_deal();
    let obj = body.as_object_mut().unwrap();
    obj.remove("as_of");
    obj.insert("created_date".into(), json!("2026-01-15"));
    obj.insert("sales_cycle_days".into(), json!(28));
    let (s, b, _) = app.post("/v1/deals/score", &tok, &body).await;
    assert_eq!(
        (s, b["as_of"].as_str()),
        (StatusCode::OK, Some("2026-02-12")),
        "{b}"
    );
}

#[tokio::test]
async fn unauthenticated_probes_do_not_list_tenant_ids() {
    let app = TestApp::spawn_with(&[("SKYGENI_METRICS_TENANT_LABELS", "false")]).await;
    let secret_tenant = t("hidden-tenant-7f3a");
    app.store
        .add_tenant(&secret_tenant, "Hidden", "UTC")
        .await
        .unwrap();
    let tok = app.token("hidden-tenant-7f3a", Role::Admin, "a");
    let (s, _, _) = app.get("/v1/pipeline/metrics", &tok).await;
    assert_eq!(s, StatusCode::OK);
    skygeni::service::models::load_scorer(&app.store, &secret_tenant, &[])
        .await
        .unwrap();
    let (s, ready, _) = app.get("/readyz", "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(!ready.to_string().contains("hidden-tenant"), "{ready}");
    let metrics = crate::support::metrics_text(&app.client, &app.base).await;
    assert!(!metrics.contains("hidden-tenant"), "{metrics}");
    assert!(
        metrics.contains("http_request_duration_seconds"),
        "the rest stays"
    );
}

#[test]
fn score_csv_output_neutralises_spreadsheet_formulas_and_keeps_numbers_plain() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    let hostile = ["=1+2", "+SUM(A1)", "-3", "@cmd", "D-safe"];
    let mut text = skygeni::crm::synthetic::generated_csv(300, "F");
    for id in hostile {
        text.push_str(&format!(
            "{id},2024-01-01,,rep_1,SaaS,Europe,Core,Inbound,Demo,12000,,\n"
        ));
    }
    std::fs::write(&input, text).unwrap();
    let out_path = dir.path().join("out.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_skygeni"))
        .args(["score", "--csv"])
        .arg(&input)
        .arg("--out")
        .arg(&out_path)
        .args(["--train"])
        .arg(crate::support::seed_csv())
        .args(["--as-of", "2024-03-01"])
        .env_remove("SKYGENI_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let scored = std::fs::read_to_string(&out_path).unwrap();
    for id in hostile {
        let want = if id == "D-safe" {
            id.to_string()
        } else {
            format!("'{id}")
        };
        let row = scored
            .lines()
            .find(|l| l.split(',').next() == Some(want.as_str()))
            .unwrap_or_else(|| panic!("no row for {id}: {scored}"));
        let cols: Vec<&str> = row.split(',').collect();
        assert!(
            cols[1].parse::<u8>().is_ok(),
            "risk_score stays a number: {row}"
        );
        assert!(
            cols[3].parse::<f64>().is_ok(),
            "win_probability stays a number: {row}"
        );
    }
    assert!(
        !scored.lines().any(|l| l.starts_with(['=', '+', '-', '@'])),
        "no line starts with a formula"
    );
}
