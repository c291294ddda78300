//! The design document's "API Design" section is the contract: its fenced JSON (and HTTP)
//! examples are read from `shared/seed/` at test time (never copied here), every example
//! request is sent as written, and every key of every example response must be in our answer
//! with the same JSON type. Missing document: the test fails under CI=true and is skipped
//! (with a printed reason) elsewhere.
use super::inline_deal;
use crate::support::{TestApp, read};
use reqwest::StatusCode;
use serde_json::{Value, json};
use skygeni::auth::Role;
use skygeni::domain::TenantId;
use skygeni::notify::planner::AlertPolicy;
use std::path::PathBuf;

const DESIGN_DOC: &str = "shared/seed/000_61291d2618147cce.txt";

/// The design document, found beside the repository (or beside the worktree's parent).
fn design_doc() -> Option<String> {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let found = here
        .ancestors()
        .skip(1)
        .map(|dir| dir.join(DESIGN_DOC))
        .find(|p| p.is_file());
    match found {
        Some(p) => Some(std::fs::read_to_string(&p).expect("design document is readable")),
        None if std::env::var("CI").as_deref() == Ok("true") => {
            panic!(
                "{DESIGN_DOC} not found above {}; CI must have it",
                here.display()
            )
        }
        None => {
            eprintln!(
                "SKIPPED: {DESIGN_DOC} not found in any parent of {}; the API contract is not checked",
                here.display()
            );
            None
        }
    }
}

/// One fenced example: the endpoint heading it is under, the bold label before it, its
/// language and its text.
#[derive(Debug)]
struct Example {
    endpoint: String,
    label: String,
    lang: String,
    text: String,
}

/// The fenced blocks of the "## API Design" section (up to the next `## ` heading).
fn examples(doc: &str) -> Vec<Example> {
    let start = doc
        .find("\n## API Design")
        .expect("the design has an API Design section");
    let section = &doc[start + 1..];
    let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 3);
    let (mut endpoint, mut label) = (String::new(), String::new());
    let mut out = Vec::new();
    let mut lines = section[..end].lines();
    while let Some(line) = lines.next() {
        if let Some(h) = line
            .strip_prefix("#### ")
            .or_else(|| line.strip_prefix("### "))
        {
            endpoint = h.trim().to_string();
            label.clear();
        } else if line.starts_with("**") {
            label = line
                .trim_matches(|c| c == '*' || c == ':')
                .trim()
                .to_string();
        } else if let Some(lang) = line.strip_prefix("```").filter(|l| !l.is_empty()) {
            let text: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.starts_with("```"))
                .collect();
            out.push(Example {
                endpoint: endpoint.clone(),
                label: label.clone(),
                lang: lang.trim().to_string(),
                text: text.join("\n"),
            });
        }
    }
    out
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every key of `example` is in `actual` with the same JSON type, recursively; an example
/// array's first element describes every element of ours (and ours must not be empty).
fn same_shape(example: &Value, actual: &Value, path: &str, problems: &mut Vec<String>) {
    if kind(example) != kind(actual) {
        problems.push(format!(
            "{path}: {} in the design, {} here ({actual})",
            kind(example),
            kind(actual)
        ));
        return;
    }
    match (example, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                match a.get(k) {
                    Some(av) => same_shape(ev, av, &format!("{path}.{k}"), problems),
                    None => problems.push(format!("{path}.{k}: missing")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if let Some(first) = e.first() {
                if a.is_empty() {
                    problems.push(format!(
                        "{path}: empty here, so its elements cannot be checked"
                    ));
                }
                for (i, av) in a.iter().enumerate() {
                    same_shape(first, av, &format!("{path}[{i}]"), problems);
                }
            }
        }
        _ => {}
    }
}

fn assert_shape(what: &str, example: &Value, actual: &Value) {
    let mut problems = Vec::new();
    same_shape(example, actual, "$", &mut problems);
    assert!(
        problems.is_empty(),
        "{what} differs from the design:\n{}\n{actual:#}",
        problems.join("\n")
    );
}

/// A tenant with history, a trained production model and stored scores: every endpoint has
/// something to say, including critical deals for the design's high-risk example.
async fn app_with_history() -> TestApp {
    let app = TestApp::spawn_with(&[("SKYGENI_SUPPORT_CONTACT", "help@example.test")]).await;
    let deals = app.seed("default", 800, "K").await;
    app.train_default(&deals).await;
    app.batch_score("default").await;
    // Synthetic history rarely scores above 75: give one open deal a critical current score
    // (as a nightly run would after a bad week), so the design's `risk_category=critical`
    // example lists something.
    let open = deals.iter().find(|d| d.is_open()).unwrap();
    let critical = skygeni::domain::DealScore {
        deal_id: open.deal_id.clone(),
        risk_score: 82,
        risk_category: skygeni::domain::RiskCategory::Critical,
        win_probability: 0.18,
        confidence: 0.8,
        risk_factors: vec![],
        recommendations: vec![],
        similar_deals: vec![],
        model_version: "contract".into(),
        degraded: false,
    };
    app.store
        .record_scores(
            &TenantId::default_tenant(),
            chrono::Utc::now(),
            &[critical],
            &AlertPolicy::default(),
            &mut |_| {},
        )
        .await
        .unwrap();
    app
}

#[tokio::test]
async fn every_example_of_the_designs_api_section_is_accepted_and_answered_in_its_shape() {
    let Some(doc) = design_doc() else { return };
    let all = examples(&doc);
    let app = app_with_history().await;
    let admin = app.token("default", Role::Admin, "user_123");
    let mut checked = 0;
    let mut pending_request: Option<(String, String, Value)> = None;
    for ex in &all {
        let endpoint = ex.endpoint.as_str();
        let (method, path) = endpoint.split_once(' ').unwrap_or(("", ""));
        match (ex.lang.as_str(), ex.label.as_str()) {
            ("json", "JWT Claims") => {
                let claims: Value = serde_json::from_str(&ex.text).unwrap();
                let payload = admin.split('.').nth(1).unwrap();
                use base64::Engine;
                let ours: Value = serde_json::from_slice(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(payload)
                        .unwrap(),
                )
                .unwrap();
                assert_shape("our JWT claims", &claims, &ours);
                checked += 1;
            }
            ("json", "Request") => {
                let body: Value = serde_json::from_str(&ex.text).unwrap();
                let (s, resp, _) = app.post(path, &admin, &body).await;
                assert_eq!(
                    s,
                    StatusCode::OK,
                    "{endpoint}: the design's own request: {resp}"
                );
                pending_request = Some((method.to_string(), path.to_string(), resp));
                checked += 1;
            }
            // The example request of a GET (the Authorization example is not a request line).
            ("http", _) if ex.text.starts_with("GET ") => {
                let first = ex.text.lines().next().unwrap();
                let target = first.split_whitespace().nth(1).unwrap();
                let (s, resp, _) = app.get(target, &admin).await;
                assert_eq!(s, StatusCode::OK, "{first}: {resp}");
                pending_request = Some(("GET".into(), path.to_string(), resp));
                checked += 1;
            }
            ("json", label) if label.starts_with("Response") => {
                let example: Value = serde_json::from_str(&ex.text).unwrap();
                let actual = match pending_request.take() {
                    Some((_, p, resp)) if p == path => resp,
                    _ => {
                        assert_eq!(
                            method, "GET",
                            "{endpoint}: a POST response needs its request"
                        );
                        let (s, resp, _) = app.get(path, &admin).await;
                        assert_eq!(s, StatusCode::OK, "{endpoint}: {resp}");
                        resp
                    }
                };
                assert_shape(endpoint, &example, &actual);
                checked += 1;
            }
            ("json", "Error Responses") => {
                let example: Value = serde_json::from_str(&ex.text).unwrap();
                let code = example["error"].as_str().unwrap();
                let actual = provoke(&app, code).await;
                assert_eq!(actual["error"], code, "{actual}");
                assert_shape(&format!("the {code} error"), &example, &actual);
                checked += 1;
            }
            ("json", other) => panic!("{endpoint}: an example labelled {other:?} is not checked"),
            _ => {}
        }
    }
    // 1 claims + 2 requests + 1 http request + 5 responses + 5 errors in today's document.
    assert!(checked >= 14, "only {checked} examples found: {all:#?}");
}

/// An answer carrying the design's error `code`, provoked the way a client would meet it.
async fn provoke(app: &TestApp, code: &str) -> Value {
    let admin = app.token("default", Role::Admin, "user_123");
    match code {
        "validation_error" => {
            let mut body = inline_deal();
            body.as_object_mut().unwrap().remove("deal_amount");
            let (s, v, _) = app.post("/v1/deals/score", &admin, &body).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
            assert_eq!(
                (
                    v["details"]["field"].as_str(),
                    v["details"]["constraint"].as_str()
                ),
                (Some("deal_amount"), Some("required")),
                "{v}"
            );
            v
        }
        "unauthorized" => {
            let (s, v, _) = app.get("/v1/pipeline/metrics", "not.a.jwt").await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
            v
        }
        // The design's example is another tenant's deal; we answer that with 404 (README:
        // existence must not leak). A rep asking for admin-only data is our 403.
        "forbidden" => {
            let rep = app.token("default", Role::Rep, "rep_1");
            let (s, v, _) = app.get("/v1/models/performance", &rep).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
            v
        }
        "rate_limit_exceeded" => {
            let limited = TestApp::spawn_with(&[("SKYGENI_RATE_LIMIT_USER_PER_MIN", "1")]).await;
            let tok = limited.token("default", Role::Admin, "u");
            limited.get("/v1/pipeline/metrics", &tok).await;
            let (s, v, h) = limited.get("/v1/pipeline/metrics", &tok).await;
            assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
            assert_eq!(
                h["retry-after"].to_str().unwrap(),
                v["retry_after"].to_string()
            );
            v
        }
        "internal_error" => {
            // A database that went away: 503, still in the design's internal_error shape.
            let lost =
                TestApp::spawn_with(&[("SKYGENI_SUPPORT_CONTACT", "help@example.test")]).await;
            let tok = lost.token("default", Role::Admin, "u");
            lost.get("/v1/pipeline/metrics", &tok).await;
            lost.state.store.close().await;
            let (s, v, _) = lost.get("/v1/pipeline/metrics", &tok).await;
            assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
            assert_eq!(v["support_contact"], "help@example.test", "{v}");
            v
        }
        other => panic!("the design names an error code we do not know: {other}"),
    }
}

#[tokio::test]
async fn a_lost_database_answers_503_on_every_v1_route() {
    let app = TestApp::spawn().await;
    let admin = app.token("default", Role::Admin, "a");
    // Warm the tenant check and the scorer cache: the failure must come from the queries.
    app.get("/v1/pipeline/metrics", &admin).await;
    app.state.store.close().await;
    let posts = [
        ("/v1/deals/score", inline_deal()),
        ("/v1/deals/score", json!({"deal_id": "D1"})),
        (
            "/v1/alerts/configure",
            json!({"critical_deals": {"threshold": 80}}),
        ),
    ];
    for (path, body) in posts {
        let r = app
            .client
            .post(format!("{}{path}", app.base))
            .bearer_auth(&admin)
            .header("idempotency-key", format!("k-{path}-{body}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let (s, v, h) = read(r).await;
        assert_eq!(
            s,
            StatusCode::SERVICE_UNAVAILABLE,
            "POST {path} {body}: {v}"
        );
        assert!(h.contains_key("retry-after"), "{path}");
        assert_eq!(v["error"], "internal_error");
    }
    for path in [
        "/v1/deals/high-risk",
        "/v1/pipeline/metrics",
        "/v1/models/performance",
    ] {
        let (s, v, _) = app.get(path, &admin).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "GET {path}: {v}");
        assert!(
            v["request_id"].is_string() && v["support_contact"].is_string(),
            "{v}"
        );
    }
}

#[tokio::test]
async fn pipeline_metrics_never_answer_a_negative_zero() {
    // An empty pipeline is where 0 × negative numbers turn into -0.0.
    let app = TestApp::spawn().await;
    let tok = app.token("default", Role::Admin, "a");
    let r = app
        .client
        .get(format!("{}/v1/pipeline/metrics", app.base))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(
        !text.contains("-0.0") && !text.contains(":-0,") && !text.contains(":-0}"),
        "{text}"
    );
    let seeded = app_with_history().await;
    let tok = seeded.token("default", Role::Admin, "a");
    for path in ["/v1/pipeline/metrics", "/v1/models/performance"] {
        let text = seeded
            .client
            .get(format!("{}{path}", seeded.base))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            !text.contains(":-0.0,") && !text.contains(":-0.0}"),
            "{path}: {text}"
        );
    }
}
