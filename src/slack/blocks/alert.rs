//! Block Kit JSON for the critical-deal alert (the deal card with its three buttons), plus the
//! same alert as plain text for terminals and notification fallbacks.
use super::card::{CardKind, deal_card_blocks};
use super::kit::{MAX_SECTION_TEXT, truncate};
use super::views::{capitalise, deal_title, deal_title_md};
use crate::domain::{Deal, DealScore};
use crate::engine::explain::fmt_money;
use serde_json::{Value, json};

/// The alert message: the deal card (score with category colour, factors, actions, similar won
/// deals) with the three buttons the design puts on an alert.
pub fn alert_message(deal: &Deal, score: &DealScore, deal_url: Option<&str>) -> Value {
    json!({
        "text": truncate(&format!("{} risk: {} ({}) scored {}/100", capitalise(score.risk_category.as_str()),
            deal_title_md(deal), fmt_money(deal.amount), score.risk_score), MAX_SECTION_TEXT),
        "attachments": [{"color": score.risk_category.slack_color(),
            "blocks": deal_card_blocks(deal, score, deal_url, CardKind::Alert)}]
    })
}

/// The alert as plain text (terminal, email fallback).
pub fn alert_text(deal: &Deal, score: &DealScore) -> String {
    let mut out = format!(
        "{} risk: {} ({}) — {}/100, win probability {:.0}%\n",
        capitalise(score.risk_category.as_str()),
        deal_title(deal),
        fmt_money(deal.amount),
        score.risk_score,
        score.win_probability * 100.0
    );
    out.push_str("  Top risk factors:\n");
    for f in &score.risk_factors {
        out.push_str(&format!("    • {}\n", f.description));
    }
    out.push_str("  Recommended actions:\n");
    for r in score.recommendations.iter().take(3) {
        out.push_str(&format!("    • [{}] {}\n", r.priority.as_str(), r.action));
    }
    if !score.similar_deals.is_empty() {
        let ids: Vec<String> = score
            .similar_deals
            .iter()
            .map(|s| format!("{} ({})", s.deal_id, fmt_money(s.amount)))
            .collect();
        out.push_str(&format!("  Similar won deals: {}\n", ids.join(", ")));
    }
    out.push_str("  [View deal] [Snooze] [Mark false alarm]\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slack::actions;
    use crate::slack::blocks::kit_check::assert_valid_message;
    use crate::testkit::book;

    #[test]
    fn every_alert_in_a_200_deal_pipeline_is_valid_block_kit_with_three_buttons() {
        let b = book();
        for (d, s) in b.ranked() {
            let v = alert_message(d, s, None);
            assert_valid_message(&v);
            let blocks = v["attachments"][0]["blocks"].as_array().unwrap();
            let ids: Vec<&str> = blocks.last().unwrap()["elements"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["action_id"].as_str().unwrap())
                .collect();
            assert_eq!(
                ids,
                [actions::VIEW_DEAL, actions::SNOOZE, actions::FALSE_ALARM]
            );
        }
    }
}
