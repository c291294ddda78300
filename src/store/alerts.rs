//! Critical alerts inside the score-writing transaction: read what the policy needs (previous
//! scores, owners and managers, their settings, snoozes, false alarms, recent alerts), ask
//! `notify::policy::decide` for each recipient, and write `alerts` + `outbox` rows before the
//! deals' current scores change. Also the contact list digests use and a user's delivery
//! settings (Slack link, zone). Snoozes and false alarms are written by `store::slack`.
use super::outbox::{NewOutboxRow, insert_outbox_rows};
use super::{Store, StoreResult, format_ts, values_sql};
use crate::domain::{DealScore, TenantId};
use crate::notify::outbox::{
    AlertPayload, CHANNEL_EMAIL, CHANNEL_SLACK, KIND_CRITICAL_ALERT, Payload, Recipient,
};
use crate::notify::policy::{
    self, Channel, DEFAULT_FALSE_ALARM_MARGIN, DealAlertState, Decision, RecipientSettings,
};
use chrono::{DateTime, NaiveTime, Utc};
use sqlx::Row;
use std::collections::HashMap;

/// A user with everything delivery needs.
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
    pub settings: Option<super::AlertSettings>,
}

impl UserContact {
    /// The alert settings the policy applies: the saved row, else the defaults in the user's
    /// own time zone (a saved row's zone wins: the user chose it).
    pub fn policy_settings(&self) -> RecipientSettings {
        let d = RecipientSettings::default();
        let zone = |z: &str| z.parse().unwrap_or(chrono_tz::UTC);
        let time = |t: &str, dflt: NaiveTime| NaiveTime::parse_from_str(t, "%H:%M").unwrap_or(dflt);
        match &self.settings {
            None => RecipientSettings {
                time_zone: zone(&self.time_zone),
                ..d
            },
            Some(s) => RecipientSettings {
                critical_enabled: s.critical_enabled,
                threshold: s.threshold.clamp(0, 100) as u8,
                channels: s
                    .channels
                    .iter()
                    .filter_map(|c| match c.as_str() {
                        "slack" => Some(Channel::Slack),
                        "email" => Some(Channel::Email),
                        _ => None,
                    })
                    .collect(),
                time_zone: zone(&s.time_zone),
                // Quiet hours switched off: an empty window (start == end holds nothing back).
                quiet_start: if s.quiet_enabled {
                    time(&s.quiet_start, d.quiet_start)
                } else {
                    NaiveTime::MIN
                },
                quiet_end: if s.quiet_enabled {
                    time(&s.quiet_end, d.quiet_end)
                } else {
                    NaiveTime::MIN
                },
            },
        }
    }

    /// The zone digests and quiet hours use.
    pub fn zone(&self) -> chrono_tz::Tz {
        self.policy_settings().time_zone
    }

    pub fn recipient(&self, role: &str) -> Recipient {
        Recipient {
            user_id: self.user_id.clone(),
            name: self.name.clone(),
            email: self.email.clone(),
            slack_user_id: self.slack_user_id.clone(),
            role: role.to_string(),
        }
    }

    /// Channels actually usable: Slack needs a linked Slack user, email an address. A user
    /// who wants Slack but has no Slack link gets email instead, so nothing is silently lost.
    pub fn deliverable(&self, wanted: &[Channel]) -> Vec<&'static str> {
        let mut out = Vec::new();
        for c in wanted {
            let ch = match c {
                Channel::Slack if self.slack_user_id.is_some() => CHANNEL_SLACK,
                Channel::Slack | Channel::Email if self.email.is_some() => CHANNEL_EMAIL,
                _ => continue,
            };
            if !out.contains(&ch) {
                out.push(ch);
            }
        }
        out
    }
}

const CONTACT_SQL: &str = "SELECT u.user_id, u.email, u.name, u.role, u.manager_id, u.time_zone, \
     u.slack_user_id, u.salesforce_user_id, s.critical_enabled, s.channels, s.threshold, s.digest_time, \
     s.time_zone AS s_time_zone, s.quiet_start, s.quiet_end, s.max_deals, \
     s.digest_enabled, s.digest_min_risk_score, s.quiet_enabled \
     FROM users u LEFT JOIN alert_settings s ON s.tenant_id = u.tenant_id AND s.user_id = u.user_id \
     WHERE u.tenant_id = $1 ORDER BY u.user_id";

fn contact_from(r: &sqlx::any::AnyRow) -> StoreResult<UserContact> {
    let enabled: Option<i64> = r.try_get("critical_enabled")?;
    let settings = match enabled {
        None => None,
        Some(e) => {
            let channels: String = r.try_get("channels")?;
            Some(super::AlertSettings {
                critical_enabled: e != 0,
                channels: serde_json::from_str(&channels).unwrap_or_default(),
                threshold: r.try_get("threshold")?,
                digest_time: r.try_get("digest_time")?,
                time_zone: r.try_get("s_time_zone")?,
                quiet_start: r.try_get("quiet_start")?,
                quiet_end: r.try_get("quiet_end")?,
                max_deals: r.try_get("max_deals")?,
                digest_enabled: r.try_get::<i64, _>("digest_enabled")? != 0,
                digest_min_risk_score: r.try_get("digest_min_risk_score")?,
                quiet_enabled: r.try_get::<i64, _>("quiet_enabled")? != 0,
            })
        }
    };
    Ok(UserContact {
        user_id: r.try_get("user_id")?,
        email: r.try_get("email")?,
        name: r.try_get("name")?,
        role: r.try_get("role")?,
        manager_id: r.try_get("manager_id")?,
        time_zone: r.try_get("time_zone")?,
        slack_user_id: r.try_get("slack_user_id")?,
        salesforce_user_id: r.try_get("salesforce_user_id")?,
        settings,
    })
}

async fn contacts(
    conn: &mut sqlx::AnyConnection,
    tenant: &TenantId,
) -> StoreResult<Vec<UserContact>> {
    let rows = sqlx::query(CONTACT_SQL)
        .bind(tenant.as_str().to_string())
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(contact_from).collect()
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

/// A 24 h bucket for the alert dedupe key. The policy's throttle (last alert < 24 h ago,
/// read in the same transaction) is the rule; the unique key makes two replicas racing on
/// the same crossing insert one row.
fn dedupe_key(deal_id: &str, user_id: &str, now: DateTime<Utc>) -> String {
    format!(
        "critical:{deal_id}:{user_id}:{}",
        now.timestamp().div_euclid(86_400)
    )
}

/// Called by `record_scores` inside its transaction, before current scores are updated.
/// Returns how many alerts were created.
pub(super) async fn enqueue_critical_alerts(
    store: &Store,
    conn: &mut sqlx::AnyConnection,
    tenant: &TenantId,
    now: DateTime<Utc>,
    scores: &[DealScore],
    context: &crate::notify::outbox::AlertContext,
) -> StoreResult<u64> {
    let users = contacts(conn, tenant).await?;
    let min_threshold = users
        .iter()
        .map(|u| u.policy_settings().threshold)
        .chain([75])
        .min()
        .unwrap_or(75);
    // A deal already above every recipient's threshold cannot cross: skip it in SQL, so a
    // nightly rescore of deals that were critical yesterday reads (almost) nothing.
    let max_threshold = users
        .iter()
        .map(|u| u.policy_settings().threshold)
        .chain([75])
        .max()
        .unwrap_or(75);
    // Riskiest first, so a recipient's daily alert budget goes to the deals most at risk.
    let mut candidates: Vec<&DealScore> = scores
        .iter()
        .filter(|s| s.risk_score > min_threshold)
        .collect();
    candidates.sort_by_key(|s| std::cmp::Reverse(s.risk_score));
    if candidates.is_empty() || users.is_empty() {
        return Ok(0);
    }
    let t = tenant.as_str().to_string();
    // The deals as stored now, with their previous current score.
    let mut deals = HashMap::new();
    for part in candidates.chunks(200) {
        let ph: Vec<String> = (0..part.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "SELECT {}, current_risk_score FROM deals WHERE tenant_id = $1 \
             AND (current_risk_score IS NULL OR current_risk_score <= $2) AND deal_id IN ({})",
            super::deals::DEAL_COLUMNS.join(", "),
            ph.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(t.clone())
            .bind(i64::from(max_threshold));
        for s in part {
            q = q.bind(s.deal_id.clone());
        }
        for r in q.fetch_all(&mut *conn).await? {
            let deal = super::deals::deal_from_row(&r)?;
            let prev: Option<i64> = r.try_get("current_risk_score")?;
            deals.insert(
                deal.deal_id.clone(),
                (deal, prev.map(|p| p.clamp(0, 100) as u8)),
            );
        }
    }
    let ts = format_ts(now);
    let snoozed: HashMap<String, String> =
        sqlx::query_as("SELECT deal_id, until FROM snoozes WHERE tenant_id = $1 AND until > $2")
            .bind(t.clone())
            .bind(ts.clone())
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
    // The newest false-alarm mark per deal wins (rows come oldest first).
    let false_alarms: HashMap<String, i64> = sqlx::query_as::<_, (String, Option<i64>)>(
        "SELECT deal_id, risk_score FROM feedback WHERE tenant_id = $1 AND kind = 'false_alarm' \
         ORDER BY created_at",
    )
    .bind(t.clone())
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .filter_map(|(d, s)| Some((d, s?)))
    .collect();
    let recent: HashMap<(String, String), String> = sqlx::query_as::<_, (String, String, String)>(
        "SELECT deal_id, user_id, MAX(created_at) FROM alerts \
         WHERE tenant_id = $1 AND kind = 'critical' AND created_at > $2 GROUP BY deal_id, user_id",
    )
    .bind(t.clone())
    .bind(format_ts(now - policy::THROTTLE))
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|(d, u, at)| ((d, u), at))
    .collect();
    // Critical alerts per recipient in the last 24 h, against the tenant's daily budget.
    let mut sent: HashMap<String, u32> = sqlx::query_as::<_, (String, i64)>(
        "SELECT user_id, COUNT(*) FROM alerts WHERE tenant_id = $1 AND kind = 'critical' \
         AND created_at > $2 GROUP BY user_id",
    )
    .bind(t.clone())
    .bind(format_ts(now - chrono::Duration::hours(24)))
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|(u, n)| (u, n.clamp(0, i64::from(u32::MAX)) as u32))
    .collect();
    let budget: u32 = sqlx::query_as::<_, (i64,)>(
        "SELECT alerts_per_day FROM risk_settings WHERE tenant_id = $1",
    )
    .bind(t.clone())
    .fetch_optional(&mut *conn)
    .await?
    .map_or(policy::DEFAULT_DAILY_ALERT_BUDGET, |(n,)| {
        n.clamp(1, i64::from(u32::MAX)) as u32
    });
    let parse_ts = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    };

    // (alert row binds, outbox rows for it)
    let mut alerts: Vec<(String, String, String, i64, String)> = Vec::new();
    let mut outbox: HashMap<String, Vec<NewOutboxRow>> = HashMap::new();
    for s in candidates {
        let Some((deal, prev)) = deals.get(&s.deal_id) else {
            // Not stored (ad-hoc API scoring) or already above every threshold: no crossing.
            continue;
        };
        let Some(owner) = owner_of(&users, &deal.sales_rep_id, deal.owner_email.as_deref()) else {
            continue;
        };
        let manager = owner
            .manager_id
            .as_deref()
            .and_then(|m| users.iter().find(|u| u.user_id == m))
            .filter(|m| m.user_id != owner.user_id);
        let recipients = [Some((owner, "owner")), manager.map(|m| (m, "manager"))];
        for (user, role) in recipients.into_iter().flatten() {
            let state = DealAlertState {
                previous_score: *prev,
                last_critical_alert_at: recent
                    .get(&(deal.deal_id.clone(), user.user_id.clone()))
                    .and_then(|a| parse_ts(a)),
                snoozed_until: snoozed.get(&deal.deal_id).and_then(|u| parse_ts(u)),
                false_alarm_score: false_alarms
                    .get(&deal.deal_id)
                    .map(|f| (*f).clamp(0, 100) as u8),
            };
            let settings = user.policy_settings();
            let decision = policy::decide(
                s.risk_score,
                &state,
                &settings,
                now,
                DEFAULT_FALSE_ALARM_MARGIN,
            );
            let sent_before = sent.get(&user.user_id).copied().unwrap_or(0);
            let (decision, standing) = policy::apply_budget(decision, sent_before, budget);
            let Decision::Alert { at, channels } = decision else {
                continue;
            };
            let channels = user.deliverable(&channels);
            if channels.is_empty() {
                tracing::warn!(tenant = %tenant, user = %user.user_id, deal = %deal.deal_id,
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
                relative: context.relative.get(&deal.deal_id).copied(),
                skill_line: context.skill_line.clone(),
            }))
            .to_json();
            outbox.insert(
                alert_id.clone(),
                channels
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
                    .collect(),
            );
            *sent.entry(user.user_id.clone()).or_default() += 1;
            alerts.push((
                alert_id,
                deal.deal_id.clone(),
                user.user_id.clone(),
                i64::from(s.risk_score),
                dedupe_key(&deal.deal_id, &user.user_id, now),
            ));
        }
    }
    let mut created = 0;
    for part in alerts.chunks(50) {
        let sql = format!(
            "INSERT INTO alerts (tenant_id, alert_id, deal_id, user_id, kind, risk_score, dedupe_key, created_at) \
             VALUES {} ON CONFLICT DO NOTHING RETURNING alert_id",
            values_sql(part.len(), 8)
        );
        let mut q = sqlx::query_as::<_, (String,)>(sqlx::AssertSqlSafe(sql));
        for (id, deal, user, score, key) in part {
            q = q
                .bind(t.clone())
                .bind(id.clone())
                .bind(deal.clone())
                .bind(user.clone())
                .bind("critical")
                .bind(*score)
                .bind(key.clone())
                .bind(ts.clone());
        }
        let inserted = q.fetch_all(&mut *conn).await?;
        let rows: Vec<NewOutboxRow> = inserted
            .iter()
            .flat_map(|(id,)| outbox.remove(id).unwrap_or_default())
            .collect();
        insert_outbox_rows(conn, store.backend, tenant, &rows, now).await?;
        created += inserted.len() as u64;
    }
    Ok(created)
}

impl Store {
    /// Every user of the tenant with their alert settings and Slack link.
    pub async fn user_contacts(&self, tenant: &TenantId) -> StoreResult<Vec<UserContact>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let out = contacts(&mut tx, tenant).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Link a user to their Slack user id and set their IANA time zone.
    pub async fn set_user_delivery(
        &self,
        tenant: &TenantId,
        user_id: &str,
        slack_user_id: Option<&str>,
        time_zone: &str,
    ) -> StoreResult<()> {
        if time_zone.parse::<chrono_tz::Tz>().is_err() {
            return Err(super::StoreError::Other(anyhow::anyhow!(
                "unknown time zone {time_zone:?}: use an IANA name such as America/New_York"
            )));
        }
        let mut tx = self.begin_tenant(tenant).await?;
        let n = sqlx::query(
            "UPDATE users SET slack_user_id = $3, time_zone = $4 WHERE tenant_id = $1 AND user_id = $2",
        )
        .bind(tenant.as_str().to_string())
        .bind(user_id.to_string())
        .bind(slack_user_id.map(str::to_string))
        .bind(time_zone.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        if n == 0 {
            return Err(super::StoreError::NotFound);
        }
        Ok(())
    }

    /// (deal_id, user_id, created_at) of the tenant's critical alerts, oldest first.
    pub async fn critical_alerts(
        &self,
        tenant: &TenantId,
    ) -> StoreResult<Vec<(String, String, String)>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows = sqlx::query_as(
            "SELECT deal_id, user_id, created_at FROM alerts WHERE tenant_id = $1 AND kind = 'critical' \
             ORDER BY created_at, deal_id, user_id",
        )
        .bind(tenant.as_str().to_string())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows)
    }
}
