//! GET and PUT /v1/settings/risk (issue 16): an admin reads and replaces the tenant's band
//! edges and alert budget, the next API score uses the new edges at once, and everyone else
//! is refused; bad edges are a validation_error and change nothing.
use super::{assert_error, inline_deal};
use crate::support::{TestApp, read, t};
use reqwest::StatusCode;
use serde_json::{Value, json};
use skygeni::auth::Role;
use skygeni::domain::RiskBands;
use skygeni::store::RiskSettingsRow;

const PATH: &str = "/v1/settings/risk";

async fn put(app: &TestApp, token: &str, body: &Value) -> (StatusCode, Value) {
    let r = app
        .client
        .put(format!("{}{PATH}", app.base))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let (s, b, _) = read(r).await;
    (s, b)
}

fn settings(low: i64, medium: i64, high: i64, per_day: i64) -> Value {
    json!({"bands": {"low_max": low, "medium_max": medium, "high_max": high}, "alerts_per_day": per_day})
}

#[tokio::test]
async fn an_admin_replaces_the_bands_and_the_next_score_uses_them_at_once() {
    let app = TestApp::spawn().await;
    app.seed("default", 300, "B").await;
    let admin = app.token("default", Role::Admin, "boss");

    let (s, body, _) = app.get(PATH, &admin).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"tenant_id": "default", "alerts_per_day": 5,
               "bands": {"low_max": 25, "medium_max": 50, "high_max": 75}}),
        "the design's bands and five alerts until an admin sets them"
    );

    // A score first, so the tenant's standing (and its default bands) is cached.
    let (s, before, _) = app.post("/v1/deals/score", &admin, &inline_deal()).await;
    assert_eq!(s, StatusCode::OK, "{before}");
    let risk = before["risk_score"].as_u64().unwrap() as u8;
    assert_eq!(
        before["risk_category"],
        json!(RiskBands::default().category(risk).as_str())
    );

    let (s, body) = put(&app, &admin, &settings(5, 10, 15, 7)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        body["bands"],
        json!({"low_max": 5, "medium_max": 10, "high_max": 15})
    );
    assert_eq!(body["alerts_per_day"], 7);
    assert_eq!(body["settings_updated"], true);
    assert!(
        body["effective_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{body}"
    );
    assert_eq!(
        app.store.risk_settings(&t("default")).await.unwrap(),
        Some(RiskSettingsRow {
            low_max: 5,
            medium_max: 10,
            high_max: 15,
            alerts_per_day: 7
        })
    );

    // Well inside the 30 s the standing is cached: the new edges apply already.
    let (s, after, _) = app.post("/v1/deals/score", &admin, &inline_deal()).await;
    assert_eq!(s, StatusCode::OK, "{after}");
    assert_eq!(after["risk_score"], before["risk_score"]);
    let want = RiskBands::new(5, 10, 15).unwrap().category(risk);
    assert_ne!(want, RiskBands::default().category(risk), "score {risk}");
    assert_eq!(after["risk_category"], json!(want.as_str()), "{after}");

    let (_, read_back, _) = app.get(PATH, &admin).await;
    assert_eq!(read_back["bands"]["high_max"], 15);
    assert_eq!(read_back["alerts_per_day"], 7);
    let (s, again) = put(&app, &admin, &settings(5, 10, 15, 7)).await;
    assert_eq!(
        (s, &again["settings_updated"]),
        (StatusCode::OK, &json!(false))
    );

    let audit = app.audit_rows("default").await;
    // Both PUTs are audited, the one that changed nothing too; the first says what changed.
    let updates: Vec<&skygeni::store::AuditRow> = audit
        .iter()
        .filter(|a| a.action == "settings.risk.update")
        .collect();
    assert_eq!(updates.len(), 2, "{audit:?}");
    assert!(
        updates
            .iter()
            .all(|u| u.actor == "boss" && u.request_id.as_deref().is_some_and(|r| !r.is_empty()))
    );
    let details: Vec<Value> = updates
        .iter()
        .map(|u| serde_json::from_str(u.detail.as_deref().unwrap()).unwrap())
        .collect();
    assert!(
        details
            .iter()
            .any(|d| d["previous"]["bands"]["high_max"] == 75
                && d["previous"]["alerts_per_day"] == 5
                && d["new"]["bands"]["high_max"] == 15
                && d["new"]["alerts_per_day"] == 7),
        "{details:?}"
    );
    assert!(audit.iter().any(|a| a.action == "settings.risk.read"));
}

#[tokio::test]
async fn managers_and_reps_are_refused_and_bad_edges_change_nothing() {
    let app = TestApp::spawn().await;
    app.seed("default", 50, "N").await;
    for role in [Role::Manager, Role::Rep] {
        let tok = app.token("default", role, "someone");
        let (s, body, _) = app.get(PATH, &tok).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{role:?}: {body}");
        assert_error(&body, "forbidden");
        let (s, body) = put(&app, &tok, &settings(40, 70, 90, 3)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{role:?}: {body}");
        assert_error(&body, "forbidden");
    }
    let admin = app.token("default", Role::Admin, "boss");
    let cases = [
        (settings(50, 40, 90, 5), "bands"),
        (settings(25, 50, 100, 5), "bands"),
        (settings(-1, 50, 75, 5), "bands"),
        (settings(25, 50, 75, 0), "alerts_per_day"),
        (settings(25, 50, 75, 1001), "alerts_per_day"),
        (
            json!({"bands": {"low_max": 25, "medium_max": 50}, "alerts_per_day": 5}),
            "high_max",
        ),
        (
            json!({"bands": {"low_max": 25, "medium_max": 50, "high_max": 75}}),
            "alerts_per_day",
        ),
        (
            json!({"bands": {"low_max": 25, "medium_max": 50, "high_max": 75}, "alerts_per_day": 5, "colour": "red"}),
            "colour",
        ),
    ];
    for (body, field) in cases {
        let (s, err) = put(&app, &admin, &body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert_error(&err, "validation_error");
        assert_eq!(err["details"]["field"], field, "{body}: {err}");
    }
    let (s, err) = app
        .client
        .put(format!("{}{PATH}", app.base))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .map(|r| (r.status(), r))
        .unwrap();
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_error(&read(err).await.1, "validation_error");
    assert_eq!(
        app.store.risk_settings(&t("default")).await.unwrap(),
        None,
        "nothing was stored"
    );
    let audit = app.audit_rows("default").await;
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.action == "settings.risk.denied")
            .count(),
        4,
        "each refusal is audited"
    );
    assert!(!audit.iter().any(|a| a.action == "settings.risk.update"));
}
