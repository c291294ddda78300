//! The Slack bot over real HTTP: requests signed like Slack's (slash commands form-encoded,
//! interactions as `payload=`, events as JSON) against the real axum app, with the fake Slack
//! Web API (`SLACK_API_URL`) recording every call. Each test runs on SQLite or PostgreSQL.
use crate::support::TestDb;
use chrono::{Duration, NaiveDate, Utc};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use skygeni::app::{AppState, Application};
use skygeni::auth::{Role, issue_token};
use skygeni::config::Settings;
use skygeni::crm::parse_csv_bytes;
use skygeni::crm::synthetic::generated_csv;
use skygeni::domain::{Deal, TenantId};
use skygeni::slack::signature::sign;
use skygeni::store::{NewUser, Store};
use skygeni_fakes::FakeServer;
use skygeni_fakes::slack::{FakeInstall, SlackFake};
use std::sync::atomic::{AtomicU64, Ordering};

pub const SIGNING_SECRET: &str = "slack-signing-secret";
pub const BOT_TOKEN: &str = "xoxb-single";
pub const JWT: &str = "slack-test-jwt";
const ENC_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const TEAM: &str = "T0FAKE";
static SEQ: AtomicU64 = AtomicU64::new(1);

pub fn tenant() -> TenantId {
    TenantId::default_tenant()
}

pub struct SlackApp {
    pub base: String,
    pub state: AppState,
    pub store: Store,
    pub fake: SlackFake,
    pub fake_server: FakeServer,
    pub client: reqwest::Client,
    /// deal ids: rep_0's "Acme Rockets", rep_0's "Acme Labs", rep_3's "Globex Widgets".
    pub acme: String,
    pub acme_labs: String,
    pub globex: String,
    _db: TestDb,
}

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 6, 1).unwrap()
}

impl SlackApp {
    pub async fn spawn() -> SlackApp {
        let db = TestDb::new().await;
        let store = db.store().await;
        let fake = SlackFake::new(BOT_TOKEN);
        fake.set_oauth_client("cid", "csecret");
        for (id, email, name) in [
            ("UREP0", "rep0@acme.test", "Rita Rep"),
            ("UREP5", "rep5@acme.test", "Omar Other"),
            ("UMGR", "mgr@acme.test", "Maya Manager"),
            ("UADMIN", "admin@acme.test", "Ada Admin"),
            ("USTRANGER", "stranger@elsewhere.test", "Sam Stranger"),
        ] {
            fake.add_user(id, email, name);
        }
        let fake_server = fake.start(0).await.unwrap();
        let api = format!("{}/api", fake_server.url());

        // Deals: generated history plus three named open deals.
        let mut deals = parse_csv_bytes(generated_csv(300, "D").as_bytes(), as_of())
            .unwrap()
            .deals;
        let mut named = Vec::new();
        for (rep, company) in [
            ("rep_0", "Acme Rockets"),
            ("rep_0", "Acme Labs"),
            ("rep_3", "Globex Widgets"),
        ] {
            let d = deals
                .iter_mut()
                .find(|d| {
                    d.is_open()
                        && d.sales_rep_id == rep
                        && d.company.as_deref() != Some("Acme Rockets")
                        && d.company.as_deref() != Some("Acme Labs")
                })
                .expect("an open deal for the rep");
            d.company = Some(company.to_string());
            d.deal_name = Some(format!("{company} renewal"));
            named.push(d.deal_id.clone());
        }
        // Some history for the team's reps (the generator gives rep_0..rep_4 open deals only).
        for (i, d) in deals
            .iter_mut()
            .filter(|d| !d.is_open())
            .take(20)
            .enumerate()
        {
            d.sales_rep_id = format!("rep_{}", i % 2);
        }
        // No other deal may match "acme"/"globex".
        for d in deals.iter_mut() {
            if !named.contains(&d.deal_id) {
                d.company = Some(format!("Company {}", d.deal_id));
                d.deal_name = None;
            }
        }
        store
            .upsert_deals(&tenant(), &deals, &mut |_| {})
            .await
            .unwrap();
        let users = [
            ("boss", "admin@acme.test", "Ada Admin", "admin", None),
            ("mgr", "mgr@acme.test", "Maya Manager", "manager", None),
            ("rep_0", "rep0@acme.test", "Rita Rep", "rep", Some("mgr")),
            ("rep_1", "rep1@acme.test", "Rob Rep", "rep", Some("mgr")),
            ("rep_3", "rep5@acme.test", "Omar Other", "rep", None),
            ("rep_9", "rep9@acme.test", "Nina Nine", "rep", None),
        ];
        for (id, email, name, role, mgr) in users {
            store
                .upsert_user(
                    &tenant(),
                    &NewUser {
                        user_id: id,
                        email: Some(email),
                        name: Some(name),
                        role,
                        manager_id: mgr,
                    },
                )
                .await
                .unwrap();
        }

        let settings = Settings::from_vars(vec![
            ("SKYGENI_DATABASE_URL", db.url.as_str()),
            ("SKYGENI_BIND", "127.0.0.1:0"),
            ("SKYGENI_JWT_SECRET", JWT),
            ("SKYGENI_ENCRYPTION_KEY", ENC_KEY),
            ("SKYGENI_PUBLIC_URL", "https://skygeni.example.com"),
            ("SLACK_SIGNING_SECRET", SIGNING_SECRET),
            ("SLACK_BOT_TOKEN", BOT_TOKEN),
            ("SLACK_CLIENT_ID", "cid"),
            ("SLACK_CLIENT_SECRET", "csecret"),
            ("SLACK_API_URL", api.as_str()),
            ("SALESFORCE_INSTANCE_URL", "https://acme.my.salesforce.com"),
        ])
        .unwrap();
        let app = Application::build_with_store(settings, store.clone())
            .await
            .unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        tokio::spawn(app.run_until(std::future::pending()));
        SlackApp {
            base,
            state,
            store,
            fake,
            fake_server,
            client: reqwest::Client::new(),
            acme: named[0].clone(),
            acme_labs: named[1].clone(),
            globex: named[2].clone(),
            _db: db,
        }
    }

    pub fn response_url(&self, id: &str) -> String {
        format!("{}/response/{id}", self.fake_server.url())
    }

    /// POSTs `body` signed with `secret` at `ts` (unix seconds).
    pub async fn post_signed(
        &self,
        path: &str,
        body: &str,
        content_type: &str,
        secret: &str,
        ts: i64,
    ) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .header("X-Slack-Request-Timestamp", ts.to_string())
            .header(
                "X-Slack-Signature",
                sign(secret.as_bytes(), ts, body.as_bytes()),
            )
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    /// The form body Slack sends for `/deal-risk <text>` by `user`; the response URL id is
    /// returned with it.
    pub fn command_body(&self, user: &str, text: &str) -> (String, String) {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let rid = format!("cmd{n}");
        let body = serde_urlencoded::to_string([
            ("token", "deprecated-verification-token"),
            ("team_id", TEAM),
            ("team_domain", "acme"),
            ("channel_id", "C0DEALS"),
            ("channel_name", "deals"),
            ("user_id", user),
            ("user_name", "someone"),
            ("command", "/deal-risk"),
            ("text", text),
            ("response_url", &self.response_url(&rid)),
            ("trigger_id", &self.fake.issue_trigger()),
            ("api_app_id", "A0FAKE"),
            ("is_enterprise_install", "false"),
        ])
        .unwrap();
        (body, rid)
    }

    /// `/deal-risk <text>` as `user`: status and JSON answer (Null for an empty body).
    pub async fn command(&self, user: &str, text: &str) -> (StatusCode, Value) {
        let (body, _) = self.command_body(user, text);
        let r = self
            .post_signed(
                "/slack/commands",
                &body,
                "application/x-www-form-urlencoded",
                SIGNING_SECRET,
                Utc::now().timestamp(),
            )
            .await;
        let status = r.status();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// An interaction payload as Slack posts it: form field `payload` = JSON.
    pub async fn interact(&self, payload: &Value) -> (StatusCode, Value) {
        // Slack mints a fresh trigger_id for each interaction; placeholders become real ones.
        let mut payload = payload.clone();
        if payload["trigger_id"]
            .as_str()
            .is_some_and(|t| t.starts_with("trigger-"))
        {
            payload["trigger_id"] = json!(self.fake.issue_trigger());
        }
        let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
        let r = self
            .post_signed(
                "/slack/interactions",
                &body,
                "application/x-www-form-urlencoded",
                SIGNING_SECRET,
                Utc::now().timestamp(),
            )
            .await;
        let status = r.status();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn event(&self, event: &Value) -> (StatusCode, String) {
        let body = event.to_string();
        let r = self
            .post_signed(
                "/slack/events",
                &body,
                "application/json",
                SIGNING_SECRET,
                Utc::now().timestamp(),
            )
            .await;
        (r.status(), r.text().await.unwrap())
    }

    /// Waits (up to 10 s) until `method` has `n` successful calls; background work finishes
    /// asynchronously after the 200 ack.
    pub async fn wait_for(&self, method: &str, n: usize) {
        for _ in 0..200 {
            if self.fake.count_ok(method) >= n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "expected {n} ok calls to {method}, saw {:?}",
            self.fake
                .calls()
                .iter()
                .map(|c| (c.method.clone(), c.outcome.clone()))
                .collect::<Vec<_>>()
        );
    }

    pub async fn audit_actions(&self) -> Vec<String> {
        self.state.flush_audit().await;
        self.store
            .list_audit(&tenant(), 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.action)
            .collect()
    }

    pub async fn deal(&self, id: &str) -> Deal {
        self.store.deal_by_id(&tenant(), id).await.unwrap().unwrap()
    }
}

fn text_of(v: &Value) -> String {
    v.to_string()
}

pub fn block_actions(user: &str, action_id: &str, value: &str, message_ts: Option<&str>) -> Value {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let mut p = json!({
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "acme"},
        "user": {"id": user, "username": "someone", "team_id": TEAM},
        "api_app_id": "A0FAKE",
        "trigger_id": format!("trigger-ia-{n}"),
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b1", "value": value,
                     "text": {"type": "plain_text", "text": "x"}, "action_ts": "1700000001.000200"}],
    });
    match message_ts {
        Some(ts) => {
            p["container"] = json!({"type": "message", "message_ts": ts, "channel_id": "D0DM", "is_ephemeral": false});
            p["channel"] = json!({"id": "D0DM", "name": "directmessage"});
        }
        None => {
            p["container"] = json!({"type": "view", "view_id": "VHOME"});
        }
    }
    p
}

pub fn view_submission(user: &str, callback: &str, metadata: &str, values: Value) -> Value {
    json!({
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "acme"},
        "user": {"id": user, "username": "someone", "team_id": TEAM},
        "api_app_id": "A0FAKE",
        "trigger_id": "trigger-sub",
        "view": {"id": "V123", "type": "modal", "callback_id": callback, "private_metadata": metadata,
                 "hash": "h", "state": {"values": values}},
    })
}

#[tokio::test]
async fn unsigned_badly_signed_stale_or_altered_requests_get_401_and_do_nothing() {
    let app = SlackApp::spawn().await;
    let (body, rid) = app.command_body("UREP0", "top");
    let now = Utc::now().timestamp();
    let form = "application/x-www-form-urlencoded";
    // Wrong secret.
    let r = app
        .post_signed("/slack/commands", &body, form, "not-the-secret", now)
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Old timestamp (6 minutes), correctly signed for it.
    let r = app
        .post_signed("/slack/commands", &body, form, SIGNING_SECRET, now - 360)
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Altered body: signed, then one character changed.
    let sig = sign(SIGNING_SECRET.as_bytes(), now, body.as_bytes());
    let altered = body.replace("top", "pipeline");
    let r = app
        .client
        .post(format!("{}/slack/commands", app.base))
        .header("content-type", form)
        .header("X-Slack-Request-Timestamp", now.to_string())
        .header("X-Slack-Signature", sig)
        .body(altered)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // No headers at all, on every signed route.
    for path in ["/slack/commands", "/slack/interactions", "/slack/events"] {
        let r = app
            .client
            .post(format!("{}{path}", app.base))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let body = r.text().await.unwrap();
        assert!(!body.contains("deal"), "nothing but the refusal: {body}");
    }
    assert!(app.fake.calls().is_empty(), "no Slack call was made");
    assert!(app.fake.responses(&rid).is_empty());
    assert!(app.audit_actions().await.is_empty(), "nothing was audited");
}

#[tokio::test]
async fn url_verification_echoes_the_challenge_and_bad_payloads_get_a_clear_400() {
    let app = SlackApp::spawn().await;
    let (status, body) = app
        .event(&json!({"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "token": "x"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    let (status, body) = app.event(&json!({"type": "mystery"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("unrecognised Events API payload"), "{body}");
    let (status, _) = app.interact(&json!({"type": "block_actions"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn help_unknown_and_bad_arguments_answer_with_usage() {
    let app = SlackApp::spawn().await;
    for text in ["help", "", "?!"] {
        let (status, v) = app.command("UREP0", text).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(v["response_type"], "ephemeral");
        assert!(text_of(&v).contains("/deal-risk top"), "{text:?}: {v}");
    }
    let (_, v) = app.command("UREP0", "top 99").await;
    assert!(
        text_of(&v).contains("`top` takes a number from 1 to 25"),
        "{v}"
    );
}

#[tokio::test]
async fn a_deal_lookup_shows_the_card_and_maps_the_user_once_by_email() {
    let app = SlackApp::spawn().await;
    let (status, v) = app.command("UREP0", "acme rockets").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["response_type"], "ephemeral");
    let s = text_of(&v);
    assert!(s.contains("Acme Rockets"), "{v}");
    assert!(s.contains("/100"), "score shown: {v}");
    assert!(v["attachments"][0]["color"].is_string(), "category colour");
    assert!(
        s.contains(&format!(
            "https://acme.my.salesforce.com/lightning/r/Opportunity/{}/view",
            app.acme
        )),
        "deep link: {v}"
    );
    assert_eq!(app.fake.count("users.info"), 1);
    // Mapped and cached: the next command needs no Slack lookup.
    let (_, v) = app.command("UREP0", &app.acme.clone()).await;
    assert!(text_of(&v).contains("Acme Rockets"));
    assert_eq!(app.fake.count("users.info"), 1);
    // Several matches → a pick list.
    let (_, v) = app.command("UREP0", "acme").await;
    let s = text_of(&v);
    assert!(
        s.contains("2 deals match") && s.contains("Acme Labs"),
        "{v}"
    );
    assert!(s.contains("deal_pick"));
    // Nothing matches.
    let (_, v) = app.command("UREP0", "initech").await;
    assert!(!text_of(&v).contains("Acme"));
    let actions = app.audit_actions().await;
    assert!(
        actions.contains(&"slack.deal.view".to_string()),
        "{actions:?}"
    );
    assert!(actions.contains(&"slack.command.lookup".to_string()));
}

#[tokio::test]
async fn the_deal_card_shows_relative_risk_and_the_low_skill_line() {
    // The app has no trained model: scores are segment rates, which is low skill by definition.
    let app = SlackApp::spawn().await;
    let (status, v) = app.command("UREP0", "acme rockets").await;
    assert_eq!(status, StatusCode::OK);
    let blocks = v["attachments"][0]["blocks"]
        .as_array()
        .expect("card blocks");
    let standing = blocks[2]["text"]["text"].as_str().unwrap_or_default();
    assert!(
        standing.contains("*Relative risk:* riskier than ")
            && standing.contains("% of your open deals;")
            && standing.contains("usual loss rate"),
        "next to the score: {v}"
    );
    assert!(
        standing.contains(skygeni::engine::LOW_SKILL_LINE),
        "low skill said: {v}"
    );
}

#[tokio::test]
async fn another_teams_deal_is_answered_exactly_like_a_deal_that_does_not_exist() {
    let app = SlackApp::spawn().await;
    let (_, theirs) = app.command("UREP0", &app.globex).await;
    let (_, missing) = app.command("UREP0", "D999999").await;
    let s = text_of(&theirs);
    assert!(s.contains("No open deal matches"), "{theirs}");
    assert!(
        !s.contains("Globex"),
        "nothing about the deal leaks: {theirs}"
    );
    assert_eq!(
        text_of(&theirs).replace(&app.globex, "Q"),
        text_of(&missing).replace("D999999", "Q"),
        "not-yours and does-not-exist read the same"
    );
    let (_, v) = app.command("UREP0", "acme\u{0}rockets").await;
    assert!(text_of(&v).contains("control characters"), "{v}");
    // The admin sees it.
    let (_, v) = app.command("UADMIN", "globex").await;
    assert!(text_of(&v).contains("Globex Widgets"));
    assert!(
        app.audit_actions()
            .await
            .contains(&"slack.deal.access_denied".to_string())
    );
}

#[tokio::test]
async fn top_pipeline_and_rep_are_scoped_by_role() {
    let app = SlackApp::spawn().await;
    let (_, v) = app.command("UREP0", "top 25").await;
    let s = text_of(&v);
    assert!(s.contains("Acme"), "{v}");
    assert!(!s.contains("Globex"), "a rep sees only their deals");
    let (_, v) = app.command("UADMIN", "top 25").await;
    assert_eq!(v["response_type"], "ephemeral");
    assert!(v["blocks"].as_array().is_some_and(|b| !b.is_empty()));
    let (_, v) = app.command("UMGR", "pipeline").await;
    assert_eq!(v["response_type"], "ephemeral");
    assert!(
        text_of(&v).contains("RAPV") || text_of(&v).contains("risk-adjusted"),
        "{v}"
    );
    // rep: managers only, and only their team.
    let (_, v) = app.command("UMGR", "rep <@UREP0|rita>").await;
    let s = text_of(&v);
    assert!(
        s.contains("Portfolio: Rita Rep") && s.contains("Acme"),
        "{v}"
    );
    let (_, v) = app.command("UMGR", "rep <@UREP5|omar>").await;
    assert!(text_of(&v).contains("isn't on your team"), "{v}");
    let (_, v) = app.command("UREP0", "rep <@UREP5|omar>").await;
    assert!(text_of(&v).contains("is for managers"), "{v}");
}

#[tokio::test]
async fn unmapped_users_are_told_how_to_link() {
    let app = SlackApp::spawn().await;
    let (_, v) = app.command("USTRANGER", "top").await;
    let s = text_of(&v);
    assert!(
        s.contains("/deal-risk link") && s.contains("stranger@elsewhere.test"),
        "{v}"
    );
    let (_, v) = app.command("USTRANGER", "link nobody@acme.test").await;
    assert!(text_of(&v).contains("No SkyGeni user has the email"), "{v}");
}

#[tokio::test]
async fn settings_open_a_modal_at_once_fill_it_and_a_submission_is_saved() {
    let app = SlackApp::spawn().await;
    let (status, v) = app.command("UREP0", "settings").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v, Value::Null, "silent ack");
    app.wait_for("views.update", 1).await;
    assert_eq!(app.fake.count_ok("views.open"), 1);
    let upd = &app.fake.calls_to("views.update")[0];
    assert_eq!(upd.body["view"]["callback_id"], "settings_modal");

    use skygeni::slack::blocks::settings::*;
    let values = json!({
        ALERTS_BLOCK: {VALUE_ACTION: {"type": "radio_buttons", "selected_option": {"value": "off"}}},
        CHANNELS_BLOCK: {VALUE_ACTION: {"type": "checkboxes", "selected_options": [{"value": "email"}]}},
        DIGEST_TIME_BLOCK: {VALUE_ACTION: {"type": "timepicker", "selected_time": "07:30"}},
        TIME_ZONE_BLOCK: {VALUE_ACTION: {"type": "static_select", "selected_option": {"value": "Europe/Berlin"}}},
        QUIET_FROM_BLOCK: {VALUE_ACTION: {"type": "timepicker", "selected_time": "21:00"}},
        QUIET_UNTIL_BLOCK: {VALUE_ACTION: {"type": "timepicker", "selected_time": "07:00"}},
        MAX_DEALS_BLOCK: {VALUE_ACTION: {"type": "number_input", "value": "5"}},
    });
    let (status, ack) = app
        .interact(&view_submission(
            "UREP0",
            "settings_modal",
            "",
            values.clone(),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    if ack != Value::Null {
        panic!("settings rejected: {ack}");
    }
    let saved = app
        .store
        .get_alert_settings(&tenant(), "rep_0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saved.digest_time, "07:30");
    assert_eq!(saved.time_zone, "Europe/Berlin");
    assert_eq!(saved.max_deals, 5);
    assert_eq!(saved.channels, vec!["email".to_string()]);
    // A bad value is answered with Slack's inline errors, nothing saved.
    let mut bad = values;
    bad[MAX_DEALS_BLOCK][VALUE_ACTION]["value"] = json!("500");
    let (_, ack) = app
        .interact(&view_submission("UREP0", "settings_modal", "", bad))
        .await;
    assert_eq!(ack["response_action"], "errors", "{ack}");
    assert!(ack["errors"][MAX_DEALS_BLOCK].is_string());
}

#[tokio::test]
async fn view_deal_opens_the_details_modal_and_share_and_pick_answer_through_response_url() {
    let app = SlackApp::spawn().await;
    let (status, _) = app
        .interact(&block_actions(
            "UREP0",
            "deal_view",
            &app.acme,
            Some("1700000000.000001"),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.wait_for("views.update", 1).await;
    let details = &app.fake.calls_to("views.update")[0].body["view"];
    assert!(details.to_string().contains("Acme Rockets"));
    assert!(details.to_string().contains("Open in Salesforce"));

    let mut share = block_actions("UREP0", "deal_share", &app.acme, Some("1700000000.000002"));
    share["response_url"] = json!(app.response_url("share1"));
    app.interact(&share).await;
    let mut pick = block_actions(
        "UREP0",
        "deal_pick",
        &app.acme_labs,
        Some("1700000000.000003"),
    );
    pick["response_url"] = json!(app.response_url("pick1"));
    app.interact(&pick).await;
    for _ in 0..200 {
        if !app.fake.responses("share1").is_empty() && !app.fake.responses("pick1").is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let shared = &app.fake.responses("share1")[0];
    assert_eq!(shared["response_type"], "in_channel");
    assert!(shared.to_string().contains("Acme Rockets"));
    let picked = &app.fake.responses("pick1")[0];
    assert_eq!(picked["replace_original"], true);
    assert!(picked.to_string().contains("Acme Labs"));
    // Someone else's deal through a forged button value: refused.
    let mut forged = block_actions(
        "UREP0",
        "deal_share",
        &app.globex,
        Some("1700000000.000004"),
    );
    forged["response_url"] = json!(app.response_url("forged"));
    app.interact(&forged).await;
    for _ in 0..200 {
        if !app.fake.responses("forged").is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let r = &app.fake.responses("forged")[0];
    assert!(r.to_string().contains("can't find the deal") && !r.to_string().contains("Globex"));
}

/// Posts an alert as the alert dispatcher would and returns its ts.
pub async fn post_alert(app: &SlackApp, deal_id: &str) -> String {
    let deal = app.deal(deal_id).await;
    let score = skygeni::slack::handlers::scoring::score_deals(
        &app.state,
        &tenant(),
        std::slice::from_ref(&deal),
        Utc::now().date_naive(),
    )
    .await
    .unwrap()
    .remove(0);
    let msg = skygeni::slack::blocks::alert::alert_message(&deal, &score, None);
    let posted = app
        .state
        .slack
        .api
        .post_message(BOT_TOKEN, "D0DM", &msg)
        .await
        .unwrap();
    posted.ts
}

#[tokio::test]
async fn snooze_twice_or_by_two_people_stores_one_snooze_and_updates_the_message() {
    let app = SlackApp::spawn().await;
    let ts = post_alert(&app, &app.acme).await;
    let (status, _) = app
        .interact(&block_actions("UREP0", "deal_snooze", &app.acme, Some(&ts)))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.wait_for("views.open", 1).await;
    let modal = app.fake.calls_to("views.open")[0].body["view"].clone();
    assert_eq!(modal["callback_id"], "snooze_modal");
    let meta = modal["private_metadata"].as_str().unwrap().to_string();
    let values = |days: &str| json!({"snooze_for": {"snooze_for": {"type": "static_select", "selected_option": {"value": days}}}});
    let (status, ack) = app
        .interact(&view_submission(
            "UREP0",
            "snooze_modal",
            &meta,
            values("3"),
        ))
        .await;
    assert_eq!((status, ack), (StatusCode::OK, Value::Null));
    // Double submit and a second person (the manager) on the same alert.
    app.interact(&view_submission(
        "UREP0",
        "snooze_modal",
        &meta,
        values("3"),
    ))
    .await;
    app.interact(&view_submission("UMGR", "snooze_modal", &meta, values("7")))
        .await;
    assert_eq!(
        app.store
            .count_deal_rows_for_tests(&tenant(), "snoozes", &app.acme)
            .await
            .unwrap(),
        1
    );
    app.wait_for("chat.update", 3).await;
    let msg = app.fake.message("D0DM", &ts).unwrap();
    let s = msg.to_string();
    assert!(
        s.contains("Snoozed by Rita Rep until"),
        "first snoozer stands: {s}"
    );
    // Missing choice → inline error, nothing stored for another deal.
    let (_, ack) = app
        .interact(&view_submission("UREP0", "snooze_modal", &meta, json!({})))
        .await;
    assert_eq!(ack["response_action"], "errors");
    let actions = app.audit_actions().await;
    assert!(actions.contains(&"slack.deal.snooze".to_string()));
    assert!(actions.contains(&"slack.button.deal_snooze".to_string()));
}

#[tokio::test]
async fn false_alarm_clicked_twice_stores_one_feedback_row_with_the_reason() {
    let app = SlackApp::spawn().await;
    let ts = post_alert(&app, &app.acme).await;
    app.interact(&block_actions(
        "UREP0",
        "deal_false_alarm",
        &app.acme,
        Some(&ts),
    ))
    .await;
    app.wait_for("views.open", 1).await;
    let modal = app.fake.calls_to("views.open")[0].body["view"].clone();
    assert_eq!(modal["callback_id"], "false_alarm_modal");
    let meta = modal["private_metadata"].as_str().unwrap().to_string();
    let values = json!({"false_alarm_reason": {"reason": {"type": "plain_text_input", "value": "Signed last week"}}});
    // Two concurrent submissions (double click) and one by the manager.
    let p1 = view_submission("UREP0", "false_alarm_modal", &meta, values.clone());
    let p2 = p1.clone();
    let p3 = view_submission("UMGR", "false_alarm_modal", &meta, json!({}));
    let (a, b, c) = tokio::join!(app.interact(&p1), app.interact(&p2), app.interact(&p3));
    assert_eq!(
        (a.0, b.0, c.0),
        (StatusCode::OK, StatusCode::OK, StatusCode::OK)
    );
    assert_eq!(
        app.store
            .count_deal_rows_for_tests(&tenant(), "feedback", &app.acme)
            .await
            .unwrap(),
        1
    );
    app.wait_for("chat.update", 1).await;
    let s = app.fake.message("D0DM", &ts).unwrap().to_string();
    assert!(s.contains("Marked as a false alarm by"), "{s}");
}

#[tokio::test]
async fn app_home_is_published_on_open_and_by_publish_home() {
    let app = SlackApp::spawn().await;
    let (status, _) = app
        .event(&json!({"type": "event_callback", "team_id": TEAM, "api_app_id": "A0FAKE",
            "event_id": "Ev1", "event_time": 1700000000,
            "event": {"type": "app_home_opened", "user": "UMGR", "channel": "D0MGR", "tab": "home"}}))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.wait_for("views.publish", 1).await;
    let call = &app.fake.calls_to("views.publish")[0];
    assert_eq!(call.body["user_id"], "UMGR");
    let view = call.body["view"].clone();
    assert_eq!(view["type"], "home");
    assert!(view["blocks"].as_array().unwrap().len() <= 100);
    let s = view.to_string();
    assert!(
        s.contains("Your team") && s.contains("win rate"),
        "manager comparison: {s}"
    );
    let _: slack_morphism::prelude::SlackView = serde_json::from_value(view).unwrap();
    // The nightly job's entry point.
    let published = skygeni::slack::handlers::app_home::publish_home(&app.state, &tenant(), "mgr")
        .await
        .unwrap();
    assert!(published);
    assert_eq!(app.fake.count_ok("views.publish"), 2);
    // A manager's Home has no tenant-wide charts; an admin's carries two signed chart images.
    assert!(!s.contains("/charts/"), "{s}");
    app.event(
        &json!({"type": "event_callback", "team_id": TEAM, "api_app_id": "A0FAKE",
        "event_id": "Ev2", "event_time": 1700000001,
        "event": {"type": "app_home_opened", "user": "UADMIN", "channel": "D0ADM", "tab": "home"}}),
    )
    .await;
    app.wait_for("views.publish", 3).await;
    let admin_view = app.fake.calls_to("views.publish")[2].body["view"].clone();
    let images: Vec<&serde_json::Value> = admin_view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "image")
        .collect();
    assert_eq!(images.len(), 2, "{admin_view}");
    assert!(
        images
            .iter()
            .all(|b| b["image_url"].as_str().unwrap().contains("/charts/")),
        "{images:?}"
    );
    let _: slack_morphism::prelude::SlackView = serde_json::from_value(admin_view).unwrap();
    assert!(
        !skygeni::slack::handlers::app_home::publish_home(&app.state, &tenant(), "rep_9")
            .await
            .unwrap(),
        "not mapped to Slack: nothing to publish"
    );
}

fn admin_token() -> String {
    issue_token(
        &SecretString::from(JWT),
        &tenant(),
        Role::Admin,
        "boss",
        3600,
    )
    .unwrap()
}

fn query_param(url: &str, key: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).unwrap();
    u.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.to_string())
}

#[tokio::test]
async fn oauth_install_checks_a_single_use_state_and_stores_the_token_sealed() {
    let app = SlackApp::spawn().await;
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Not an admin → refused.
    let rep = issue_token(
        &SecretString::from(JWT),
        &tenant(),
        Role::Rep,
        "rep_0",
        3600,
    )
    .unwrap();
    let r = no_redirect
        .get(format!("{}/slack/install?token={rep}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = no_redirect
        .get(format!(
            "{}/slack/install?token={}",
            app.base,
            admin_token()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with("https://slack.com/oauth/v2/authorize?"));
    assert_eq!(query_param(&loc, "client_id").as_deref(), Some("cid"));
    assert_eq!(
        query_param(&loc, "redirect_uri").as_deref(),
        Some("https://skygeni.example.com/slack/oauth/callback")
    );
    let state = query_param(&loc, "state").unwrap();

    app.fake.add_oauth_code(
        "code-1",
        FakeInstall {
            team_id: "T0NEW".into(),
            team_name: "New Co".into(),
            authed_user: "UADMIN".into(),
            rotate: false,
        },
    );
    // A wrong state is refused before Slack is asked.
    let r = app
        .client
        .get(format!(
            "{}/slack/oauth/callback?code=code-1&state=forged",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.fake.count("oauth.v2.access"), 0);
    let r = app
        .client
        .get(format!(
            "{}/slack/oauth/callback?code=code-1&state={state}",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let call = &app.fake.calls_to("oauth.v2.access")[0];
    assert_eq!(call.body["code"], "code-1");
    // The same state again: used up.
    let r = app
        .client
        .get(format!(
            "{}/slack/oauth/callback?code=code-1&state={state}",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    assert_eq!(
        app.store.slack_team_tenant("T0NEW").await.unwrap(),
        Some(tenant())
    );
    let install = app
        .store
        .slack_install(&tenant(), Some("T0NEW"))
        .await
        .unwrap()
        .unwrap();
    assert!(
        !install.bot_token_sealed.contains("xoxb-"),
        "sealed at rest"
    );
    let token = skygeni::slack::client::tokens::bot_token_at(
        &app.state,
        &tenant(),
        Some("T0NEW"),
        Utc::now(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(token.starts_with("xoxb-T0NEW-"));

    // tokens_revoked deactivates the workspace.
    let (status, _) = app
        .event(
            &json!({"type": "event_callback", "team_id": "T0NEW", "api_app_id": "A0FAKE",
            "event_id": "Ev2", "event_time": 1700000000,
            "event": {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["UBOT"]}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.store.slack_team_tenant("T0NEW").await.unwrap(), None);
    assert!(
        app.audit_actions()
            .await
            .contains(&"slack.workspace.tokens_revoked".to_string())
    );
}

#[tokio::test]
async fn an_expired_oauth_state_is_refused() {
    let app = SlackApp::spawn().await;
    let hash = skygeni::slack::handlers::install::state_hash("old-state");
    app.store
        .create_slack_oauth_state(&hash, &tenant(), "boss", Utc::now() - Duration::minutes(1))
        .await
        .unwrap();
    let r = app
        .client
        .get(format!(
            "{}/slack/oauth/callback?code=c&state=old-state",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_rotating_token_is_refreshed_once_before_expiry_by_concurrent_callers() {
    let app = SlackApp::spawn().await;
    app.fake.add_oauth_code(
        "code-rot",
        FakeInstall {
            team_id: "T0ROT".into(),
            team_name: "Rotating Co".into(),
            authed_user: "UADMIN".into(),
            rotate: true,
        },
    );
    let state = "rot-state";
    app.store
        .create_slack_oauth_state(
            &skygeni::slack::handlers::install::state_hash(state),
            &tenant(),
            "boss",
            Utc::now() + Duration::minutes(5),
        )
        .await
        .unwrap();
    // Installed 12 h minus 5 min ago: the token expires in 5 minutes, inside the refresh margin.
    let installed_at = Utc::now() - Duration::hours(12) + Duration::minutes(5);
    let resp = skygeni::slack::handlers::install::finish(
        &app.state,
        skygeni::slack::handlers::install::CallbackParams {
            code: Some("code-rot".into()),
            state: Some(state.into()),
            error: None,
        },
        installed_at,
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let first = app.fake.calls_to("oauth.v2.access");
    assert_eq!(first.len(), 1);
    let now = Utc::now();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let st = app.state.clone();
            tokio::spawn(async move {
                skygeni::slack::client::tokens::bot_token_at(&st, &tenant(), Some("T0ROT"), now)
                    .await
                    .unwrap()
                    .unwrap()
            })
        })
        .collect();
    let mut tokens = Vec::new();
    for h in handles {
        tokens.push(h.await.unwrap());
    }
    let refreshes: Vec<_> = app
        .fake
        .calls_to("oauth.v2.access")
        .into_iter()
        .filter(|c| c.body["grant_type"] == "refresh_token")
        .collect();
    assert_eq!(refreshes.len(), 1, "one refresh in flight");
    assert!(
        tokens.iter().all(|t| t == &tokens[0]),
        "everyone got the new token"
    );
    // The new token works against Slack, and is not refreshed again.
    app.state.slack.api.auth_test(&tokens[0]).await.unwrap();
    skygeni::slack::client::tokens::bot_token_at(&app.state, &tenant(), Some("T0ROT"), now)
        .await
        .unwrap();
    assert_eq!(app.fake.count("oauth.v2.access"), 2);
}

#[tokio::test]
async fn a_slow_lookup_is_acknowledged_and_finished_through_response_url() {
    let app = SlackApp::spawn().await;
    // Learn the single workspace's team first (auth.test), so the delay hits users.info.
    app.command("UREP0", "help").await;
    // users.info takes 2.5 s: beyond the inline budget.
    app.fake.faults().next(
        1,
        skygeni_fakes::Fault::Delay(std::time::Duration::from_millis(2500)),
    );
    let (body, rid) = app.command_body("UREP0", "acme rockets");
    let r = app
        .post_signed(
            "/slack/commands",
            &body,
            "application/x-www-form-urlencoded",
            SIGNING_SECRET,
            Utc::now().timestamp(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let ack: Value = r.json().await.unwrap();
    assert_eq!(ack["text"], "Working on it…");
    for _ in 0..200 {
        if !app.fake.responses(&rid).is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let late = &app.fake.responses(&rid)[0];
    assert_eq!(late["response_type"], "ephemeral");
    assert!(late.to_string().contains("Acme Rockets"));
}

#[tokio::test]
async fn a_rate_limited_slack_call_inside_a_click_is_retried_after_retry_after() {
    let app = SlackApp::spawn().await;
    let ts = post_alert(&app, &app.acme).await;
    app.command("UREP0", "top").await; // maps the user first (users.info)
    // The bot's own calls: views.open answers 429 once, then succeeds on the retry.
    app.fake.faults().next(
        1,
        skygeni_fakes::Fault::RateLimited {
            retry_after_secs: 1,
        },
    );
    let (status, _) = app
        .interact(&block_actions("UREP0", "deal_snooze", &app.acme, Some(&ts)))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.wait_for("views.open", 1).await;
    let opens = app.fake.calls_to("views.open");
    assert_eq!(opens.len(), 2);
    assert_eq!(opens[0].outcome, "http_429");
    assert_eq!(opens[1].outcome, "ok");
}
