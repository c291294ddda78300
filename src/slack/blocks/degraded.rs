//! The degraded-mode notice. While a tenant has no usable model (registry empty or corrupt)
//! scores come from segment win rates; every Slack surface that shows scores (`/deal-risk`
//! answers, the App Home) then says so at the top, with the reason, so nobody mistakes a
//! fallback score for the model's.
use super::kit::{MAX_MESSAGE_BLOCKS, context, truncate};
use crate::service::models::{LoadedScorer, ModelSource};
use serde_json::Value;

/// Slack's cap on blocks in a Home tab or modal.
pub const MAX_VIEW_BLOCKS: usize = 100;
/// The part of the loader's note that ends every degraded note; it restates the mode.
const TAIL: &str = "scoring with segment win rates (degraded)";

/// The notice text, `None` when a model is in use.
pub fn notice_text(loaded: &LoadedScorer) -> Option<String> {
    if loaded.source != ModelSource::Degraded {
        return None;
    }
    let reason = loaded
        .note
        .trim_end_matches(TAIL)
        .trim_end_matches(|c: char| c == ';' || c.is_whitespace());
    let reason = if reason.is_empty() {
        "no usable model"
    } else {
        reason
    };
    Some(format!(
        ":warning: Scores are running in degraded mode: {}. They come from segment win rates \
         until a model is trained or restored.",
        truncate(reason, 400)
    ))
}

/// Puts the notice first in `body["blocks"]` (created when the body has only text or
/// attachments), keeping the block count within `max_blocks` by dropping the last block.
pub fn add_notice(body: &mut Value, text: &str, max_blocks: usize) {
    let Some(obj) = body.as_object_mut() else {
        return;
    };
    let blocks = obj
        .entry("blocks")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Some(blocks) = blocks.as_array_mut() {
        blocks.insert(0, context(text));
        blocks.truncate(max_blocks);
    }
}

/// [`add_notice`] for a message (50 blocks).
pub fn add_to_message(body: &mut Value, loaded: &LoadedScorer) {
    if let Some(text) = notice_text(loaded) {
        add_notice(body, &text, MAX_MESSAGE_BLOCKS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_notice_goes_first_and_the_block_limit_holds() {
        let mut full = json!({"text": "t", "blocks": (0..50).map(|i| json!({"type": "section", "i": i})).collect::<Vec<_>>()});
        add_notice(&mut full, "degraded", 50);
        let blocks = full["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), 50);
        assert_eq!(blocks[0]["type"], "context");
        assert_eq!(blocks[49]["i"], 48, "the last block made room");
        let mut card = json!({"text": "t", "attachments": [{"blocks": []}]});
        add_notice(&mut card, "degraded", 50);
        assert_eq!(card["blocks"][0]["elements"][0]["text"], "degraded");
    }
}
