//! Block Kit messages answering `/deal-risk`: the deal card, the pick list when several deals
//! match, top-N, pipeline summary and a rep's portfolio. Rows arrive ranked by the caller.
use super::actions;
use super::kit::*;
use crate::domain::{Deal, DealScore, RiskCategory};
use crate::engine::PipelineMetrics;
use crate::engine::explain::fmt_money;
use serde_json::{Value, json};

/// List rows per message: 50 blocks minus header, summary and the "and N more" line.
const MAX_LIST_ROWS: usize = 45;

pub(crate) fn deal_title(deal: &Deal) -> String {
    match (&deal.company, &deal.deal_name) {
        (Some(c), Some(n)) => format!("{c} — {n}"),
        (Some(c), None) => c.clone(),
        (None, Some(n)) => n.clone(),
        (None, None) => deal.deal_id.clone(),
    }
}

pub(crate) fn emoji(c: RiskCategory) -> &'static str {
    match c {
        RiskCategory::Critical => ":red_circle:",
        RiskCategory::High => ":large_orange_circle:",
        RiskCategory::Medium => ":large_yellow_circle:",
        RiskCategory::Low => ":large_green_circle:",
    }
}

pub(crate) fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// One line per deal in lists: dot, name, amount, score and the main reason.
pub(crate) fn deal_line(deal: &Deal, s: &DealScore) -> String {
    let reason = s
        .risk_factors
        .first()
        .map(|f| f.description.as_str())
        .unwrap_or("");
    format!(
        "{} *{}* · {} · {}/100 ({})\n{}",
        emoji(s.risk_category),
        truncate(&deal_title(deal), 200),
        fmt_money(deal.amount),
        s.risk_score,
        s.risk_category.as_str(),
        truncate(reason, 500)
    )
}

/// Where a card is shown. An alert arrives in a private DM with the design's three buttons
/// (View deal, Snooze, Mark false alarm); a looked-up card also offers Share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardKind {
    Lookup,
    Alert,
}

/// The card body, shared by `/deal-risk <deal>` and the alert.
pub fn deal_card_blocks(
    deal: &Deal,
    s: &DealScore,
    deal_url: Option<&str>,
    kind: CardKind,
) -> Vec<Value> {
    let title = deal_title(deal);
    let factors: Vec<String> = s
        .risk_factors
        .iter()
        .take(3)
        .map(|f| format!("• {} ({:+.1} pp)", f.description, f.impact_pp))
        .collect();
    let recs: Vec<String> = s
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
    let mut blocks = vec![
        header(&format!(
            "{} {} risk: {title}",
            emoji(s.risk_category),
            capitalise(s.risk_category.as_str())
        )),
        fields(&[
            format!(
                "*Deal*\n{} ({})",
                truncate(&title, 1000),
                truncate(&deal.deal_id, 500)
            ),
            format!("*Amount*\n{}", fmt_money(deal.amount)),
            format!(
                "*Risk score*\n{}/100 ({})",
                s.risk_score,
                s.risk_category.as_str()
            ),
            format!("*Win probability*\n{:.0}%", s.win_probability * 100.0),
            format!("*Stage*\n{}", deal.deal_stage),
            format!(
                "*Owner*\n{}",
                deal.owner_email.as_deref().unwrap_or(&deal.sales_rep_id)
            ),
        ]),
        section(&format!("*Top risk factors*\n{}", factors.join("\n"))),
        section(&format!("*Recommended actions*\n{}", recs.join("\n"))),
    ];
    if !s.similar_deals.is_empty() {
        let similar: Vec<String> = s
            .similar_deals
            .iter()
            .take(3)
            .map(|w| {
                let cycle = w
                    .sales_cycle_days
                    .map(|d| format!(", won in {d} days"))
                    .unwrap_or_default();
                format!(
                    "• {} — {}, {}{cycle}",
                    w.deal_id,
                    w.industry,
                    fmt_money(w.amount)
                )
            })
            .collect();
        blocks.push(section(&format!(
            "*Similar won deals*\n{}",
            similar.join("\n")
        )));
    }
    let mut ctx = format!(
        "Model {} · confidence {:.0}%",
        s.model_version,
        s.confidence * 100.0
    );
    if s.degraded {
        ctx.push_str(" · degraded: scored from segment win rates, no model loaded");
    }
    blocks.push(context(&ctx));
    let mut view = button("View deal", actions::VIEW_DEAL, &deal.deal_id);
    if let Some(url) = deal_url.filter(|u| u.len() <= 3000) {
        view["url"] = json!(url);
    }
    let mut buttons = vec![
        styled(view, "primary"),
        button("Snooze", actions::SNOOZE, &deal.deal_id),
        styled(
            button("Mark false alarm", actions::FALSE_ALARM, &deal.deal_id),
            "danger",
        ),
    ];
    if kind == CardKind::Lookup {
        buttons.push(button("Share", actions::SHARE, &deal.deal_id));
    }
    blocks.push(super::kit::actions(
        &format!("deal_actions:{}", deal.deal_id),
        buttons,
    ));
    blocks
}

/// `/deal-risk <deal>`: the card in an attachment, whose side bar shows the category colour.
pub fn deal_card(deal: &Deal, s: &DealScore, deal_url: Option<&str>) -> Value {
    json!({
        "text": truncate(&format!("{} risk: {} ({}) scored {}/100", capitalise(s.risk_category.as_str()),
            deal_title(deal), fmt_money(deal.amount), s.risk_score), MAX_SECTION_TEXT),
        "attachments": [{"color": s.risk_category.slack_color(), "blocks": deal_card_blocks(deal, s, deal_url, CardKind::Lookup)}]
    })
}

fn list_rows(rows: &[(&Deal, &DealScore)], action_id: &str, label: &str) -> Vec<Value> {
    rows.iter()
        .map(|(d, s)| section_with_button(&deal_line(d, s), button(label, action_id, &d.deal_id)))
        .collect()
}

/// Several deals matched: one row each with a "Show" button ([`actions::PICK_DEAL`]).
pub fn pick_list(query: &str, matches: &[(&Deal, &DealScore)]) -> Value {
    let mut blocks = vec![section(&format!(
        "{} deals match “{}”. Which one?",
        matches.len(),
        truncate(query, 200)
    ))];
    push_capped(
        &mut blocks,
        list_rows(matches, actions::PICK_DEAL, "Show"),
        MAX_LIST_ROWS,
    );
    message(
        &format!("{} deals match your search", matches.len()),
        blocks,
    )
}

/// Nothing matched: say so and how to search.
pub fn no_match(query: &str) -> Value {
    message(
        "No deal found",
        vec![section(&format!(
            "No open deal matches “{}”. Try a company name, a deal name or a deal id.",
            truncate(query, 200)
        ))],
    )
}

/// `/deal-risk top N`: the N riskiest of `ranked`.
pub fn top_deals(ranked: &[(&Deal, &DealScore)], n: usize) -> Value {
    let shown = &ranked[..n.min(ranked.len())];
    let mut blocks = vec![header(&format!("Top {} deals at risk", shown.len()))];
    push_capped(
        &mut blocks,
        list_rows(shown, actions::VIEW_DEAL, "View deal"),
        MAX_LIST_ROWS,
    );
    message(&format!("Top {} deals at risk", shown.len()), blocks)
}

/// `/deal-risk pipeline`: value, RAPV, REM, risk distribution and trend.
pub fn pipeline_summary(m: &PipelineMetrics) -> Value {
    let mut blocks = vec![
        header(&format!("Pipeline as of {}", m.as_of)),
        fields(&metric_fields(m)),
        section(&distribution_text(m)),
    ];
    if let Some(t) = &m.trend {
        blocks.push(context(&format!(
            "Last 7 days: RAPV change {}, {} deals became high/critical, {} left",
            fmt_money(t.rapv_delta),
            t.became_high_or_critical,
            t.left_high_or_critical
        )));
    }
    blocks.push(context(&format!(
        "Potential recovery {} — {}",
        fmt_money(m.recovery.potential_revenue),
        m.recovery.assumption
    )));
    message(
        &format!(
            "Pipeline: {} in {} open deals, RAPV {}",
            fmt_money(m.pipeline_value),
            m.open_deals,
            fmt_money(m.rapv)
        ),
        blocks,
    )
}

pub(crate) fn metric_fields(m: &PipelineMetrics) -> Vec<String> {
    vec![
        format!(
            "*Pipeline*\n{} in {} open deals",
            fmt_money(m.pipeline_value),
            m.open_deals
        ),
        format!("*Risk-adjusted (RAPV)*\n{}", fmt_money(m.rapv)),
        format!(
            "*Optimism gap*\n{} ({:.0}%)",
            fmt_money(m.optimism_gap),
            m.optimism_gap_pct
        ),
        format!("*Revenue efficiency (REM)*\n{}/day", fmt_money(m.rem)),
        format!("*Win rate*\n{:.0}%", m.win_rate * 100.0),
        format!(
            "*Avg cycle · deal size*\n{:.0} days · {}",
            m.avg_cycle_days,
            fmt_money(m.avg_deal_size)
        ),
    ]
}

pub(crate) fn distribution_text(m: &PipelineMetrics) -> String {
    let lines: Vec<String> = m
        .risk_distribution
        .iter()
        .rev()
        .map(|b| {
            format!(
                "{} {}: {} deals, {}",
                emoji(b.category),
                capitalise(b.category.as_str()),
                b.deals,
                fmt_money(b.amount)
            )
        })
        .collect();
    format!("*Risk distribution*\n{}", lines.join("\n"))
}

/// `/deal-risk rep @someone`: the rep's open deals, riskiest first, with a summary line.
pub fn rep_portfolio(rep: &str, ranked: &[(&Deal, &DealScore)]) -> Value {
    let value: f64 = ranked.iter().map(|(d, _)| d.amount).sum();
    let at_risk = ranked
        .iter()
        .filter(|(_, s)| s.risk_category.is_at_risk())
        .count();
    let mut blocks = vec![
        header(&format!("Portfolio: {rep}")),
        section(&format!(
            "{} open deals · {} · {at_risk} at high or critical risk",
            ranked.len(),
            fmt_money(value)
        )),
    ];
    push_capped(
        &mut blocks,
        list_rows(ranked, actions::VIEW_DEAL, "View deal"),
        MAX_LIST_ROWS,
    );
    message(
        &format!("{rep}: {} open deals, {at_risk} at risk", ranked.len()),
        blocks,
    )
}

#[cfg(test)]
#[path = "views_tests.rs"]
mod tests;
