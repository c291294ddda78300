//! Population stability index (PSI): how far a current distribution moved from a baseline.
//! PSI = Σ (cur% − base%) × ln(cur% / base%) over bins cut at the baseline's deciles.
//! Conventional reading: < 0.1 stable, < 0.25 worth a look, ≥ 0.25 shifted.
use serde::Serialize;

/// Floor for an empty bin's share, so ln() stays finite.
const EPS: f64 = 1e-4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftStatus {
    Healthy,
    Warning,
    Alert,
}

impl DriftStatus {
    pub fn from_psi(psi: f64) -> DriftStatus {
        if psi < 0.1 {
            DriftStatus::Healthy
        } else if psi < 0.25 {
            DriftStatus::Warning
        } else {
            DriftStatus::Alert
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drift {
    pub psi: f64,
    pub status: DriftStatus,
    pub baseline_n: usize,
    pub current_n: usize,
}

/// PSI of `current` against `baseline` with up to `bins` quantile bins of the baseline.
/// `None` when either side is empty.
pub fn psi(baseline: &[f64], current: &[f64], bins: usize) -> Option<Drift> {
    if baseline.is_empty() || current.is_empty() || bins == 0 {
        return None;
    }
    let mut sorted: Vec<f64> = baseline.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return None;
    }
    let mut edges: Vec<f64> = (1..bins)
        .map(|i| sorted[(i * sorted.len() / bins).min(sorted.len() - 1)])
        .collect();
    edges.dedup();
    let share = |xs: &[f64]| -> Vec<f64> {
        let mut counts = vec![0usize; edges.len() + 1];
        for x in xs {
            counts[edges.partition_point(|e| e <= x)] += 1;
        }
        counts
            .iter()
            .map(|&c| (c as f64 / xs.len() as f64).max(EPS))
            .collect()
    };
    let (b, c) = (share(&sorted), share(current));
    let psi: f64 = b.iter().zip(&c).map(|(b, c)| (c - b) * (c / b).ln()).sum();
    Some(Drift {
        psi,
        status: DriftStatus::from_psi(psi),
        baseline_n: sorted.len(),
        current_n: current.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_distributions_are_healthy_and_a_shifted_one_alerts() {
        let base: Vec<f64> = (0..1000).map(|i| i as f64 / 1000.0).collect();
        let same = psi(&base, &base, 10).unwrap();
        assert!(same.psi.abs() < 1e-9 && same.status == DriftStatus::Healthy);
        let shifted: Vec<f64> = base.iter().map(|x| x * 0.5 + 0.5).collect();
        let d = psi(&base, &shifted, 10).unwrap();
        assert_eq!(d.status, DriftStatus::Alert, "psi {}", d.psi);
        assert_eq!(DriftStatus::from_psi(0.15), DriftStatus::Warning);
        assert!(psi(&[], &base, 10).is_none());
    }
}
