//! What the alert and digest emails show, in the design's formats ("CRITICAL DEAL ALERT",
//! "Daily Pipeline Health Report"), built from scores and pipeline metrics. The templates in
//! `templates/email/` only lay these values out; every CRM string stays text (escaped there).
use crate::domain::{Deal, DealScore, RiskCategory};
use crate::engine::PipelineMetrics;
use crate::engine::segments::SegmentStats;
use serde::Serialize;

/// Deals listed under "Deals Needing Attention" (the design's "Top 5").
pub const DIGEST_TOP: usize = 5;

/// Category colours for email text and badges: each passes WCAG AA (≥ 4.5:1) as text on
/// white and as white text on it (Slack's own colours, e.g. orange at 2.3:1, do not).
pub fn email_color(c: RiskCategory) -> &'static str {
    match c {
        RiskCategory::Critical => "#B3123F",
        RiskCategory::High => "#A14A00",
        RiskCategory::Medium => "#7A5B00",
        RiskCategory::Low => "#1E7145",
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ActionLine {
    pub priority: String,
    pub action: String,
}

/// Everything the critical-alert email shows.
#[derive(Debug, Clone, Serialize)]
pub struct AlertEmail {
    pub recipient_name: String,
    pub deal_name: String,
    pub amount: f64,
    pub risk_score: u8,
    /// "Critical" (title case, for sentences) and "CRITICAL" (the design's score line).
    pub category_title: String,
    pub category_upper: String,
    pub color: String,
    pub win_probability_pct: u32,
    pub factors: Vec<String>,
    pub actions: Vec<ActionLine>,
    pub deal_url: String,
    /// Snooze and false alarm are answered in Slack (the alert DM's buttons): email links there.
    pub slack_url: String,
    pub settings_url: String,
    pub model_version: String,
    pub degraded: bool,
}

impl AlertEmail {
    /// "CRITICAL DEAL ALERT", or "HIGH RISK DEAL ALERT" for a preview of a non-critical deal.
    pub fn title(&self) -> String {
        if self.category_upper == "CRITICAL" {
            "CRITICAL DEAL ALERT".into()
        } else {
            format!("{} RISK DEAL ALERT", self.category_upper)
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DigestDeal {
    pub rank: usize,
    pub name: String,
    pub amount: f64,
    pub score: u8,
    pub category: String,
    pub color: String,
    pub top_factor: String,
    pub url: String,
    /// "riskier than 92 % of your open deals; …" (empty when not computed).
    pub relative: String,
}

/// One inline chart: `src` is `cid:<content id>` in a sent email, a file name in the demo.
#[derive(Debug, Clone, Serialize)]
pub struct DigestChart {
    pub content_id: String,
    pub src: String,
    pub alt: String,
}

/// "2.1 pp (Inbound vs Partner)": the spread between the best- and worst-converting lead
/// sources with enough closed deals to trust (segments on the overall rate are left out).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeadSourceGap {
    pub gap_pp: f64,
    pub best: String,
    pub best_rate_pct: f64,
    pub worst: String,
    pub worst_rate_pct: f64,
}

pub fn lead_source_gap(stats: &SegmentStats) -> Option<LeadSourceGap> {
    let trusted: Vec<(&String, f64)> = stats
        .lead_source
        .iter()
        .filter(|(_, s)| !s.uses_overall)
        .map(|(k, s)| (k, s.win_rate))
        .collect();
    let best = trusted.iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
    let worst = trusted.iter().min_by(|a, b| a.1.total_cmp(&b.1))?;
    (best.0 != worst.0).then(|| LeadSourceGap {
        gap_pp: (best.1 - worst.1) * 100.0,
        best: best.0.clone(),
        best_rate_pct: best.1 * 100.0,
        worst: worst.0.clone(),
        worst_rate_pct: worst.1 * 100.0,
    })
}

/// Everything the manager's "Daily Pipeline Health Report" shows.
#[derive(Debug, Clone, Serialize)]
pub struct DigestEmail {
    pub recipient_name: String,
    /// ISO date (subject) and the design's "Tuesday, February 11, 2026".
    pub date: String,
    pub date_long: String,
    pub open_deals: usize,
    pub pipeline_value: f64,
    pub rapv: f64,
    pub optimism_gap: f64,
    pub optimism_gap_pct: String,
    pub at_risk_count: usize,
    pub at_risk_pct: String,
    pub recovery: f64,
    pub recovery_assumption: String,
    /// Average risk change and category moves over 7 days (or why there is none yet).
    pub trend: String,
    /// "2.1 pp (Inbound vs Partner: 46.8% vs 44.7%)", or why there is none.
    pub lead_source_gap: String,
    pub avg_cycle_days: String,
    pub deals: Vec<DigestDeal>,
    /// High/critical deals beyond the ones listed.
    pub more_deals: usize,
    /// The full view (Slack App Home: every deal, filters, settings).
    pub full_view_url: String,
    pub slack_url: String,
    pub settings_url: String,
    /// One-click unsubscribe page for this recipient (signed link); `None` in previews.
    pub unsubscribe_url: Option<String>,
    /// Charts shown inline (`cid:` images sent as inline attachments); empty = none.
    pub charts: Vec<DigestChart>,
    /// The model's low-skill line when its measured skill is low.
    pub skill_line: Option<String>,
}

/// "Tuesday, February 11, 2026", the design's date line.
pub fn long_date(d: chrono::NaiveDate) -> String {
    d.format("%A, %B %-d, %Y").to_string()
}

/// Where the digest's links point.
pub struct DigestLinks<'a> {
    pub deal_url: &'a dyn Fn(&str) -> String,
    pub full_view_url: String,
    pub slack_url: String,
    pub settings_url: String,
    pub unsubscribe_url: Option<String>,
}

impl DigestEmail {
    /// The digest for `recipient_name` from pipeline metrics, the tenant's segment stats and
    /// the deals needing attention (highest risk first; the first [`DIGEST_TOP`] are listed).
    pub fn from_pipeline(
        recipient_name: &str,
        m: &PipelineMetrics,
        stats: &SegmentStats,
        top: &[(&Deal, &DealScore)],
        links: &DigestLinks<'_>,
    ) -> DigestEmail {
        let at_risk: usize = m
            .risk_distribution
            .iter()
            .filter(|b| b.category.is_at_risk())
            .map(|b| b.deals)
            .sum();
        let pct = |n: usize| {
            if m.open_deals == 0 {
                0.0
            } else {
                n as f64 * 100.0 / m.open_deals as f64
            }
        };
        let trend = match &m.trend {
            Some(t) => format!(
                "average risk {:+.1} points; {} deals became high/critical, {} left",
                t.avg_risk_score_delta, t.became_high_or_critical, t.left_high_or_critical
            ),
            None => "no scores from a week ago yet".to_string(),
        };
        let gap = match lead_source_gap(stats) {
            Some(g) => format!(
                "{:.1} pp ({} vs {}: {:.1}% vs {:.1}%)",
                g.gap_pp, g.best, g.worst, g.best_rate_pct, g.worst_rate_pct
            ),
            None => "not enough closed deals per lead source yet".into(),
        };
        let listed: Vec<DigestDeal> = top
            .iter()
            .take(DIGEST_TOP)
            .enumerate()
            .map(|(i, (d, s))| DigestDeal {
                rank: i + 1,
                name: d
                    .company
                    .clone()
                    .or_else(|| d.deal_name.clone())
                    .unwrap_or_else(|| d.deal_id.clone()),
                amount: d.amount,
                score: s.risk_score,
                category: s.risk_category.as_str().to_string(),
                color: email_color(s.risk_category).to_string(),
                top_factor: s
                    .risk_factors
                    .first()
                    .map(|f| f.description.clone())
                    .unwrap_or_default(),
                url: (links.deal_url)(&d.deal_id),
                relative: String::new(),
            })
            .collect();
        DigestEmail {
            recipient_name: recipient_name.to_string(),
            date: m.as_of.to_string(),
            date_long: long_date(m.as_of),
            open_deals: m.open_deals,
            pipeline_value: m.pipeline_value,
            rapv: m.rapv,
            optimism_gap: m.optimism_gap,
            optimism_gap_pct: format!("{:.1}", m.optimism_gap_pct),
            at_risk_count: at_risk,
            at_risk_pct: format!("{:.1}", pct(at_risk)),
            recovery: m.recovery.potential_revenue,
            recovery_assumption: m.recovery.assumption.clone(),
            trend,
            lead_source_gap: gap,
            avg_cycle_days: if m.avg_cycle_days > 0.0 {
                format!("{:.0} days (closed deals)", m.avg_cycle_days)
            } else {
                "no closed deals yet".into()
            },
            more_deals: at_risk.saturating_sub(listed.len()),
            deals: listed,
            full_view_url: links.full_view_url.clone(),
            slack_url: links.slack_url.clone(),
            settings_url: links.settings_url.clone(),
            unsubscribe_url: links.unsubscribe_url.clone(),
            charts: Vec::new(),
            skill_line: None,
        }
    }
}

/// The `<img>` references for inline images: `cid:` in email, or `prefix` + file name for a
/// preview page that has the PNGs next to it (the demo).
pub fn chart_refs(
    images: &[crate::notify::weekly::InlineImage],
    file_prefix: Option<&str>,
) -> Vec<DigestChart> {
    images
        .iter()
        .map(|i| DigestChart {
            content_id: i.content_id.clone(),
            src: match file_prefix {
                Some(p) => format!("{p}{}", i.filename),
                None => format!("cid:{}", i.content_id),
            },
            alt: crate::notify::charts::Chart::parse(&i.content_id)
                .map_or_else(|| i.content_id.replace('-', " "), |c| c.title().into()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testdata::closed_deal;

    #[test]
    fn the_lead_source_gap_compares_the_best_and_worst_trusted_sources() {
        let mut deals = Vec::new();
        for i in 0..40 {
            // Inbound wins 3 of 4, Partner 1 of 4; Referral has too few deals to count.
            deals.push(closed_deal(
                &format!("I{i}"),
                "SaaS",
                "Inbound",
                1e4,
                30,
                i % 4 != 0,
            ));
            deals.push(closed_deal(
                &format!("P{i}"),
                "SaaS",
                "Partner",
                1e4,
                30,
                i % 4 == 0,
            ));
        }
        deals.push(closed_deal("R1", "SaaS", "Referral", 1e4, 30, true));
        let g = lead_source_gap(&SegmentStats::from_closed(&deals, 10)).unwrap();
        assert_eq!((g.best.as_str(), g.worst.as_str()), ("Inbound", "Partner"));
        assert!((g.gap_pp - 50.0).abs() < 1e-9, "{g:?}");
        let one_source: Vec<_> = deals
            .iter()
            .filter(|d| d.lead_source == "Inbound")
            .cloned()
            .collect();
        assert_eq!(
            lead_source_gap(&SegmentStats::from_closed(&one_source, 10)),
            None
        );
    }
}
