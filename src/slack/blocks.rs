//! Block Kit JSON for the critical-deal alert and the daily digest, plus plain-text
//! renderings of the same content for terminals and notification fallbacks.
use crate::domain::{Deal, DealScore, RiskCategory};
use crate::engine::PipelineMetrics;
use crate::engine::explain::fmt_money;
use serde_json::{Value, json};

/// Slack's limit for a section's text field; longer text is cut with an ellipsis.
const SECTION_TEXT_MAX: usize = 3000;

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max - 1).collect();
    format!("{cut}…")
}

fn deal_title(deal: &Deal) -> String {
    match (&deal.company, &deal.deal_name) {
        (Some(c), Some(n)) => format!("{c} — {n}"),
        (Some(c), None) => c.clone(),
        (None, Some(n)) => n.clone(),
        (None, None) => deal.deal_id.clone(),
    }
}

fn emoji(c: RiskCategory) -> &'static str {
    match c {
        RiskCategory::Critical => ":red_circle:",
        RiskCategory::High => ":large_orange_circle:",
        RiskCategory::Medium => ":large_yellow_circle:",
        RiskCategory::Low => ":large_green_circle:",
    }
}

/// The alert message: deal, amount, score with category, top factors, actions, and the
/// three buttons whose `action_id`s the interactivity handler dispatches on.
pub fn alert_message(deal: &Deal, score: &DealScore, deal_url: Option<&str>) -> Value {
    let title = deal_title(deal);
    let factors: Vec<String> = score
        .risk_factors
        .iter()
        .map(|f| format!("• {}", f.description))
        .collect();
    let actions: Vec<String> = score
        .recommendations
        .iter()
        .take(3)
        .map(|r| {
            format!(
                "• *{}* — {}",
                r.priority.as_str().replace('_', " "),
                r.action
            )
        })
        .collect();
    let mut view = json!({"type": "button", "action_id": "deal_view", "value": deal.deal_id,
                          "text": {"type": "plain_text", "text": "View deal"}});
    if let Some(url) = deal_url {
        view["url"] = json!(url);
    }
    let blocks = json!([
        {"type": "header", "text": {"type": "plain_text", "emoji": true,
            "text": truncate(&format!("{} {} risk: {}", if score.risk_category == RiskCategory::Critical {"🚨"} else {"⚠️"}, capitalise(score.risk_category.as_str()), title), 150)}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": format!("*Deal*\n{} ({})", truncate(&title, 1900), deal.deal_id)},
            {"type": "mrkdwn", "text": format!("*Amount*\n{}", fmt_money(deal.amount))},
            {"type": "mrkdwn", "text": format!("*Risk score*\n{} {}/100 ({})", emoji(score.risk_category), score.risk_score, score.risk_category.as_str())},
            {"type": "mrkdwn", "text": format!("*Win probability*\n{:.0}%", score.win_probability * 100.0)}
        ]},
        {"type": "section", "text": {"type": "mrkdwn", "text": truncate(&format!("*Top risk factors*\n{}", factors.join("\n")), SECTION_TEXT_MAX)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": truncate(&format!("*Recommended actions*\n{}", actions.join("\n")), SECTION_TEXT_MAX)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": context_line(score)}]},
        {"type": "actions", "block_id": format!("deal_actions:{}", deal.deal_id), "elements": [
            view,
            {"type": "button", "action_id": "deal_snooze", "value": deal.deal_id,
             "text": {"type": "plain_text", "text": "Snooze"}},
            {"type": "button", "action_id": "deal_false_alarm", "value": deal.deal_id, "style": "danger",
             "text": {"type": "plain_text", "text": "Mark false alarm"}}
        ]}
    ]);
    json!({
        "text": format!("{} risk: {} ({}) scored {}/100", capitalise(score.risk_category.as_str()), title, fmt_money(deal.amount), score.risk_score),
        "attachments": [{"color": score.risk_category.slack_color(), "blocks": blocks}]
    })
}

fn context_line(score: &DealScore) -> String {
    let mut s = format!(
        "Model {} · confidence {:.0}%",
        score.model_version,
        score.confidence * 100.0
    );
    if score.degraded {
        s.push_str(" · degraded: scored from segment win rates, no model loaded");
    }
    s
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
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

/// The daily digest as Block Kit: pipeline overview and the deals needing attention.
pub fn digest_message(m: &PipelineMetrics, top: &[(&Deal, &DealScore)]) -> Value {
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
        json!({"type": "divider"}),
    ];
    for (deal, s) in top.iter().take(10) {
        let first = s
            .risk_factors
            .first()
            .map(|f| f.description.as_str())
            .unwrap_or("");
        blocks.push(json!({"type": "section",
            "text": {"type": "mrkdwn", "text": truncate(&format!("{} *{}* {} — {}/100\n{}", emoji(s.risk_category), deal_title(deal), fmt_money(deal.amount), s.risk_score, first), SECTION_TEXT_MAX)},
            "accessory": {"type": "button", "action_id": "deal_view", "value": deal.deal_id, "text": {"type": "plain_text", "text": "View deal"}}}));
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
