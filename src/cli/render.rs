//! Text renderings shared by the commands: model card, metrics, deal lists, backtest.
use crate::domain::{Deal, DealScore, RelativeRisk};
use crate::engine::explain::fmt_money;
use crate::engine::metrics::ForecastMetrics;
use crate::engine::skill::SkillMethod;
use crate::engine::{BacktestReport, Model, PipelineMetrics, PipelineRanks};

fn opt(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |x| format!("{x:.3}"))
}

pub fn forecast_line(m: &ForecastMetrics) -> String {
    format!(
        "ROC-AUC {}  Brier {:.4}  log-loss {:.4}  ECE {:.4}  high-risk precision {:.2} recall {:.2} F1 {:.2}  (n={})",
        opt(m.roc_auc),
        m.brier,
        m.log_loss,
        m.ece,
        m.high_risk.precision,
        m.high_risk.recall,
        m.high_risk.f1,
        m.n
    )
}

pub fn model_card(m: &Model) -> String {
    let mut out = format!(
        "Model card: {} ({}), trained on {} deals closed {} … {} ({} snapshots; {} won / {} lost)\n",
        m.version,
        m.kind.as_str(),
        m.rows.deals,
        m.training_window.from,
        m.training_window.to,
        m.rows.snapshots,
        m.rows.won,
        m.rows.lost
    );
    let how = match &m.metrics.skill {
        Some(s) if s.method == SkillMethod::OutOfTime => format!(
            "out of time (validated on {} deals closed from {})",
            s.validation_deals,
            s.validation_from.map_or("-".into(), |d| d.to_string())
        ),
        _ => format!("{}-fold cross-validation", m.metrics.folds),
    };
    out.push_str(&format!("  Chosen {how}: {}\n", m.metrics.chosen));
    for c in &m.metrics.candidates {
        let mark = if c.name == m.metrics.chosen { "*" } else { " " };
        let brier = c.brier.map_or(String::new(), |b| format!("  Brier {b:.4}"));
        out.push_str(&format!(
            "   {mark} {:<40} log-loss {:.4}{brier}\n",
            c.name, c.cv_log_loss
        ));
    }
    out.push_str(&format!(
        "  Validation (calibrated): {}\n",
        forecast_line(&m.metrics.out_of_fold)
    ));
    if let Some(s) = &m.metrics.skill {
        out.push_str(&format!(
            "  Skill: ROC-AUC {} vs segment rates {}; Brier {:.4} vs {:.4} ({:+.4})\n  Why: {}\n",
            opt(s.auc),
            opt(s.baseline_auc),
            s.brier,
            s.baseline_brier,
            -s.brier_gain(),
            s.note
        ));
    }
    if let Some(line) = m.skill_line() {
        out.push_str(&format!("  {line}.\n"));
    }
    out
}

/// The absolute score and where it stands in the tenant's pipeline, e.g.
/// "72/100 high · riskier than 92 % of your open deals; 9 pp above your usual loss rate".
pub fn score_with_relative(s: &DealScore, rel: Option<&RelativeRisk>) -> String {
    match rel {
        Some(r) => format!(
            "{}/100 {} · {}",
            s.risk_score,
            s.risk_category.as_str(),
            r.sentence()
        ),
        None => format!("{}/100 {}", s.risk_score, s.risk_category.as_str()),
    }
}

pub fn metrics_text(m: &PipelineMetrics) -> String {
    let mut out = format!("Pipeline as of {}: {} open deals\n", m.as_of, m.open_deals);
    out.push_str(&format!(
        "  Pipeline value        {:>14}\n",
        fmt_money(m.pipeline_value)
    ));
    out.push_str(&format!(
        "  Risk-adjusted (RAPV)  {:>14}\n",
        fmt_money(m.rapv)
    ));
    out.push_str(&format!(
        "  Optimism gap          {:>14}  ({:.1}%)\n",
        fmt_money(m.optimism_gap),
        m.optimism_gap_pct
    ));
    out.push_str(&format!(
        "  REM                   {:>14}  per day (win rate × avg deal size / avg cycle)\n",
        fmt_money(m.rem)
    ));
    out.push_str(&format!(
        "  Win rate {:.1}%, avg deal {} , avg cycle {:.0} days\n",
        m.win_rate * 100.0,
        fmt_money(m.avg_deal_size),
        m.avg_cycle_days
    ));
    out.push_str("  Risk distribution:\n");
    for b in &m.risk_distribution {
        let pct = if m.open_deals == 0 {
            0.0
        } else {
            b.deals as f64 * 100.0 / m.open_deals as f64
        };
        out.push_str(&format!(
            "    {:<9} {:>6} deals ({:>5.1}%) {:>14}\n",
            b.category.as_str(),
            b.deals,
            pct,
            fmt_money(b.amount)
        ));
    }
    match &m.trend {
        Some(t) => out.push_str(&format!(
            "  7-day trend: avg risk {:+.1} points, RAPV {:+.0}, {} became high/critical, {} left ({} deals compared)\n",
            t.avg_risk_score_delta, t.rapv_delta, t.became_high_or_critical, t.left_high_or_critical, t.deals_compared
        )),
        None => out.push_str("  7-day trend: no scores from a week ago yet\n"),
    }
    out.push_str(&format!(
        "  Potential revenue recovery {} — {}\n",
        fmt_money(m.recovery.potential_revenue),
        m.recovery.assumption
    ));
    out
}

/// The deals needing attention: score, category, amount, age, 3 factors and first action.
pub fn attention_list(
    pairs: &[(&Deal, &DealScore)],
    as_of: chrono::NaiveDate,
    ranks: Option<&PipelineRanks>,
) -> String {
    let mut out = String::new();
    for (i, (d, s)) in pairs.iter().enumerate() {
        let rel = ranks.map(|r| r.of(s));
        let name = d
            .company
            .clone()
            .or(d.deal_name.clone())
            .unwrap_or_else(|| d.deal_id.clone());
        out.push_str(&format!(
            "{:>2}. {:<10} {:>3}/100 {:<8} {:>10}  {} {} {}, {} days open\n",
            i + 1,
            name,
            s.risk_score,
            s.risk_category.as_str(),
            fmt_money(d.amount),
            d.industry,
            d.lead_source,
            d.product_type,
            d.age_on(as_of)
        ));
        if let Some(r) = rel {
            out.push_str(&format!("       {}\n", r.sentence()));
        }
        for f in &s.risk_factors {
            out.push_str(&format!(
                "       risk {:+5.1} pp  {}\n",
                -f.impact_pp, f.description
            ));
        }
        if let Some(r) = s.recommendations.first() {
            out.push_str(&format!(
                "       → [{}] {}\n",
                r.priority.as_str(),
                r.action
            ));
        }
    }
    out
}

pub fn backtest_text(r: &BacktestReport) -> String {
    let mut out = format!(
        "Backtest as of {}: trained on {} deals closed before it; scored {} deals open on it ({} later won, {} lost)\n",
        r.as_of, r.training_deals, r.scored_deals, r.won, r.lost
    );
    match &r.model {
        Some(m) => out.push_str(&format!(
            "  Model {:<28} {}\n",
            r.model_version.as_deref().unwrap_or("?"),
            forecast_line(m)
        )),
        None => out.push_str(&format!("  No model: {}\n", r.train_reason)),
    }
    out.push_str(&format!(
        "  Baseline (segment rates)      {}\n",
        forecast_line(&r.baseline)
    ));
    if let Some(m) = &r.model {
        let verdict = if m.brier <= r.baseline.brier + 0.002 {
            "no worse than"
        } else {
            "WORSE than"
        };
        out.push_str(&format!(
            "  Brier {:.4} vs {:.4}: the model is {verdict} the baseline (tolerance 0.002)\n",
            m.brier, r.baseline.brier
        ));
    }
    out
}
