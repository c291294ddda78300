//! Critical alerts inside the score-writing transaction: read what the planner needs (previous
//! scores, users and their settings, snoozes, false alarms, recent alerts, the daily budget),
//! ask the `AlertPlanner` the caller passed in, and write the `alerts` + `outbox` rows it
//! returns before the deals' current scores change.
use super::settings::contacts;
use crate::domain::{AlertFacts, AlertPlanner, DealScore, NewOutboxRow, TenantId};
use crate::store::deals::{DEAL_COLUMNS, DealRecord};
use crate::store::outbox::insert_outbox_rows;
use crate::store::sql::{placeholders, values_sql};
use crate::store::{Store, StoreResult, format_ts};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// A deal as stored with its current score (`None`: never scored).
#[derive(sqlx::FromRow)]
struct DealWithScore {
    #[sqlx(flatten)]
    deal: DealRecord,
    current_risk_score: Option<i64>,
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
pub(in crate::store) async fn enqueue_critical_alerts(
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
        let sql = format!(
            "SELECT {}, current_risk_score FROM deals WHERE tenant_id = $1 \
             AND (current_risk_score IS NULL OR current_risk_score <= $2) AND deal_id IN ({})",
            DEAL_COLUMNS.join(", "),
            placeholders(3, part.len())
        );
        let mut q = sqlx::query_as::<_, DealWithScore>(sqlx::AssertSqlSafe(sql))
            .bind(t.clone())
            .bind(i64::from(bounds.max));
        for s in part {
            q = q.bind(s.deal_id.clone());
        }
        for r in q.fetch_all(&mut *conn).await? {
            let deal = crate::domain::Deal::from(r.deal);
            let prev = r.current_risk_score.map(|p| p.clamp(0, 100) as u8);
            deals.insert(deal.deal_id.clone(), (deal, prev));
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
            values_sql(store.backend(), part.len(), 8)
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
        insert_outbox_rows(conn, store, tenant, &rows, now).await?;
        created += inserted.len() as u64;
    }
    Ok(created)
}
