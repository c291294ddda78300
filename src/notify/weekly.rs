//! The weekly CRO summary as email (HTML + text from `templates/email/weekly.*.hbs`, charts
//! inline as content-id images) and as a Slack Block Kit message (charts as image blocks
//! loaded from signed URLs). Same conventions as `notify::email`: strict handlebars, HTML
//! escaped, money as $45K / $3,443,466.
use super::charts::{Chart, rapv_vs_pipeline_png, risk_distribution_png, win_rate_trend_png};
use super::email::{DigestChart, EmailRenderer, chart_refs, email_color, money, money_short};
use crate::domain::RiskCategory;
use crate::service::weekly::{DealLine, WeeklySummary};
use crate::slack::blocks::kit::{MAX_SECTION_TEXT, truncate};
use chrono::{Duration, NaiveDate};
use serde::Serialize;
use serde_json::{Value, json};

/// A PNG shown inline in the email (`<img src="cid:…">`); the SendGrid client sends it as an
/// attachment with `disposition: inline` and this `content_id`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InlineImage {
    pub content_id: String,
    pub filename: String,
    pub mime_type: &'static str,
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

impl InlineImage {
    /// The bytes as standard base64, the form SendGrid's `attachments[].content` takes.
    pub fn base64(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&self.bytes)
    }

    /// As the outbox carries it to the email sender.
    pub fn attachment(&self) -> crate::notify::senders::InlineAttachment {
        crate::notify::senders::InlineAttachment {
            content_id: self.content_id.clone(),
            filename: self.filename.clone(),
            mime_type: self.mime_type.to_string(),
            base64: self.base64(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeeklyEmail {
    pub subject: String,
    pub html: String,
    pub text: String,
    pub inline_images: Vec<InlineImage>,
}

/// Where the summary links to.
pub struct WeeklyLinks<'a> {
    /// Link to one deal (the Salesforce record).
    pub deal_url: &'a dyn Fn(&str) -> String,
    pub slack_url: String,
    pub settings_url: String,
    /// This recipient's signed one-click unsubscribe page; `None` in previews.
    pub unsubscribe_url: Option<String>,
    /// `Some(prefix)`: images point at `prefix + file name` (a preview page beside the PNGs)
    /// instead of `cid:` content ids.
    pub image_prefix: Option<String>,
}

/// "Feb 23 – Feb 29, 2024": the seven days starting `start`.
pub fn week_label(start: NaiveDate) -> String {
    let end = start + Duration::days(6);
    format!("{} – {}", start.format("%b %-d"), end.format("%b %-d, %Y"))
}

/// The three charts of the summary, drawn from its own figures.
pub fn chart_pngs(s: &WeeklySummary) -> anyhow::Result<Vec<(Chart, Vec<u8>)>> {
    let weeks: Vec<_> = s
        .win_rate_trend
        .iter()
        .map(|w| (w.week_start, w.win_rate))
        .collect();
    Ok(vec![
        (Chart::RiskDistribution, risk_distribution_png(&s.metrics)?),
        (Chart::WinRateTrend, win_rate_trend_png(&weeks)?),
        (Chart::RapvVsPipeline, rapv_vs_pipeline_png(&s.metrics)?),
    ])
}

#[derive(Serialize)]
struct LineView {
    label: &'static str,
    color: &'static str,
    name: String,
    url: String,
    amount: f64,
    score: u8,
    previous: String,
}

#[derive(Serialize)]
struct LoopView {
    name: String,
    url: String,
    amount: f64,
    status: String,
    scores: String,
    actions: String,
    flags: String,
}

#[derive(Serialize)]
struct IssueView {
    label: String,
    deals: usize,
    amount: f64,
}

#[derive(Serialize)]
struct View {
    tenant_name: String,
    week_label: String,
    as_of_long: String,
    open_deals: usize,
    pipeline_value: f64,
    rapv: f64,
    optimism_gap: f64,
    optimism_gap_pct: String,
    rem: f64,
    win_rate_pct: String,
    win_rate_summary: String,
    at_risk_count: usize,
    at_risk_pct: String,
    recovery: f64,
    recovery_assumption: String,
    charts: Vec<DigestChart>,
    top_issues: Vec<IssueView>,
    changes_summary: String,
    /// Became critical, moved up, moved down: one list, each line labelled.
    change_lines: Vec<LineView>,
    loop_summary: String,
    loop_deals: Vec<LoopView>,
    model_status: String,
    slack_url: String,
    settings_url: String,
    unsubscribe_url: Option<String>,
}

/// "54% in the week of 2024-02-26 (…) vs 48% over the previous 11 weeks" (or why not).
pub fn win_rate_summary(s: &WeeklySummary) -> String {
    let Some((last, earlier)) = s.win_rate_trend.split_last() else {
        return "no weekly history".into();
    };
    let (won, n) = earlier
        .iter()
        .fold((0, 0), |(w, n), x| (w + x.won, n + x.won + x.lost));
    let before = if n == 0 {
        "no closes in the previous weeks".to_string()
    } else {
        format!(
            "{:.0}% over the previous {} weeks",
            won as f64 * 100.0 / n as f64,
            earlier.len()
        )
    };
    match last.win_rate {
        Some(r) => format!(
            "{:.0}% this week ({} won, {} lost) vs {before}",
            r * 100.0,
            last.won,
            last.lost
        ),
        None => format!("no deals closed this week; {before}"),
    }
}

pub fn changes_summary(s: &WeeklySummary) -> String {
    let c = &s.changes;
    match &c.compared_with {
        None => "no scores from a week ago yet, so no changes to show".into(),
        Some(at) => format!(
            "{} deals became critical, {} moved up and {} moved down by 10+ points since the scores of {}",
            c.became_critical_count,
            c.moved_up_count,
            c.moved_down_count,
            &at[..10.min(at.len())]
        ),
    }
}

pub fn loop_summary(s: &WeeklySummary) -> String {
    let l = &s.closing_the_loop;
    let who = match l.basis.as_str() {
        "critical" => format!("{} deals were critical a week ago", l.followed),
        "high" => format!(
            "No deal was critical a week ago; the {} highest-risk deals then",
            l.followed
        ),
        _ => {
            return if s.changes.compared_with.is_none() {
                "No scores from a week ago yet: next week this section follows up the deals flagged today.".into()
            } else {
                "No deals were at high or critical risk a week ago.".into()
            };
        }
    };
    let flagged = if l.basis == "critical" {
        "critical"
    } else {
        "high risk"
    };
    let actions = if l.actions_total == 0 {
        "No recommended action was pushed to Salesforce as a Task".to_string()
    } else {
        format!(
            "Recommended actions done: {} of {} Salesforce Tasks completed",
            l.actions_done, l.actions_total
        )
    };
    format!(
        "{who}: {} won, {} lost, {} still open ({} no longer {flagged}). {actions}. \
         {} snoozed, {} marked false alarm.",
        l.won, l.lost, l.still_open, l.improved, l.snoozed, l.false_alarms
    )
}

fn view(s: &WeeklySummary, links: &WeeklyLinks<'_>, charts: &[InlineImage]) -> View {
    let m = &s.metrics;
    let lines = |v: &[DealLine], label: &'static str, color: &'static str| -> Vec<LineView> {
        v.iter()
            .map(|l| LineView {
                label,
                color,
                name: l.name.clone(),
                url: (links.deal_url)(&l.deal_id),
                amount: l.amount,
                score: l.score,
                previous: l.previous_score.map_or("-".into(), |p| p.to_string()),
            })
            .collect()
    };
    View {
        tenant_name: s.tenant_name.clone(),
        week_label: week_label(s.week_start),
        as_of_long: super::email_data::long_date(s.as_of),
        open_deals: m.open_deals,
        pipeline_value: m.pipeline_value,
        rapv: m.rapv,
        optimism_gap: m.optimism_gap,
        optimism_gap_pct: format!("{:.1}", m.optimism_gap_pct),
        rem: m.rem,
        win_rate_pct: format!("{:.1}", m.win_rate * 100.0),
        win_rate_summary: win_rate_summary(s),
        at_risk_count: s.at_risk_deals,
        at_risk_pct: format!("{:.1}", s.at_risk_pct),
        recovery: m.recovery.potential_revenue,
        recovery_assumption: m.recovery.assumption.clone(),
        charts: chart_refs(charts, links.image_prefix.as_deref()),
        top_issues: s
            .top_issues
            .iter()
            .map(|i| IssueView {
                label: i.label.clone(),
                deals: i.deals,
                amount: i.amount,
            })
            .collect(),
        changes_summary: changes_summary(s),
        change_lines: [
            lines(
                &s.changes.became_critical,
                "▲ critical",
                email_color(RiskCategory::Critical),
            ),
            lines(&s.changes.moved_up, "▲ up", email_color(RiskCategory::High)),
            lines(
                &s.changes.moved_down,
                "▼ down",
                email_color(RiskCategory::Low),
            ),
        ]
        .into_iter()
        .flatten()
        .collect(),
        loop_summary: loop_summary(s),
        loop_deals: s
            .closing_the_loop
            .deals
            .iter()
            .map(|d| {
                let mut flags = Vec::new();
                if d.snoozed {
                    flags.push("snoozed");
                }
                if d.false_alarm {
                    flags.push("marked false alarm");
                }
                LoopView {
                    name: d.deal.name.clone(),
                    url: (links.deal_url)(&d.deal.deal_id),
                    amount: d.deal.amount,
                    status: match d.status.as_str() {
                        "won" => "Won",
                        "lost" => "Lost",
                        "open" => "Open",
                        _ => "Removed",
                    }
                    .into(),
                    scores: match d.current_score {
                        Some(now) => format!("{} → {now}", d.deal.score),
                        None => format!("{} → closed", d.deal.score),
                    },
                    actions: if d.actions_total == 0 {
                        "no Tasks".into()
                    } else {
                        format!("{} of {} Tasks done", d.actions_done, d.actions_total)
                    },
                    flags: if flags.is_empty() {
                        String::new()
                    } else {
                        format!("; {}", flags.join(", "))
                    },
                }
            })
            .collect(),
        model_status: s.model_health.status.clone(),
        slack_url: links.slack_url.clone(),
        settings_url: links.settings_url.clone(),
        unsubscribe_url: links.unsubscribe_url.clone(),
    }
}

/// The summary's three charts as inline images (drawn once, shared by every recipient).
pub fn inline_images(s: &WeeklySummary) -> anyhow::Result<Vec<InlineImage>> {
    Ok(chart_pngs(s)?
        .into_iter()
        .map(|(chart, bytes)| InlineImage {
            content_id: chart.as_str().to_string(),
            filename: format!("{}.png", chart.as_str()),
            mime_type: "image/png",
            bytes,
        })
        .collect())
}

/// Subject, HTML and text parts, and the charts as inline images.
pub fn render_email(s: &WeeklySummary, links: &WeeklyLinks<'_>) -> anyhow::Result<WeeklyEmail> {
    render_email_with(s, links, inline_images(s)?, &EmailRenderer::new()?)
}

/// As [`render_email`] with charts already drawn (one recipient of several).
pub fn render_email_with(
    s: &WeeklySummary,
    links: &WeeklyLinks<'_>,
    inline_images: Vec<InlineImage>,
    renderer: &EmailRenderer,
) -> anyhow::Result<WeeklyEmail> {
    let v = view(s, links, &inline_images);
    let subject = format!(
        "Weekly pipeline summary {}: {} pipeline, {} risk-adjusted, {} deals at high or critical risk",
        s.as_of,
        money_short(s.metrics.pipeline_value),
        money_short(s.metrics.rapv),
        s.at_risk_deals
    );
    let preheader = format!(
        "{} open deals, {} at high or critical risk ({:.0}%); RAPV gap {:.0}%. {}",
        s.metrics.open_deals,
        s.at_risk_deals,
        s.at_risk_pct,
        s.metrics.optimism_gap_pct,
        changes_summary(s)
    );
    let r = renderer.render("weekly", subject, "Weekly Pipeline Summary", &preheader, &v)?;
    Ok(WeeklyEmail {
        subject: r.subject,
        html: r.html,
        text: r.text,
        inline_images,
    })
}

fn deal_lines(title: &str, v: &[DealLine]) -> Option<Value> {
    if v.is_empty() {
        return None;
    }
    let body: Vec<String> = v
        .iter()
        .take(5)
        .map(|l| {
            format!(
                "• *{}* {} — {} → {}",
                crate::slack::blocks::kit::escape(&l.name),
                money_short(l.amount),
                l.previous_score.map_or("-".into(), |p| p.to_string()),
                l.score
            )
        })
        .collect();
    Some(json!({"type": "section", "text": {"type": "mrkdwn",
        "text": truncate(&format!("*{title}*\n{}", body.join("\n")), MAX_SECTION_TEXT)}}))
}

/// Whether Slack can fetch images under `public_url`: https to a host that is not loopback.
pub fn slack_can_fetch(public_url: &str) -> bool {
    let Some(rest) = public_url.strip_prefix("https://") else {
        return false;
    };
    let host = rest.split(['/', ':']).next().unwrap_or_default();
    !(host.is_empty() || host == "localhost" || host.starts_with("127.") || host == "[")
}

/// The summary as a Slack DM: figures, charts (image blocks from `chart_urls`), changes,
/// closing the loop, model health, and a button per critical deal.
pub fn slack_blocks(s: &WeeklySummary, chart_urls: &[(Chart, String)]) -> Value {
    let m = &s.metrics;
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&format!("Weekly pipeline summary — week of {}", s.week_start), 150)}}),
        json!({"type": "section", "fields": [
            {"type": "mrkdwn", "text": format!("*Pipeline*\n{} in {} open deals", money(m.pipeline_value), m.open_deals)},
            {"type": "mrkdwn", "text": format!("*Risk-adjusted (RAPV)*\n{} (gap {:.0}%)", money(m.rapv), m.optimism_gap_pct)},
            {"type": "mrkdwn", "text": format!("*Win rate*\n{:.1}%; {}", m.win_rate * 100.0, win_rate_summary(s))},
            {"type": "mrkdwn", "text": format!("*REM*\n{} per sales day", money(m.rem))},
            {"type": "mrkdwn", "text": format!("*High + critical*\n{} deals ({:.0}%)", s.at_risk_deals, s.at_risk_pct)},
            {"type": "mrkdwn", "text": format!("*Potential recovery*\n{}", money(m.recovery.potential_revenue))}
        ]}),
        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(&m.recovery.assumption, 2000)}]}),
    ];
    if chart_urls.is_empty() {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn",
            "text": "Charts: see the email version of this summary (Slack shows them only when SKYGENI_PUBLIC_URL is https)."}]}));
    }
    for (chart, url) in chart_urls {
        blocks.push(
            json!({"type": "image", "image_url": url, "alt_text": chart.title(),
            "title": {"type": "plain_text", "text": chart.title()}}),
        );
    }
    if !s.top_issues.is_empty() {
        let issues: Vec<String> = s
            .top_issues
            .iter()
            .map(|i| {
                format!(
                    "• {}: {} deals, {}",
                    crate::slack::blocks::kit::escape(&i.label),
                    i.deals,
                    money_short(i.amount)
                )
            })
            .collect();
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&format!("*Top issues*\n{}", issues.join("\n")), MAX_SECTION_TEXT)}}));
    }
    blocks.push(json!({"type": "divider"}));
    blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&format!("*What changed this week*\n{}", changes_summary(s)), MAX_SECTION_TEXT)}}));
    blocks.extend(deal_lines("Became critical", &s.changes.became_critical));
    blocks.extend(deal_lines("Moved up", &s.changes.moved_up));
    blocks.extend(deal_lines("Moved down", &s.changes.moved_down));
    blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&format!("*Closing the loop*\n{}", loop_summary(s)), MAX_SECTION_TEXT)}}));
    // One section per critical deal with the same "View deal" button as the digest (action ids
    // repeat across blocks, never within one, so the interaction handler stays the same).
    let mut seen = std::collections::HashSet::new();
    for l in s
        .changes
        .became_critical
        .iter()
        .chain(s.closing_the_loop.deals.iter().map(|d| &d.deal))
        .filter(|l| RiskCategory::from_score(l.score) == RiskCategory::Critical)
        .filter(|l| seen.insert(l.deal_id.clone()))
        .take(5)
    {
        blocks.push(json!({"type": "section",
            "text": {"type": "mrkdwn", "text": truncate(&format!("*{}* {}", crate::slack::blocks::kit::escape(&l.name), money_short(l.amount)), MAX_SECTION_TEXT)},
            "accessory": {"type": "button", "action_id": crate::slack::actions::VIEW_DEAL, "value": l.deal_id,
                "text": {"type": "plain_text", "text": "View deal"}}}));
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(&format!("Model health: {}", s.model_health.status), 2000)}]}));
    json!({
        "text": format!("Weekly pipeline summary: {} pipeline, {} risk-adjusted, {} deals at high or critical risk",
            money_short(m.pipeline_value), money_short(m.rapv), s.at_risk_deals),
        "blocks": blocks,
    })
}
