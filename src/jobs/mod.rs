//! Scheduled work, and only that: the scheduler that runs jobs per tenant (nightly scoring,
//! digests, the weekly summary, retention, the model lifecycle) and the job bodies that call
//! [`crate::service`] and queue what they produce. The nightly CRM sync itself is
//! `service::crm_sync` (the webhook and `skygeni sync` run it too); the nightly job schedules
//! it through `nightly_hooks` and decides what a flagged sync means for that night.
pub mod burst;
mod claim;
pub mod digest;
mod nightly;
pub mod nightly_hooks;
pub mod retention;
mod schedule;
pub mod scheduled;
pub mod scheduler;
