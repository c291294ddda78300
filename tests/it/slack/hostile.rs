//! Hostile Slack traffic against the real app (both backends): requests correctly signed but
//! from a workspace that is not connected, or bound to another tenant, see nothing of ours;
//! another app's signing secret gets 401 on every route; bodies over 1 MB get 413 on the Slack
//! routes and the Salesforce webhook; SQL metacharacters and Unicode in Slack text reach the
//! deal match intact; and a degraded scorer is announced in `/deal-risk` answers, the App
//! Home and the `skygeni_model_degraded` gauge.
use crate::support::{SIGNING_SECRET, SlackApp, generated_deals, train_small_model};
use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use skygeni::domain::{ModelScope, TenantId};
use skygeni_fakes::slack::FakeInstall;

const FORM: &str = "application/x-www-form-urlencoded";

fn command_from(app: &SlackApp, team: &str, user: &str, text: &str) -> String {
    serde_urlencoded::to_string([
        ("team_id", team),
        ("channel_id", "C0X"),
        ("user_id", user),
        ("command", "/deal-risk"),
        ("text", text),
        ("response_url", &app.response_url("x")),
        ("trigger_id", "1.2.3"),
    ])
    .unwrap()
}

async fn post(app: &SlackApp, path: &str, body: &str, secret: &str) -> (StatusCode, String) {
    let ct = if path.ends_with("events") {
        "application/json"
    } else {
        FORM
    };
    let r = app
        .post_signed(path, body, ct, secret, Utc::now().timestamp())
        .await;
    (r.status(), r.text().await.unwrap())
}

fn view_deal_payload(team: &str, user: &str, deal: &str) -> String {
    let p = json!({"type": "block_actions", "team": {"id": team}, "user": {"id": user, "team_id": team},
        "trigger_id": "9.9.9", "container": {"type": "message", "message_ts": "1.1", "channel_id": "D1"},
        "actions": [{"type": "button", "action_id": "deal_view", "value": deal}]});
    serde_urlencoded::to_string([("payload", p.to_string())]).unwrap()
}

/// Installs Slack workspace `team` for `tenant` through the OAuth callback, as Slack would.
async fn install(app: &SlackApp, team: &str, tenant: &TenantId) {
    if app.store.get_tenant(tenant).await.is_err() {
        app.store.add_tenant(tenant, "Other", "UTC").await.unwrap();
    }
    let code = format!("code-{team}");
    app.fake.add_oauth_code(
        &code,
        FakeInstall {
            team_id: team.into(),
            team_name: "Other Co".into(),
            authed_user: "UOTHERADMIN".into(),
            rotate: false,
        },
    );
    let state = format!("state-{team}");
    let hash = skygeni::slack::handlers::install::state_hash(&state);
    app.store
        .create_slack_oauth_state(&hash, tenant, "admin", Utc::now() + Duration::minutes(5))
        .await
        .unwrap();
    let params = skygeni::slack::handlers::install::CallbackParams {
        code: Some(code),
        state: Some(state),
        error: None,
    };
    let resp = skygeni::slack::handlers::install::finish(&app.state, params, Utc::now()).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_workspace_that_is_not_connected_sees_nothing_even_correctly_signed() {
    let app = SlackApp::spawn().await;
    let (s, text) = post(
        &app,
        "/slack/commands",
        &command_from(&app, "T0STRANGER", "UREP0", "acme rockets"),
        SIGNING_SECRET,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(text.contains("isn't connected to SkyGeni"), "{text}");
    assert!(
        !text.contains("Acme") && !text.contains(&app.acme),
        "nothing of the default tenant: {text}"
    );
    let (s, text) = post(
        &app,
        "/slack/interactions",
        &view_deal_payload("T0STRANGER", "UREP0", &app.acme),
        SIGNING_SECRET,
    )
    .await;
    assert_eq!((s, text.as_str()), (StatusCode::OK, ""));
    let home = json!({"type": "event_callback", "team_id": "T0STRANGER", "api_app_id": "A0FAKE",
        "event_id": "EvX", "event_time": 1700000000,
        "event": {"type": "app_home_opened", "user": "UREP0", "channel": "D1", "tab": "home"}});
    let (s, _) = post(&app, "/slack/events", &home.to_string(), SIGNING_SECRET).await;
    assert_eq!(s, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for method in [
        "views.open",
        "views.publish",
        "users.info",
        "chat.postMessage",
    ] {
        assert_eq!(
            app.fake.count(method),
            0,
            "{method} was called for a stranger"
        );
    }
    assert!(app.fake.responses("x").is_empty());
    // The bot's own workspace still works: the refusal is about the team, not the secret.
    let (s, text) = post(
        &app,
        "/slack/commands",
        &command_from(&app, "T0FAKE", "UREP0", "acme rockets"),
        SIGNING_SECRET,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(text.contains("Acme Rockets"), "{text}");
}

#[tokio::test]
async fn a_workspace_bound_to_another_tenant_gets_that_tenant_only() {
    let app = SlackApp::spawn().await;
    let other = TenantId::parse("other-co").unwrap();
    install(&app, "T0OTHERCO", &other).await;
    // rep0's email is a user of the default tenant, not of other-co: from T0OTHERCO they are a
    // stranger and get the how-to-link answer, never the default tenant's deal.
    let (s, text) = post(
        &app,
        "/slack/commands",
        &command_from(&app, "T0OTHERCO", "UREP0", "acme rockets"),
        SIGNING_SECRET,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        !text.contains("Acme Rockets") && !text.contains(&app.acme),
        "{text}"
    );
    let (s, _) = post(
        &app,
        "/slack/interactions",
        &view_deal_payload("T0OTHERCO", "UREP0", &app.acme),
        SIGNING_SECRET,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let shown: Vec<Value> = app
        .fake
        .calls()
        .into_iter()
        .filter(|c| c.method.starts_with("views.") || c.method.starts_with("chat."))
        .map(|c| c.body)
        .collect();
    assert!(
        shown.iter().all(|b| !b.to_string().contains(&app.acme)),
        "the default tenant's deal never reached the other workspace: {shown:?}"
    );
    let audit = app.audit_actions().await;
    assert!(
        audit.iter().all(|a| !a.starts_with("slack.button")),
        "nothing was done in the default tenant: {audit:?}"
    );
}

#[tokio::test]
async fn another_apps_signing_secret_gets_401_on_every_slack_route() {
    let app = SlackApp::spawn().await;
    let bodies = [
        (
            "/slack/commands",
            command_from(&app, "T0FAKE", "UREP0", "top"),
        ),
        (
            "/slack/interactions",
            view_deal_payload("T0FAKE", "UREP0", &app.acme),
        ),
        (
            "/slack/events",
            json!({"type": "url_verification", "challenge": "c"}).to_string(),
        ),
    ];
    for (path, body) in bodies {
        let (s, text) = post(&app, path, &body, "another-apps-signing-secret").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{path}: {text}");
        assert!(
            !text.contains("Acme") && !text.contains("challenge"),
            "{text}"
        );
    }
    assert!(app.fake.calls().is_empty());
}

#[tokio::test]
async fn bodies_over_one_megabyte_get_413_on_slack_routes_and_the_salesforce_webhook() {
    let app = SlackApp::spawn().await;
    let big = format!("payload={}", "a".repeat(1024 * 1024 + 10));
    for path in [
        "/slack/commands",
        "/slack/interactions",
        "/slack/events",
        "/webhooks/salesforce",
    ] {
        // Correctly signed: the size is refused before anything else looks at it.
        let (s, text) = post(&app, path, &big, SIGNING_SECRET).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(
            v["request_id"].is_string(),
            "{path}: our error shape: {text}"
        );
    }
    assert!(app.fake.calls().is_empty());
}

#[tokio::test]
async fn sql_metacharacters_and_unicode_in_slack_text_reach_the_match_intact() {
    let app = SlackApp::spawn().await;
    let name = "שלום Café e\u{301} 🚀 O'Brien\"; DROP TABLE deals;--";
    let mut deal = app.deal(&app.acme_labs).await;
    deal.company = Some(name.to_string());
    deal.deal_name = Some(format!("{name} renewal"));
    let tenant = TenantId::default_tenant();
    app.store
        .upsert_deals(&tenant, std::slice::from_ref(&deal), &mut |_| {})
        .await
        .unwrap();
    let before = app.store.count_deals(&tenant).await.unwrap();
    for query in ["שלום", "O'Brien\"; DROP TABLE deals;--", "café e\u{301} 🚀"] {
        let (s, v) = app.command("UREP0", query).await;
        assert_eq!(s, StatusCode::OK);
        assert!(
            v.to_string().contains("שלום Café e\u{301} 🚀 O'Brien"),
            "{query:?} finds the deal, name intact: {v}"
        );
    }
    for query in [
        "'; DELETE FROM deals; --",
        "%",
        "_",
        "\\",
        "\u{202E}gnp.exe",
        "e\u{301}\u{302}\u{303}",
    ] {
        let (s, v) = app.command("UREP0", query).await;
        assert_eq!(s, StatusCode::OK, "{query:?}: {v}");
        assert_eq!(v["response_type"], "ephemeral", "{query:?}: {v}");
    }
    assert_eq!(app.store.count_deals(&tenant).await.unwrap(), before);
    assert_eq!(
        app.deal(&app.acme_labs).await.company.as_deref(),
        Some(name)
    );
}

#[tokio::test]
async fn degraded_scoring_is_announced_in_slack_answers_the_app_home_and_metrics() {
    let app = SlackApp::spawn().await;
    // No model is registered for the default tenant: its scores come from segment rates.
    let (_, v) = app.command("UREP0", "top").await;
    let first = &v["blocks"][0];
    assert_eq!(first["type"], "context", "{v}");
    let notice = first.to_string();
    assert!(
        notice.contains("Scores are running in degraded mode")
            && notice.contains("no tenant production model"),
        "{notice}"
    );
    let (_, v) = app.command("UREP0", "acme rockets").await;
    assert!(v["blocks"][0].to_string().contains("degraded mode"), "{v}");
    app.event(
        &json!({"type": "event_callback", "team_id": "T0FAKE", "api_app_id": "A0FAKE",
        "event_id": "EvD", "event_time": 1700000000,
        "event": {"type": "app_home_opened", "user": "UMGR", "channel": "D0MGR", "tab": "home"}}),
    )
    .await;
    app.wait_for("views.publish", 1).await;
    let home = app.fake.calls_to("views.publish")[0].body["view"].clone();
    assert!(
        home["blocks"][0].to_string().contains("degraded mode"),
        "{home}"
    );
    assert!(home["blocks"].as_array().unwrap().len() <= 100);

    // The gauge, per tenant (a tenant of this test's own, so parallel tests cannot flip it).
    let gauge = |body: &str, tenant: &str| {
        body.lines()
            .find(|l| l.starts_with(&format!("skygeni_model_degraded{{tenant=\"{tenant}\"}}")))
            .map(|l| l.rsplit(' ').next().unwrap().to_string())
    };
    let tenant = TenantId::parse(&format!(
        "degr-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ))
    .unwrap();
    app.store
        .add_tenant(&tenant, "Degraded", "UTC")
        .await
        .unwrap();
    skygeni::service::models::load_scorer(&app.store, &tenant, &[])
        .await
        .unwrap();
    let metrics = crate::support::metrics_text(&app.client, &app.base).await;
    assert_eq!(
        gauge(&metrics, tenant.as_str()).as_deref(),
        Some("1"),
        "{metrics}"
    );
    let deals = generated_deals(600, "G");
    train_small_model(&app.store, &ModelScope::Tenant(tenant.clone()), &deals).await;
    skygeni::service::models::load_scorer(&app.store, &tenant, &deals)
        .await
        .unwrap();
    let metrics = crate::support::metrics_text(&app.client, &app.base).await;
    assert_eq!(
        gauge(&metrics, tenant.as_str()).as_deref(),
        Some("0"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_tampered_modal_form_gets_an_error_on_its_own_input_block() {
    let app = SlackApp::spawn().await;
    for (callback, block) in [
        ("snooze_modal", "snooze_for"),
        ("false_alarm_modal", "false_alarm_reason"),
    ] {
        let payload = json!({"type": "view_submission", "team": {"id": "T0FAKE"},
            "user": {"id": "UREP0", "team_id": "T0FAKE"}, "trigger_id": "t",
            "view": {"id": "V1", "callback_id": callback, "private_metadata": "{\"deal_id\": 42",
                     "state": {"values": {}}}});
        let (s, v) = app.interact(&payload).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["response_action"], "errors", "{v}");
        assert!(
            v["errors"][block].is_string(),
            "{callback}: the error is on a block the view has: {v}"
        );
    }
}
