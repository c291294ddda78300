//! Work that combines the store and the engine: model loading with fallback, training and
//! registration, batch scoring. The scheduler (later) runs these per tenant.
pub mod batch;
pub mod lifecycle;
pub mod metrics;
pub mod models;
pub mod retention;
pub mod scorer_cache;
pub mod weekly;
