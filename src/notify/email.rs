//! Email bodies from the handlebars templates in `templates/email/` (compiled in, so the
//! binary needs no files at run time): HTML (escaped) and plain-text parts, and subjects.
//! Strict mode makes a missing value an error instead of an empty hole in a customer's inbox.
use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderErrorReason,
};
use serde::Serialize;

const TEMPLATES: [(&str, &str, &str); 2] = [
    (
        "alert",
        include_str!("../../templates/email/alert.html.hbs"),
        include_str!("../../templates/email/alert.txt.hbs"),
    ),
    (
        "digest",
        include_str!("../../templates/email/digest.html.hbs"),
        include_str!("../../templates/email/digest.txt.hbs"),
    ),
];

/// A rendered email, ready for the provider.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenderedEmail {
    pub subject: String,
    pub html: String,
    pub text: String,
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
    pub category_title: String,
    pub color: String,
    pub win_probability_pct: u32,
    pub factors: Vec<String>,
    pub actions: Vec<ActionLine>,
    pub deal_url: String,
    pub slack_url: String,
    pub settings_url: String,
    pub model_version: String,
    pub degraded: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct DigestDeal {
    pub name: String,
    pub amount: f64,
    pub score: u8,
    pub category: String,
    pub color: String,
    pub top_factor: String,
    pub url: String,
}

/// Everything the manager's daily digest shows.
#[derive(Debug, Clone, Serialize)]
pub struct DigestEmail {
    pub recipient_name: String,
    pub date: String,
    pub open_deals: usize,
    pub pipeline_value: f64,
    pub rapv: f64,
    pub optimism_gap: f64,
    pub optimism_gap_pct: String,
    pub at_risk_count: usize,
    pub at_risk_pct: String,
    pub recovery: f64,
    pub recovery_assumption: String,
    pub trend: String,
    pub deals: Vec<DigestDeal>,
    pub slack_url: String,
    pub settings_url: String,
    /// Charts shown inline (`cid:` images sent as inline attachments); empty = none.
    pub charts: Vec<DigestChart>,
}

/// One inline chart of the digest: the HTML names it by content id.
#[derive(Debug, Clone, Serialize)]
pub struct DigestChart {
    pub content_id: String,
    pub alt: String,
}

impl DigestEmail {
    /// The digest for `recipient_name` from pipeline metrics and the deals needing attention
    /// (highest risk first). `deal_url` builds a link to a deal (Salesforce record).
    pub fn from_pipeline(
        recipient_name: &str,
        m: &crate::engine::PipelineMetrics,
        top: &[(&crate::domain::Deal, &crate::domain::DealScore)],
        deal_url: &dyn Fn(&str) -> String,
        slack_url: &str,
        settings_url: &str,
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
                "average risk {:+.1} points, {} deals became high/critical, {} left",
                t.avg_risk_score_delta, t.became_high_or_critical, t.left_high_or_critical
            ),
            None => "no scores from a week ago yet".to_string(),
        };
        DigestEmail {
            recipient_name: recipient_name.to_string(),
            date: m.as_of.to_string(),
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
            deals: top
                .iter()
                .take(10)
                .map(|(d, s)| DigestDeal {
                    name: d
                        .company
                        .clone()
                        .or_else(|| d.deal_name.clone())
                        .unwrap_or_else(|| d.deal_id.clone()),
                    amount: d.amount,
                    score: s.risk_score,
                    category: s.risk_category.as_str().to_string(),
                    color: s.risk_category.slack_color().to_string(),
                    top_factor: s
                        .risk_factors
                        .first()
                        .map(|f| f.description.clone())
                        .unwrap_or_default(),
                    url: deal_url(&d.deal_id),
                })
                .collect(),
            slack_url: slack_url.to_string(),
            settings_url: settings_url.to_string(),
            charts: Vec::new(),
        }
    }
}

/// Holds the compiled templates: one registry escapes HTML, the other (plain text) does not.
pub struct EmailRenderer {
    html: Handlebars<'static>,
    text: Handlebars<'static>,
}

impl EmailRenderer {
    pub fn new() -> anyhow::Result<EmailRenderer> {
        let mut html = Handlebars::new();
        let mut text = Handlebars::new();
        text.register_escape_fn(handlebars::no_escape);
        for hb in [&mut html, &mut text] {
            hb.set_strict_mode(true);
            hb.register_helper("money", Box::new(money_helper));
            hb.register_helper("money_short", Box::new(money_short_helper));
        }
        for (name, h, t) in TEMPLATES {
            html.register_template_string(name, h)?;
            text.register_template_string(name, t)?;
        }
        Ok(EmailRenderer { html, text })
    }

    /// "URGENT: High-risk deal - Acme Corp ($45K)".
    pub fn alert(&self, a: &AlertEmail) -> anyhow::Result<RenderedEmail> {
        let subject = format!(
            "URGENT: High-risk deal - {} ({})",
            a.deal_name,
            money_short(a.amount)
        );
        self.render("alert", subject, a)
    }

    pub fn digest(&self, d: &DigestEmail) -> anyhow::Result<RenderedEmail> {
        let subject = format!(
            "Deal-risk digest {}: {} deals at high or critical risk",
            d.date, d.at_risk_count
        );
        self.render("digest", subject, d)
    }

    fn render(
        &self,
        name: &str,
        subject: String,
        data: &impl Serialize,
    ) -> anyhow::Result<RenderedEmail> {
        Ok(RenderedEmail {
            subject,
            html: self.html.render(name, data)?,
            text: self.text.render(name, data)?,
        })
    }
}

/// "$3,443,466": whole dollars with thousands separators.
pub fn money(v: f64) -> String {
    crate::engine::explain::fmt_money(v)
}

/// "$45K", "$1.2M", "$950": short amounts for subjects and tables.
pub fn money_short(v: f64) -> String {
    let a = v.abs();
    let sign = if v < 0.0 { "-" } else { "" };
    // Thresholds sit where rounding would otherwise print "$1000K" or "$1000".
    if a >= 999_500.0 {
        let m = a / 1_000_000.0;
        if m >= 10.0 {
            format!("{sign}${}M", m.round())
        } else {
            format!("{sign}${:.1}M", m).replace(".0M", "M")
        }
    } else if a >= 999.5 {
        // round() is half away from zero; `{:.0}` would round 12.5 to 12.
        format!("{sign}${}K", (a / 1_000.0).round())
    } else {
        format!("{sign}${}", a.round())
    }
}

fn number_param(h: &Helper) -> Result<f64, RenderErrorReason> {
    h.param(0)
        .and_then(|p| p.value().as_f64())
        .ok_or_else(|| RenderErrorReason::Other(format!("{} needs a number", h.name())))
}

fn money_helper(
    h: &Helper,
    _: &Handlebars,
    _: &Context,
    _: &mut RenderContext,
    out: &mut dyn Output,
) -> HelperResult {
    out.write(&money(number_param(h)?))?;
    Ok(())
}

fn money_short_helper(
    h: &Helper,
    _: &Handlebars,
    _: &Context,
    _: &mut RenderContext,
    out: &mut dyn Output,
) -> HelperResult {
    out.write(&money_short(number_param(h)?))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> AlertEmail {
        AlertEmail {
            recipient_name: "Priya".into(),
            deal_name: "Acme Corp <script>alert(1)</script>".into(),
            amount: 45_000.0,
            risk_score: 78,
            category_title: "Critical".into(),
            color: "#E01E5A".into(),
            win_probability_pct: 22,
            factors: vec![
                "Partner leads win 2.1 pp less than Inbound in your history".into(),
                "Open 112 days; deals like this close in 64".into(),
            ],
            actions: vec![ActionLine {
                priority: "immediate".into(),
                action: "Bring in an executive sponsor within 24 hours".into(),
            }],
            deal_url: "https://example.my.salesforce.com/006000000000001".into(),
            slack_url: "slack://app?team=T1&id=A1".into(),
            settings_url: "https://skygeni.example.com/settings".into(),
            model_version: "logistic-20240229".into(),
            degraded: false,
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
    fn the_alert_email_renders_every_part_escaped_with_no_template_left() {
        let r = EmailRenderer::new().unwrap().alert(&alert()).unwrap();
        assert_eq!(
            r.subject,
            "URGENT: High-risk deal - Acme Corp <script>alert(1)</script> ($45K)"
        );
        for part in [&r.html, &r.text] {
            assert!(
                !part.contains("{{") && !part.contains("}}"),
                "unrendered placeholder in {part}"
            );
            assert!(
                part.contains("78/100")
                    && part.contains("$45,000")
                    && part.contains("executive sponsor"),
                "{part}"
            );
            assert!(
                part.contains("https://skygeni.example.com/settings"),
                "settings/unsubscribe link"
            );
        }
        assert!(
            r.html.contains("Acme Corp &lt;script&gt;"),
            "HTML escapes user data"
        );
        assert!(!r.html.contains("<script>"));
        assert!(
            r.text.contains("Acme Corp <script>alert(1)</script>"),
            "plain text is not HTML-escaped"
        );
    }

    #[test]
    fn a_missing_value_is_an_error_not_an_empty_hole() {
        let hb = EmailRenderer::new().unwrap();
        let err = hb
            .render(
                "alert",
                "s".into(),
                &serde_json::json!({"recipient_name": "x"}),
            )
            .unwrap_err();
        assert!(err.to_string().contains("alert"), "{err}");
    }
}
