//! L2-regularised logistic regression and Platt calibration, hand-written.
//!
//! Why not linfa-logistic: with ≤ 16 columns, Newton's method on the exact Hessian converges in
//! a handful of steps to the unique optimum (no LBFGS tolerances to tune), is deterministic,
//! and needs ~80 lines instead of linfa + ndarray + argmin in the build (this machine has two
//! cores). The weights stay plain `Vec<f64>` in our own JSON artifact.
use serde::{Deserialize, Serialize};

/// Fitted weights for standardised inputs: log-odds = intercept + Σ w_j · z_j.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearFit {
    pub intercept: f64,
    pub weights: Vec<f64>,
    pub l2: f64,
}

pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Minimises mean log-loss + l2/2 · ‖w‖² (intercept not penalised). `x` is row-major with `d`
/// columns, `y` holds 0/1.
pub fn fit(x: &[f64], d: usize, y: &[f64], l2: f64) -> LinearFit {
    fit_weighted(x, d, y, None, l2)
}

/// [`fit`] with a weight per row (the log-loss is the weighted mean); `None` = all 1.
pub fn fit_weighted(x: &[f64], d: usize, y: &[f64], w: Option<&[f64]>, l2: f64) -> LinearFit {
    let n = y.len();
    let wt = |i: usize| w.map_or(1.0, |w| w[i]);
    let total: f64 = (0..n).map(wt).sum::<f64>().max(1e-12);
    let k = d + 1;
    let mut theta = vec![0.0; k];
    let mean_y = (0..n).map(|i| wt(i) * y[i]).sum::<f64>() / total;
    theta[0] = (mean_y.clamp(1e-6, 1.0 - 1e-6) / (1.0 - mean_y.clamp(1e-6, 1.0 - 1e-6))).ln();
    let objective = |theta: &[f64]| objective(x, d, y, w, total, l2, theta);
    let mut loss = objective(&theta);
    for _ in 0..50 {
        let mut g = vec![0.0; k];
        let mut h = vec![0.0; k * k];
        for (i, &yi) in y.iter().enumerate() {
            let xi = &x[i * d..(i + 1) * d];
            let p = sigmoid(linear(&theta, xi));
            let wi = wt(i);
            let (r, w) = (wi * (p - yi), wi * (p * (1.0 - p)).max(1e-12));
            for a in 0..k {
                let xa = if a == 0 { 1.0 } else { xi[a - 1] };
                g[a] += r * xa;
                for b in 0..=a {
                    let xb = if b == 0 { 1.0 } else { xi[b - 1] };
                    h[a * k + b] += w * xa * xb;
                }
            }
        }
        for a in 0..k {
            g[a] /= total;
            for b in 0..=a {
                h[a * k + b] /= total;
                h[b * k + a] = h[a * k + b];
            }
            let ridge = if a == 0 { 1e-9 } else { l2 };
            g[a] += if a == 0 { 0.0 } else { l2 * theta[a] };
            h[a * k + a] += ridge;
        }
        let step = solve(h, g, k);
        // Backtracking keeps Newton monotone on badly scaled data.
        let mut t = 1.0;
        let mut next = theta.clone();
        for _ in 0..20 {
            next.iter_mut()
                .zip(&theta)
                .zip(&step)
                .for_each(|((n, th), s)| *n = th - t * s);
            let l = objective(&next);
            if l <= loss + 1e-15 {
                loss = l;
                break;
            }
            t *= 0.5;
        }
        let moved = step.iter().map(|s| (t * s).abs()).fold(0.0, f64::max);
        theta = next;
        if moved < 1e-10 {
            break;
        }
    }
    LinearFit {
        intercept: theta[0],
        weights: theta[1..].to_vec(),
        l2,
    }
}

fn linear(theta: &[f64], xi: &[f64]) -> f64 {
    theta[0] + theta[1..].iter().zip(xi).map(|(w, v)| w * v).sum::<f64>()
}

fn objective(
    x: &[f64],
    d: usize,
    y: &[f64],
    w: Option<&[f64]>,
    total: f64,
    l2: f64,
    theta: &[f64],
) -> f64 {
    let ll: f64 = y
        .iter()
        .enumerate()
        .map(|(i, &yi)| {
            let z = linear(theta, &x[i * d..(i + 1) * d]);
            // log(1 + e^z) − y·z, stable for large |z|.
            w.map_or(1.0, |w| w[i]) * (z.max(0.0) + (-z.abs()).exp().ln_1p() - yi * z)
        })
        .sum();
    ll / total + 0.5 * l2 * theta[1..].iter().map(|w| w * w).sum::<f64>()
}

/// Solves the symmetric positive-definite system by Gaussian elimination with pivoting.
fn solve(mut a: Vec<f64>, mut b: Vec<f64>, k: usize) -> Vec<f64> {
    for c in 0..k {
        let p = (c..k)
            .max_by(|&i, &j| a[i * k + c].abs().total_cmp(&a[j * k + c].abs()))
            .unwrap_or(c);
        if p != c {
            for j in 0..k {
                a.swap(c * k + j, p * k + j);
            }
            b.swap(c, p);
        }
        let piv = a[c * k + c];
        if piv.abs() < 1e-300 {
            continue;
        }
        for r in c + 1..k {
            let f = a[r * k + c] / piv;
            for j in c..k {
                a[r * k + j] -= f * a[c * k + j];
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; k];
    for c in (0..k).rev() {
        let s: f64 = (c + 1..k).map(|j| a[c * k + j] * x[j]).sum();
        let piv = a[c * k + c];
        x[c] = if piv.abs() < 1e-300 {
            0.0
        } else {
            (b[c] - s) / piv
        };
    }
    x
}

/// Platt scaling: calibrated log-odds = a · raw + b, fitted on out-of-fold raw log-odds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Platt {
    pub a: f64,
    pub b: f64,
}

impl Platt {
    pub const IDENTITY: Platt = Platt { a: 1.0, b: 0.0 };

    pub fn fit(raw_logits: &[f64], y: &[f64]) -> Platt {
        let f = fit(raw_logits, 1, y, 1e-6);
        Platt {
            a: f.weights[0],
            b: f.intercept,
        }
    }

    pub fn apply(&self, raw: f64) -> f64 {
        self.a * raw + self.b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newton_recovers_a_known_logistic_relationship() {
        // Deterministic grid where P(y=1) = sigmoid(-0.5 + 2x) exactly in expectation.
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for i in 0..200 {
            let xi = -2.0 + 4.0 * i as f64 / 199.0;
            let p = sigmoid(-0.5 + 2.0 * xi);
            // 100 copies with round(100 p) positives.
            let pos = (p * 100.0).round() as usize;
            for j in 0..100 {
                x.push(xi);
                y.push(if j < pos { 1.0 } else { 0.0 });
            }
        }
        let f = fit(&x, 1, &y, 0.0);
        assert!((f.weights[0] - 2.0).abs() < 0.05, "slope {}", f.weights[0]);
        assert!(
            (f.intercept + 0.5).abs() < 0.05,
            "intercept {}",
            f.intercept
        );
        let shrunk = fit(&x, 1, &y, 1.0);
        assert!(
            shrunk.weights[0] < f.weights[0] * 0.8,
            "L2 shrinks the weight"
        );
    }
}
