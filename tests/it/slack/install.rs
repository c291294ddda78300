//! Installing the app: OAuth with a single-use state, the bot token sealed at rest, revocation,
//! and a rotating token refreshed once by concurrent callers.
use crate::support::{SlackApp, tenant};
use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::json;
use skygeni::auth::Role;
use skygeni_fakes::slack::FakeInstall;

fn query_param(url: &str, key: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).unwrap();
    u.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.to_string())
}

/// Slack's redirect back to us after the admin approved (or not): `query` carries code and state.
async fn oauth_callback(app: &SlackApp, query: &str) -> reqwest::Response {
    app.client
        .get(format!("{}/slack/oauth/callback?{query}", app.base))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn oauth_install_checks_a_single_use_state_and_stores_the_token_sealed() {
    let app = SlackApp::spawn().await;
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Not an admin → refused.
    let rep = app.token("default", Role::Rep, "rep_0");
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
            app.token("default", Role::Admin, "boss")
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
    let r = oauth_callback(&app, "code=code-1&state=forged").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.fake.count("oauth.v2.access"), 0);
    let r = oauth_callback(&app, &format!("code=code-1&state={state}")).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let call = &app.fake.calls_to("oauth.v2.access")[0];
    assert_eq!(call.body["code"], "code-1");
    // The same state again: used up.
    let r = oauth_callback(&app, &format!("code=code-1&state={state}")).await;
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
    let r = oauth_callback(&app, "code=c&state=old-state").await;
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
