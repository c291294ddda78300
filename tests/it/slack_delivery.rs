//! The Slack delivery helpers against the fake Web API: DMs, channel posts, updates, views,
//! error classification by Slack's error name, and the retry policy (429 Retry-After, 5xx).
use serde_json::json;
use skygeni::slack::{RetryPolicy, SlackApi, SlackError};
use skygeni_fakes::slack::SlackFake;
use skygeni_fakes::{FakeServer, Fault};
use std::time::Duration;

const TOKEN: &str = "xoxb-test";

async fn fake() -> (SlackFake, FakeServer, SlackApi) {
    let fake = SlackFake::new(TOKEN);
    fake.add_user("U1", "ana@example.com", "Ana Rep");
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
    assert_eq!(fake.count_ok("conversations.open"), 1);
    assert_eq!(fake.count_ok("chat.postMessage"), 1);
    let call = &fake.calls_to("chat.postMessage")[0];
    assert_eq!(call.token.as_deref(), Some(TOKEN));
    assert_eq!(call.body["channel"], "D1");
    assert_eq!(call.body["blocks"][0]["text"]["text"], "hi");

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
