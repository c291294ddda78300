//! Training: data-sufficiency gate, snapshot rows, **out-of-time** model selection (fit on
//! older deals with recent ones weighted more, judge on the most recently closed deals against
//! the segment-rate baseline, calibrate on that latest window), grouped k-fold only when the
//! recent window is too small. A candidate whose out-of-time Brier is worse than the baseline's
//! is not used: the segment-rate model is, and its skill note says why.
use chrono::NaiveDate;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::features::{Feature, Imputes, N_FEATURES, Snapshots, snapshots};
use super::linear::Platt;
use super::metrics::ForecastMetrics;
use super::model::{
    CandidateScore, Model, ModelKind, ModelMetrics, Params, RowCounts, Scaler, TrainingWindow,
};
use super::segments::{SegmentStats, cycle_days};
use super::select::{
    Candidate, baseline_raw, choose, judge, matrix, normalise, predict, recency, scaler,
};
use super::skill::{Skill, SkillMethod};
use super::trees::GbtParams;
use crate::domain::{Deal, Outcome};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub min_deals: usize,
    pub min_won: usize,
    pub min_lost: usize,
    /// Segments with fewer closed deals use the overall rate.
    pub min_segment_deals: u32,
    pub snapshot_step_days: i64,
    pub folds: usize,
    /// One logistic candidate per L2 strength.
    pub l2_candidates: Vec<f64>,
    /// `None` skips the tree candidate (faster training).
    pub gbt: Option<GbtParams>,
    pub seed: u64,
    /// Share of the closed deals, most recently closed first, held out for out-of-time
    /// selection and calibration.
    #[serde(default = "default_validation_fraction")]
    pub validation_fraction: f64,
    /// A deal's training weight halves for every this many days between its close and the
    /// newest training close (0 = all equal).
    #[serde(default = "default_half_life")]
    pub recency_half_life_days: f64,
}

fn default_validation_fraction() -> f64 {
    0.2
}

fn default_half_life() -> f64 {
    365.0
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            min_deals: 200,
            min_won: 50,
            min_lost: 50,
            min_segment_deals: 10,
            snapshot_step_days: 15,
            folds: 5,
            l2_candidates: vec![1e-3, 1e-1],
            gbt: Some(GbtParams::default()),
            seed: 42,
            validation_fraction: default_validation_fraction(),
            recency_half_life_days: default_half_life(),
        }
    }
}

/// Why a model was or was not trained, with the model when it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    pub trained: bool,
    pub reason: String,
    pub closed_deals: usize,
    pub won: usize,
    pub lost: usize,
    pub model: Option<Model>,
}

/// Stable pseudo-random fold for a deal, so all its snapshots land in the same fold.
fn fold_of(deal: u32, seed: u64, k: usize) -> usize {
    let mut z = (deal as u64 ^ seed).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) % k as u64) as usize
}

pub fn train(deals: &[Deal], cfg: &TrainConfig) -> TrainReport {
    let closed: Vec<Deal> = deals
        .iter()
        .filter(|d| d.outcome.is_some() && cycle_days(d).is_some())
        .cloned()
        .collect();
    let won = closed
        .iter()
        .filter(|d| d.outcome == Some(Outcome::Won))
        .count();
    let lost = closed.len() - won;
    let mut report = TrainReport {
        trained: false,
        reason: String::new(),
        closed_deals: closed.len(),
        won,
        lost,
        model: None,
    };
    if closed.len() < cfg.min_deals || won < cfg.min_won || lost < cfg.min_lost {
        report.reason = format!(
            "not trained: {} closed deals ({won} won, {lost} lost); a tenant model needs at least {} \
             closed deals with {} won and {} lost, so scores use segment win rates until then",
            closed.len(),
            cfg.min_deals,
            cfg.min_won,
            cfg.min_lost
        );
        return report;
    }
    match fit_model(&closed, cfg) {
        Ok(model) => {
            report.reason = format!(
                "trained {} on {} closed deals ({won} won, {lost} lost) as {} snapshots; {}",
                model.kind.as_str(),
                closed.len(),
                model.rows.snapshots,
                model.metrics.skill.as_ref().map_or("", |s| s.note.as_str())
            );
            report.trained = true;
            report.model = Some(model);
        }
        Err(e) => report.reason = format!("not trained: {e}"),
    }
    report
}

/// Close date of a closed deal (from the date or the cycle length).
fn close_of(d: &Deal) -> NaiveDate {
    d.created_date + chrono::Days::new(cycle_days(d).unwrap_or(0) as u64)
}

/// The out-of-time cut: deals closing on or after it are the validation window. `None` when
/// the window or the rest would be too small to judge or to learn from.
fn out_of_time_cutoff(closed: &[Deal], cfg: &TrainConfig) -> Option<NaiveDate> {
    let mut closes: Vec<NaiveDate> = closed.iter().map(close_of).collect();
    closes.sort();
    let n = closes.len();
    let n_val = ((n as f64 * cfg.validation_fraction).round() as usize).max(60);
    if n_val * 2 > n {
        return None;
    }
    let cutoff = closes[n - n_val];
    let count = |late: bool, o: Outcome| {
        closed
            .iter()
            .filter(|d| (close_of(d) >= cutoff) == late && d.outcome == Some(o))
            .count()
    };
    let enough = count(true, Outcome::Won) >= 15
        && count(true, Outcome::Lost) >= 15
        && count(false, Outcome::Won) >= 25
        && count(false, Outcome::Lost) >= 25;
    enough.then_some(cutoff)
}

/// One candidate's validation raw scores and the parameters that would ship.
struct Fitted {
    params: Params,
    features: Vec<Feature>,
    scaler: Scaler,
    raw: Vec<f64>,
}

fn fit_model(closed: &[Deal], cfg: &TrainConfig) -> Result<Model, String> {
    let imputes = Imputes::default();
    let cutoff = out_of_time_cutoff(closed, cfg);
    // The deals the shipped model learns from: all, or (out of time) those closed before the
    // cut; the validation rows are the later deals, or (k-fold) all rows out of fold.
    let learn: Vec<Deal> = match cutoff {
        Some(c) => closed.iter().filter(|d| close_of(d) < c).cloned().collect(),
        None => closed.to_vec(),
    };
    let stats = SegmentStats::from_closed(&learn, cfg.min_segment_deals);
    let snap = snapshots(&learn, &stats, cfg.snapshot_step_days, &imputes);
    // Activity features enter only when the history carries them at all.
    let available: Vec<Feature> = Feature::ALL
        .into_iter()
        .filter(|f| f.index() < Feature::N_BASE || snap.has_signal[f.index() - Feature::N_BASE])
        .collect();
    let newest = learn.iter().map(close_of).max().ok_or("no deals")?;
    let mut w: Vec<f64> = snap
        .deal
        .iter()
        .map(|&i| {
            recency(
                close_of(&learn[i as usize]),
                newest,
                cfg.recency_half_life_days,
            )
        })
        .collect();
    normalise(&mut w);
    let mut candidates: Vec<Candidate> = cfg
        .l2_candidates
        .iter()
        .map(|l| Candidate::Logistic(*l))
        .collect();
    candidates.extend(cfg.gbt.clone().map(Candidate::Trees));
    candidates.push(Candidate::SegmentRates);

    let (val, fitted, k) = match cutoff {
        Some(c) => {
            let late: Vec<Deal> = closed
                .iter()
                .filter(|d| close_of(d) >= c)
                .cloned()
                .collect();
            // Late deals are seen with the segment stats known at the cut, as they would be.
            let val = snapshots(&late, &stats, cfg.snapshot_step_days, &imputes);
            let fitted: Result<Vec<Fitted>, String> = candidates
                .par_iter()
                .map(|cand| {
                    let features = cand.features(&available);
                    let sc = scaler(&snap.rows, &features);
                    let params =
                        cand.fit(&matrix(&snap.rows, &snap.lost, &features, &sc), Some(&w))?;
                    let raw = predict(&params, &matrix(&val.rows, &val.lost, &features, &sc));
                    Ok(Fitted {
                        params,
                        features,
                        scaler: sc,
                        raw,
                    })
                })
                .collect();
            (val, fitted?, 0)
        }
        None => {
            let k = cfg.folds.max(2);
            (
                snap.clone(),
                kfold(&snap, &w, &candidates, &available, cfg, k)?,
                k,
            )
        }
    };
    let y = &val.lost;
    let scores: Vec<ForecastMetrics> = fitted.iter().map(|f| judge(&f.raw, y, &val.deal)).collect();
    let base_raw: Vec<f64> = val.rows.iter().map(baseline_raw).collect();
    let baseline = judge(&base_raw, y, &val.deal);
    let segment = candidates.len() - 1;
    let best = choose(&scores[..segment], baseline.brier);
    let (chosen, note) = match best {
        Some(i) => (
            i,
            format!(
                "{} chosen by {} log-loss {:.4}; Brier {:.4} vs segment-rate baseline {:.4}",
                candidates[i].name(),
                if cutoff.is_some() {
                    "out-of-time"
                } else {
                    "k-fold"
                },
                scores[i].log_loss,
                scores[i].brier,
                baseline.brier
            ),
        ),
        None => (
            segment,
            format!(
                "segment-rate model used: every candidate's {} Brier was worse than the \
                 segment-rate baseline's {:.4} (best {:.4})",
                if cutoff.is_some() {
                    "out-of-time"
                } else {
                    "k-fold"
                },
                baseline.brier,
                scores[..segment]
                    .iter()
                    .map(|s| s.brier)
                    .fold(f64::INFINITY, f64::min)
            ),
        ),
    };
    let skill = Skill {
        method: if cutoff.is_some() {
            SkillMethod::OutOfTime
        } else {
            SkillMethod::GroupedKfold
        },
        validation_from: cutoff,
        validation_deals: val
            .deal
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        auc: scores[chosen].roc_auc,
        brier: scores[chosen].brier,
        baseline_auc: baseline.roc_auc,
        baseline_brier: baseline.brier,
        note,
    };
    // Calibrated on the validation rows: the latest window out of time.
    let calibrator = Platt::fit(&fitted[chosen].raw, y);
    let cand_scores = candidates
        .iter()
        .zip(&scores)
        .map(|(c, s)| CandidateScore {
            name: c.name(),
            cv_log_loss: s.log_loss,
            brier: Some(s.brier),
        })
        .collect();
    let Fitted {
        params,
        features,
        scaler,
        ..
    } = fitted
        .into_iter()
        .nth(chosen)
        .ok_or("no model candidates configured")?;
    let kind = match (&candidates[chosen], &params) {
        (Candidate::SegmentRates, _) => ModelKind::SegmentRates,
        (_, Params::Logistic(_)) => ModelKind::Logistic,
        (_, Params::GradientBoosting(_)) => ModelKind::GradientBoosting,
    };
    let from = learn
        .iter()
        .map(|d| d.created_date)
        .min()
        .ok_or("no deals")?;
    let to = closed.iter().map(close_of).max().unwrap_or(from);
    debug_assert!(features.len() <= N_FEATURES);
    let count = |o: Outcome| learn.iter().filter(|d| d.outcome == Some(o)).count();
    Ok(Model {
        kind,
        version: format!(
            "{}-{}-n{}",
            kind.as_str(),
            to.format("%Y%m%d"),
            closed.len()
        ),
        features,
        training_window: TrainingWindow { from, to },
        rows: RowCounts {
            deals: learn.len(),
            snapshots: snap.rows.len(),
            won: count(Outcome::Won),
            lost: count(Outcome::Lost),
        },
        segments: stats,
        imputes,
        scaler,
        params,
        calibrator,
        metrics: ModelMetrics {
            folds: k,
            candidates: cand_scores,
            chosen: candidates[chosen].name(),
            out_of_fold: scores[chosen].clone(),
            skill: Some(skill),
        },
    })
}

/// Grouped k-fold (folds by deal) when the recent window is too small: each candidate's
/// out-of-fold raw scores over all rows, and its parameters refitted on all of them.
fn kfold(
    snap: &Snapshots,
    w: &[f64],
    candidates: &[Candidate],
    available: &[Feature],
    cfg: &TrainConfig,
    k: usize,
) -> Result<Vec<Fitted>, String> {
    let n = snap.rows.len();
    let fold: Vec<usize> = snap.deal.iter().map(|&g| fold_of(g, cfg.seed, k)).collect();
    candidates
        .par_iter()
        .map(|cand| {
            let features = cand.features(available);
            let sc = scaler(&snap.rows, &features);
            let all = matrix(&snap.rows, &snap.lost, &features, &sc);
            let mut raw = vec![0.0; n];
            for f in 0..k {
                let pick = |keep: bool| -> (Vec<super::features::Row>, Vec<f64>, Vec<f64>) {
                    let mut r = (Vec::new(), Vec::new(), Vec::new());
                    for i in (0..n).filter(|&i| (fold[i] == f) == keep) {
                        r.0.push(snap.rows[i]);
                        r.1.push(snap.lost[i]);
                        r.2.push(w[i]);
                    }
                    r
                };
                let (rows, y, wt) = pick(false);
                let params = cand.fit(&matrix(&rows, &y, &features, &sc), Some(&wt))?;
                for i in (0..n).filter(|&i| fold[i] == f) {
                    raw[i] = super::select::raw(&params, &all.x[i * all.d..(i + 1) * all.d]);
                }
            }
            let params = cand.fit(&all, Some(w))?;
            Ok(Fitted {
                params,
                features,
                scaler: sc,
                raw,
            })
        })
        .collect()
}
