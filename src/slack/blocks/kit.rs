//! Block Kit primitives that enforce Slack's size limits at construction, so no builder can
//! produce a block Slack would reject (`invalid_blocks`) however long a deal name is.
use serde_json::{Value, json};

/// Limits from Slack's Block Kit reference (shared/reference/slack.md §5).
pub const MAX_MESSAGE_BLOCKS: usize = 50;
pub const MAX_VIEW_BLOCKS: usize = 100;
pub const MAX_SECTION_TEXT: usize = 3000;
pub const MAX_FIELD_TEXT: usize = 2000;
pub const MAX_FIELDS: usize = 10;
pub const MAX_HEADER_TEXT: usize = 150;
pub const MAX_BUTTON_TEXT: usize = 75;
pub const MAX_ACTION_VALUE: usize = 2000;
pub const MAX_ID: usize = 255;
pub const MAX_ACTIONS_ELEMENTS: usize = 25;
pub const MAX_MODAL_TITLE: usize = 24;
pub const MAX_OPTION_TEXT: usize = 75;

/// Escapes a CRM- or user-supplied string for Slack mrkdwn (and a message's top-level `text`):
/// `&`, `<` and `>` are the only characters Slack parses as control sequences (`<!channel>`,
/// `<@U…>`, `<https://…|label>`), so escaping them makes any deal name, company, owner, reason
/// or query show literally. Every builder puts outside text into mrkdwn through this one
/// function; plain_text objects (headers, buttons) do not parse markup and take text as is.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// A mrkdwn link we build: `<url|label>` with the label escaped and the URL unable to close the
/// link early (`|`, `<`, `>` percent-encoded, `&` escaped as Slack expects).
pub fn link(url: &str, label: &str) -> String {
    let url = url
        .replace('&', "&amp;")
        .replace('|', "%7C")
        .replace('<', "%3C")
        .replace('>', "%3E");
    format!("<{url}|{}>", escape(label))
}

/// Cuts `s` to at most `max` characters (Slack counts characters, not bytes), marking the cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

pub fn plain(text: &str, max: usize) -> Value {
    // Slack rejects empty text objects, so an empty string becomes a visible dash.
    let t = if text.trim().is_empty() { "-" } else { text };
    json!({"type": "plain_text", "text": truncate(t, max), "emoji": true})
}

pub fn mrkdwn(text: &str, max: usize) -> Value {
    let t = if text.trim().is_empty() { "-" } else { text };
    json!({"type": "mrkdwn", "text": truncate(t, max)})
}

pub fn header(text: &str) -> Value {
    json!({"type": "header", "text": plain(text, MAX_HEADER_TEXT)})
}

pub fn section(text: &str) -> Value {
    json!({"type": "section", "text": mrkdwn(text, MAX_SECTION_TEXT)})
}

/// A section with a button on the right, the layout of every list row.
pub fn section_with_button(text: &str, button: Value) -> Value {
    json!({"type": "section", "text": mrkdwn(text, MAX_SECTION_TEXT), "accessory": button})
}

/// Two-column fields; anything past Slack's ten is dropped (callers pass at most ten).
pub fn fields(items: &[String]) -> Value {
    let fs: Vec<Value> = items
        .iter()
        .take(MAX_FIELDS)
        .map(|t| mrkdwn(t, MAX_FIELD_TEXT))
        .collect();
    json!({"type": "section", "fields": fs})
}

pub fn context(text: &str) -> Value {
    json!({"type": "context", "elements": [mrkdwn(text, MAX_FIELD_TEXT)]})
}

pub fn divider() -> Value {
    json!({"type": "divider"})
}

/// A button; `value` carries the deal id (or a small JSON) the interaction handler needs.
pub fn button(text: &str, action_id: &str, value: &str) -> Value {
    json!({"type": "button", "text": plain(text, MAX_BUTTON_TEXT),
           "action_id": truncate(action_id, MAX_ID), "value": truncate(value, MAX_ACTION_VALUE)})
}

pub fn styled(mut button: Value, style: &str) -> Value {
    button["style"] = json!(style);
    button
}

/// An actions block; buttons beyond Slack's 25 are dropped.
pub fn actions(block_id: &str, elements: Vec<Value>) -> Value {
    let els: Vec<Value> = elements.into_iter().take(MAX_ACTIONS_ELEMENTS).collect();
    json!({"type": "actions", "block_id": truncate(block_id, MAX_ID), "elements": els})
}

/// An option for selects, radio buttons and checkboxes (plain text, which all three accept).
pub fn option(text: &str, value: &str) -> Value {
    json!({"text": plain(text, MAX_OPTION_TEXT), "value": value})
}

/// Appends up to `room` of `rows` to `blocks`, and an "and N more" line when some did not fit
/// (the line itself takes one of the `room` slots).
pub fn push_capped(blocks: &mut Vec<Value>, rows: Vec<Value>, room: usize) {
    if rows.len() <= room {
        blocks.extend(rows);
        return;
    }
    let shown = room.saturating_sub(1);
    let more = rows.len() - shown;
    blocks.extend(rows.into_iter().take(shown));
    blocks.push(context(&format!("…and {more} more")));
}

/// A message body (`text` fallback for notifications plus blocks), capped at 50 blocks.
pub fn message(text: &str, mut blocks: Vec<Value>) -> Value {
    blocks.truncate(MAX_MESSAGE_BLOCKS);
    json!({"text": truncate(text, MAX_SECTION_TEXT), "blocks": blocks})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_counts_characters_not_bytes_and_marks_the_cut() {
        let s = "é".repeat(10);
        assert_eq!(truncate(&s, 10), s, "exactly at the limit is untouched");
        let t = truncate(&s, 5);
        assert_eq!(t.chars().count(), 5);
        assert!(t.ends_with('…'));
    }

    #[test]
    fn push_capped_adds_an_and_n_more_line_when_rows_do_not_fit() {
        let rows: Vec<Value> = (0..30).map(|i| section(&i.to_string())).collect();
        let mut blocks = vec![];
        push_capped(&mut blocks, rows, 10);
        assert_eq!(blocks.len(), 10);
        let last = blocks[9]["elements"][0]["text"].as_str().unwrap();
        assert_eq!(last, "…and 21 more");
    }

    #[test]
    fn escape_neutralises_mentions_and_disguised_links() {
        assert_eq!(escape("<!channel> urgent"), "&lt;!channel&gt; urgent");
        assert_eq!(
            escape("<https://evil.example|Open in Salesforce>"),
            "&lt;https://evil.example|Open in Salesforce&gt;"
        );
        assert_eq!(escape("AT&T"), "AT&amp;T");
        assert_eq!(
            link("https://x.example/a?b=1&c=|>", "<!here> & co"),
            "<https://x.example/a?b=1&amp;c=%7C%3E|&lt;!here&gt; &amp; co>"
        );
    }

    #[test]
    fn empty_text_is_replaced_because_slack_rejects_empty_text_objects() {
        assert_eq!(plain("", 10)["text"], "-");
        assert_eq!(header("")["text"]["text"], "-");
    }
}
