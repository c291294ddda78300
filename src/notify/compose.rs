//! Turning an outbox payload into what a channel sends: the alert email (templates) or the
//! Slack DM (Block Kit), with deep links to Salesforce, Slack and the settings page.
use super::email::{ActionLine, AlertEmail, EmailRenderer};
use super::outbox::{AlertPayload, CHANNEL_EMAIL, KIND_CRITICAL_ALERT, Payload};
use super::senders::{OutgoingChat, OutgoingEmail, SendError};
use crate::config::Settings;
use crate::domain::Deal;
use crate::slack::blocks::views::capitalise;

/// Where links in messages point.
#[derive(Debug, Clone, PartialEq)]
pub struct Links {
    /// Salesforce instance (or login) URL; record links are `{base}/lightning/r/Opportunity/{id}/view`.
    pub salesforce_url: String,
    /// Slack app id (SLACK_APP_ID) for "Open in Slack" and the App Home settings link.
    pub slack_app_id: Option<String>,
    pub public_url: String,
    /// Signs the one-click unsubscribe links of digests and summaries; `None` when no
    /// signing secret is configured (those emails then carry no List-Unsubscribe).
    pub unsubscribe: Option<super::unsubscribe::UnsubscribeSigner>,
}

impl Links {
    pub fn from_settings(s: &Settings) -> Links {
        Links {
            salesforce_url: s
                .salesforce_instance_url
                .clone()
                .unwrap_or_else(|| s.salesforce_login_url.clone()),
            slack_app_id: s.slack_app_id.clone(),
            public_url: s.public_url.clone(),
            unsubscribe: super::unsubscribe::UnsubscribeSigner::from_settings(s),
        }
    }

    pub fn deal_url(&self, deal_id: &str) -> String {
        format!(
            "{}/lightning/r/Opportunity/{deal_id}/view",
            self.salesforce_url.trim_end_matches('/')
        )
    }

    /// Opens the SkyGeni app in Slack (the DM with the alert).
    pub fn slack_url(&self) -> String {
        match &self.slack_app_id {
            Some(app) => format!("https://slack.com/app_redirect?app={app}"),
            None => "https://slack.com/app".into(),
        }
    }

    /// The full view of the pipeline: SkyGeni's App Home in Slack (every deal needing
    /// attention, with filters); the product has no separate web dashboard.
    pub fn full_view_url(&self) -> String {
        match &self.slack_app_id {
            Some(app) => format!("https://slack.com/app_redirect?app={app}&tab=home"),
            None => "https://slack.com/app".into(),
        }
    }

    /// Alert settings live in the App Home tab (alerts on/off, channels, threshold, quiet
    /// hours): turning email off there is the unsubscribe.
    pub fn settings_url(&self) -> String {
        match &self.slack_app_id {
            Some(app) => format!("https://slack.com/app_redirect?app={app}&tab=home"),
            None => format!("{}/settings", self.public_url.trim_end_matches('/')),
        }
    }
}

/// The name an alert uses for a deal: the account ("Acme Corp"), else the deal name or id.
pub fn deal_label(deal: &Deal) -> String {
    deal.company
        .clone()
        .or_else(|| deal.deal_name.clone())
        .unwrap_or_else(|| deal.deal_id.clone())
}

pub fn alert_email(a: &AlertPayload, links: &Links) -> AlertEmail {
    AlertEmail {
        recipient_name: a.recipient.display_name(),
        deal_name: deal_label(&a.deal),
        amount: a.deal.amount,
        risk_score: a.score.risk_score,
        category_title: capitalise(a.score.risk_category.as_str()),
        category_upper: a.score.risk_category.as_str().to_uppercase(),
        color: super::email::email_color(a.score.risk_category).to_string(),
        win_probability_pct: (a.score.win_probability * 100.0).round() as u32,
        factors: a
            .score
            .risk_factors
            .iter()
            .map(|f| f.description.clone())
            .collect(),
        actions: a
            .score
            .recommendations
            .iter()
            .take(3)
            .map(|r| ActionLine {
                // "this_week" → "this week": the email shows it in words.
                priority: r.priority.as_str().replace('_', " "),
                action: r.action.to_string(),
            })
            .collect(),
        deal_url: links.deal_url(&a.deal.deal_id),
        slack_url: links.slack_url(),
        settings_url: links.settings_url(),
        model_version: a.score.model_version.clone(),
        degraded: a.score.degraded,
    }
}

/// The email for an outbox row, or why it cannot be built (permanent: retrying won't help).
pub fn email_for(
    kind: &str,
    payload: &Payload,
    key: &str,
    renderer: &EmailRenderer,
    links: &Links,
) -> Result<OutgoingEmail, SendError> {
    let r = payload.recipient();
    let to = r
        .email
        .clone()
        .ok_or_else(|| SendError::Permanent(format!("user {} has no email address", r.user_id)))?;
    let (subject, text, html, inline, headers) = match payload {
        Payload::Alert(a) => {
            let e = renderer
                .alert(&alert_email(a, links))
                .map_err(|e| SendError::Permanent(format!("alert template: {e:#}")))?;
            (e.subject, e.text, e.html, Vec::new(), Vec::new())
        }
        Payload::Message(m) => (
            m.subject.clone(),
            m.text.clone(),
            m.html.clone(),
            m.inline_images.clone(),
            m.email_headers.clone(),
        ),
    };
    Ok(OutgoingEmail {
        to_email: to,
        to_name: r.name.clone(),
        subject,
        text,
        html,
        idempotency_key: key.to_string(),
        category: if kind == KIND_CRITICAL_ALERT {
            "critical_alert".into()
        } else {
            kind.to_string()
        },
        inline,
        headers,
    })
}

/// The Slack DM for an outbox row.
pub fn chat_for(
    tenant: &str,
    payload: &Payload,
    key: &str,
    links: &Links,
) -> Result<OutgoingChat, SendError> {
    let r = payload.recipient();
    let slack = r.slack_user_id.clone().ok_or_else(|| {
        SendError::Permanent(format!("user {} is not linked to a Slack user", r.user_id))
    })?;
    let message = match payload {
        Payload::Alert(a) => crate::slack::blocks::card::with_standing(
            crate::slack::blocks::alert::alert_message(
                &a.deal,
                &a.score,
                Some(&links.deal_url(&a.deal.deal_id)),
            ),
            &crate::slack::blocks::card::Standing {
                relative: a.relative,
                skill_line: a.skill_line.clone(),
                budget_note: a.budget.and_then(|b| b.note()),
            },
        ),
        Payload::Message(m) => m.slack.clone(),
    };
    Ok(OutgoingChat {
        tenant: tenant.to_string(),
        slack_user_id: slack,
        message,
        idempotency_key: key.to_string(),
    })
}

/// The key of the email that replaces a failing Slack message (`…:slack` → `…:email`).
pub fn fallback_key(slack_key: &str) -> String {
    match slack_key.strip_suffix(":slack") {
        Some(base) => format!("{base}:{CHANNEL_EMAIL}"),
        None => format!("{slack_key}:{CHANNEL_EMAIL}"),
    }
}
