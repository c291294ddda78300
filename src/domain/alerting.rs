//! What the store and the alert policy say to each other while a batch of scores is recorded.
//! The store reads the facts ([`AlertFacts`]) inside its transaction, asks the planner its
//! caller passed in ([`AlertPlanner`], implemented by `notify::planner::AlertPolicy`) who is
//! alerted, and writes the [`PlannedAlert`]s it returns in the same transaction, so scores,
//! alerts and outbox rows commit together. Plain data and a trait: no I/O, no policy.
use super::{AlertSettings, Deal, DealScore, TenantId};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;

/// A user with everything delivery needs. How notify reads one (its policy settings,
/// deliverable channels, recipient) lives in `notify::contact`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UserContact {
    pub user_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub role: String,
    pub manager_id: Option<String>,
    pub time_zone: String,
    pub slack_user_id: Option<String>,
    pub salesforce_user_id: Option<String>,
    /// The stored alert settings row, if the user saved one.
    pub settings: Option<AlertSettings>,
}

/// A message to enqueue in the outbox.
#[derive(Debug, Clone)]
pub struct NewOutboxRow {
    pub kind: String,
    /// `slack` or `email`.
    pub channel: String,
    /// The user id of the recipient.
    pub recipient: String,
    /// JSON the dispatcher knows how to send (see `notify::outbox::Payload`).
    pub payload: String,
    /// Unique per tenant: enqueueing the same key twice keeps the first row.
    pub idempotency_key: String,
    pub alert_id: Option<String>,
    /// Not before this moment (quiet hours hold alerts until they end).
    pub due: DateTime<Utc>,
}

/// The scores the store need not read facts for: a score at or below `min` alerts nobody,
/// and a deal whose previous current score is above `max` cannot cross into critical.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScoreBounds {
    pub min: u8,
    pub max: u8,
}

/// What the store knows, inside the score-writing transaction, before the deals' current
/// scores change.
#[derive(Debug, Clone)]
pub struct AlertFacts<'a> {
    pub tenant: &'a TenantId,
    /// The batch's `scored_at`: the policy's clock.
    pub now: DateTime<Utc>,
    /// The batch's scores above `ScoreBounds::min`, in batch order.
    pub scores: Vec<&'a DealScore>,
    /// Every user of the tenant with their saved alert settings.
    pub users: &'a [UserContact],
    /// Those scores' deals as stored, with their previous current score. Deals not stored
    /// (ad-hoc API scoring) or already above `ScoreBounds::max` are absent.
    pub deals: HashMap<String, (Deal, Option<u8>)>,
    /// deal id → end of its active snooze.
    pub snoozed_until: HashMap<String, DateTime<Utc>>,
    /// deal id → the score of its newest false-alarm mark.
    pub false_alarm_scores: HashMap<String, u8>,
    /// (deal id, user id) → the newest critical alert within `AlertPlanner::throttle_window`.
    pub last_alert_at: HashMap<(String, String), DateTime<Utc>>,
    /// user id → critical alerts within `AlertPlanner::budget_window`.
    pub alerts_sent: HashMap<String, u32>,
    /// The tenant's daily alert budget, if it set one.
    pub alerts_per_day: Option<u32>,
}

/// One alert to write, with the outbox rows that deliver it (written only if the alert row
/// is new: the store's dedupe key keeps two racing writers to one alert).
#[derive(Debug, Clone)]
pub struct PlannedAlert {
    pub alert_id: String,
    pub deal_id: String,
    pub user_id: String,
    pub risk_score: u8,
    pub outbox: Vec<NewOutboxRow>,
}

/// Decides, from the facts the store read, which critical alerts a batch of scores raises.
pub trait AlertPlanner: Send + Sync {
    /// Which scores and deals can alert at all, given the tenant's users.
    fn score_bounds(&self, users: &[UserContact]) -> ScoreBounds;
    /// How far back past critical alerts count for the per-deal throttle.
    fn throttle_window(&self) -> Duration;
    /// How far back past critical alerts count against a recipient's daily budget.
    fn budget_window(&self) -> Duration;
    /// The alerts to write, riskiest first.
    fn plan(&self, facts: &AlertFacts<'_>) -> Vec<PlannedAlert>;
}
