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

/// A fitted forest. Build it with [`Forest::new`] (or deserialise it): the walks use a padded
/// copy of `trees` made there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredForest", into = "StoredForest")]
pub struct Forest {
    pub base_score: f64,
    pub params: GbtParams,
    /// Read through [`Forest::trees`]: `flat` is made from them, so they are not changed after.
    trees: Vec<Vec<Node>>,
    /// `trees` padded to one depth; `None` when a tree is too deep or malformed.
    flat: Option<Flat>,
}

/// The stored form of a [`Forest`] (the model file's JSON): the trees as fitted.
#[derive(Clone, Serialize, Deserialize)]
struct StoredForest {
    base_score: f64,
    params: GbtParams,
    trees: Vec<Vec<Node>>,
}

impl From<StoredForest> for Forest {
    fn from(s: StoredForest) -> Forest {
        Forest::new(s.base_score, s.params, s.trees)
    }
}

impl From<Forest> for StoredForest {
    fn from(f: Forest) -> StoredForest {
        StoredForest {
            base_score: f.base_score,
            params: f.params,
            trees: f.trees,
        }
    }
}

/// Deepest tree that is padded; deeper (or malformed) forests keep the node walk. Our trees
/// have depth 3 (`GbtParams::max_depth`); a full tree of depth 10 is 2,047 nodes.
const FLAT_MAX_DEPTH: usize = 10;
/// Most padded nodes per forest (24 MiB): a crafted or damaged model file of many deep, thin
/// trees would otherwise grow up to 2^depth-fold in memory when padded. Ours have ~1,200.
const FLAT_MAX_NODES: usize = 1 << 20;
/// Features a padded forest may split on (a model has at most `N_FEATURES`); a forest that
/// names a later column keeps the node walk.
const FLAT_FEATURES: usize = 16;

/// Every tree as a full binary tree of one depth in heap order (children of `i` at `2i + 1`
/// and `2i + 2`). A leaf above the bottom is repeated below itself: both ways lead to the
/// same value, so the padding adds nothing to a prediction and exactly 0.0 to a
/// contribution. The walk is then a fixed number of steps whose direction is a comparison
/// turned into an index, not a branch: on CRM features the direction is a coin toss, and the
/// mispredicted branches of the node walk were most of the cost of scoring with trees.
#[derive(Debug, Clone, PartialEq)]
struct Flat {
    depth: usize,
    width: usize,
    nodes: Vec<FlatNode>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct FlatNode {
    split: f64,
    value: f64,
    feature: u32,
}

impl Flat {
    fn build(trees: &[Vec<Node>]) -> Option<Flat> {
        if trees
            .iter()
            .flatten()
            .any(|n| !n.leaf && usize::from(n.feature) >= FLAT_FEATURES)
        {
            return None;
        }
        let mut depth = 0;
        for t in trees {
            if !t.is_empty() {
                depth = depth.max(tree_depth(t, 0, 0)?);
            }
        }
        let width = (1usize << (depth + 1)) - 1;
        if width.saturating_mul(trees.len()) > FLAT_MAX_NODES {
            return None;
        }
        let mut nodes = vec![
            FlatNode {
                split: 0.0,
                value: 0.0,
                feature: 0,
            };
            width * trees.len()
        ];
        for (t, out) in trees.iter().zip(nodes.chunks_exact_mut(width)) {
            // An empty tree adds nothing, as in the node walk: all zeros.
            if !t.is_empty() {
                fill(t, 0, 0, depth, out);
            }
        }
        Some(Flat {
            depth,
            width,
            nodes,
        })
    }
}

/// Depth of the subtree at `i` (a leaf is 0); `None` past `FLAT_MAX_DEPTH` or at a missing
/// node (which also stops a cycle).
fn tree_depth(t: &[Node], i: usize, d: usize) -> Option<usize> {
    if d > FLAT_MAX_DEPTH {
        return None;
    }
    let n = t.get(i)?;
    if n.leaf {
        return Some(d);
    }
    let l = tree_depth(t, n.left as usize, d + 1)?;
    let r = tree_depth(t, n.right as usize, d + 1)?;
    Some(l.max(r))
}

fn fill(t: &[Node], src: usize, dst: usize, levels: usize, out: &mut [FlatNode]) {
    let n = t[src];
    if n.leaf || levels == 0 {
        pad(n.value, dst, levels, out);
        return;
    }
    out[dst] = FlatNode {
        split: n.split,
        value: n.value,
        feature: u32::from(n.feature),
    };
    fill(t, n.left as usize, 2 * dst + 1, levels - 1, out);
    fill(t, n.right as usize, 2 * dst + 2, levels - 1, out);
}

/// 0 (left) when `x < split`, else 1 (right; NaN too), as the node walk goes; computed, not
/// branched on.
#[inline]
fn side(x: f64, split: f64) -> usize {
    1 - usize::from(x < split)
}

fn pad(value: f64, dst: usize, levels: usize, out: &mut [FlatNode]) {
    out[dst] = FlatNode {
        split: 0.0,
        value,
        feature: 0,
    };
    if levels > 0 {
        pad(value, 2 * dst + 1, levels - 1, out);
        pad(value, 2 * dst + 2, levels - 1, out);
    }
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
    Ok(Forest::new(booster.base_score, params.clone(), trees))
}

impl Forest {
    pub fn new(base_score: f64, params: GbtParams, trees: Vec<Vec<Node>>) -> Forest {
        let flat = Flat::build(&trees);
        Forest {
            base_score,
            params,
            trees,
            flat,
        }
    }

    /// The trees as fitted (what the model file stores).
    pub fn trees(&self) -> &[Vec<Node>] {
        &self.trees
    }

    /// Raw log-odds for one row.
    pub fn predict(&self, x: &[f64]) -> f64 {
        match &self.flat {
            Some(flat) if !x.is_empty() => {
                let mut z = self.base_score;
                for nodes in flat.nodes.chunks_exact(flat.width) {
                    let mut i = 0;
                    for _ in 0..flat.depth {
                        let n = nodes[i];
                        i = 2 * i + 1 + side(x[n.feature as usize], n.split);
                    }
                    z += nodes[i].value;
                }
                z
            }
            _ => self.predict_nodes(x),
        }
    }

    fn predict_nodes(&self, x: &[f64]) -> f64 {
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
        let Some(flat) = self.flat.as_ref().filter(|_| !x.is_empty()) else {
            return self.contributions_nodes(x, out);
        };
        // Four sets of sums, tree t adding into set t % 4: consecutive trees often split on
        // the same feature, and one running sum per feature made every step wait for the
        // previous step's store. The sets are added at the end (the order of the additions
        // changes, so results may differ from the node walk in the last bits).
        let mut acc = [[0.0f64; FLAT_FEATURES]; 4];
        let mut bias = self.base_score;
        for (t, nodes) in flat.nodes.chunks_exact(flat.width).enumerate() {
            bias += nodes[0].value;
            let sums = &mut acc[t % 4];
            let mut i = 0;
            for _ in 0..flat.depth {
                let n = nodes[i];
                let f = n.feature as usize;
                let c = 2 * i + 1 + side(x[f], n.split);
                sums[f % FLAT_FEATURES] += nodes[c].value - n.value;
                i = c;
            }
        }
        for (j, slot) in out.iter_mut().enumerate().take(FLAT_FEATURES) {
            *slot += (acc[0][j] + acc[1][j]) + (acc[2][j] + acc[3][j]);
        }
        bias
    }

    fn contributions_nodes(&self, x: &[f64], out: &mut [f64]) -> f64 {
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

    /// `n` rows of `d` uniform features (row-major) and 0/1 labels drawn with `p(row)`.
    fn sample(seed: u64, n: usize, d: usize, p: impl Fn(&[f64]) -> f64) -> (Vec<f64>, Vec<f64>) {
        let mut rng = Rng::new(seed);
        let mut x = Vec::with_capacity(n * d);
        let mut y = Vec::with_capacity(n);
        for _ in 0..n {
            let row: Vec<f64> = (0..d).map(|_| rng.unit()).collect();
            y.push(if rng.unit() < p(&row) { 1.0 } else { 0.0 });
            x.extend(row);
        }
        (x, y)
    }

    #[test]
    fn compact_trees_learn_a_planted_split_and_contributions_add_up() {
        let d = 3;
        let (x, y) = sample(7, 2_000, d, |r| if r[0] > 0.5 { 0.8 } else { 0.3 });
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

    #[test]
    fn the_padded_walk_gives_the_node_walks_predictions_and_contributions() {
        let d = 4;
        let (x, y) = sample(11, 3_000, d, |r| {
            0.2 + 0.5 * r[0] * r[1] + if r[2] > 0.7 { 0.2 } else { 0.0 }
        });
        let forest = fit(&x, d, &y, &GbtParams::default()).expect("fit");
        assert!(forest.flat.is_some(), "depth-3 trees are padded");
        // Leaves above the bottom exist, so the padding is exercised.
        assert!(
            forest
                .trees
                .iter()
                .any(|t| tree_depth(t, 0, 0) < Some(3) || t.iter().filter(|n| n.leaf).count() < 8)
        );
        for row in x
            .chunks(d)
            .take(500)
            .chain([[f64::NAN, 0.5, 2.0, -1.0].as_slice()])
        {
            assert_eq!(
                forest.predict(row).to_bits(),
                forest.predict_nodes(row).to_bits()
            );
            let (mut a, mut b) = ([0.0; 4], [0.0; 4]);
            let (ba, bb) = (
                forest.contributions(row, &mut a),
                forest.contributions_nodes(row, &mut b),
            );
            assert_eq!(ba.to_bits(), bb.to_bits());
            // The same terms summed in another order.
            for (p, q) in a.iter().zip(&b) {
                assert!((p - q).abs() <= 1e-12 * (1.0 + q.abs()), "{a:?} vs {b:?}");
            }
        }
        // The model file keeps the fitted trees only, and reads back to the same forest.
        let json = serde_json::to_string(&forest).unwrap();
        assert!(!json.contains("flat"));
        assert_eq!(serde_json::from_str::<Forest>(&json).unwrap(), forest);
    }

    #[test]
    fn a_cyclic_or_too_deep_tree_keeps_the_node_walk() {
        let node = |left, right| Node {
            feature: 0,
            split: 0.5,
            left,
            right,
            value: 0.1,
            leaf: false,
        };
        let cyclic = Forest::new(0.0, GbtParams::default(), vec![vec![node(0, 0)]]);
        assert!(cyclic.flat.is_none());
        let mut deep: Vec<Node> = (0..12).map(|i| node(i + 1, i + 1)).collect();
        deep.push(Node {
            leaf: true,
            ..node(0, 0)
        });
        let deep = Forest::new(0.0, GbtParams::default(), vec![deep]);
        assert!(deep.flat.is_none());
        // Thin trees at the deepest padded depth, many of them: 600 × 2,047 padded nodes from
        // 600 × 21 stored ones would pass the node budget, so the node walk stays.
        let mut thin: Vec<Node> = (0..10).map(|i| node(i + 1, 11 + i)).collect();
        thin.push(Node {
            leaf: true,
            ..node(0, 0)
        });
        thin.extend((0..10).map(|_| Node {
            leaf: true,
            ..node(0, 0)
        }));
        let many = Forest::new(0.0, GbtParams::default(), vec![thin.clone(); 600]);
        assert!(many.flat.is_none(), "over the padded-node budget");
        let few = Forest::new(0.0, GbtParams::default(), vec![thin; 10]);
        assert!(few.flat.is_some(), "within it");
        assert!((deep.predict(&[0.2]) - 0.1).abs() < 1e-12);
    }
}
