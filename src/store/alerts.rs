//! Critical alerts inside the score-writing transaction: read what the planner needs (previous
//! scores, users and their settings, snoozes, false alarms, recent alerts, the daily budget),
//! ask the `AlertPlanner` the caller passed in, and write the `alerts` + `outbox` rows it
//! returns before the deals' current scores change. Also the contact list digests use and a user's delivery
//! settings (Slack link, zone). Snoozes and false alarms are written by `store::slack`.
use super::outbox::insert_outbox_rows;
use super::{Store, StoreResult, format_ts, values_sql};
use crate::domain::{
    AlertFacts, AlertPlanner, AlertSettings, DealScore, NewOutboxRow, TenantId, UserContact,
};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::HashMap;

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
            Some(AlertSettings {
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

/// A 24 h bucket for the alert dedupe key. The policy's throttle (last alert < 24 h ago,
/// read in the same transaction) is the rule; the unique key makes two replicas racing on
/// the same crossing insert one row.
fn dedupe_key(deal_id: &str, user_id: &str, now: DateTime<Utc>) -> String {
    format!(
        "critical:{deal_id}:{user_id}:{}",
        now.timestamp().div_euclid(86_400)
    )
}

fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Called by `record_scores` inside its transaction, before current scores are updated:
/// read the facts `planner` needs, ask it, write what it returns. Returns how many alerts
/// were created.
pub(super) async fn enqueue_critical_alerts(
    store: &Store,
    conn: &mut sqlx::AnyConnection,
    tenant: &TenantId,
    now: DateTime<Utc>,
    scores: &[DealScore],
    planner: &dyn AlertPlanner,
) -> StoreResult<u64> {
    let users = contacts(conn, tenant).await?;
    // A deal already above every recipient's threshold cannot cross: skip it in SQL, so a
    // nightly rescore of deals that were critical yesterday reads (almost) nothing.
    let bounds = planner.score_bounds(&users);
    let candidates: Vec<&DealScore> = scores
        .iter()
        .filter(|s| s.risk_score > bounds.min)
        .collect();
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
            .bind(i64::from(bounds.max));
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
    let snoozed_until: HashMap<String, DateTime<Utc>> = sqlx::query_as::<_, (String, String)>(
        "SELECT deal_id, until FROM snoozes WHERE tenant_id = $1 AND until > $2",
    )
    .bind(t.clone())
    .bind(ts.clone())
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .filter_map(|(d, until)| Some((d, parse_ts(&until)?)))
    .collect();
    // The newest false-alarm mark per deal wins (rows come oldest first).
    let false_alarm_scores: HashMap<String, u8> = sqlx::query_as::<_, (String, Option<i64>)>(
        "SELECT deal_id, risk_score FROM feedback WHERE tenant_id = $1 AND kind = 'false_alarm' \
         ORDER BY created_at",
    )
    .bind(t.clone())
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .filter_map(|(d, s)| Some((d, s?.clamp(0, 100) as u8)))
    .collect();
    let last_alert_at: HashMap<(String, String), DateTime<Utc>> =
        sqlx::query_as::<_, (String, String, String)>(
            "SELECT deal_id, user_id, MAX(created_at) FROM alerts \
             WHERE tenant_id = $1 AND kind = 'critical' AND created_at > $2 GROUP BY deal_id, user_id",
        )
        .bind(t.clone())
        .bind(format_ts(now - planner.throttle_window()))
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .filter_map(|(d, u, at)| Some(((d, u), parse_ts(&at)?)))
        .collect();
    // Critical alerts per recipient in the budget's window, against the tenant's daily budget.
    let alerts_sent: HashMap<String, u32> = sqlx::query_as::<_, (String, i64)>(
        "SELECT user_id, COUNT(*) FROM alerts WHERE tenant_id = $1 AND kind = 'critical' \
         AND created_at > $2 GROUP BY user_id",
    )
    .bind(t.clone())
    .bind(format_ts(now - planner.budget_window()))
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|(u, n)| (u, n.clamp(0, i64::from(u32::MAX)) as u32))
    .collect();
    let alerts_per_day: Option<u32> = sqlx::query_as::<_, (i64,)>(
        "SELECT alerts_per_day FROM risk_settings WHERE tenant_id = $1",
    )
    .bind(t.clone())
    .fetch_optional(&mut *conn)
    .await?
    .map(|(n,)| n.clamp(1, i64::from(u32::MAX)) as u32);

    let planned = planner.plan(&AlertFacts {
        tenant,
        now,
        scores: candidates,
        users: &users,
        deals,
        snoozed_until,
        false_alarm_scores,
        last_alert_at,
        alerts_sent,
        alerts_per_day,
    });
    let mut outbox: HashMap<String, Vec<NewOutboxRow>> = HashMap::new();
    let mut alerts = Vec::with_capacity(planned.len());
    for a in planned {
        outbox.insert(a.alert_id.clone(), a.outbox);
        alerts.push((
            a.alert_id,
            a.deal_id.clone(),
            a.user_id.clone(),
            i64::from(a.risk_score),
            dedupe_key(&a.deal_id, &a.user_id, now),
        ));
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
