//! Email bodies from the handlebars templates in `templates/email/` (compiled in, so the
//! binary needs no files at run time): HTML (escaped) and plain-text parts, and subjects.
//! Strict mode makes a missing value an error instead of an empty hole in a customer's inbox.
//! The HTML is built for real clients: table layout in a 600 px container, styles inline on
//! elements (Gmail drops `<body>` and `<style>` styles), fonts on every cell (Outlook).
use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderErrorReason,
};
use serde::Serialize;

pub use super::email_data::{
    ActionLine, AlertEmail, DigestChart, DigestDeal, DigestEmail, DigestLinks, chart_refs,
    email_color,
};

const TEMPLATES: [(&str, &str, &str); 3] = [
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
    (
        "weekly",
        include_str!("../../templates/email/weekly.html.hbs"),
        include_str!("../../templates/email/weekly.txt.hbs"),
    ),
];

/// The HTML frame every email shares (head, preheader, 600 px container, footer) and the
/// inline style fragments; partials, so the pieces stay identical across emails.
const PARTIALS: [(&str, &str); 5] = [
    (
        "head",
        include_str!("../../templates/email/partials/head.html.hbs"),
    ),
    (
        "foot",
        include_str!("../../templates/email/partials/foot.html.hbs"),
    ),
    // Fonts on every cell: Outlook does not inherit them from the table.
    ("font", "font-family:Arial,Helvetica,sans-serif;"),
    (
        "td",
        "font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:22px;color:#1D1C1D;",
    ),
    (
        "h",
        "font-family:Arial,Helvetica,sans-serif;font-size:17px;line-height:24px;font-weight:bold;color:#1D1C1D;padding:20px 24px 6px 24px;",
    ),
];

/// A rendered email, ready for the provider.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenderedEmail {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// What the HTML frame needs besides the email's own values.
#[derive(Serialize)]
struct Framed<'a, T: Serialize> {
    /// `<title>` and the hidden preview line inbox lists show after the subject.
    title: &'a str,
    preheader: &'a str,
    #[serde(flatten)]
    data: &'a T,
}

/// Holds the compiled templates: one registry escapes HTML, the other (plain text) does not.
/// No template uses triple braces (`{{{…}}}`): every value, CRM text included, is escaped.
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
        for (name, p) in PARTIALS {
            html.register_partial(name, p)?;
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
        let preheader = format!(
            "{} is at {}/100 risk ({}). {}",
            a.deal_name,
            a.risk_score,
            a.category_title.to_lowercase(),
            a.actions
                .first()
                .map_or(String::new(), |x| format!("First step: {}", x.action))
        );
        #[derive(Serialize)]
        struct View<'a> {
            alert_title: String,
            amount_short: String,
            #[serde(flatten)]
            a: &'a AlertEmail,
        }
        let view = View {
            alert_title: a.title(),
            amount_short: money_short(a.amount),
            a,
        };
        self.render("alert", subject, &a.title(), &preheader, &view)
    }

    pub fn digest(&self, d: &DigestEmail) -> anyhow::Result<RenderedEmail> {
        let subject = format!(
            "Daily Pipeline Health Report {}: {} deals at high or critical risk",
            d.date, d.at_risk_count
        );
        let preheader = format!(
            "{} of {} scored deals at high or critical risk ({}%); RAPV gap {}%; {} deals need attention today.",
            d.at_risk_count,
            d.open_deals,
            d.at_risk_pct,
            d.optimism_gap_pct,
            d.deals.len()
        );
        self.render(
            "digest",
            subject,
            "Daily Pipeline Health Report",
            &preheader,
            d,
        )
    }

    /// Any of the templates with its subject, title and preheader (the weekly summary).
    pub fn render(
        &self,
        name: &str,
        subject: String,
        title: &str,
        preheader: &str,
        data: &impl Serialize,
    ) -> anyhow::Result<RenderedEmail> {
        let framed = Framed {
            title,
            preheader,
            data,
        };
        Ok(RenderedEmail {
            subject,
            html: self.html.render(name, &framed)?,
            text: self.text.render(name, &framed)?,
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
#[path = "email_tests.rs"]
mod tests;
