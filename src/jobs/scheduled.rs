//! Bodies of the scheduled jobs that call the reports functions (weekly CRO summary,
//! retention purge, monthly retrain, daily calibration check) and queue what they produce in
//! the outbox (Slack DM + email per each recipient's channel settings).
use crate::domain::{ModelScope, TenantId};
use crate::notify::compose::Links;
use crate::notify::outbox::{MessagePayload, Payload};
use crate::notify::policy::Channel;
use crate::notify::senders::InlineAttachment;
use crate::notify::unsubscribe::List;
use crate::store::{NewOutboxRow, Store, UserContact};
use chrono::{DateTime, Utc};

pub const KIND_WEEKLY: &str = "weekly_summary";
pub const KIND_MODEL_ROLLBACK: &str = "model_rollback";

/// A finished message for one user.
pub struct Message {
    pub kind: &'static str,
    /// Unique per user and occasion (`weekly:2024-03-04`); the channel is appended.
    pub key: String,
    pub subject: String,
    pub html: String,
    pub text: String,
    pub slack: serde_json::Value,
    pub inline_images: Vec<InlineAttachment>,
    /// Mail headers of the email part (List-Unsubscribe on summaries).
    pub email_headers: Vec<(String, String)>,
    /// The mailing list users can leave (`None`: operational messages everyone gets).
    pub list: Option<List>,
}

/// Queue `msg` for `user` on their channels (email when they chose none). Returns rows queued
/// (0 when it was queued before).
pub async fn queue_message(
    store: &Store,
    tenant: &TenantId,
    user: &UserContact,
    msg: &Message,
    now: DateTime<Utc>,
) -> anyhow::Result<u64> {
    let wanted = {
        let s = user.policy_settings();
        if s.channels.is_empty() {
            vec![Channel::Email]
        } else {
            s.channels
        }
    };
    let payload = Payload::Message(Box::new(MessagePayload {
        recipient: user.recipient(&user.role),
        subject: msg.subject.clone(),
        html: msg.html.clone(),
        text: msg.text.clone(),
        slack: msg.slack.clone(),
        inline_images: msg.inline_images.clone(),
        email_headers: msg.email_headers.clone(),
    }))
    .to_json();
    let left = match msg.list {
        Some(list) => store
            .email_unsubscribed(tenant, list.as_str())
            .await?
            .contains(&user.user_id),
        None => false,
    };
    let rows: Vec<NewOutboxRow> = user
        .deliverable(&wanted)
        .into_iter()
        // Unsubscribed from this list's email: other channels still get it.
        .filter(|ch| !(left && *ch == crate::notify::outbox::CHANNEL_EMAIL))
        .map(|ch| NewOutboxRow {
            kind: msg.kind.into(),
            channel: ch.into(),
            recipient: user.user_id.clone(),
            payload: payload.clone(),
            idempotency_key: format!("{}:{}:{ch}", msg.key, user.user_id),
            alert_id: None,
            due: now,
        })
        .collect();
    Ok(store.enqueue_outbox(tenant, &rows, now).await?)
}

/// The CRO summary goes to admins; a tenant without admins sends it to its managers.
fn leaders(users: &[UserContact]) -> Vec<&UserContact> {
    let admins: Vec<&UserContact> = users.iter().filter(|u| u.role == "admin").collect();
    if admins.is_empty() {
        users.iter().filter(|u| u.role == "manager").collect()
    } else {
        admins
    }
}

/// Weekly CRO summary: build it (`service::weekly`), render email + Slack (`notify::weekly`),
/// queue for the tenant's leaders. Slack image blocks use signed chart URLs when a chart
/// signing key is configured.
pub async fn weekly_summary(
    store: &Store,
    tenant: &TenantId,
    now: DateTime<Utc>,
    links: &Links,
    chart_secret: Option<&[u8]>,
) -> anyhow::Result<String> {
    use crate::notify::chart_link::signed_url;
    use crate::notify::charts::Chart;
    use crate::notify::weekly;
    let summary = crate::service::weekly::weekly_summary(store, tenant, now).await?;
    // Slack fetches image_url itself and rejects the whole message when it cannot (http,
    // localhost): images only behind an https public URL, else weekly::slack_blocks says where
    // the charts are in a text line.
    let https = weekly::slack_can_fetch(&links.public_url);
    let chart_urls: Vec<(Chart, String)> = match chart_secret.filter(|_| https) {
        Some(key) => Chart::ALL
            .into_iter()
            .map(|c| {
                let url = signed_url(
                    &links.public_url,
                    key,
                    tenant,
                    c,
                    now + chrono::Duration::days(7),
                );
                (c, url)
            })
            .collect(),
        None => Vec::new(),
    };
    let slack = weekly::slack_blocks(&summary, &chart_urls);
    // Charts are drawn once; each recipient's email differs only in its unsubscribe link.
    let images = weekly::inline_images(&summary)?;
    let renderer = crate::notify::email::EmailRenderer::new()?;
    let users = store.user_contacts(tenant).await?;
    let to = leaders(&users);
    let mut queued = 0;
    for u in &to {
        let unsubscribe = links.unsubscribe.as_ref();
        let email = weekly::render_email_with(
            &summary,
            &weekly::WeeklyLinks {
                deal_url: &|id| links.deal_url(id),
                slack_url: links.slack_url(),
                settings_url: links.settings_url(),
                unsubscribe_url: unsubscribe.map(|s| s.url(tenant, &u.user_id, List::Weekly, now)),
                image_prefix: None,
            },
            images.clone(),
            &renderer,
        )?;
        let msg = Message {
            kind: KIND_WEEKLY,
            key: format!("weekly:{}", summary.as_of),
            subject: email.subject.clone(),
            html: email.html.clone(),
            text: email.text.clone(),
            slack: slack.clone(),
            inline_images: email.inline_images.iter().map(|i| i.attachment()).collect(),
            email_headers: unsubscribe
                .map(|s| s.headers(tenant, &u.user_id, List::Weekly, now))
                .unwrap_or_default(),
            list: Some(List::Weekly),
        };
        queued += queue_message(store, tenant, u, &msg, now).await?;
    }
    Ok(format!(
        "weekly summary {}: {} recipients, {queued} messages queued",
        summary.as_of,
        to.len()
    ))
}

pub async fn retention(
    store: &Store,
    tenant: &TenantId,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let r = super::retention::purge(store, tenant, now).await?;
    Ok(format!(
        "purged {} rows: {:?}",
        r.deleted.total(),
        r.deleted
    ))
}

pub async fn monthly_retrain(
    store: &Store,
    scope: &ModelScope,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let r = crate::service::lifecycle::monthly_retrain(store, scope, now).await?;
    Ok(format!(
        "{}: {} ({}){}",
        r.scope,
        r.decision,
        r.reason,
        r.candidate_version
            .map(|v| format!(", candidate {v}"))
            .unwrap_or_default()
    ))
}

/// Daily calibration check; a rollback is announced to the tenant's admins (Slack + email).
pub async fn calibration_check(
    store: &Store,
    tenant: &TenantId,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let r = crate::service::lifecycle::calibration_check(store, tenant, now).await?;
    let mut detail = format!(
        "calibration on {}: {} deals, error {}, {} bad day(s) in a row",
        r.checked_on,
        r.deals,
        r.calibration_error
            .map_or("n/a (too few closes)".to_string(), |e| format!(
                "{:.1}%",
                e * 100.0
            )),
        r.consecutive_bad_days
    );
    if let Some(rb) = &r.rolled_back {
        let text = format!(
            "SkyGeni rolled the production model of {} back from {} to {}: {}",
            rb.scope, rb.from, rb.to, rb.reason
        );
        let msg = Message {
            kind: KIND_MODEL_ROLLBACK,
            key: format!("rollback:{}:{}", rb.scope, r.checked_on),
            subject: format!("SkyGeni model rolled back ({})", rb.scope),
            html: format!("<p>{}</p>", handlebars::html_escape(&text)),
            text: text.clone(),
            slack: serde_json::json!({"text": text}),
            inline_images: Vec::new(),
            email_headers: Vec::new(),
            list: None,
        };
        let users = store.user_contacts(tenant).await?;
        let mut queued = 0;
        for u in users.iter().filter(|u| u.role == "admin") {
            queued += queue_message(store, tenant, u, &msg, now).await?;
        }
        detail.push_str(&format!(
            "; ROLLED BACK {} -> {} ({queued} admin messages queued)",
            rb.from, rb.to
        ));
    }
    Ok(detail)
}
