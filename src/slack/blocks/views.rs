//! Block Kit messages answering `/deal-risk` besides the deal card: the pick list when several
//! deals match, top-N, pipeline summary, a rep's portfolio, help, and how an unmapped user links
//! their account. Rows arrive ranked by the caller.
use super::actions;
use super::kit::*;
use crate::domain::{Deal, DealScore, RiskCategory};
use crate::engine::PipelineMetrics;
use crate::engine::explain::fmt_money;
use crate::slack::SLASH_COMMAND;
use crate::slack::handlers::command::{CommandError, USAGE};
use serde_json::Value;

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

/// [`deal_title`] escaped for mrkdwn.
pub(crate) fn deal_title_md(deal: &Deal) -> String {
    escape(&deal_title(deal))
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
        truncate(&deal_title_md(deal), 200),
        fmt_money(deal.amount),
        s.risk_score,
        s.risk_category.as_str(),
        truncate(&escape(reason), 500)
    )
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
        escape(&truncate(query, 200))
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
            escape(&truncate(query, 200))
        ))],
    )
}

/// `/deal-risk top N`: the N riskiest of `ranked`.
pub fn top_deals(ranked: &[(&Deal, &DealScore)], n: usize) -> Value {
    let shown = &ranked[..n.min(ranked.len())];
    let mut blocks = vec![header(&format!("The {} riskiest open deals", shown.len()))];
    push_capped(
        &mut blocks,
        list_rows(shown, actions::VIEW_DEAL, "View deal"),
        MAX_LIST_ROWS,
    );
    message(&format!("The {} riskiest open deals", shown.len()), blocks)
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
        &format!(
            "{}: {} open deals, {at_risk} at risk",
            escape(rep),
            ranked.len()
        ),
        blocks,
    )
}

/// `/deal-risk help` (and empty text).
pub fn help() -> Value {
    message("How to use /deal-risk", vec![section(USAGE)])
}

/// A command the parser refused: what was wrong, then the full usage.
pub fn usage_error(e: &CommandError) -> Value {
    let msg = e.to_string();
    message(&msg, vec![section(&msg), context(USAGE)])
}

/// The answer to an unmapped user: what happened and the two ways to fix it.
pub fn how_to_link(slack_email: Option<&str>) -> Value {
    let why = match slack_email {
        Some(e) => format!(
            "I couldn't find a SkyGeni user with your Slack email *{}*, so I don't know which deals are yours.",
            escape(e)
        ),
        None => "I couldn't match your Slack account to a SkyGeni user (your Slack profile shows no email I can read).".to_string(),
    };
    let text = format!(
        "{why}\nTo link your account, run `{SLASH_COMMAND} link you@company.com` with the email you use in Salesforce, \
         or ask your SkyGeni admin to map your Slack user."
    );
    message(&text, vec![section(&text)])
}

#[cfg(test)]
#[path = "views_tests.rs"]
mod tests;
