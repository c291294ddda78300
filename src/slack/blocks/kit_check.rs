//! Test helpers: a builder's JSON must deserialise into slack-morphism's Block Kit types with no
//! block falling back to `SlackBlock::Unknown` (the crate's catch-all for malformed blocks), and
//! must stay within Slack's size limits.
use super::kit::*;
use serde_json::Value;
use slack_morphism::prelude::{SlackBlock, SlackMessageContent, SlackView};
use std::collections::HashSet;

/// Checks a message body (`text` + `blocks` and/or `attachments[].blocks`).
pub fn assert_valid_message(v: &Value) {
    let content: SlackMessageContent =
        serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("not a message: {e}\n{v:#}"));
    assert!(
        content.text.as_deref().is_some_and(|t| !t.is_empty()),
        "messages carry a fallback text"
    );
    let mut blocks = content.blocks.clone().unwrap_or_default();
    for a in content.attachments.iter().flatten() {
        blocks.extend(a.blocks.clone().unwrap_or_default());
    }
    assert!(!blocks.is_empty(), "message has blocks");
    assert!(
        blocks.len() <= MAX_MESSAGE_BLOCKS,
        "{} blocks in a message",
        blocks.len()
    );
    assert_no_unknown(&blocks, v);
    assert_limits(v);
}

/// Checks a modal or Home view.
pub fn assert_valid_view(v: &Value) {
    let view: SlackView =
        serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("not a view: {e}\n{v:#}"));
    let blocks = match &view {
        SlackView::Home(h) => h.blocks.clone(),
        SlackView::Modal(m) => {
            // The crate keeps plain-text-only fields private, so measure them in the JSON.
            for key in ["title", "submit", "close"] {
                assert!(
                    chars(&v[key]["text"]) <= MAX_MODAL_TITLE,
                    "modal {key} too long"
                );
            }
            assert!(chars(&v["title"]["text"]) > 0, "modals need a title");
            m.blocks.clone()
        }
    };
    assert!(
        blocks.len() <= MAX_VIEW_BLOCKS,
        "{} blocks in a view",
        blocks.len()
    );
    assert_no_unknown(&blocks, v);
    assert_limits(v);
}

fn assert_no_unknown(blocks: &[SlackBlock], v: &Value) {
    for b in blocks {
        assert!(
            !matches!(b, SlackBlock::Unknown(_)),
            "malformed block {b:?}\nin {v:#}"
        );
    }
}

/// Walks the JSON and checks every length and count limit, and that `block_id`s are unique
/// (Slack rejects a payload with duplicates).
pub fn assert_limits(v: &Value) {
    let mut block_ids = HashSet::new();
    walk(v, &mut block_ids);
}

fn chars(v: &Value) -> usize {
    v.as_str().map(|s| s.chars().count()).unwrap_or(0)
}

fn walk(v: &Value, block_ids: &mut HashSet<String>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| walk(i, block_ids)),
        Value::Object(o) => {
            let ty = o.get("type").and_then(Value::as_str).unwrap_or("");
            match ty {
                "header" => {
                    assert!(chars(&v["text"]["text"]) <= MAX_HEADER_TEXT, "header {v}");
                    // slack-morphism's plain-text-only type accepts mrkdwn, Slack does not.
                    assert_eq!(
                        v["text"]["type"], "plain_text",
                        "header text must be plain_text"
                    );
                }
                "section" => {
                    let t = chars(&v["text"]["text"]);
                    assert!(t <= MAX_SECTION_TEXT, "section text {t}");
                    let fs = v["fields"].as_array().map(Vec::len).unwrap_or(0);
                    assert!(fs <= MAX_FIELDS, "{fs} fields");
                    for f in v["fields"].as_array().into_iter().flatten() {
                        assert!(chars(&f["text"]) <= MAX_FIELD_TEXT, "field text");
                    }
                    assert!(t > 0 || fs > 0, "section without text or fields: {v}");
                }
                "actions" => {
                    let n = v["elements"].as_array().map(Vec::len).unwrap_or(0);
                    assert!(
                        (1..=MAX_ACTIONS_ELEMENTS).contains(&n),
                        "{n} action elements"
                    );
                }
                "button" => {
                    assert!(chars(&v["text"]["text"]) <= MAX_BUTTON_TEXT, "button text");
                    assert_eq!(
                        v["text"]["type"], "plain_text",
                        "button text must be plain_text"
                    );
                    assert!(chars(&v["value"]) <= MAX_ACTION_VALUE, "button value");
                }
                _ => {}
            }
            for key in ["action_id", "callback_id", "block_id"] {
                assert!(chars(&v[key]) <= MAX_ID, "{key} too long");
            }
            assert!(
                chars(&v["private_metadata"]) <= 3000,
                "private_metadata too long"
            );
            if let Some(id) = o.get("block_id").and_then(Value::as_str) {
                assert!(block_ids.insert(id.to_string()), "duplicate block_id {id}");
            }
            o.values().for_each(|c| walk(c, block_ids));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rejects(v: Value) -> bool {
        std::panic::catch_unwind(|| assert_valid_message(&v)).is_err()
    }

    #[test]
    fn the_checker_rejects_malformed_and_oversized_blocks() {
        let ok = json!({"text": "t", "blocks": [section("fine")]});
        assert!(!rejects(ok), "a valid message passes");
        let cases = [
            (
                "header with mrkdwn text (the crate accepts it; Slack does not)",
                json!({"text": "t", "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}]}),
            ),
            (
                "button url that is not a URL",
                json!({"text": "t", "blocks": [{"type": "actions", "elements": [{"type": "button", "text": plain("x", 10), "url": "not a url"}]}]}),
            ),
            (
                "section text over 3000 characters",
                json!({"text": "t", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x".repeat(3001)}}]}),
            ),
            (
                "duplicate block ids",
                json!({"text": "t", "blocks": [actions("a", vec![button("x", "y", "z")]), actions("a", vec![button("x", "y", "z")])]}),
            ),
            (
                "51 blocks",
                json!({"text": "t", "blocks": vec![divider(); 51]}),
            ),
            ("no fallback text", json!({"blocks": [section("x")]})),
        ];
        for (name, v) in cases {
            assert!(rejects(v), "{name} should be rejected");
        }
    }
}
