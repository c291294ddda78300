//! What Slack enforces on a Web API request before it acts, written from Slack's docs
//! (docs.slack.dev "Using the Web API" § JSON-encoded bodies, the Block Kit reference pages and
//! shared/reference/slack.md §5), not from what SkyGeni's client sends:
//! - JSON bodies are read only by write methods; every other method takes its arguments from
//!   the query string or a form body, so a JSON body there is as good as no arguments.
//! - A JSON body without `charset` is read but answered with a `missing_charset` warning.
//! - Block Kit limits: block counts, text lengths, ids, buttons, modal titles; a violation is
//!   `invalid_blocks` (messages) or `invalid_arguments` (views), like Slack's answers.
use serde_json::Value;

/// Methods that accept `application/json` bodies (Slack's "write" methods this fake serves).
pub const JSON_METHODS: &[&str] = &[
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "conversations.open",
    "views.open",
    "views.update",
    "views.publish",
];

pub fn accepts_json(method: &str) -> bool {
    JSON_METHODS.contains(&method)
}

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

/// A text object: `{type: plain_text|mrkdwn, text: 1..=max}`.
fn text_obj(t: &Value, max: usize, what: &str) -> Result<(), String> {
    let kind = t["type"].as_str().unwrap_or_default();
    if kind != "plain_text" && kind != "mrkdwn" {
        return Err(format!(
            "{what}: text object type must be plain_text or mrkdwn"
        ));
    }
    let n = chars(&t["text"]);
    if n == 0 || n > max {
        return Err(format!(
            "{what}: text must be 1..={max} characters, got {n}"
        ));
    }
    Ok(())
}

fn plain_obj(t: &Value, max: usize, what: &str) -> Result<(), String> {
    if t["type"] != "plain_text" {
        return Err(format!("{what}: must be plain_text"));
    }
    text_obj(t, max, what)
}

fn id_ok(v: &Value, what: &str) -> Result<(), String> {
    if chars(v) > 255 {
        return Err(format!("{what} longer than 255 characters"));
    }
    Ok(())
}

fn element(e: &Value) -> Result<(), String> {
    id_ok(&e["action_id"], "action_id")?;
    if e["type"] == "button" {
        plain_obj(&e["text"], 75, "button text")?;
        if chars(&e["value"]) > 2000 {
            return Err("button value longer than 2000 characters".into());
        }
        if chars(&e["url"]) > 3000 {
            return Err("button url longer than 3000 characters".into());
        }
    }
    Ok(())
}

fn block(b: &Value) -> Result<(), String> {
    id_ok(&b["block_id"], "block_id")?;
    match b["type"].as_str().unwrap_or_default() {
        "section" => {
            let has_text = !b["text"].is_null();
            let fields = b["fields"].as_array();
            if !has_text && fields.is_none() {
                return Err("section needs text or fields".into());
            }
            if has_text {
                text_obj(&b["text"], 3000, "section text")?;
            }
            if let Some(f) = fields {
                if f.len() > 10 {
                    return Err("section has more than 10 fields".into());
                }
                for x in f {
                    text_obj(x, 2000, "section field")?;
                }
            }
            if !b["accessory"].is_null() {
                element(&b["accessory"])?;
            }
        }
        "header" => plain_obj(&b["text"], 150, "header")?,
        "context" => {
            let els = b["elements"].as_array().ok_or("context needs elements")?;
            if els.is_empty() || els.len() > 10 {
                return Err("context needs 1..=10 elements".into());
            }
            for e in els {
                if e["type"] == "mrkdwn" || e["type"] == "plain_text" {
                    text_obj(e, 3000, "context text")?;
                }
            }
        }
        "actions" => {
            let els = b["elements"].as_array().ok_or("actions needs elements")?;
            if els.is_empty() || els.len() > 25 {
                return Err("actions needs 1..=25 elements".into());
            }
            for e in els {
                element(e)?;
            }
        }
        "input" => {
            plain_obj(&b["label"], 2000, "input label")?;
            if b["element"].is_null() {
                return Err("input needs an element".into());
            }
            element(&b["element"])?;
        }
        "image" => {
            let url = b["image_url"].as_str().unwrap_or_default();
            if !url.starts_with("https://") && !url.starts_with("http://") {
                return Err("image_url must be a URL".into());
            }
            if chars(&b["alt_text"]) == 0 {
                return Err("image needs alt_text".into());
            }
        }
        "divider" => {}
        other => return Err(format!("unsupported block type {other:?}")),
    }
    Ok(())
}

/// Checks a list of blocks against Slack's limits (`max` blocks: 50 messages, 100 views).
pub fn check_blocks(blocks: &Value, max: usize) -> Result<(), String> {
    let Some(list) = blocks.as_array() else {
        return Err("blocks must be an array".into());
    };
    if list.len() > max {
        return Err(format!("more than {max} blocks"));
    }
    let mut ids = std::collections::HashSet::new();
    for b in list {
        block(b)?;
        if let Some(id) = b["block_id"].as_str()
            && !ids.insert(id)
        {
            return Err(format!("duplicate block_id {id:?}"));
        }
    }
    Ok(())
}

/// A message's `blocks` and each attachment's `blocks`.
pub fn check_message(b: &Value) -> Result<(), String> {
    if !b["blocks"].is_null() {
        check_blocks(&b["blocks"], 50)?;
    }
    if let Some(atts) = b["attachments"].as_array() {
        for a in atts {
            if !a["blocks"].is_null() {
                check_blocks(&a["blocks"], 50)?;
            }
        }
    }
    Ok(())
}

/// A modal or Home view.
pub fn check_view(view: &Value) -> Result<(), String> {
    match view["type"].as_str() {
        Some("modal") => {
            plain_obj(&view["title"], 24, "modal title")?;
            for k in ["submit", "close"] {
                if !view[k].is_null() {
                    plain_obj(&view[k], 24, k)?;
                }
            }
        }
        Some("home") => {}
        _ => return Err("view type must be modal or home".into()),
    }
    if chars(&view["private_metadata"]) > 3000 {
        return Err("private_metadata longer than 3000 characters".into());
    }
    id_ok(&view["callback_id"], "callback_id")?;
    check_blocks(&view["blocks"], 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn limits_slack_documents_are_enforced() {
        let ok = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]);
        assert!(check_blocks(&ok, 50).is_ok());
        let long =
            json!([{"type": "header", "text": {"type": "plain_text", "text": "x".repeat(151)}}]);
        assert!(check_blocks(&long, 50).is_err());
        let empty = json!([{"type": "section", "text": {"type": "mrkdwn", "text": ""}}]);
        assert!(check_blocks(&empty, 50).is_err());
        let many: Vec<Value> = (0..51).map(|_| json!({"type": "divider"})).collect();
        assert!(check_blocks(&json!(many), 50).is_err());
        let title = json!({"type": "modal", "title": {"type": "plain_text", "text": "x".repeat(25)}, "blocks": []});
        assert!(check_view(&title).is_err());
        assert!(accepts_json("chat.postMessage") && !accepts_json("users.info"));
    }
}
