//! Pure scoring engine: segments, features, models, explanations, recommendations, metrics.
//! No I/O and no async in here.
