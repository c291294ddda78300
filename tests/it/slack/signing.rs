//! Slack's request signing: unsigned, badly signed, stale or altered requests get 401 and do
//! nothing; the Events API URL check and unrecognised payloads.
use crate::support::{SIGNING_SECRET, SlackApp};
use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use skygeni::slack::signature::sign;

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
