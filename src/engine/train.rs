//! Training: data-sufficiency gate, snapshot rows, grouped k-fold model selection by log-loss,
//! Platt calibration on out-of-fold scores, and the final fit on all rows.
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::features::{Feature, Imputes, N_FEATURES, snapshots};
use super::linear::{self, Platt, sigmoid};
use super::metrics::{evaluate, log_loss};
use super::model::{
    CandidateScore, Model, ModelKind, ModelMetrics, Params, RowCounts, Scaler, TrainingWindow,
};
use super::segments::{SegmentStats, cycle_days};
use super::trees::{self, GbtParams};
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

#[derive(Debug, Clone)]
enum Candidate {
    Logistic(f64),
    Trees(GbtParams),
}

impl Candidate {
    fn name(&self) -> String {
        match self {
            Self::Logistic(l2) => format!("logistic(l2={l2})"),
            Self::Trees(p) => format!(
                "gradient_boosting(trees={},depth={})",
                p.iterations, p.max_depth
            ),
        }
    }

    fn fit(&self, x: &[f64], d: usize, y: &[f64]) -> Result<Params, String> {
        Ok(match self {
            Self::Logistic(l2) => Params::Logistic(linear::fit(x, d, y, *l2)),
            Self::Trees(p) => Params::GradientBoosting(trees::fit(x, d, y, p)?),
        })
    }
}

/// Out-of-fold raw log-odds of one candidate: (candidate, [(row, log-odds)]).
type FoldPredictions = (usize, Vec<(usize, f64)>);

fn raw(params: &Params, z: &[f64]) -> f64 {
    match params {
        Params::Logistic(f) => {
            f.intercept + f.weights.iter().zip(z).map(|(w, x)| w * x).sum::<f64>()
        }
        Params::GradientBoosting(f) => f.predict(z),
    }
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
                "trained {} on {} closed deals ({won} won, {lost} lost) as {} snapshots; chosen by \
                 {}-fold CV log-loss {:.4}",
                model.kind.as_str(),
                closed.len(),
                model.rows.snapshots,
                model.metrics.folds,
                model
                    .metrics
                    .candidates
                    .iter()
                    .map(|c| c.cv_log_loss)
                    .fold(f64::INFINITY, f64::min)
            );
            report.trained = true;
            report.model = Some(model);
        }
        Err(e) => report.reason = format!("not trained: {e}"),
    }
    report
}

fn fit_model(closed: &[Deal], cfg: &TrainConfig) -> Result<Model, String> {
    let stats = SegmentStats::from_closed(closed, cfg.min_segment_deals);
    let imputes = Imputes::default();
    let snap = snapshots(closed, &stats, cfg.snapshot_step_days, &imputes);
    // Activity features enter only when the history carries them at all.
    let features: Vec<Feature> = Feature::ALL
        .into_iter()
        .filter(|f| f.index() < Feature::N_BASE || snap.has_signal[f.index() - Feature::N_BASE])
        .collect();
    let (n, d) = (snap.rows.len(), features.len());
    let mut scaler = Scaler {
        mean: vec![0.0; d],
        std: vec![1.0; d],
    };
    for (j, f) in features.iter().enumerate() {
        let col = snap.rows.iter().map(|r| r[f.index()]);
        let mean = col.clone().sum::<f64>() / n as f64;
        let var = col.map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
        scaler.mean[j] = mean;
        // A constant column (e.g. no Q4 dates in the window) gets std 1 so it stays 0.
        scaler.std[j] = if var.sqrt() > 1e-9 { var.sqrt() } else { 1.0 };
    }
    let mut x = Vec::with_capacity(n * d);
    for r in &snap.rows {
        x.extend(
            features
                .iter()
                .enumerate()
                .map(|(j, f)| (r[f.index()] - scaler.mean[j]) / scaler.std[j]),
        );
    }
    let y = &snap.lost;
    let mut candidates: Vec<Candidate> = cfg
        .l2_candidates
        .iter()
        .map(|l| Candidate::Logistic(*l))
        .collect();
    candidates.extend(cfg.gbt.clone().map(Candidate::Trees));
    let k = cfg.folds.max(2);
    let fold: Vec<usize> = snap.deal.iter().map(|&g| fold_of(g, cfg.seed, k)).collect();
    let jobs: Vec<(usize, usize)> = (0..candidates.len())
        .flat_map(|c| (0..k).map(move |f| (c, f)))
        .collect();
    let fitted: Vec<Result<FoldPredictions, String>> = jobs
        .par_iter()
        .map(|&(c, f)| {
            let (mut xt, mut yt) = (Vec::new(), Vec::new());
            for i in (0..n).filter(|&i| fold[i] != f) {
                xt.extend_from_slice(&x[i * d..(i + 1) * d]);
                yt.push(y[i]);
            }
            let params = candidates[c].fit(&xt, d, &yt)?;
            let preds = (0..n)
                .filter(|&i| fold[i] == f)
                .map(|i| (i, raw(&params, &x[i * d..(i + 1) * d])))
                .collect();
            Ok((c, preds))
        })
        .collect();
    let mut oof = vec![vec![0.0; n]; candidates.len()];
    for r in fitted {
        let (c, preds) = r?;
        for (i, z) in preds {
            oof[c][i] = z;
        }
    }
    let scored: Vec<(CandidateScore, Platt)> = candidates
        .iter()
        .zip(&oof)
        .map(|(c, z)| {
            let platt = Platt::fit(z, y);
            let p: Vec<f64> = z.iter().map(|v| sigmoid(platt.apply(*v))).collect();
            (
                CandidateScore {
                    name: c.name(),
                    cv_log_loss: log_loss(y, &p),
                },
                platt,
            )
        })
        .collect();
    let best = (0..candidates.len())
        .min_by(|&a, &b| scored[a].0.cv_log_loss.total_cmp(&scored[b].0.cv_log_loss))
        .ok_or("no model candidates configured")?;
    let params = candidates[best].fit(&x, d, y)?;
    let calibrator = scored[best].1;
    let p_oof: Vec<f64> = oof[best]
        .iter()
        .map(|v| sigmoid(calibrator.apply(*v)))
        .collect();
    let kind = match params {
        Params::Logistic(_) => ModelKind::Logistic,
        Params::GradientBoosting(_) => ModelKind::GradientBoosting,
    };
    let from = closed
        .iter()
        .map(|d| d.created_date)
        .min()
        .ok_or("no deals")?;
    let to = closed
        .iter()
        .filter_map(|d| d.closed_date)
        .max()
        .unwrap_or(from);
    debug_assert!(d <= N_FEATURES);
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
            deals: closed.len(),
            snapshots: n,
            won: closed
                .iter()
                .filter(|d| d.outcome == Some(Outcome::Won))
                .count(),
            lost: closed
                .iter()
                .filter(|d| d.outcome == Some(Outcome::Lost))
                .count(),
        },
        segments: stats,
        imputes,
        scaler,
        params,
        calibrator,
        metrics: ModelMetrics {
            folds: k,
            candidates: scored.into_iter().map(|s| s.0).collect(),
            chosen: candidates[best].name(),
            out_of_fold: evaluate(y, &p_oof),
        },
    })
}
