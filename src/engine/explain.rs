//! Per-deal explanations: group this deal's own contributions into factor codes, pick exactly
//! three (activity warnings first, then the most risk-raising), and render plain sentences.
//!
//! Impacts are in log-odds of loss (additive, exact for the logistic model) plus percentage
//! points of win probability (see `RiskFactor`). Selection works on fixed arrays without
//! allocating; only `render` builds strings, so callers that need codes alone stay cheap.
use std::fmt::Write;

use super::features::{Feature, Observation, Row};
use super::linear::sigmoid;
use super::model::Model;
use super::segments::{Dimension, SegmentStats};
use crate::domain::{FactorCode, RiskFactor};

/// Warning thresholds for activity signals (rule-based factors). Edit here.
pub const INACTIVE_DAYS: f64 = 14.0;
pub const PUSHES_WARN: u32 = 2;
pub const AMOUNT_CUT_WARN: f64 = 0.2;

const SEGMENT_CODES: [FactorCode; 4] = [
    FactorCode::Industry,
    FactorCode::ProductType,
    FactorCode::LeadSource,
    FactorCode::Region,
];

/// A selected factor without its sentence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FactorImpact {
    pub code: FactorCode,
    pub impact: f64,
    pub impact_pp: f64,
    pub rule_based: bool,
}

/// Up to 11 candidate factors, fixed-size so scoring does not allocate.
#[derive(Debug, Clone, Copy, Default)]
pub struct Candidates {
    items: [(Option<FactorCode>, f64); 11],
    len: usize,
}

impl Candidates {
    pub fn push(&mut self, code: FactorCode, impact: f64) {
        if self.len < self.items.len() {
            self.items[self.len] = (Some(code), impact);
            self.len += 1;
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = (FactorCode, f64)> + '_ {
        self.items[..self.len]
            .iter()
            .filter_map(|(c, v)| c.map(|c| (c, *v)))
    }
}

/// Groups a model's per-feature contributions into factor codes.
pub fn model_candidates(model: &Model, row: &Row, c: &Row) -> Candidates {
    let has = |f: Feature| model.features.contains(&f);
    let blended = model.split_blended(row, c[Feature::BlendedWinRate.index()]);
    let mut out = Candidates::default();
    for (i, code) in SEGMENT_CODES.into_iter().enumerate() {
        out.push(code, c[i] + blended[i]);
    }
    out.push(
        FactorCode::DealSize,
        c[Feature::LogAmount.index()] + c[Feature::IsLarge.index()],
    );
    out.push(
        FactorCode::DealAge,
        c[Feature::NormalisedAge.index()] + c[Feature::IsLong.index()],
    );
    out.push(
        FactorCode::Timing,
        c[Feature::IsQ4.index()] + c[Feature::IsQuarterEnd.index()],
    );
    let activity = [
        (Feature::DaysSinceActivity, FactorCode::Inactivity),
        (Feature::StageDaysRatio, FactorCode::StageStall),
        (Feature::CloseDatePushes, FactorCode::CloseDatePushes),
        (Feature::AmountCutPct, FactorCode::AmountCut),
    ];
    for (f, code) in activity {
        if has(f) {
            out.push(code, c[f.index()]);
        }
    }
    out
}

/// Degraded mode: the loss log-odds of 1 − blended rate relative to 1 − overall rate, shared
/// across the four segments by how far each is below the overall rate.
pub fn segment_candidates(obs: &Observation, overall: f64) -> (f64, Candidates) {
    let logit = |p: f64| (p.clamp(1e-6, 1.0 - 1e-6) / (1.0 - p.clamp(1e-6, 1.0 - 1e-6))).ln();
    let base = logit(1.0 - overall);
    let total = logit(1.0 - obs.blended) - base;
    let d = obs.rates.map(|r| overall - r);
    let sum: f64 = d.iter().sum();
    let same_sign = d.iter().all(|x| *x >= 0.0) || d.iter().all(|x| *x <= 0.0);
    let mut out = Candidates::default();
    for (i, code) in SEGMENT_CODES.into_iter().enumerate() {
        let share = if same_sign && sum.abs() > 1e-12 {
            d[i] / sum
        } else {
            0.25
        };
        out.push(code, total * share);
    }
    (base, out)
}

/// Which activity warnings fire for this deal (rule-based factors).
pub fn warnings(obs: &Observation) -> [(FactorCode, bool); 4] {
    [
        (
            FactorCode::Inactivity,
            obs.days_since_activity.is_some_and(|d| d >= INACTIVE_DAYS),
        ),
        (
            FactorCode::StageStall,
            obs.days_in_stage.is_some_and(|d| d > obs.median_cycle_days),
        ),
        (
            FactorCode::CloseDatePushes,
            obs.pushes.is_some_and(|p| p >= PUSHES_WARN),
        ),
        (
            FactorCode::AmountCut,
            obs.amount_cut.is_some_and(|c| c >= AMOUNT_CUT_WARN),
        ),
    ]
}

/// Exactly three factors: fired warnings first, then candidates by impact (largest first);
/// when fewer raise risk, the least protective ones pad the list. `log_odds` is the deal's
/// final log-odds of loss (for the percentage-point impacts).
pub fn select(cands: &Candidates, obs: &Observation, log_odds: f64) -> [FactorImpact; 3] {
    let impact_of = |code| {
        cands
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(0.0, |(_, v)| v)
    };
    let mut picked: [Option<(FactorCode, f64, bool)>; 3] = [None; 3];
    let mut n = 0;
    for (code, fired) in warnings(obs) {
        if fired && n < 3 {
            picked[n] = Some((code, impact_of(code), true));
            n += 1;
        }
    }
    while n < 3 {
        let next = cands
            .iter()
            .filter(|(c, _)| !picked[..n].iter().any(|p| p.is_some_and(|p| p.0 == *c)))
            .max_by(|a, b| {
                a.1.total_cmp(&b.1)
                    .then_with(|| b.0.as_str().cmp(a.0.as_str()))
            });
        match next {
            Some((c, v)) => picked[n] = Some((c, v, false)),
            None => break,
        }
        n += 1;
    }
    let p_win = 1.0 - sigmoid(log_odds);
    picked.map(|p| {
        let (code, impact, rule_based) = p.unwrap_or((FactorCode::Timing, 0.0, false));
        let impact_pp = 100.0 * (p_win - (1.0 - sigmoid(log_odds - impact)));
        FactorImpact {
            code,
            impact,
            impact_pp,
            rule_based,
        }
    })
}

pub fn fmt_money(v: f64) -> String {
    let digits = format!("{:.0}", v.abs());
    let mut out = String::with_capacity(digits.len() + 4);
    out.push_str(if v < 0.0 { "-$" } else { "$" });
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A sentence with this deal's real numbers.
pub fn render(
    f: &FactorImpact,
    deal: &crate::domain::Deal,
    obs: &Observation,
    stats: &SegmentStats,
) -> RiskFactor {
    let mut s = String::with_capacity(96);
    let dim = match f.code {
        FactorCode::Industry => Some(Dimension::Industry),
        FactorCode::ProductType => Some(Dimension::ProductType),
        FactorCode::LeadSource => Some(Dimension::LeadSource),
        FactorCode::Region => Some(Dimension::Region),
        _ => None,
    };
    let pct = |r: f64| r * 100.0;
    let _ = match (f.code, dim) {
        (_, Some(dim)) => {
            let seg = stats.lookup(dim, dim.value_of(deal));
            let overall = stats.overall_win_rate;
            match stats.best(dim) {
                _ if seg.deals < stats.min_deals => write!(
                    s,
                    "Only {} closed {} {} in your history; scored at the overall {:.1}% win rate",
                    seg.deals,
                    seg.value,
                    dim.noun(),
                    pct(overall)
                ),
                Some((best, b)) if best != seg.value && seg.win_rate < overall => write!(
                    s,
                    "{} {} win {:.1} pp less than {} in your history ({:.1}% vs {:.1}%)",
                    seg.value,
                    dim.noun(),
                    pct(b - seg.win_rate),
                    best,
                    pct(seg.win_rate),
                    pct(b)
                ),
                _ => write!(
                    s,
                    "{} {} win {:.1} pp {} than average in your history ({:.1}% vs {:.1}%)",
                    seg.value,
                    dim.noun(),
                    pct((seg.win_rate - overall).abs()),
                    if seg.win_rate >= overall {
                        "more"
                    } else {
                        "less"
                    },
                    pct(seg.win_rate),
                    pct(overall)
                ),
            }
        }
        (FactorCode::DealAge, _) => {
            write!(
                s,
                "Open {:.0} days; deals like this close in {:.0}",
                obs.age_days, obs.median_cycle_days
            )
        }
        (FactorCode::DealSize, _) if obs.amount > stats.amount_p75 => write!(
            s,
            "Deal size {} is in the top quarter of your history (75th percentile {})",
            fmt_money(obs.amount),
            fmt_money(stats.amount_p75)
        ),
        (FactorCode::DealSize, _) => {
            write!(
                s,
                "Deal size {} vs a typical {}",
                fmt_money(obs.amount),
                fmt_money(stats.amount_p50)
            )
        }
        (FactorCode::Timing, _) => write!(
            s,
            "Scored in {}{}; calendar timing moves the win probability {:+.1} pp",
            if obs.quarter_end {
                "a quarter-end month"
            } else {
                "mid-quarter"
            },
            if obs.q4 { " of Q4" } else { "" },
            f.impact_pp
        ),
        (FactorCode::Inactivity, _) => match obs.days_since_activity {
            Some(d) => write!(s, "No activity for {d:.0} days"),
            None => write!(s, "No activity recorded"),
        },
        (FactorCode::StageStall, _) => write!(
            s,
            "In {} for {:.0} days; deals like this close in {:.0} days in total",
            deal.deal_stage,
            obs.days_in_stage.unwrap_or(0.0),
            obs.median_cycle_days
        ),
        (FactorCode::CloseDatePushes, _) => {
            write!(s, "Close date pushed {} times", obs.pushes.unwrap_or(0))
        }
        (FactorCode::AmountCut, _) => write!(
            s,
            "Amount cut by {:.0}%",
            obs.amount_cut.unwrap_or(0.0) * 100.0
        ),
        _ => Ok(()),
    };
    RiskFactor {
        code: f.code,
        impact: f.impact,
        impact_pp: f.impact_pp,
        description: s,
        rule_based: f.rule_based,
    }
}
