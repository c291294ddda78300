//! Pure scoring engine: segments, features, models, explanations, recommendations, metrics.
//! No I/O and no async in here.
pub mod backtest;
pub mod drift;
pub mod explain;
pub mod features;
pub mod linear;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod promotion;
pub mod recommend;
pub mod relative;
pub mod scorer;
pub mod segments;
pub(crate) mod select;
pub mod similar;
pub mod skill;
pub mod train;
pub mod trees;
pub mod trend;

#[cfg(test)]
mod oot_tests;
#[cfg(test)]
pub(crate) mod testdata;
#[cfg(test)]
mod tests;

pub use backtest::{BacktestReport, backtest};
pub use features::Feature;
pub use model::{Model, ModelError, ModelKind};
pub use pipeline::{DEFAULT_SAVE_RATE, PipelineMetrics, pipeline_metrics};
pub use relative::{PipelineRanks, rank_order};
pub use scorer::{CoreScore, Scorer};
pub use segments::{Dimension, SegmentStats};
pub use similar::SimilarIndex;
pub use skill::{LOW_SKILL_LINE, Skill, skill_line};
pub use train::{TrainConfig, TrainReport, train};
