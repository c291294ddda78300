//! Gradient-boosted trees: fitted with forust-ml, stored and evaluated as our own compact trees.
//!
//! forust-ml 0.8 builds on stable Rust and fits well; we copy its trees into a small serde
//! struct so the artifact format is ours (not tied to forust's JSON layout) and so per-deal
//! contributions cost one root-to-leaf walk per tree. Contributions use the path method
//! (Saabas; forust's `ContributionsMethod::Weight`): each split credits its feature with the
//! change in node value along the deal's path. They add up exactly to the tree output, like
//! TreeSHAP, but cost O(depth) instead of O(leaves · depth²) per tree, which is what lets a
//! single core score 200k+ deals/s. The price: credit between correlated features is split
//! by path order rather than averaged over orderings; with our ≤ 15 mostly independent
//! features that is acceptable for "top 3 reasons".
use forust_ml::{GradientBooster, Matrix};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GbtParams {
    pub iterations: usize,
    pub learning_rate: f32,
    pub max_depth: usize,
    pub min_leaf_weight: f32,
    pub l2: f32,
}

impl Default for GbtParams {
    fn default() -> Self {
        // Shallow, slow-learning, heavily regularised: the signal in CRM history is weak and
        // deep trees memorise noise.
        GbtParams {
            iterations: 80,
            learning_rate: 0.05,
            max_depth: 3,
            min_leaf_weight: 25.0,
            l2: 5.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Column in the model's schema; unused for leaves.
    pub feature: u16,
    pub split: f64,
    pub left: u32,
    pub right: u32,
    /// The node's own weight (what it would predict as a leaf).
    pub value: f64,
    pub leaf: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forest {
    pub base_score: f64,
    pub params: GbtParams,
    pub trees: Vec<Vec<Node>>,
}

/// Fits on row-major `x` with `d` columns and 0/1 labels.
pub fn fit(x: &[f64], d: usize, y: &[f64], params: &GbtParams) -> Result<Forest, String> {
    fit_weighted(x, d, y, None, params)
}

/// [`fit`] with a weight per row (`None` = all 1).
pub fn fit_weighted(
    x: &[f64],
    d: usize,
    y: &[f64],
    w: Option<&[f64]>,
    params: &GbtParams,
) -> Result<Forest, String> {
    let n = y.len();
    let mut col_major = vec![0.0; n * d];
    for i in 0..n {
        for j in 0..d {
            col_major[j * n + i] = x[i * d + j];
        }
    }
    let matrix = Matrix::new(&col_major, n, d);
    let mut booster = GradientBooster::default()
        .set_iterations(params.iterations)
        .set_learning_rate(params.learning_rate)
        .set_max_depth(params.max_depth)
        .set_min_leaf_weight(params.min_leaf_weight)
        .set_l2(params.l2)
        .set_nbins(64)
        // Training runs inside rayon CV loops already; nested pools only add contention.
        .set_parallel(false);
    let ones;
    let weights = match w {
        Some(w) => w,
        None => {
            ones = vec![1.0; n];
            &ones
        }
    };
    booster
        .fit(&matrix, y, weights, None)
        .map_err(|e| format!("gradient boosting failed: {e}"))?;
    let trees = booster
        .trees
        .iter()
        .map(|t| {
            t.nodes
                .iter()
                .map(|n| Node {
                    feature: n.split_feature as u16,
                    split: n.split_value,
                    left: n.left_child as u32,
                    right: n.right_child as u32,
                    value: f64::from(n.weight_value),
                    leaf: n.is_leaf,
                })
                .collect()
        })
        .collect();
    Ok(Forest {
        base_score: booster.base_score,
        params: params.clone(),
        trees,
    })
}

impl Forest {
    /// Raw log-odds for one row.
    pub fn predict(&self, x: &[f64]) -> f64 {
        let mut z = self.base_score;
        for t in &self.trees {
            let mut i = 0;
            while let Some(n) = t.get(i).filter(|n| !n.leaf) {
                i = if x[n.feature as usize] < n.split {
                    n.left
                } else {
                    n.right
                } as usize;
            }
            z += t.get(i).map_or(0.0, |n| n.value);
        }
        z
    }

    /// Adds each feature's path contribution to `out` and returns the bias (base score + root
    /// values); bias + Σ out == `predict(x)`.
    pub fn contributions(&self, x: &[f64], out: &mut [f64]) -> f64 {
        let mut bias = self.base_score;
        for t in &self.trees {
            let Some(root) = t.first() else { continue };
            bias += root.value;
            let mut node = root;
            while !node.leaf {
                let next = if x[node.feature as usize] < node.split {
                    node.left
                } else {
                    node.right
                };
                let Some(child) = t.get(next as usize) else {
                    break;
                };
                if let Some(slot) = out.get_mut(node.feature as usize) {
                    *slot += child.value - node.value;
                }
                node = child;
            }
        }
        bias
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testdata::Rng;

    #[test]
    fn compact_trees_learn_a_planted_split_and_contributions_add_up() {
        let mut rng = Rng::new(7);
        let (n, d) = (2_000, 3);
        let mut x = Vec::with_capacity(n * d);
        let mut y = Vec::with_capacity(n);
        for _ in 0..n {
            let row = [rng.unit(), rng.unit(), rng.unit()];
            let p = if row[0] > 0.5 { 0.8 } else { 0.3 };
            y.push(if rng.unit() < p { 1.0 } else { 0.0 });
            x.extend(row);
        }
        let forest = fit(&x, d, &y, &GbtParams::default()).expect("fit");
        assert!(!forest.trees.is_empty());
        let hi = forest.predict(&[0.9, 0.5, 0.5]);
        let lo = forest.predict(&[0.1, 0.5, 0.5]);
        assert!(hi > lo + 0.5, "learned the planted split: {hi} vs {lo}");
        for row in x.chunks(d).take(50) {
            let mut c = [0.0; 3];
            let bias = forest.contributions(row, &mut c);
            let total = bias + c.iter().sum::<f64>();
            assert!((total - forest.predict(row)).abs() < 1e-9);
        }
    }
}
