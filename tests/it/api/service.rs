//! The service around the API: probes, the OpenAPI document, Prometheus metrics, `skygeni serve`
//! and a clean shutdown.
use super::inline_deal;
use crate::support::{JWT_SECRET, TestApp, TestDb};
use reqwest::StatusCode;
use skygeni::auth::Role;

#[tokio::test]
async fn healthz_answers_and_readyz_reports_database_migrations_and_a_degraded_model() {
    let app = TestApp::spawn().await;
    let (s, body, _) = app.get("/healthz", "").await;
    assert_eq!((s, body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, body, _) = app.get("/readyz", "").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"]["ok"], true);
    assert_eq!(body["migrations"]["ok"], true, "{body}");
    assert!(body["migrations"]["applied"].as_u64().unwrap() >= 2);
    assert_eq!(
        body["model"]["degraded"], true,
        "no model registered yet: {body}"
    );
    assert_eq!(body["rate_limits"], "in_process");
}

#[tokio::test]
async fn the_openapi_document_is_served_and_describes_every_v1_route() {
    let app = TestApp::spawn().await;
    let (s, doc, _) = app.get("/v1/openapi.json", "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for (method, path) in skygeni::api::ROUTES {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} undocumented"
        );
    }
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|ops| ops.as_object().unwrap().len())
        .sum();
    assert_eq!(
        documented,
        skygeni::api::ROUTES.len(),
        "no stale paths or methods"
    );
}

#[tokio::test]
async fn metrics_expose_request_latency_per_route_and_scoring_latency() {
    let app = TestApp::spawn().await;
    let (s, _, _) = app
        .post(
            "/v1/deals/score",
            &app.token("default", Role::Admin, "a"),
            &inline_deal(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let text = crate::support::metrics_text(&app.client, &app.base).await;
    assert!(
        text.lines()
            .any(|l| l.starts_with("http_request_duration_seconds_bucket")
                && l.contains("route=\"/v1/deals/score\"")),
        "{text}"
    );
    assert!(text.contains("skygeni_score_duration_seconds"), "{text}");
}

/// `skygeni serve` on the test database, once it says it is listening: the child, its port
/// and its stderr (kept open: a closed pipe would make its next log line fail).
fn spawn_serve(
    db_url: &str,
) -> (
    std::process::Child,
    u16,
    std::io::BufReader<std::process::ChildStderr>,
) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_skygeni"))
        .arg("serve")
        .env("SKYGENI_DATABASE_URL", db_url)
        .env("SKYGENI_BIND", "127.0.0.1:0")
        .env("SKYGENI_JWT_SECRET", JWT_SECRET)
        .env_remove("SKYGENI_CONFIG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let port: u16 = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "serve exited before listening"
        );
        if let Some(p) = line.trim().strip_prefix("skygeni listening on port ") {
            break p.parse().unwrap();
        }
    };
    (child, port, stderr)
}

/// SIGTERM, then the exit status.
async fn terminate(child: std::process::Child) -> std::process::ExitStatus {
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut child = child;
    tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn skygeni_serve_answers_and_exits_cleanly_on_sigterm() {
    let db = TestDb::new().await;
    let (child, port, _stderr) = spawn_serve(&db.url);
    let r = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let status = terminate(child).await;
    assert!(status.success(), "graceful exit, got {status:?}");
}

#[tokio::test]
async fn a_sigterm_right_after_listening_is_still_a_graceful_stop() {
    // The signal handlers used to be registered only once every part had started, after the
    // "listening" line: an orchestrator's SIGTERM in between killed the process outright
    // (20 of 20 tries), without draining or writing the queued audit entries.
    let db = TestDb::new().await;
    let (child, _, _stderr) = spawn_serve(&db.url);
    let status = terminate(child).await;
    assert!(status.success(), "graceful exit, got {status:?}");
}

#[tokio::test]
async fn the_server_drains_and_stops_when_told_to_shut_down() {
    let mut app = TestApp::spawn().await;
    let base = app.base.clone();
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    app.stop().await.expect("clean shutdown");
    assert!(
        reqwest::Client::new()
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_err(),
        "no longer listening"
    );
}
