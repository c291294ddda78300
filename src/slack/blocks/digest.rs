//! Block Kit JSON for the daily digest (pipeline overview and the deals needing attention),
//! plus the same digest as plain text for terminals and notification fallbacks.
use super::actions;
use super::card::ListStanding;
use super::kit::{MAX_SECTION_TEXT, escape, truncate};
use super::views::{deal_title, deal_title_md, emoji};
use crate::domain::{Deal, DealScore};
use crate::engine::PipelineMetrics;
use crate::engine::explain::fmt_money;
use serde_json::{Value, json};

/// The daily digest as Block Kit: pipeline overview and the deals needing attention, each with
/// its relative risk (as the email digest says it), and the low-skill line when skill is low.
pub fn digest_message(
    m: &PipelineMetrics,
    top: &[(&Deal, &DealScore)],
    standing: ListStanding,
) -> Value {
    let at_risk = at_risk_deals(m);
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": format!("Daily deal-risk digest — {}", m.as_of)}}),
        json!({"type": "section", "fields": [
            {"type": "mrkdwn", "text": format!("*Pipeline*\n{} in {} open deals", fmt_money(m.pipeline_value), m.open_deals)},
            {"type": "mrkdwn", "text": format!("*Risk-adjusted (RAPV)*\n{} (gap {:.0}%)", fmt_money(m.rapv), m.optimism_gap_pct)},
            {"type": "mrkdwn", "text": format!("*High + critical*\n{} deals ({:.0}%)", at_risk, pct(at_risk, m.open_deals))},
            {"type": "mrkdwn", "text": format!("*Potential recovery*\n{}", fmt_money(m.recovery.potential_revenue))}
        ]}),
        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(&m.recovery.assumption, 2000)}]}),
    ];
    blocks.extend(standing.skill_block());
    blocks.push(json!({"type": "divider"}));
    for (deal, s) in top.iter().take(10) {
        let first = s
            .risk_factors
            .first()
            .map(|f| f.description.as_str())
            .unwrap_or("");
        // The relative line first: the reason after it may be cut at the section's limit.
        let relative = standing
            .deal_line(s)
            .map(|l| format!("\n{l}"))
            .unwrap_or_default();
        blocks.push(json!({"type": "section",
            "text": {"type": "mrkdwn", "text": truncate(&format!("{} *{}* {} — {}/100{relative}\n{}", emoji(s.risk_category), truncate(&deal_title_md(deal), 1000), fmt_money(deal.amount), s.risk_score, escape(first)), MAX_SECTION_TEXT)},
            "accessory": {"type": "button", "action_id": actions::VIEW_DEAL, "value": deal.deal_id, "text": {"type": "plain_text", "text": "View deal"}}}));
    }
    if top.len() > 10 {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("and {} more", top.len() - 10)}]}));
    }
    json!({"text": format!("Daily digest: {} open deals, {} at high or critical risk", m.open_deals, at_risk), "blocks": blocks})
}

/// Deals in the high and critical categories.
fn at_risk_deals(m: &PipelineMetrics) -> usize {
    m.risk_distribution
        .iter()
        .filter(|b| b.category.is_at_risk())
        .map(|b| b.deals)
        .sum()
}

fn pct(n: usize, d: usize) -> f64 {
    if d == 0 {
        0.0
    } else {
        n as f64 * 100.0 / d as f64
    }
}

/// The digest as plain text.
pub fn digest_text(m: &PipelineMetrics, top: &[(&Deal, &DealScore)]) -> String {
    let at_risk = at_risk_deals(m);
    let mut out = format!("Daily deal-risk digest — {}\n", m.as_of);
    out.push_str(&format!(
        "  Pipeline {} in {} open deals; RAPV {} (optimism gap {} / {:.1}%)\n",
        fmt_money(m.pipeline_value),
        m.open_deals,
        fmt_money(m.rapv),
        fmt_money(m.optimism_gap),
        m.optimism_gap_pct
    ));
    out.push_str(&format!(
        "  High + critical: {} deals ({:.1}%); potential revenue recovery {}\n",
        at_risk,
        pct(at_risk, m.open_deals),
        fmt_money(m.recovery.potential_revenue)
    ));
    out.push_str(&format!(
        "  ({})\n  Deals needing attention:\n",
        m.recovery.assumption
    ));
    for (deal, s) in top.iter().take(10) {
        let first = s
            .risk_factors
            .first()
            .map(|f| f.description.as_str())
            .unwrap_or("");
        out.push_str(&format!(
            "    {:>3}/100 {:<9} {:<28} {:>10}  {}\n",
            s.risk_score,
            s.risk_category.as_str(),
            truncate(&deal_title(deal), 28),
            fmt_money(deal.amount),
            first
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slack::blocks::kit_check::assert_valid_message;
    use crate::testkit::book;

    #[test]
    fn the_digest_of_200_deals_is_valid_and_lists_ten_with_and_n_more() {
        let b = book();
        let ranked = b.ranked();
        let v = digest_message(&b.metrics, &ranked, ListStanding::default());
        assert_valid_message(&v);
        let text = v.to_string();
        assert!(text.contains("and 190 more"), "{text}");
        assert!(!text.contains("Relative risk"), "no ranks given: {text}");
    }

    #[test]
    fn each_digest_deal_says_its_relative_risk_and_low_skill_is_said_once() {
        let b = book();
        let ranked = b.ranked();
        let ranks = crate::engine::PipelineRanks::from_scores(&b.scores, 0.45);
        let line = "Little signal <!channel> & co";
        let standing = ListStanding {
            ranks: Some(&ranks),
            skill_line: Some(line),
        };
        let v = digest_message(&b.metrics, &ranked, standing);
        assert_valid_message(&v);
        let blocks = v["blocks"].as_array().unwrap();
        let deal_texts: Vec<&str> = blocks
            .iter()
            .filter(|b| b["accessory"]["action_id"] == actions::VIEW_DEAL)
            .map(|b| b["text"]["text"].as_str().unwrap())
            .collect();
        assert_eq!(deal_texts.len(), 10);
        for ((_, s), text) in ranked.iter().zip(&deal_texts) {
            let want = format!("_Relative risk: {}_", ranks.of(s).sentence());
            assert!(text.contains(&want), "{text} lacks {want}");
        }
        let all = v.to_string();
        assert_eq!(all.matches("Little signal").count(), 1, "{all}");
        assert!(
            all.contains("Little signal &lt;!channel&gt; &amp; co"),
            "escaped: {all}"
        );
    }
}
