//! The alert policy as the store's planner: given the facts `Store::record_scores` read in its
//! transaction, decide for each critical crossing's owner and manager (`policy::decide`, the
//! daily budget) and return the alerts with their outbox payloads for the store to write.
use super::outbox::{AlertContext, AlertPayload, KIND_CRITICAL_ALERT, Payload};
use super::policy::{self, DEFAULT_FALSE_ALARM_MARGIN, DealAlertState, Decision};
use crate::domain::{
    AlertFacts, AlertPlanner, DealScore, NewOutboxRow, PlannedAlert, ScoreBounds, UserContact,
};
use chrono::Duration;

/// The default threshold, which always bounds the scan even if every user raised theirs.
const DEFAULT_THRESHOLD: u8 = 75;

/// The real alert policy. `context` is what the scoring run knows beyond each score and puts
/// into the alerts it raises (pipeline standing, the model's low-skill line).
#[derive(Debug, Clone, Default)]
pub struct AlertPolicy {
    pub context: AlertContext,
}

impl AlertPolicy {
    pub fn new(context: AlertContext) -> Self {
        AlertPolicy { context }
    }
}

/// The deal's owner among the tenant's users: by user id, Salesforce user id, then email.
fn owner_of<'a>(
    users: &'a [UserContact],
    rep_id: &str,
    owner_email: Option<&str>,
) -> Option<&'a UserContact> {
    users
        .iter()
        .find(|u| u.user_id == rep_id)
        .or_else(|| {
            users
                .iter()
                .find(|u| u.salesforce_user_id.as_deref() == Some(rep_id))
        })
        .or_else(|| {
            let e = owner_email?;
            users.iter().find(|u| {
                u.email
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(e))
            })
        })
}

impl AlertPlanner for AlertPolicy {
    fn score_bounds(&self, users: &[UserContact]) -> ScoreBounds {
        let thresholds = || {
            users
                .iter()
                .map(|u| u.policy_settings().threshold)
                .chain([DEFAULT_THRESHOLD])
        };
        ScoreBounds {
            min: thresholds().min().unwrap_or(DEFAULT_THRESHOLD),
            max: thresholds().max().unwrap_or(DEFAULT_THRESHOLD),
        }
    }

    fn throttle_window(&self) -> Duration {
        policy::THROTTLE
    }

    fn budget_window(&self) -> Duration {
        Duration::hours(24)
    }

    fn plan(&self, f: &AlertFacts<'_>) -> Vec<PlannedAlert> {
        let budget = f
            .alerts_per_day
            .unwrap_or(policy::DEFAULT_DAILY_ALERT_BUDGET);
        let mut sent = f.alerts_sent.clone();
        // Riskiest first, so a recipient's daily alert budget goes to the deals most at risk.
        let mut candidates: Vec<&DealScore> = f.scores.clone();
        candidates.sort_by_key(|s| std::cmp::Reverse(s.risk_score));
        let mut out = Vec::new();
        for s in candidates {
            let Some((deal, prev)) = f.deals.get(&s.deal_id) else {
                // Not stored (ad-hoc API scoring) or already above every threshold: no crossing.
                continue;
            };
            let Some(owner) = owner_of(f.users, &deal.sales_rep_id, deal.owner_email.as_deref())
            else {
                continue;
            };
            let manager = owner
                .manager_id
                .as_deref()
                .and_then(|m| f.users.iter().find(|u| u.user_id == m))
                .filter(|m| m.user_id != owner.user_id);
            let recipients = [Some((owner, "owner")), manager.map(|m| (m, "manager"))];
            for (user, role) in recipients.into_iter().flatten() {
                let state = DealAlertState {
                    previous_score: *prev,
                    last_critical_alert_at: f
                        .last_alert_at
                        .get(&(deal.deal_id.clone(), user.user_id.clone()))
                        .copied(),
                    snoozed_until: f.snoozed_until.get(&deal.deal_id).copied(),
                    false_alarm_score: f.false_alarm_scores.get(&deal.deal_id).copied(),
                };
                let settings = user.policy_settings();
                let decision = policy::decide(
                    s.risk_score,
                    &state,
                    &settings,
                    f.now,
                    DEFAULT_FALSE_ALARM_MARGIN,
                );
                let sent_before = sent.get(&user.user_id).copied().unwrap_or(0);
                let (decision, standing) = policy::apply_budget(decision, sent_before, budget);
                let Decision::Alert { at, channels } = decision else {
                    continue;
                };
                let channels = user.deliverable(&channels);
                if channels.is_empty() {
                    tracing::warn!(tenant = %f.tenant, user = %user.user_id, deal = %deal.deal_id,
                        "critical alert not delivered: the user has neither a Slack link nor an email");
                    continue;
                }
                let alert_id = uuid::Uuid::new_v4().to_string();
                let payload = Payload::Alert(Box::new(AlertPayload {
                    alert_id: alert_id.clone(),
                    deal: deal.clone(),
                    score: s.clone(),
                    previous_score: *prev,
                    recipient: user.recipient(role),
                    budget: standing,
                    relative: self.context.relative.get(&deal.deal_id).copied(),
                    skill_line: self.context.skill_line.clone(),
                }))
                .to_json();
                let outbox = channels
                    .iter()
                    .map(|ch| NewOutboxRow {
                        kind: KIND_CRITICAL_ALERT.into(),
                        channel: (*ch).into(),
                        recipient: user.user_id.clone(),
                        payload: payload.clone(),
                        idempotency_key: format!("{alert_id}:{ch}"),
                        alert_id: Some(alert_id.clone()),
                        due: at,
                    })
                    .collect();
                *sent.entry(user.user_id.clone()).or_default() += 1;
                out.push(PlannedAlert {
                    alert_id,
                    deal_id: deal.deal_id.clone(),
                    user_id: user.user_id.clone(),
                    risk_score: s.risk_score,
                    outbox,
                });
            }
        }
        out
    }
}
