//! Work that combines the store and the engine: model loading with fallback, training and
//! registration, batch scoring, digests, and the scheduler that runs them per tenant.
pub mod batch;
pub mod digest;
pub mod metrics;
pub mod models;
pub mod scheduler;
pub mod scorer_cache;
