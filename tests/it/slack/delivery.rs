//! The Slack delivery helpers against the fake Web API: DMs, channel posts, updates, views,
//! error classification by Slack's error name, and the retry policy (429 Retry-After, 5xx).
use serde_json::json;
use skygeni::slack::{RetryPolicy, SlackApi, SlackError};
use skygeni_fakes::slack::SlackFake;
use skygeni_fakes::{FakeServer, Fault};
use std::time::{Duration, Instant};

const TOKEN: &str = "xoxb-test";

async fn fake() -> (SlackFake, FakeServer, SlackApi) {
    let fake = SlackFake::new(TOKEN);
    fake.add_user("U1", "ana@example.com", "Ana Rep");
    fake.join_channel("C1");
    let server = fake.start(0).await.unwrap();
    let api = SlackApi::new(&format!("{}/api", server.url()));
    (fake, server, api)
}

#[tokio::test]
async fn dm_post_and_update_land_in_the_fake_with_the_bearer_token() {
    let (fake, _s, api) = fake().await;
    let msg = json!({"text": "Deal at risk", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]});
    let dm = api.send_dm(TOKEN, "U1", &msg).await.unwrap();
    assert_eq!(dm.channel, "D1");
    // Straight to the user id: no conversations.open before each DM.
    assert_eq!(fake.count("conversations.open"), 0);
    assert_eq!(fake.count_ok("chat.postMessage"), 1);
    let call = &fake.calls_to("chat.postMessage")[0];
    assert_eq!(call.token.as_deref(), Some(TOKEN));
    assert_eq!(call.body["channel"], "U1");
    assert_eq!(call.body["blocks"][0]["text"]["text"], "hi");
    assert_eq!(
        call.content_type.as_deref(),
        Some("application/json; charset=utf-8")
    );
    // The duplicate check after a crash reads that DM's history through the cached channel.
    api.find_dm_by_key(TOKEN, "U1", "skygeni_alert", "k", 0)
        .await
        .unwrap();
    assert_eq!(fake.count("conversations.open"), 0);
    let h = &fake.calls_to("conversations.history")[0];
    assert_eq!(
        (h.http_method.as_str(), h.body["channel"].as_str()),
        ("GET", Some("D1"))
    );

    // A channel the bot was never added to is refused, as Slack does.
    let err = api
        .post_message(TOKEN, "C42", &json!({"text": "channel"}))
        .await
        .unwrap_err();
    assert_eq!(err, SlackError::Permanent("channel_not_found".into()));
    fake.join_channel("C42");

    let posted = api
        .post_message(TOKEN, "C42", &json!({"text": "channel"}))
        .await
        .unwrap();
    assert_eq!(posted.channel, "C42");
    api.update_message(
        TOKEN,
        &posted.channel,
        &posted.ts,
        &json!({"text": "snoozed"}),
    )
    .await
    .unwrap();
    assert_eq!(fake.message("C42", &posted.ts).unwrap()["text"], "snoozed");

    let home = json!({"type": "home", "blocks": []});
    api.publish_home(TOKEN, "U1", &home).await.unwrap();
    assert_eq!(fake.count_ok("views.publish"), 1);
    let user = api
        .lookup_by_email(TOKEN, "ANA@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (user.id.as_str(), user.email.as_deref()),
        ("U1", Some("ana@example.com"))
    );
    assert_eq!(
        api.lookup_by_email(TOKEN, "nobody@example.com")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn slack_errors_are_classified_by_name() {
    let (fake, _s, api) = fake().await;
    let err = api
        .post_message("xoxb-wrong", "C1", &json!({"text": "x"}))
        .await
        .unwrap_err();
    assert_eq!(err, SlackError::Permanent("invalid_auth".into()));
    assert!(err.is_auth_failure());
    fake.fail_next("chat.postMessage", "channel_not_found");
    let err = api
        .post_message(TOKEN, "C404", &json!({"text": "x"}))
        .await
        .unwrap_err();
    assert_eq!(err.error_name(), Some("channel_not_found"));
    assert!(!err.is_retryable());
    let err = api.post_message(TOKEN, "C1", &json!({})).await.unwrap_err();
    assert_eq!(err.error_name(), Some("no_text"));
    let err = api
        .update_message(TOKEN, "C1", "1.2", &json!({"text": "x"}))
        .await
        .unwrap_err();
    assert_eq!(err.error_name(), Some("message_not_found"));
}

#[tokio::test]
async fn a_429_on_post_message_is_retried_after_retry_after() {
    let (fake, _s, api) = fake().await;
    fake.faults().next(
        1,
        Fault::RateLimited {
            retry_after_secs: 1,
        },
    );
    let posted = api
        .post_message(TOKEN, "C1", &json!({"text": "x"}))
        .await
        .unwrap();
    assert!(!posted.ts.is_empty());
    let calls = fake.calls_to("chat.postMessage");
    assert_eq!(calls.len(), 2, "one 429, one retry");
    assert_eq!(calls[0].outcome, "http_429");
    assert_eq!(calls[1].outcome, "ok");
    assert_eq!(fake.count_ok("chat.postMessage"), 1, "delivered once");

    // Without retries the dispatcher gets the Retry-After back.
    fake.faults().next(
        1,
        Fault::RateLimited {
            retry_after_secs: 7,
        },
    );
    let err = api
        .with_retry(RetryPolicy::NONE)
        .post_message(TOKEN, "C1", &json!({"text": "x"}))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SlackError::RateLimited {
            retry_after: Duration::from_secs(7)
        }
    );
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_and_bounded() {
    let (fake, _s, api) = fake().await;
    let api = api.with_retry(RetryPolicy {
        max_attempts: 3,
        base_backoff: Duration::from_millis(10),
        max_retry_after: Duration::from_secs(1),
    });
    fake.faults().next(2, Fault::ServerError(503));
    api.post_message(TOKEN, "C1", &json!({"text": "x"}))
        .await
        .unwrap();
    assert_eq!(fake.count("chat.postMessage"), 3);
    fake.faults().always(Fault::ServerError(500));
    let err = api
        .post_message(TOKEN, "C1", &json!({"text": "x"}))
        .await
        .unwrap_err();
    assert_eq!(err, SlackError::Transient("http_500".into()));
    assert_eq!(
        fake.count("chat.postMessage"),
        6,
        "three more attempts, then give up"
    );
}

#[tokio::test]
async fn read_methods_go_as_query_strings_because_slack_ignores_their_json_bodies() {
    let (fake, server, api) = fake().await;
    let u = api.user_info(TOKEN, "U1").await.unwrap();
    assert_eq!(u.email.as_deref(), Some("ana@example.com"));
    let call = fake.calls_to("users.info").pop().unwrap();
    assert_eq!(call.http_method, "GET");
    assert!(
        api.lookup_by_email(TOKEN, "ana@example.com")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(fake.calls_to("users.lookupByEmail")[0].http_method, "GET");
    // What the fake does with the old shape, as Slack does: a JSON body is no arguments.
    let r: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/api/users.info", server.url()))
        .bearer_auth(TOKEN)
        .json(&json!({"user": "U1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (r["ok"].clone(), r["error"].clone()),
        (json!(false), json!("user_not_found"))
    );
    // Writes carry charset=utf-8, so Slack has nothing to warn about.
    let v = api
        .call(
            TOKEN,
            "chat.postMessage",
            &json!({"channel": "U1", "text": "é"}),
        )
        .await
        .unwrap();
    assert!(v.get("warning").is_none(), "{v}");
    let r: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/api/chat.postMessage", server.url()))
        .bearer_auth(TOKEN)
        .json(&json!({"channel": "U1", "text": "x"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["warning"], "missing_charset");
}

#[tokio::test]
async fn a_trigger_id_is_single_use_and_dies_after_three_seconds() {
    let (fake, _s, api) = fake().await;
    let view =
        json!({"type": "modal", "title": {"type": "plain_text", "text": "Hi"}, "blocks": []});
    let t = fake.issue_trigger();
    api.open_view(TOKEN, &t, Instant::now(), &view)
        .await
        .unwrap();
    let again = api.open_view(TOKEN, &t, Instant::now(), &view).await;
    assert_eq!(
        again.unwrap_err().error_name(),
        Some("exchanged_trigger_id")
    );
    let made_up = api.open_view(TOKEN, "1.2.3", Instant::now(), &view).await;
    assert_eq!(
        made_up.unwrap_err().error_name(),
        Some("invalid_trigger_id")
    );
    let old = fake.issue_trigger();
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let late = api.open_view(TOKEN, &old, Instant::now(), &view).await;
    assert_eq!(late.unwrap_err().error_name(), Some("expired_trigger_id"));
    // Block Kit limits: a modal title over 24 characters is refused.
    let long = json!({"type": "modal", "title": {"type": "plain_text", "text": "x".repeat(25)}, "blocks": []});
    let t = fake.issue_trigger();
    let e = api
        .open_view(TOKEN, &t, Instant::now(), &long)
        .await
        .unwrap_err();
    assert_eq!(e.error_name(), Some("invalid_arguments"));
}

#[tokio::test]
async fn a_modal_open_is_retried_only_within_the_triggers_life() {
    let (fake, _s, api) = fake().await;
    let view =
        json!({"type": "modal", "title": {"type": "plain_text", "text": "Hi"}, "blocks": []});
    // Retry-After 2 s with 1 s of the trigger already gone: waiting would outlive it.
    fake.faults().next(
        1,
        Fault::RateLimited {
            retry_after_secs: 2,
        },
    );
    let t = fake.issue_trigger();
    let issued = Instant::now() - Duration::from_secs(1);
    let err = api.open_view(TOKEN, &t, issued, &view).await.unwrap_err();
    assert!(matches!(err, SlackError::RateLimited { .. }), "{err:?}");
    assert_eq!(
        fake.count("views.open"),
        1,
        "no retry past the trigger's life"
    );
    // Retry-After 1 s on a fresh trigger fits: retried once and opened.
    fake.faults().next(
        1,
        Fault::RateLimited {
            retry_after_secs: 1,
        },
    );
    let t = fake.issue_trigger();
    api.open_view(TOKEN, &t, Instant::now(), &view)
        .await
        .unwrap();
    assert_eq!(fake.count_ok("views.open"), 1);
}

#[tokio::test]
async fn messages_over_block_kit_limits_are_refused_like_slack_does() {
    let (_fake, _s, api) = fake().await;
    let blocks: Vec<serde_json::Value> = (0..51).map(|_| json!({"type": "divider"})).collect();
    let e = api
        .post_message(TOKEN, "U1", &json!({"text": "x", "blocks": blocks}))
        .await
        .unwrap_err();
    assert_eq!(e.error_name(), Some("invalid_blocks"));
    let e = api
        .post_message(TOKEN, "U1", &json!({"text": "x", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": ""}}]}))
        .await
        .unwrap_err();
    assert_eq!(e.error_name(), Some("invalid_blocks"));
}
