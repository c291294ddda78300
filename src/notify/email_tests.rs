//! Tests of the alert and digest emails: the design's formats, escaping of CRM text, and the
//! client-proof HTML rules (`email_lint`), contrast included.
use super::*;
use crate::notify::email_lint::lint;

fn alert() -> AlertEmail {
    AlertEmail {
        recipient_name: "Priya".into(),
        deal_name: "Acme Corp".into(),
        amount: 45_000.0,
        risk_score: 82,
        category_title: "Critical".into(),
        category_upper: "CRITICAL".into(),
        color: email_color(crate::domain::RiskCategory::Critical).into(),
        win_probability_pct: 18,
        factors: vec![
            "Partner lead source (low conversion)".into(),
            "Stuck in Qualified for 45 days".into(),
            "EdTech industry (below-average win rate)".into(),
        ],
        actions: vec![
            ActionLine {
                priority: "immediate".into(),
                action: "Schedule exec sponsor call within 24 hours".into(),
            },
            ActionLine {
                priority: "this_week".into(),
                action: "Provide ROI calculator + case studies".into(),
            },
        ],
        deal_url: "https://example.my.salesforce.com/lightning/r/Opportunity/006A/view".into(),
        slack_url: "https://slack.com/app_redirect?app=A1".into(),
        settings_url: "https://slack.com/app_redirect?app=A1&tab=home".into(),
        model_version: "logistic-20240229".into(),
        degraded: false,
    }
}

fn digest(names: &[&str]) -> DigestEmail {
    DigestEmail {
        recipient_name: "Sam".into(),
        date: "2026-02-11".into(),
        date_long: "Tuesday, February 11, 2026".into(),
        open_deals: 1000,
        pipeline_value: 5_000_000.0,
        rapv: 1_935_000.0,
        optimism_gap: 3_065_000.0,
        optimism_gap_pct: "61.3".into(),
        at_risk_count: 658,
        at_risk_pct: "65.8".into(),
        recovery: 3_443_466.0,
        recovery_assumption:
            "Assumes 20% of the loss-weighted value of high and critical deals can be saved".into(),
        trend: "average risk +1.2 points".into(),
        lead_source_gap: "2.1 pp (Inbound vs Partner: 46.8% vs 44.7%)".into(),
        avg_cycle_days: "64 days (closed deals)".into(),
        deals: names
            .iter()
            .enumerate()
            .map(|(i, n)| DigestDeal {
                rank: i + 1,
                name: (*n).into(),
                amount: 45_000.0 - i as f64 * 1000.0,
                score: 82 - i as u8,
                category: "critical".into(),
                color: email_color(crate::domain::RiskCategory::Critical).into(),
                top_factor: "Partner leads win 2.1 pp less than Inbound".into(),
                url: format!("https://example.my.salesforce.com/lightning/r/Opportunity/{i}/view"),
                relative: format!(
                    "riskier than {} % of your open deals; {} pp above your usual loss rate",
                    99 - i,
                    20 - i
                ),
            })
            .collect(),
        more_deals: 653,
        full_view_url: "https://slack.com/app_redirect?app=A1&tab=home".into(),
        slack_url: "https://slack.com/app_redirect?app=A1".into(),
        settings_url: "https://slack.com/app_redirect?app=A1&tab=home".into(),
        unsubscribe_url: Some("https://bot.example.com/unsubscribe/abc.def".into()),
        charts: vec![DigestChart {
            content_id: "risk-distribution".into(),
            src: "cid:risk-distribution".into(),
            alt: "Open deals by risk category".into(),
        }],
        skill_line: Some(crate::engine::LOW_SKILL_LINE.into()),
    }
}

#[test]
fn amounts_are_formatted_like_45k_and_3_443_466() {
    for (v, short, long) in [
        (45_000.0, "$45K", "$45,000"),
        (3_443_466.0, "$3.4M", "$3,443,466"),
        (950.0, "$950", "$950"),
        (12_500_000.0, "$13M", "$12,500,000"),
        (1_000_000.0, "$1M", "$1,000,000"),
    ] {
        assert_eq!(money_short(v), short, "{v}");
        assert_eq!(money(v), long, "{v}");
    }
}

#[test]
fn the_alert_email_reads_as_the_designs_critical_deal_alert() {
    let r = EmailRenderer::new().unwrap().alert(&alert()).unwrap();
    assert_eq!(r.subject, "URGENT: High-risk deal - Acme Corp ($45K)");
    // The plain-text part is the design's format line for line.
    let lines: Vec<&str> = r.text.lines().collect();
    let at = |l: &str| {
        lines
            .iter()
            .position(|x| *x == l)
            .unwrap_or_else(|| panic!("no line {l:?} in:\n{}", r.text))
    };
    let order = [
        at("CRITICAL DEAL ALERT"),
        at("Deal: Acme Corp - $45K"),
        at("Risk Score: 82/100 (CRITICAL)"),
        at("Top Risk Factors:"),
        at("- Partner lead source (low conversion)"),
        at("Recommended Actions:"),
        at("- Schedule exec sponsor call within 24 hours (immediate)"),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert!(
        r.text
            .contains("[View Deal] https://example.my.salesforce.com/")
    );
    assert!(
        r.text
            .contains("[Snooze Alert] [Mark False Alarm] in Slack: https://slack.com/")
    );
    // The HTML has the same parts, and the three buttons are links.
    for want in [
        ">CRITICAL DEAL ALERT</td>",
        "<strong>Deal:</strong> <a href=\"https://example.my.salesforce.com/lightning/r/Opportunity/006A/view\"",
        ">Acme Corp</a> - $45K",
        "<strong>Risk Score:</strong>",
        ">82/100 (CRITICAL)</span>",
        ">Top Risk Factors:</td>",
        ">Recommended Actions:</td>",
    ] {
        assert!(r.html.contains(want), "missing {want:?} in:\n{}", r.html);
    }
    for button in ["View Deal", "Snooze Alert", "Mark False Alarm"] {
        let end = r
            .html
            .find(&format!(">{button}</a>"))
            .unwrap_or_else(|| panic!("{button}"));
        let open = r.html[..end].rfind("<a href=\"https://").unwrap();
        assert!(
            !r.html[open..end].contains("</a>"),
            "{button} is its own link"
        );
    }
    assert!(
        r.html.contains("82/100 risk (critical)"),
        "preheader: {}",
        &r.html[..1200]
    );
    assert_eq!(lint(&r.html), Vec::<String>::new());
}

#[test]
fn a_preview_of_a_high_deal_is_not_called_critical() {
    let mut a = alert();
    a.category_upper = "HIGH".into();
    a.category_title = "High".into();
    let r = EmailRenderer::new().unwrap().alert(&a).unwrap();
    assert!(r.text.starts_with("HIGH RISK DEAL ALERT\n"), "{}", r.text);
    assert!(!r.html.contains("CRITICAL"));
}

#[test]
fn the_digest_reads_as_the_designs_daily_pipeline_health_report() {
    let names = ["Acme Corp", "Beta Inc", "Gamma", "Delta", "Epsilon"];
    let r = EmailRenderer::new()
        .unwrap()
        .digest(&digest(&names))
        .unwrap();
    let want_text = [
        "Daily Pipeline Health Report",
        "Tuesday, February 11, 2026",
        "Pipeline Overview",
        "- Scored Deals: 1000 (latest batch)",
        "- High/Critical Risk: 658 (65.8%)",
        "- Potential Revenue Recovery: $3,443,466 *",
        "- RAPV Gap: 61.3% (risk-adjusted $1,935,000 of $5,000,000 pipeline)",
        "* Assumes 20% of the loss-weighted value",
        "Deals Needing Attention (Top 5)",
        "1. Acme Corp  $45K  82/100 risk",
        "2. Beta Inc  $44K  81/100 risk",
        "and 653 more high/critical deals",
        "Trends This Week",
        "- Lead source win-rate gap: 2.1 pp (Inbound vs Partner: 46.8% vs 44.7%)",
        "- Average deal cycle: 64 days (closed deals)",
        "View Full Pipeline: https://slack.com/app_redirect?app=A1&tab=home",
        "Unsubscribe from the daily digest: https://bot.example.com/unsubscribe/abc.def",
    ];
    let mut from = 0;
    for w in want_text {
        let at = r.text[from..]
            .find(w)
            .unwrap_or_else(|| panic!("{w:?} missing (or out of order) in:\n{}", r.text));
        from += at;
    }
    for want in [
        ">Daily Pipeline Health Report</div>",
        ">Tuesday, February 11, 2026</div>",
        "<strong>RAPV Gap:</strong> 61.3%",
        ">Deals Needing Attention (Top 5)</td>",
        ">Trends This Week</td>",
        ">View Full Pipeline</a>",
        "src=\"cid:risk-distribution\"",
        "href=\"https://bot.example.com/unsubscribe/abc.def\"",
    ] {
        assert!(r.html.contains(want), "missing {want:?} in:\n{}", r.html);
    }
    assert_eq!(
        r.subject,
        "Daily Pipeline Health Report 2026-02-11: 658 deals at high or critical risk"
    );
    assert_eq!(lint(&r.html), Vec::<String>::new());
}

#[test]
fn the_digest_shows_relative_risk_per_deal_and_the_low_skill_line_only_when_low() {
    let renderer = EmailRenderer::new().unwrap();
    let mut d = digest(&["Acme Corp", "Beta Inc"]);
    let r = renderer.digest(&d).unwrap();
    let line = crate::engine::LOW_SKILL_LINE;
    for part in [&r.text, &r.html] {
        assert!(part.contains(line), "{part}");
        for listed in &d.deals {
            assert!(
                part.contains(&format!("Relative risk: {}", listed.relative)),
                "{part}"
            );
        }
    }
    d.skill_line = None;
    let r = renderer.digest(&d).unwrap();
    assert!(!r.text.contains(line) && !r.html.contains(line));
}

#[test]
fn crm_markup_stays_text_in_every_email() {
    let evil = [
        "<script>alert(1)</script>",
        "<a href=\"https://evil.example\">win</a>",
        "<img src=x onerror=alert(1)>",
    ];
    let renderer = EmailRenderer::new().unwrap();
    let mut a = alert();
    a.deal_name = evil.concat();
    a.factors = vec![evil[1].into()];
    a.recipient_name = evil[2].into();
    let mut d = digest(&evil);
    d.recipient_name = evil[0].into();
    for r in [renderer.alert(&a).unwrap(), renderer.digest(&d).unwrap()] {
        for raw in ["<script", "<a href=\"https://evil.example\"", "<img src=x"] {
            assert!(!r.html.contains(raw), "{raw} reached the HTML:\n{}", r.html);
        }
        assert!(r.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(
            r.text.contains("<script>alert(1)</script>"),
            "plain text is verbatim"
        );
        assert_eq!(lint(&r.html), Vec::<String>::new());
    }
}

#[test]
fn no_template_lets_markup_through_with_triple_braces() {
    for (name, html, _) in TEMPLATES {
        assert!(!html.contains("{{{") && !html.contains("{{&"), "{name}");
    }
    for (name, p) in PARTIALS {
        assert!(!p.contains("{{{") && !p.contains("{{&"), "{name}");
    }
}

#[test]
fn a_missing_value_is_an_error_not_an_empty_hole() {
    let hb = EmailRenderer::new().unwrap();
    let err = hb
        .render(
            "alert",
            "s".into(),
            "t",
            "p",
            &serde_json::json!({"recipient_name": "x"}),
        )
        .unwrap_err();
    assert!(err.to_string().contains("alert"), "{err}");
}

#[test]
fn from_pipeline_lists_the_top_five_and_counts_the_rest() {
    use crate::domain::{Deal, DealScore, RiskCategory};
    use crate::engine::testdata::closed_deal;
    let history: Vec<Deal> = (0..60)
        .map(|i| {
            // Inbound wins 2 in 3, Partner 1 in 5.
            let (source, won) = if i % 2 == 0 {
                ("Inbound", i % 3 != 0)
            } else {
                ("Partner", i % 5 == 1)
            };
            closed_deal(&format!("C{i}"), "SaaS", source, 1e4, 40, won)
        })
        .collect();
    let stats = crate::engine::SegmentStats::from_closed(&history, 10);
    let open: Vec<Deal> = (0..7)
        .map(|i| {
            let mut d = Deal::example(&format!("D{i}"));
            d.company = Some(format!("Company {i}"));
            d
        })
        .collect();
    let scores: Vec<DealScore> = open
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let risk = 90 - i as u8 * 5;
            DealScore {
                deal_id: d.deal_id.clone(),
                risk_score: risk,
                risk_category: RiskCategory::from_score(risk),
                win_probability: 1.0 - f64::from(risk) / 100.0,
                confidence: 0.5,
                risk_factors: Vec::new(),
                recommendations: Vec::new(),
                similar_deals: Vec::new(),
                model_version: "t".into(),
                degraded: false,
            }
        })
        .collect();
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 2, 11).unwrap();
    let m = crate::engine::pipeline_metrics(&open, &scores, &stats, as_of, None, 0.2);
    let top: Vec<(&Deal, &DealScore)> = open.iter().zip(&scores).collect();
    let d = DigestEmail::from_pipeline(
        "Sam",
        &m,
        &stats,
        &top,
        &DigestLinks {
            deal_url: &|id| format!("https://sf.example.com/{id}"),
            full_view_url: "https://slack.com/app".into(),
            slack_url: "https://slack.com/app".into(),
            settings_url: "https://slack.com/app".into(),
            unsubscribe_url: None,
        },
    );
    assert_eq!(d.date_long, "Wednesday, February 11, 2026");
    assert_eq!(d.deals.len(), 5);
    assert_eq!(d.deals[0].name, "Company 0");
    assert_eq!(d.deals[4].rank, 5);
    // 90..=60 in steps of 5: 90, 85, 80 critical; 75, 70, 65, 60 high → 7 at risk, 5 listed.
    assert_eq!((d.at_risk_count, d.more_deals), (7, 2));
    assert_eq!(
        d.lead_source_gap,
        "46.7 pp (Inbound vs Partner: 66.7% vs 20.0%)"
    );
    assert_eq!(d.avg_cycle_days, "40 days (closed deals)");
    assert_eq!(d.deals[0].color, "#B3123F");
}
