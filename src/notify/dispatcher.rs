//! The outbox dispatcher: claims due rows tenant by tenant, sends them (SendGrid email, Slack
//! DM), records the provider's id, and retries failures with exponential backoff + jitter
//! (never sooner than a provider's `Retry-After`). After `max_attempts` a row is dead-lettered
//! (`skygeni alerts failed`, /metrics). A row whose previous attempt may have reached the
//! provider unrecorded (its worker was killed and the lease taken over, or the call timed
//! out) is first looked up with the provider (Slack DM history by message metadata, SendGrid
//! Email Activity by custom_args) and only sent when it is not there. When Slack keeps failing for a message, an email with
//! the same content is queued (once: its idempotency key is derived from the Slack row's).
//!
//! `run_once(now)` is one pass that tests drive with their own clock; `run` loops it until
//! shutdown and always lets the pass in progress finish, so in-flight sends are recorded.
use super::compose::{Links, chat_for, email_for, fallback_key};
use super::email::EmailRenderer;
use super::outbox::{CHANNEL_EMAIL, CHANNEL_SLACK, Payload};
use super::senders::{ChatSender, EmailSender, OutgoingChat, OutgoingEmail, SendError};
use crate::domain::TenantId;
use crate::store::{NewOutboxRow, OutboxRow, Store};
use chrono::{DateTime, Utc};
use rand::Rng;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// How often `run` refreshes the per-status outbox gauges (dead letters) in /metrics.
const GAUGE_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// Rows claimed per statement.
    pub batch: i64,
    /// Sends in flight at once.
    pub concurrency: usize,
    /// How long a claim holds before another worker may take the row over.
    pub lease: chrono::Duration,
    pub max_attempts: i64,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Failed Slack attempts after which the email fallback is queued.
    pub slack_fallback_after: i64,
    /// Sleep between passes that found nothing to do.
    pub idle_poll: Duration,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            batch: 100,
            concurrency: 32,
            lease: chrono::Duration::minutes(2),
            max_attempts: 6,
            base_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(3600),
            slack_fallback_after: 2,
            idle_poll: Duration::from_secs(1),
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DispatchReport {
    pub claimed: u64,
    pub sent: u64,
    pub retried: u64,
    pub dead: u64,
    pub fallbacks: u64,
    /// Results not recorded because the lease expired and another worker took the row.
    pub lost_claims: u64,
}

#[derive(Default)]
struct Totals {
    sent: AtomicU64,
    dead: AtomicU64,
}

pub struct Dispatcher {
    store: Store,
    email: Option<Arc<dyn EmailSender>>,
    chat: Option<Arc<dyn ChatSender>>,
    renderer: Arc<EmailRenderer>,
    links: Links,
    cfg: DispatchConfig,
    worker: String,
    totals: Totals,
}

enum Outcome {
    Sent,
    Retried,
    Dead,
    Lost,
}

impl Dispatcher {
    /// `email` / `chat` are `None` when that channel is not configured: its rows then fail
    /// permanently (and Slack rows fall back to email).
    pub fn new(
        store: Store,
        email: Option<Arc<dyn EmailSender>>,
        chat: Option<Arc<dyn ChatSender>>,
        links: Links,
        cfg: DispatchConfig,
    ) -> anyhow::Result<Arc<Dispatcher>> {
        Ok(Arc::new(Dispatcher {
            store,
            email,
            chat,
            renderer: Arc::new(EmailRenderer::new()?),
            links,
            cfg,
            worker: format!("dispatcher-{}", uuid::Uuid::new_v4().simple()),
            totals: Totals::default(),
        }))
    }

    /// One pass over every tenant: claim and send everything due at `now`.
    pub async fn run_once(self: &Arc<Self>, now: DateTime<Utc>) -> anyhow::Result<DispatchReport> {
        let mut report = DispatchReport::default();
        let permits = Arc::new(Semaphore::new(self.cfg.concurrency.max(1)));
        let mut tasks: JoinSet<anyhow::Result<(Outcome, bool)>> = JoinSet::new();
        for t in self.store.list_tenants().await? {
            let tenant = TenantId::parse(&t.tenant_id).map_err(anyhow::Error::msg)?;
            loop {
                let token = uuid::Uuid::new_v4().to_string();
                // Claim no more than can be sent right away: a claimed row waiting for a slot
                // would, if this process died, have to be looked up with the provider by the
                // worker that takes it over (and SendGrid's look-up API allows 6 a minute).
                let room = permits.available_permits().max(1) as i64;
                let rows = self
                    .store
                    .claim_outbox(
                        &tenant,
                        now,
                        self.cfg.lease,
                        self.cfg.batch.min(room),
                        &token,
                    )
                    .await?;
                if rows.is_empty() {
                    break;
                }
                report.claimed += rows.len() as u64;
                for row in rows {
                    let permit = permits.clone().acquire_owned().await?;
                    let me = self.clone();
                    let (tenant, token) = (tenant.clone(), token.clone());
                    tasks.spawn(async move {
                        let res = me.deliver(&tenant, &row, &token, now).await;
                        drop(permit);
                        res
                    });
                    // Collect finished sends as we go so errors surface early.
                    while let Some(done) = tasks.try_join_next() {
                        tally(&mut report, done??);
                    }
                }
            }
        }
        while let Some(done) = tasks.join_next().await {
            tally(&mut report, done??);
        }
        self.publish_rates();
        Ok(report)
    }

    /// Loop until `shutdown` turns true; the pass in progress always completes.
    pub async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        tracing::info!(worker = %self.worker, "outbox dispatcher started");
        let mut gauges_at = std::time::Instant::now() - GAUGE_EVERY;
        while !*shutdown.borrow() {
            if gauges_at.elapsed() >= GAUGE_EVERY {
                gauges_at = std::time::Instant::now();
                if let Err(e) = self.publish_queue_gauges().await {
                    tracing::warn!(error = %format!("{e:#}"), "outbox gauges not refreshed");
                }
            }
            let idle = match self.run_once(self.store.now()).await {
                Ok(r) => r.claimed == 0,
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "dispatcher pass failed");
                    true
                }
            };
            if idle {
                tokio::select! {
                    _ = tokio::time::sleep(self.cfg.idle_poll) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
        tracing::info!(worker = %self.worker, "outbox dispatcher stopped; in-flight sends finished");
    }

    /// Send one claimed row and record the result. Returns the outcome and whether an email
    /// fallback was queued.
    async fn deliver(
        &self,
        tenant: &TenantId,
        row: &OutboxRow,
        token: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(Outcome, bool)> {
        let payload = Payload::parse(&row.payload);
        // Whether the next attempt must look the message up first: the outcome of this one is
        // unknown, or this one's own look-up did not finish.
        let mut verify_next = false;
        let mut lookup_limited = false;
        let message = match &payload {
            Err(e) => Err(SendError::Permanent(e.to_string())),
            Ok(p) => self.compose(tenant, row, p),
        };
        let result = match message {
            Err(e) => Err(e),
            Ok(msg) if row.verify_before_send => match msg.find(row, now).await {
                Ok(Some(provider_id)) => {
                    metrics::counter!("skygeni_outbox_recovered_total", "channel" => row.channel.clone())
                        .increment(1);
                    tracing::info!(tenant = %tenant, outbox = %row.outbox_id, channel = %row.channel,
                        "earlier attempt had arrived: marked sent without sending again");
                    Ok(provider_id)
                }
                Ok(None) => msg.send().await,
                Err(e) => {
                    verify_next = true;
                    // A rate-limited look-up (SendGrid's allows 6 a minute) is waiting its
                    // turn, not a failed delivery: it does not use up one of the attempts.
                    lookup_limited = matches!(
                        e,
                        SendError::Retryable {
                            retry_after: Some(_),
                            ..
                        }
                    );
                    Err(e)
                }
            },
            Ok(msg) => msg.send().await,
        };
        if matches!(result, Err(SendError::Unknown(_))) {
            verify_next = true;
        }
        let store = &self.store;
        let outcome = match result {
            Ok(provider_id) => {
                metrics::counter!("skygeni_outbox_sent_total", "channel" => row.channel.clone())
                    .increment(1);
                if store
                    .finish_outbox_sent(tenant, &row.outbox_id, token, &provider_id, now)
                    .await?
                {
                    self.totals.sent.fetch_add(1, Ordering::Relaxed);
                    Outcome::Sent
                } else {
                    Outcome::Lost
                }
            }
            Err(err) => {
                let retry_at = match &err {
                    SendError::Retryable { retry_after, .. }
                        if lookup_limited || row.attempts < self.cfg.max_attempts =>
                    {
                        let wait = self
                            .backoff(row.attempts)
                            .max(retry_after.unwrap_or_default());
                        Some(now + chrono::Duration::from_std(wait)?)
                    }
                    SendError::Unknown(_) if row.attempts < self.cfg.max_attempts => {
                        Some(now + chrono::Duration::from_std(self.backoff(row.attempts))?)
                    }
                    _ => None,
                };
                tracing::warn!(tenant = %tenant, outbox = %row.outbox_id, channel = %row.channel,
                    attempt = row.attempts, error = %err, dead = retry_at.is_none(), "send failed");
                let recorded = store
                    .finish_outbox_failed(
                        tenant,
                        &row.outbox_id,
                        token,
                        &err.to_string(),
                        retry_at,
                        verify_next,
                        lookup_limited,
                    )
                    .await?;
                match (recorded, retry_at) {
                    (false, _) => Outcome::Lost,
                    (true, Some(_)) => {
                        metrics::counter!("skygeni_outbox_retries_total", "channel" => row.channel.clone())
                            .increment(1);
                        Outcome::Retried
                    }
                    (true, None) => {
                        metrics::counter!("skygeni_outbox_dead_total", "channel" => row.channel.clone())
                            .increment(1);
                        self.totals.dead.fetch_add(1, Ordering::Relaxed);
                        Outcome::Dead
                    }
                }
            }
        };
        let fell_back = match (&outcome, &payload) {
            (Outcome::Retried | Outcome::Dead, Ok(p))
                if row.channel == CHANNEL_SLACK
                    && (matches!(outcome, Outcome::Dead)
                        || row.attempts >= self.cfg.slack_fallback_after) =>
            {
                self.queue_email_fallback(tenant, row, p, now).await?
            }
            _ => false,
        };
        Ok((outcome, fell_back))
    }

    /// The row's message for its channel, with the sender that delivers it. A channel that is
    /// not configured fails permanently (Slack rows then fall back to email).
    fn compose(
        &self,
        tenant: &TenantId,
        row: &OutboxRow,
        payload: &Payload,
    ) -> Result<Message<'_>, SendError> {
        match row.channel.as_str() {
            CHANNEL_EMAIL => {
                let Some(sender) = &self.email else {
                    return Err(SendError::Permanent(
                        "email is not configured (SENDGRID_API_KEY)".into(),
                    ));
                };
                let email = email_for(
                    &row.kind,
                    payload,
                    &row.idempotency_key,
                    &self.renderer,
                    &self.links,
                )?;
                Ok(Message::Email(sender.as_ref(), email))
            }
            CHANNEL_SLACK => {
                let Some(sender) = &self.chat else {
                    return Err(SendError::Permanent(
                        "Slack delivery is not configured".into(),
                    ));
                };
                let chat = chat_for(tenant.as_str(), payload, &row.idempotency_key, &self.links)?;
                Ok(Message::Chat(sender.as_ref(), chat))
            }
            other => Err(SendError::Permanent(format!("unknown channel {other:?}"))),
        }
    }

    /// Queue the email twin of a failing Slack row. `true` when a new row was queued (false
    /// when it exists already, e.g. the user also gets email anyway, or has no address).
    async fn queue_email_fallback(
        &self,
        tenant: &TenantId,
        row: &OutboxRow,
        payload: &Payload,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        if payload.recipient().email.is_none() {
            return Ok(false);
        }
        let n = self
            .store
            .enqueue_outbox(
                tenant,
                &[NewOutboxRow {
                    kind: row.kind.clone(),
                    channel: CHANNEL_EMAIL.into(),
                    recipient: row.recipient.clone(),
                    payload: row.payload.clone(),
                    idempotency_key: fallback_key(&row.idempotency_key),
                    alert_id: row.alert_id.clone(),
                    due: now,
                }],
                now,
            )
            .await?;
        if n > 0 {
            metrics::counter!("skygeni_outbox_fallbacks_total").increment(1);
            tracing::info!(tenant = %tenant, outbox = %row.outbox_id, "Slack failing: email fallback queued");
        }
        Ok(n > 0)
    }

    /// base × 2^(attempt−1), capped, ±20 % jitter so retries of a burst spread out.
    fn backoff(&self, attempt: i64) -> Duration {
        let exp = attempt.clamp(1, 20) as u32 - 1;
        let raw = self
            .cfg
            .base_backoff
            .saturating_mul(2u32.saturating_pow(exp))
            .min(self.cfg.max_backoff);
        raw.mul_f64(rand::rng().random_range(0.8..1.2))
    }

    /// Delivery success rate: sent / (sent + dead-lettered) since start.
    fn publish_rates(&self) {
        let sent = self.totals.sent.load(Ordering::Relaxed) as f64;
        let dead = self.totals.dead.load(Ordering::Relaxed) as f64;
        if sent + dead > 0.0 {
            metrics::gauge!("skygeni_delivery_success_ratio").set(sent / (sent + dead));
        }
    }

    /// Refresh the per-status row gauges (dead letters included) over every tenant.
    pub async fn publish_queue_gauges(&self) -> anyhow::Result<()> {
        let mut totals = std::collections::BTreeMap::<String, i64>::new();
        for t in self.store.list_tenants().await? {
            let tenant = TenantId::parse(&t.tenant_id).map_err(anyhow::Error::msg)?;
            for (status, n) in self.store.outbox_status_counts(&tenant).await? {
                *totals.entry(status).or_default() += n;
            }
        }
        for s in ["pending", "sending", "sent", "dead"] {
            metrics::gauge!("skygeni_outbox_rows", "status" => s)
                .set(totals.get(s).copied().unwrap_or(0) as f64);
        }
        Ok(())
    }
}

/// One composed outbox message and the sender for its channel.
enum Message<'a> {
    Email(&'a dyn EmailSender, OutgoingEmail),
    Chat(&'a dyn ChatSender, OutgoingChat),
}

impl Message<'_> {
    async fn send(&self) -> Result<String, SendError> {
        match self {
            Message::Email(sender, email) => sender.send_email(email).await,
            Message::Chat(sender, chat) => sender.send_dm(chat).await,
        }
    }

    /// Asks the provider whether this row's message already arrived (its previous attempt's
    /// outcome is unknown). Messages are looked for from a little before the row was created.
    async fn find(&self, row: &OutboxRow, now: DateTime<Utc>) -> Result<Option<String>, SendError> {
        let since = DateTime::parse_from_rfc3339(&row.created_at)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|_| now - chrono::Duration::days(1))
            - chrono::Duration::minutes(5);
        match self {
            Message::Email(sender, email) => sender.find_email(email, since).await,
            Message::Chat(sender, chat) => sender.find_dm(chat, since).await,
        }
    }
}

fn tally(r: &mut DispatchReport, (outcome, fell_back): (Outcome, bool)) {
    match outcome {
        Outcome::Sent => r.sent += 1,
        Outcome::Retried => r.retried += 1,
        Outcome::Dead => r.dead += 1,
        Outcome::Lost => r.lost_claims += 1,
    }
    r.fallbacks += u64::from(fell_back);
}
