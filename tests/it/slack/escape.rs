//! CRM text with Slack markup (`<!channel> urgent`, `<https://evil.example|Open in Salesforce>`)
//! reaches Slack escaped on every live surface: the looked-up card, `share` in the channel, the
//! alert DM, the chat.update after a snooze, and an ephemeral card's confirmation.
use super::post_alert;
use crate::support::{SlackApp, block_actions, tenant, view_submission};
use serde_json::{Value, json};

const CHANNEL: &str = "<!channel> urgent";
const LINK: &str = "<https://evil.example|Open in Salesforce>";

/// Texts Slack parses as mrkdwn: mrkdwn text objects and the message's top-level `text`.
fn mrkdwn(v: &Value, top: bool, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            let md = m.get("type").and_then(Value::as_str) == Some("mrkdwn");
            for (k, x) in m {
                match x.as_str() {
                    Some(t) if k == "text" && (md || top) => out.push(t.to_string()),
                    _ => mrkdwn(x, false, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| mrkdwn(x, false, out)),
        _ => {}
    }
}

fn assert_escaped(what: &str, v: &Value) {
    let mut texts = Vec::new();
    mrkdwn(v, true, &mut texts);
    let all = texts.join("\n");
    assert!(!all.contains("<!channel>"), "{what}: live mention: {all}");
    assert!(
        !all.contains("<https://evil"),
        "{what}: disguised link: {all}"
    );
    assert!(
        all.contains("&lt;!channel&gt; urgent"),
        "{what}: shown escaped: {all}"
    );
}

async fn poisoned_app() -> SlackApp {
    let app = SlackApp::spawn().await;
    let mut d = app.deal(&app.acme).await;
    d.company = Some(CHANNEL.into());
    d.deal_name = Some(LINK.into());
    app.store
        .upsert_deals(&tenant(), &[d], &mut |_| {})
        .await
        .unwrap();
    app
}

async fn responses(app: &SlackApp, id: &str) -> Vec<Value> {
    for _ in 0..200 {
        let r = app.fake.responses(id);
        if !r.is_empty() {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no response_url post to {id}");
}

#[tokio::test]
async fn markup_in_crm_text_is_escaped_on_cards_shares_alerts_and_updates() {
    let app = poisoned_app().await;
    let (_, card) = app.command("UREP0", &app.acme).await;
    assert_escaped("card", &card);

    let mut share = block_actions("UREP0", "deal_share", &app.acme, Some("1700000000.000002"));
    share["response_url"] = json!(app.response_url("share"));
    app.interact(&share).await;
    let shared = responses(&app, "share").await.remove(0);
    assert_eq!(shared["response_type"], "in_channel");
    assert_escaped("share", &shared);

    let ts = post_alert(&app, &app.acme).await;
    let alert = app.fake.message("D0DM", &ts).unwrap();
    assert_escaped("alert", &alert);
    app.interact(&block_actions("UREP0", "deal_snooze", &app.acme, Some(&ts)))
        .await;
    app.wait_for("views.open", 1).await;
    let modal = app.fake.calls_to("views.open")[0].body["view"].clone();
    assert_escaped("snooze modal", &modal);
    let meta = modal["private_metadata"].as_str().unwrap().to_string();
    let values = json!({"snooze_for": {"snooze_for": {"type": "static_select", "selected_option": {"value": "1"}}}});
    app.interact(&view_submission("UREP0", "snooze_modal", &meta, values))
        .await;
    app.wait_for("chat.update", 1).await;
    let updated = app.fake.message("D0DM", &ts).unwrap();
    assert_escaped("chat.update", &updated);
}

#[tokio::test]
async fn a_confirmation_for_an_ephemeral_card_goes_through_its_response_url() {
    let app = poisoned_app().await;
    // An ephemeral card in a channel the bot is not a member of.
    let mut click = block_actions("UREP0", "deal_snooze", &app.acme, Some("1700000000.000009"));
    click["container"] = json!({"type": "message", "message_ts": "1700000000.000009",
                                "channel_id": "C0NOTMEMBER", "is_ephemeral": true});
    click["response_url"] = json!(app.response_url("eph"));
    app.interact(&click).await;
    app.wait_for("views.open", 1).await;
    let modal = app.fake.calls_to("views.open")[0].body["view"].clone();
    let meta = modal["private_metadata"].as_str().unwrap().to_string();
    assert!(meta.contains("response_url"), "{meta}");
    let values = json!({"snooze_for": {"snooze_for": {"type": "static_select", "selected_option": {"value": "1"}}}});
    app.interact(&view_submission("UREP0", "snooze_modal", &meta, values))
        .await;
    let confirm = responses(&app, "eph").await.remove(0);
    assert_eq!(confirm["replace_original"], true);
    assert!(
        confirm.to_string().contains("Snoozed by Rita Rep"),
        "{confirm}"
    );
    assert_escaped("confirmation", &confirm);
    assert_eq!(app.fake.count("chat.postEphemeral"), 0, "no lost ephemeral");
}
