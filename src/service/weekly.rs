//! The weekly CRO summary (Monday 09:00): pipeline figures (the same `pipeline_view` as
//! `skygeni metrics`), weekly win-rate trend, top issues, what changed this week, model
//! health, and closing the loop on last week's critical deals. Renderers: `notify::weekly`.
use super::metrics::pipeline_view;
use super::models::{ModelSource, load_scorer};
use crate::domain::{Deal, ModelScope, Outcome, RiskCategory, TenantId};
use crate::engine::{DEFAULT_SAVE_RATE, PipelineMetrics};
use crate::store::{CalibrationCheck, ModelEvaluation, Store, StoredScore};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Weeks shown in the win-rate trend.
pub const TREND_WEEKS: usize = 12;
/// A score change of at least this many points counts as "moved".
pub const MOVE_POINTS: i32 = 10;
/// A week-old snapshot takes each deal's newest score within this long before the cutoff
/// (the nightly run scores daily; a missed night or two is tolerated).
pub const SNAPSHOT_WINDOW: Duration = Duration::days(3);
/// Deals listed per section (counts are always complete).
pub const LIST_LIMIT: usize = 10;
/// With no critical deal a week ago, the loop follows this many of its highest-risk high
/// deals (the digest's "Deals Needing Attention (Top 5)"), so the advice is still checked.
pub const LOOP_TOP_HIGH: usize = 5;

#[derive(Debug, Clone, Serialize)]
pub struct WeeklySummary {
    pub tenant: String,
    pub tenant_name: String,
    pub generated_at: DateTime<Utc>,
    /// The week covered: `[week_start, as_of)`.
    pub week_start: NaiveDate,
    pub as_of: NaiveDate,
    /// Same figures as `skygeni metrics --as-of <as_of>`.
    pub metrics: PipelineMetrics,
    pub at_risk_deals: usize,
    pub at_risk_pct: f64,
    pub win_rate_trend: Vec<WeekWinRate>,
    pub top_issues: Vec<TopIssue>,
    pub changes: WeekChanges,
    pub model_health: ModelHealth,
    pub closing_the_loop: ClosingTheLoop,
}

/// Win rate of the deals that closed in the week starting Monday `week_start`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeekWinRate {
    pub week_start: NaiveDate,
    pub won: usize,
    pub lost: usize,
    /// `None` when nothing closed that week.
    pub win_rate: Option<f64>,
}

/// A risk factor and how many high/critical open deals have it among their top 3.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopIssue {
    pub code: String,
    pub label: String,
    pub deals: usize,
    pub amount: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DealLine {
    pub deal_id: String,
    pub name: String,
    pub amount: f64,
    pub score: u8,
    pub category: String,
    pub previous_score: Option<u8>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WeekChanges {
    /// When the week-old snapshot was scored; `None`: no scores that old yet.
    pub compared_with: Option<String>,
    pub became_critical: Vec<DealLine>,
    pub became_critical_count: usize,
    pub moved_up: Vec<DealLine>,
    pub moved_up_count: usize,
    pub moved_down: Vec<DealLine>,
    pub moved_down_count: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelHealth {
    pub source: ModelSource,
    pub production_version: Option<String>,
    pub staging_version: Option<String>,
    pub degraded: bool,
    pub note: String,
    pub last_retrain: Option<ModelEvaluation>,
    pub last_calibration: Option<CalibrationCheck>,
    /// One line for the summary.
    pub status: String,
}

/// What happened to the deals SkyGeni flagged a week ago: the critical ones (alerted), or,
/// when none was critical, the top [`LOOP_TOP_HIGH`] high-risk deals the digest put first.
#[derive(Debug, Clone, Serialize)]
pub struct ClosingTheLoop {
    pub critical_last_week: usize,
    /// `critical`, `high` (the fallback above) or `none` (no flagged deals a week ago).
    pub basis: String,
    /// Deals followed (all counts below are over these).
    pub followed: usize,
    pub actions_total: usize,
    pub actions_done: usize,
    pub snoozed: usize,
    pub false_alarms: usize,
    pub won: usize,
    pub lost: usize,
    pub still_open: usize,
    /// Still open and no longer critical.
    pub improved: usize,
    pub deals: Vec<LoopDeal>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoopDeal {
    pub deal: DealLine,
    /// `won`, `lost`, `open` or `gone` (no longer in the CRM).
    pub status: String,
    pub current_score: Option<u8>,
    pub actions_done: usize,
    pub actions_total: usize,
    pub snoozed: bool,
    pub false_alarm: bool,
}

pub async fn weekly_summary(
    store: &Store,
    tenant: &TenantId,
    now: DateTime<Utc>,
) -> anyhow::Result<WeeklySummary> {
    let info = store.require_tenant(tenant).await?;
    let as_of = now.date_naive();
    let week_ago = now - Duration::days(7);
    let view = pipeline_view(store, tenant, as_of, DEFAULT_SAVE_RATE).await?;
    let history = store.load_deals(tenant).await?;
    let by_id: HashMap<&str, &Deal> = history.iter().map(|d| (d.deal_id.as_str(), d)).collect();
    let m = view.metrics;
    let at_risk_deals: usize = m
        .risk_distribution
        .iter()
        .filter(|b| b.category.is_at_risk())
        .map(|b| b.deals)
        .sum();
    let at_risk_pct = pct(at_risk_deals, m.open_deals);

    let mut issues: BTreeMap<&'static str, TopIssue> = BTreeMap::new();
    for (d, s) in view.deals.iter().zip(&view.scores) {
        if !s.risk_category.is_at_risk() {
            continue;
        }
        for f in s.risk_factors.iter().filter(|f| f.impact > 0.0) {
            let e = issues.entry(f.code.as_str()).or_insert_with(|| TopIssue {
                code: f.code.as_str().into(),
                label: factor_label(f.code.as_str()).into(),
                deals: 0,
                amount: 0.0,
            });
            e.deals += 1;
            e.amount += d.amount;
        }
    }
    let mut top_issues: Vec<TopIssue> = issues.into_values().collect();
    top_issues.sort_by(|a, b| b.deals.cmp(&a.deals).then(a.code.cmp(&b.code)));
    top_issues.truncate(5);

    let current: HashMap<String, StoredScore> = store
        .current_scores(tenant)
        .await?
        .into_iter()
        .map(|s| (s.deal_id.clone(), s))
        .collect();
    let previous = store
        .scores_at_or_before(tenant, week_ago, week_ago - SNAPSHOT_WINDOW)
        .await?;
    let line = |id: &str, score: u8, prev: Option<u8>| {
        let d = by_id.get(id);
        DealLine {
            deal_id: id.to_string(),
            name: d.map_or_else(|| id.to_string(), |d| deal_name(d)),
            amount: d.map_or(0.0, |d| d.amount),
            score,
            category: RiskCategory::from_score(score).as_str().to_string(),
            previous_score: prev,
        }
    };
    let changes = week_changes(&previous, &current, &line);
    let closing_the_loop = close_the_loop(
        store, tenant, &previous, &current, &by_id, &line, week_ago, now,
    )
    .await?;
    let model_health = model_health(store, tenant, &history, as_of).await?;

    Ok(WeeklySummary {
        tenant: tenant.as_str().to_string(),
        tenant_name: info.name,
        generated_at: now,
        week_start: as_of - Duration::days(7),
        as_of,
        metrics: m,
        at_risk_deals,
        at_risk_pct,
        win_rate_trend: win_rate_trend(&history, as_of, TREND_WEEKS),
        top_issues,
        changes,
        model_health,
        closing_the_loop,
    })
}

fn pct(n: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        n as f64 * 100.0 / of as f64
    }
}

pub fn deal_name(d: &Deal) -> String {
    d.company
        .clone()
        .or_else(|| d.deal_name.clone())
        .unwrap_or_else(|| d.deal_id.clone())
}

fn factor_label(code: &str) -> &'static str {
    match code {
        "industry" => "Industry win rate",
        "product_type" => "Product win rate",
        "lead_source" => "Lead source",
        "region" => "Region",
        "deal_size" => "Deal size",
        "deal_age" => "Deal age (long cycle)",
        "timing" => "Quarter timing",
        "inactivity" => "No recent activity",
        "stage_stall" => "Stalled in stage",
        "close_date_pushes" => "Close date pushed",
        "amount_cut" => "Amount cut",
        _ => "Other",
    }
}

/// Win rate per week for the `weeks` seven-day weeks before `as_of` (the last one is
/// `[as_of - 7, as_of)`, the week the summary covers, so its heading and the trend's last
/// week are the same days), from the deals' close dates (closed date, else created date +
/// cycle length).
pub fn win_rate_trend(deals: &[Deal], as_of: NaiveDate, weeks: usize) -> Vec<WeekWinRate> {
    let first = as_of - Duration::weeks(weeks as i64);
    let mut out: Vec<WeekWinRate> = (0..weeks)
        .map(|i| WeekWinRate {
            week_start: first + Duration::weeks(i as i64),
            won: 0,
            lost: 0,
            win_rate: None,
        })
        .collect();
    for d in deals {
        let Some(outcome) = d.outcome else { continue };
        let closed = d.closed_date.or_else(|| {
            d.sales_cycle_days
                .map(|c| d.created_date + Duration::days(c))
        });
        let Some(closed) = closed.filter(|c| *c >= first && *c < as_of) else {
            continue;
        };
        let w = &mut out[((closed - first).num_days() / 7) as usize];
        match outcome {
            Outcome::Won => w.won += 1,
            Outcome::Lost => w.lost += 1,
        }
    }
    for w in &mut out {
        let n = w.won + w.lost;
        w.win_rate = (n > 0).then(|| w.won as f64 / n as f64);
    }
    out
}

fn week_changes(
    previous: &[StoredScore],
    current: &HashMap<String, StoredScore>,
    line: &(dyn Fn(&str, u8, Option<u8>) -> DealLine + Sync),
) -> WeekChanges {
    let mut became = Vec::new();
    let mut up = Vec::new();
    let mut down = Vec::new();
    let prev: HashMap<&str, u8> = previous
        .iter()
        .map(|s| (s.deal_id.as_str(), s.risk_score))
        .collect();
    let mut ids: Vec<&String> = current.keys().collect();
    ids.sort();
    for id in ids {
        let now = current[id].risk_score;
        let Some(&before) = prev.get(id.as_str()) else {
            continue;
        };
        let l = line(id, now, Some(before));
        let delta = i32::from(now) - i32::from(before);
        if RiskCategory::from_score(now) == RiskCategory::Critical
            && RiskCategory::from_score(before) != RiskCategory::Critical
        {
            became.push(l.clone());
        }
        if delta >= MOVE_POINTS {
            up.push(l);
        } else if delta <= -MOVE_POINTS {
            down.push(l);
        }
    }
    let by_delta = |v: &mut Vec<DealLine>, up: bool| {
        v.sort_by_key(|l| {
            let d = i32::from(l.score) - i32::from(l.previous_score.unwrap_or(l.score));
            if up { -d } else { d }
        });
    };
    by_delta(&mut became, true);
    by_delta(&mut up, true);
    by_delta(&mut down, false);
    let (bc, uc, dc) = (became.len(), up.len(), down.len());
    became.truncate(LIST_LIMIT);
    up.truncate(LIST_LIMIT);
    down.truncate(LIST_LIMIT);
    WeekChanges {
        compared_with: previous.iter().map(|s| s.scored_at.clone()).max(),
        became_critical: became,
        became_critical_count: bc,
        moved_up: up,
        moved_up_count: uc,
        moved_down: down,
        moved_down_count: dc,
    }
}

#[allow(clippy::too_many_arguments)]
async fn close_the_loop(
    store: &Store,
    tenant: &TenantId,
    previous: &[StoredScore],
    current: &HashMap<String, StoredScore>,
    by_id: &HashMap<&str, &Deal>,
    line: &(dyn Fn(&str, u8, Option<u8>) -> DealLine + Sync),
    week_ago: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<ClosingTheLoop> {
    let critical: Vec<&StoredScore> = previous
        .iter()
        .filter(|s| s.risk_category == RiskCategory::Critical)
        .collect();
    let critical_last_week = critical.len();
    let (basis, flagged) = if !critical.is_empty() {
        ("critical", critical)
    } else {
        let mut high: Vec<&StoredScore> = previous
            .iter()
            .filter(|s| s.risk_category.is_at_risk())
            .collect();
        let amount = |id: &str| by_id.get(id).map_or(0.0, |d| d.amount);
        high.sort_by(|a, b| {
            b.risk_score
                .cmp(&a.risk_score)
                .then(amount(&b.deal_id).total_cmp(&amount(&a.deal_id)))
                .then(a.deal_id.cmp(&b.deal_id))
        });
        high.truncate(LOOP_TOP_HIGH);
        (if high.is_empty() { "none" } else { "high" }, high)
    };
    let ids: Vec<String> = flagged.iter().map(|s| s.deal_id.clone()).collect();
    let tasks = store.action_tasks_for(tenant, &ids).await?;
    let feedback = store.deal_feedback_between(tenant, week_ago, now).await?;
    let mut out = ClosingTheLoop {
        critical_last_week,
        basis: basis.into(),
        followed: flagged.len(),
        actions_total: 0,
        actions_done: 0,
        snoozed: 0,
        false_alarms: 0,
        won: 0,
        lost: 0,
        still_open: 0,
        improved: 0,
        deals: Vec::new(),
    };
    for s in flagged {
        let id = s.deal_id.as_str();
        let mine: Vec<_> = tasks.iter().filter(|t| t.deal_id == id).collect();
        let done = mine.iter().filter(|t| t.status == "Completed").count();
        let snoozed = feedback
            .iter()
            .any(|f| f.deal_id == id && f.kind == "snooze");
        let false_alarm = feedback
            .iter()
            .any(|f| f.deal_id == id && f.kind == "false_alarm");
        let now_score = current.get(id).map(|c| c.risk_score);
        let status = match by_id.get(id).map(|d| d.outcome) {
            Some(Some(Outcome::Won)) => "won",
            Some(Some(Outcome::Lost)) => "lost",
            Some(None) => "open",
            None => "gone",
        };
        match status {
            "won" => out.won += 1,
            "lost" => out.lost += 1,
            "open" => {
                out.still_open += 1;
                // Improved: out of the category it was flagged in (critical, or high).
                if now_score.is_some_and(|n| RiskCategory::from_score(n) < s.risk_category) {
                    out.improved += 1;
                }
            }
            _ => {}
        }
        out.actions_total += mine.len();
        out.actions_done += done;
        out.snoozed += usize::from(snoozed);
        out.false_alarms += usize::from(false_alarm);
        out.deals.push(LoopDeal {
            deal: line(id, s.risk_score, None),
            status: status.into(),
            current_score: now_score,
            actions_done: done,
            actions_total: mine.len(),
            snoozed,
            false_alarm,
        });
    }
    out.deals
        .sort_by(|a, b| b.deal.amount.total_cmp(&a.deal.amount));
    out.deals.truncate(LIST_LIMIT);
    Ok(out)
}

async fn model_health(
    store: &Store,
    tenant: &TenantId,
    history: &[Deal],
    as_of: NaiveDate,
) -> anyhow::Result<ModelHealth> {
    let loaded = load_scorer(store, tenant, history).await?;
    let scope = match loaded.source {
        ModelSource::Global => ModelScope::Global,
        _ => ModelScope::Tenant(tenant.clone()),
    };
    let staging_version = store.model_alias(&scope, "staging").await?;
    let last_retrain = store.model_evaluations(&scope, 1).await?.into_iter().next();
    let last_calibration = store
        .calibration_checks(tenant, as_of + Duration::days(1), 1)
        .await?
        .into_iter()
        .next();
    let production_version = loaded.scorer.model().map(|m| m.version.clone());
    let mut status = match (&production_version, loaded.source) {
        (_, ModelSource::Degraded) => {
            "degraded: no usable model, scoring with segment win rates".to_string()
        }
        (Some(v), ModelSource::Tenant) => format!("tenant model {v} in production"),
        (Some(v), _) => format!("global model {v} in production"),
        (None, _) => "no model".to_string(),
    };
    if let Some(c) = &last_calibration {
        match c.calibration_error {
            Some(e) => status.push_str(&format!(
                "; calibration error {:.1} % on {} ({})",
                e * 100.0,
                c.checked_on,
                if c.breached {
                    "above the 10 % limit"
                } else {
                    "ok"
                }
            )),
            None => status.push_str(&format!(
                "; too few closed deals to check calibration on {}",
                c.checked_on
            )),
        }
        if let (Some(from), Some(to)) = (&c.rolled_back_from, &c.rolled_back_to) {
            status.push_str(&format!("; rolled back {from} → {to}"));
        }
    }
    if let Some(e) = &last_retrain
        && e.decision != "promoted"
    {
        status.push_str(&format!(
            "; candidate {} kept in staging: {}",
            e.version, e.reason
        ));
    }
    Ok(ModelHealth {
        source: loaded.source,
        production_version,
        staging_version,
        degraded: loaded.source == ModelSource::Degraded,
        note: loaded.note,
        last_retrain,
        last_calibration,
        status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testdata::{closed_deal, date};

    #[test]
    fn win_rate_trend_buckets_closed_deals_by_the_summary_weeks() {
        let mut deals = Vec::new();
        // as_of Friday 2024-03-01: weeks start 02-09, 02-16, 02-23 (the summary's week).
        for (closed, won) in [
            ("2024-02-26", true),
            ("2024-02-29", false),
            ("2024-03-01", true),
            ("2024-02-20", false),
            ("2024-03-02", true),
        ] {
            let mut d = closed_deal("x", "SaaS", "Inbound", 1000.0, 30, won);
            d.closed_date = Some(date(closed));
            deals.push(d);
        }
        let t = win_rate_trend(&deals, date("2024-03-01"), 3);
        assert_eq!(t.len(), 3);
        assert_eq!(t[2].week_start, date("2024-02-23"));
        assert_eq!(
            (t[2].won, t[2].lost),
            (1, 1),
            "as_of itself and later are left out"
        );
        assert_eq!((t[1].won, t[1].lost), (0, 1));
        assert_eq!(t[0].win_rate, None);
        assert!((t[2].win_rate.unwrap() - 0.5).abs() < 1e-12);
    }
}
