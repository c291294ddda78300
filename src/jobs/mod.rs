//! Scheduled work: the scheduler that runs jobs per tenant (nightly scoring, digests, the
//! weekly summary, retention, the model lifecycle) and the job bodies that call
//! [`crate::service`] and queue what they produce.
pub mod burst;
pub mod digest;
pub mod nightly_hooks;
pub mod retention;
pub mod scheduled;
pub mod scheduler;
