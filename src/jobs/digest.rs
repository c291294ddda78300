//! The manager's daily digest: the team's pipeline overview, trends and top 10 high/critical
//! deals, rendered once (email parts + Slack Block Kit) and queued in the outbox for each of
//! the manager's channels. Keys are per manager and local date, so a digest goes out at most
//! once a day even if the job were run twice. The scheduler's digest job: every manager
//! whose digest time has come in their zone gets theirs, each run claimed on its own.
use super::claim::{Done, RunOutcome};
use super::schedule::{JobKind, digest_schedule, last_due};
use super::scheduler::Scheduler;
use crate::domain::{AlertSettings, Deal, DealScore, TenantId};
use crate::notify::compose::Links;
use crate::notify::email::{DigestEmail, DigestLinks, EmailRenderer, RenderedEmail, chart_refs};
use crate::notify::outbox::{KIND_DIGEST, MessagePayload, Payload};
use crate::notify::policy::Channel;
use crate::notify::unsubscribe::List;
use crate::service::metrics::pipeline_view_of;
use crate::service::models::LoadedScorer;
use crate::store::{DealScope, NewOutboxRow, Store, UserContact};
use chrono::{DateTime, NaiveDate, Utc};

/// What the digest job did for one manager.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DigestOutcome {
    pub manager: String,
    pub date: NaiveDate,
    pub deals_listed: usize,
    pub queued: u64,
}

/// The digest's two renderings for `recipient` over `deals` (open deals, any order).
pub struct RenderedDigest {
    pub email: RenderedEmail,
    pub slack: serde_json::Value,
    pub deals_listed: usize,
    /// The charts the email's HTML shows by content id.
    pub inline_images: Vec<crate::notify::weekly::InlineImage>,
}

/// The recipient's digest settings: how many deals at most, and the lowest risk score listed.
#[derive(Debug, Clone, Copy)]
pub struct DigestLimits {
    pub max_deals: usize,
    pub min_risk_score: u8,
}

/// Render the digest from a pipeline view: the top `max_deals` high/critical deals whose risk
/// score is at least `min_risk_score` (the recipient's setting; 51 = every high deal); the email
/// lists the first five, the design's "Top 5". `stats` gives the lead-source gap.
pub fn render_digest(
    recipient_name: &str,
    view: &crate::service::metrics::PipelineView,
    stats: &crate::engine::SegmentStats,
    DigestLimits {
        max_deals,
        min_risk_score,
    }: DigestLimits,
    links: &Links,
    unsubscribe_url: Option<String>,
    renderer: &EmailRenderer,
) -> anyhow::Result<RenderedDigest> {
    let at_risk: Vec<(&Deal, &DealScore)> = view
        .deals
        .iter()
        .zip(view.scores.iter())
        .filter(|(_, s)| s.risk_category.is_at_risk() && s.risk_score >= min_risk_score)
        .collect();
    // Ranked by exact P(lost), as `top` does: two deals both shown as 80/100 keep their order.
    let exact: Vec<DealScore> = at_risk.iter().map(|(_, s)| (*s).clone()).collect();
    let at_risk: Vec<(&Deal, &DealScore)> = crate::engine::rank_order(&exact)
        .into_iter()
        .map(|i| at_risk[i])
        .collect();
    let top = &at_risk[..max_deals.min(at_risk.len())];
    // "Your open deals" in a manager's digest are the team's: the view's deals.
    let ranks = crate::engine::PipelineRanks::from_scores(&view.scores, stats.overall_win_rate);
    let inline_images = crate::notify::charts::pipeline_inline_images(&view.metrics)?;
    let mut content = DigestEmail::from_pipeline(
        recipient_name,
        &view.metrics,
        stats,
        top,
        &DigestLinks {
            deal_url: &|id| links.deal_url(id),
            full_view_url: links.full_view_url(),
            slack_url: links.slack_url(),
            settings_url: links.settings_url(),
            unsubscribe_url,
        },
    );
    content.charts = chart_refs(&inline_images, None);
    for (listed, (_, s)) in content.deals.iter_mut().zip(top) {
        listed.relative = ranks.of(s).sentence();
    }
    content.skill_line = view.skill_line.map(str::to_string);
    let email = renderer.digest(&content)?;
    Ok(RenderedDigest {
        email,
        // Ranked in the same pipeline as the email's lines (the team's), so both say the same.
        slack: crate::slack::blocks::digest::digest_message(
            &view.metrics,
            top,
            crate::slack::blocks::card::ListStanding {
                ranks: Some(&ranks),
                skill_line: view.skill_line,
            },
        ),
        deals_listed: top.len(),
        inline_images,
    })
}

/// Build and queue one manager's digest for `date` (their local date).
#[allow(clippy::too_many_arguments)]
pub async fn queue_manager_digest(
    store: &Store,
    tenant: &TenantId,
    manager: &UserContact,
    users: &[UserContact],
    open: &[Deal],
    loaded: &LoadedScorer,
    date: NaiveDate,
    now: DateTime<Utc>,
    save_rate: f64,
    links: &Links,
    renderer: &EmailRenderer,
) -> anyhow::Result<DigestOutcome> {
    // The team: the manager and their direct reports, matched on the deal owner like RBAC.
    let team: Vec<&UserContact> = users
        .iter()
        .filter(|u| {
            u.user_id == manager.user_id || u.manager_id.as_deref() == Some(&manager.user_id)
        })
        .collect();
    let scope = DealScope::Owners {
        rep_ids: team
            .iter()
            .flat_map(|u| std::iter::once(u.user_id.clone()).chain(u.salesforce_user_id.clone()))
            .collect(),
        emails: team.iter().filter_map(|u| u.email.clone()).collect(),
    };
    let team_open: Vec<Deal> = open.iter().filter(|d| scope.allows(d)).cloned().collect();
    let view = pipeline_view_of(store, tenant, loaded, team_open, date, save_rate).await?;
    let max_deals = manager
        .settings
        .as_ref()
        .map_or(10, |s| s.digest_max_deals());
    let name = manager
        .name
        .clone()
        .unwrap_or_else(|| manager.user_id.clone());
    let min_risk_score = manager
        .settings
        .as_ref()
        .map_or(51, |s| s.digest_min_risk_score.clamp(0, 100) as u8);
    // One-click unsubscribe (RFC 8058): the same signed link in the footer and the headers.
    let unsubscribe = links.unsubscribe.as_ref();
    let unsubscribe_url = unsubscribe.map(|u| u.url(tenant, &manager.user_id, List::Digest, now));
    let email_headers = unsubscribe
        .map(|u| u.headers(tenant, &manager.user_id, List::Digest, now))
        .unwrap_or_default();
    let digest = render_digest(
        &name,
        &view,
        loaded.scorer.stats(),
        DigestLimits {
            max_deals,
            min_risk_score,
        },
        links,
        unsubscribe_url,
        renderer,
    )?;
    // Digests follow the channel settings even when critical alerts are switched off.
    let wanted = {
        let s = manager.policy_settings();
        if s.channels.is_empty() {
            vec![Channel::Email]
        } else {
            s.channels
        }
    };
    let payload = Payload::Message(Box::new(MessagePayload {
        recipient: manager.recipient("manager"),
        subject: digest.email.subject.clone(),
        html: digest.email.html.clone(),
        text: digest.email.text.clone(),
        slack: digest.slack.clone(),
        inline_images: digest
            .inline_images
            .iter()
            .map(|i| i.attachment())
            .collect(),
        email_headers,
    }))
    .to_json();
    let left = store
        .email_unsubscribed(tenant, List::Digest.as_str())
        .await?
        .contains(&manager.user_id);
    let rows: Vec<NewOutboxRow> = manager
        .deliverable(&wanted)
        .into_iter()
        // Unsubscribed from the digest email: Slack (if wanted) still gets it.
        .filter(|ch| !(left && *ch == crate::notify::outbox::CHANNEL_EMAIL))
        .map(|ch| NewOutboxRow {
            kind: KIND_DIGEST.into(),
            channel: ch.into(),
            recipient: manager.user_id.clone(),
            payload: payload.clone(),
            idempotency_key: format!("digest:{}:{date}:{ch}", manager.user_id),
            alert_id: None,
            due: now,
        })
        .collect();
    let queued = store.enqueue_outbox(tenant, &rows, now).await?;
    Ok(DigestOutcome {
        manager: manager.user_id.clone(),
        date,
        deals_listed: digest.deals_listed,
        queued,
    })
}

impl Scheduler {
    /// Every manager whose digest time has come (in their zone) and whose run is unclaimed.
    pub(super) async fn digests(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        pass: std::time::Instant,
    ) -> anyhow::Result<Vec<RunOutcome>> {
        let users = self.store.user_contacts(tenant).await?;
        let managers: Vec<&UserContact> = users
            .iter()
            .filter(|u| {
                u.role == "manager"
                    || users
                        .iter()
                        .any(|r| r.manager_id.as_deref() == Some(&u.user_id))
            })
            .collect();
        let mut due = Vec::new();
        // A manager who switched the daily digest off (POST /v1/alerts/configure) is skipped.
        for m in managers
            .into_iter()
            .filter(|m| m.settings.as_ref().is_none_or(|s| s.digest_enabled))
        {
            let digest_time = m
                .settings
                .as_ref()
                .map_or(AlertSettings::default().digest_time, |s| s.digest_time);
            if let Some(at) = last_due(
                &digest_schedule(digest_time),
                m.zone(),
                now,
                self.cfg.catch_up,
            ) {
                due.push((m, at));
            }
        }
        if due.is_empty() {
            return Ok(Vec::new());
        }
        // Loaded once per tenant and pass, only when some digest is due.
        let history = self.store.load_deals(tenant).await?;
        let loaded = crate::service::models::load_scorer(&self.store, tenant, &history).await?;
        let open: Vec<_> = history.into_iter().filter(|d| d.is_open()).collect();
        let mut out = Vec::new();
        for (m, at) in due {
            let job = format!("{}:{}", JobKind::Digest.as_str(), m.user_id);
            let date = at.with_timezone(&m.zone()).date_naive();
            let r = self
                .claimed(tenant, &job, at, (now, pass), || async {
                    let d = queue_manager_digest(
                        &self.store,
                        tenant,
                        m,
                        &users,
                        &open,
                        &loaded,
                        date,
                        now,
                        self.cfg.save_rate,
                        &self.links,
                        &self.renderer,
                    )
                    .await?;
                    Ok(Done::from(format!(
                        "digest for {} on {}: {} deals listed, {} messages queued",
                        d.manager, d.date, d.deals_listed, d.queued
                    )))
                })
                .await?;
            out.extend(r);
        }
        Ok(out)
    }
}
