//! Work that combines the store and the engine: model loading with fallback, training and
//! registration, batch scoring, digests, the weekly summary, retention, the model lifecycle,
//! and the scheduler that runs them per tenant.
pub mod batch;
pub mod burst;
pub mod digest;
pub mod lifecycle;
pub mod metrics;
pub mod models;
pub mod nightly_hooks;
pub mod retention;
pub mod scheduled;
pub mod scheduler;
pub mod scorer_cache;
pub mod weekly;
